"""Text generation on the model's KV cache, every common decoding strategy written out by hand.

    from babyllama.decode import GenerationConfig, generate
    from babyllama.loading import load
    model, tok = load("runs/quickstart/model")
    cfg = GenerationConfig(max_new_tokens=100, temperature=0.8, top_p=0.9, seed=0)
    for r in generate(model, tok, ["Once upon a time", "Tim and Lily"], cfg):
        print(r.text, r.finish_reason)

    babyllama generate runs/quickstart/model --prompt "Once upon a time" --temperature 0.8 --top-p 0.9 --stream

Strategies: greedy (temperature 0, the default), sampling with temperature / top-k / top-p / min-p,
repetition penalty (CTRL / HF: positive logits divided, negative multiplied, over prompt + output),
presence and frequency penalties (OpenAI style, over the output only), no-repeat-n-gram, and beam
search with length penalty and early stopping. Prompts of different lengths run as one left-padded
batch; the model takes positions from the attention mask. Each decode step after the prompt goes
through `Llama.decode_step`, the model's one-token forward pass (fused q/k/v and w1/w3, norm
weights folded in, no per-step masks or rotary tables); tests check it against `Llama.forward`.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch

from babyllama.model import KVCache, Llama
from babyllama.utils.io import BabyLlamaError, atomic_path, read_json

StreamFn = Callable[[int, str], None]  # (result index, new text)


class SettingError(BabyLlamaError, ValueError):
    """A generation setting is invalid (also a ValueError for Python callers)."""


# ---- settings --------------------------------------------------------------------------------------
@dataclass
class GenerationConfig:
    """Decoding settings. temperature 0 = greedy; num_beams > 1 = beam search (deterministic)."""

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1 = off
    min_p: float = 0.0  # 0 = off
    repetition_penalty: float = 1.0  # 1 = off; > 1 discourages tokens already in prompt or output
    presence_penalty: float = 0.0  # subtracted once from every token already generated
    frequency_penalty: float = 0.0  # subtracted per occurrence in the output
    no_repeat_ngram_size: int = 0  # 0 = off; ban tokens that would repeat an n-gram
    num_beams: int = 1
    length_penalty: float = 1.0  # beam score = sum logprob / length ** length_penalty
    early_stopping: bool = False  # beam: stop as soon as num_beams hypotheses are finished
    num_return_sequences: int = 1
    stop: tuple[str, ...] = ()  # stop strings; the text is cut before them
    stop_token_ids: tuple[int, ...] = ()  # extra stop tokens besides EOS
    ignore_eos: bool = False
    seed: int | None = None
    logprobs: bool = False  # per-token log-probabilities and entropies of the model's distribution
    add_bos: bool = True
    truncate: str = "left"  # prompts too long for the context: "left" (warn, keep the end) or "error"

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):
            self.stop = (self.stop,)
        self.stop = tuple(self.stop)
        self.stop_token_ids = tuple(int(t) for t in self.stop_token_ids)
        self.validate()

    def validate(self) -> None:
        def bad(name: str, msg: str) -> SettingError:
            return SettingError(f"{name}={getattr(self, name)!r}: {msg}")

        for name in ("temperature", "top_p", "min_p", "repetition_penalty", "presence_penalty",
                     "frequency_penalty", "length_penalty"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                raise bad(name, "must be a finite number")
        for name in ("max_new_tokens", "top_k", "no_repeat_ngram_size", "num_beams", "num_return_sequences"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool):
                raise bad(name, "must be an integer")
        if self.max_new_tokens < 1:
            raise bad("max_new_tokens", "must be >= 1")
        if self.temperature < 0:
            raise bad("temperature", "must be >= 0 (0 = greedy)")
        if self.top_k < 0:
            raise bad("top_k", "must be >= 0 (0 = off)")
        if not 0 < self.top_p <= 1:
            raise bad("top_p", "must be in (0, 1] (1 = off)")
        if not 0 <= self.min_p <= 1:
            raise bad("min_p", "must be in [0, 1] (0 = off)")
        if self.repetition_penalty <= 0:
            raise bad("repetition_penalty", "must be > 0 (1 = off)")
        if self.no_repeat_ngram_size < 0:
            raise bad("no_repeat_ngram_size", "must be >= 0 (0 = off)")
        if self.num_beams < 1:
            raise bad("num_beams", "must be >= 1")
        if self.num_return_sequences < 1:
            raise bad("num_return_sequences", "must be >= 1")
        if self.num_beams > 1:
            if self.temperature > 0:
                raise bad("temperature", "beam search is deterministic; set temperature 0 with num_beams > 1")
            if self.num_return_sequences > self.num_beams:
                raise bad("num_return_sequences", f"cannot exceed num_beams ({self.num_beams})")
        elif self.temperature == 0 and self.num_return_sequences > 1:
            raise bad("num_return_sequences", "greedy decoding gives one answer; set temperature > 0 or num_beams")
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise bad("stop", "stop strings must be non-empty strings")
        if any(t < 0 for t in self.stop_token_ids):
            raise bad("stop_token_ids", "token ids must be >= 0")
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool)):
            raise bad("seed", "must be an integer or None")
        if self.truncate not in ("left", "error"):
            raise bad("truncate", "must be 'left' or 'error'")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0 or self.num_beams > 1

    def replace(self, **changes: Any) -> "GenerationConfig":
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise SettingError(f"unknown generation setting(s) {unknown}; known: "
                               f"{', '.join(f.name for f in dataclasses.fields(self))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["stop"], d["stop_token_ids"] = list(self.stop), list(self.stop_token_ids)
        return d


@dataclass
class GenerationResult:
    """One generated continuation. `tokens`/`text` exclude the prompt and any stop token/string."""

    prompt: str | None
    prompt_tokens: list[int]
    tokens: list[int]
    text: str
    finish_reason: str  # "stop" (stop token or string), "length" (max_new_tokens), "context" (model max_seq_len)
    prompt_index: int = 0
    sample_index: int = 0
    logprobs: list[float] | None = None  # log p(token) under the model's raw distribution
    entropies: list[float] | None = None  # entropy (nats) of that distribution at each step
    score: float | None = None  # beam search: length-penalised sum of log-probs

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---- logits processing -----------------------------------------------------------------------------
def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL / HF rule on tokens marked in `seen` (B, V): positive logits / penalty, negative * penalty."""
    if penalty == 1.0:
        return logits
    penalised = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalised, logits)


def apply_presence_frequency(logits: torch.Tensor, counts: torch.Tensor, presence: float,
                             frequency: float) -> torch.Tensor:
    """logits - presence * [count > 0] - frequency * count, counts (B, V) of generated tokens."""
    if presence:
        logits = logits - presence * (counts > 0).to(logits.dtype)
    if frequency:
        logits = logits - frequency * counts
    return logits


def filter_top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits per row (ties at the k-th value are kept)."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def filter_top_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus: keep the smallest set of most likely tokens whose probability reaches p (at least one)."""
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(-1)
    before = probs.cumsum(-1) - probs  # mass of the strictly more likely tokens
    drop = before >= p
    drop[..., 0] = False
    return logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))


def filter_min_p(logits: torch.Tensor, min_p: float) -> torch.Tensor:
    """Drop tokens whose probability is below min_p times the top token's probability."""
    if min_p <= 0:
        return logits
    probs = logits.softmax(-1)
    return logits.masked_fill(probs < min_p * probs.amax(-1, keepdim=True), float("-inf"))


class NgramBlocker:
    """No-repeat-n-gram: after tokens ..., a, b (n-1 of them) ban every c such that (a, b, c) occurred."""

    def __init__(self, n: int, sequences: Sequence[Sequence[int]]) -> None:
        self.n = n
        self.seqs = [list(s) for s in sequences]
        self.tables: list[dict[tuple[int, ...], set[int]]] = []
        for s in self.seqs:
            table: dict[tuple[int, ...], set[int]] = {}
            for i in range(len(s) - n + 1):
                table.setdefault(tuple(s[i:i + n - 1]), set()).add(s[i + n - 1])
            self.tables.append(table)

    def push(self, row: int, token: int) -> None:
        s = self.seqs[row]
        s.append(token)
        if len(s) >= self.n:
            self.tables[row].setdefault(tuple(s[len(s) - self.n:-1]), set()).add(token)

    def banned(self, row: int) -> list[int]:
        s = self.seqs[row]
        if len(s) < self.n - 1:
            return []
        key = tuple(s[len(s) - self.n + 1:]) if self.n > 1 else ()
        return list(self.tables[row].get(key, ()))

    def apply(self, logits: torch.Tensor, rows: Iterable[int]) -> torch.Tensor:
        bans = [(i, t) for i, r in enumerate(rows) for t in self.banned(r)]
        if bans:
            logits = logits.clone()
            idx = torch.tensor(bans, device=logits.device)
            logits[idx[:, 0], idx[:, 1]] = float("-inf")
        return logits


def sample_from(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Draw one token per row from softmax(logits): argmax of p / Exp(1) noise (the exponential race)."""
    probs = logits.softmax(-1)
    noise = torch.empty_like(probs).exponential_(1.0, generator=generator)
    return (probs / noise).argmax(-1)


class _Processor:
    """Penalties, n-gram bans and the greedy / sampling choice for a batch of rows."""

    def __init__(self, cfg: GenerationConfig, prompts: Sequence[Sequence[int]], vocab: int,
                 device: torch.device, generator: torch.Generator | None) -> None:
        self.cfg, self.gen = cfg, generator
        B = len(prompts)
        self.seen = self.counts = None
        if cfg.repetition_penalty != 1.0:
            self.seen = torch.zeros(B, vocab, dtype=torch.bool, device=device)
            for i, p in enumerate(prompts):
                if p:
                    self.seen[i, torch.tensor(list(p), device=device)] = True
        if cfg.presence_penalty or cfg.frequency_penalty:
            self.counts = torch.zeros(B, vocab, device=device)
        self.ngrams = NgramBlocker(cfg.no_repeat_ngram_size, prompts) if cfg.no_repeat_ngram_size else None

    def penalise(self, logits: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        if self.seen is not None:
            logits = apply_repetition_penalty(logits, self.seen, cfg.repetition_penalty)
        if self.counts is not None:
            logits = apply_presence_frequency(logits, self.counts, cfg.presence_penalty, cfg.frequency_penalty)
        if self.ngrams is not None:
            logits = self.ngrams.apply(logits, range(logits.shape[0]))
        return logits

    def choose(self, logits: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        if cfg.temperature == 0:
            return logits.argmax(-1)
        logits = logits / cfg.temperature
        logits = filter_top_k(logits, cfg.top_k)
        logits = filter_top_p(logits, cfg.top_p)
        logits = filter_min_p(logits, cfg.min_p)
        return sample_from(logits, self.gen)

    def push(self, tokens: torch.Tensor, ids: list[int]) -> None:
        """Record the chosen tokens (B,) of every row."""
        if self.seen is not None:
            self.seen.scatter_(1, tokens[:, None], True)
        if self.counts is not None:
            self.counts.scatter_add_(1, tokens[:, None], torch.ones_like(tokens[:, None], dtype=self.counts.dtype))
        if self.ngrams is not None:
            for r, t in enumerate(ids):
                self.ngrams.push(r, t)

    def reorder(self, index: torch.Tensor, index_list: list[int]) -> None:
        if self.seen is not None:
            self.seen = self.seen[index]
        if self.counts is not None:
            self.counts = self.counts[index]
        if self.ngrams is not None:
            seqs = [list(self.ngrams.seqs[i]) for i in index_list]
            self.ngrams = NgramBlocker(self.ngrams.n, seqs)


def _raw_stats(logits: torch.Tensor, tokens: torch.Tensor) -> tuple[list[float], list[float]]:
    """log p(token) and entropy of softmax(logits) per row."""
    logp = logits.float().log_softmax(-1)
    chosen = logp.gather(-1, tokens[:, None])[:, 0]
    entropy = -(logp.exp() * logp).nan_to_num(0.0).sum(-1)
    return chosen.tolist(), entropy.tolist()


# ---- text bookkeeping ------------------------------------------------------------------------------
class _Text:
    """Decode a row's output as a continuation of its prompt; cut at stop strings; stream new text."""

    CONTEXT = 8  # prompt tokens decoded in front of the output so its leading space survives

    def __init__(self, tokenizer: Any, prompt_ids: Sequence[int], stops: Sequence[str]) -> None:
        self.tok = tokenizer
        self.ctx = list(prompt_ids[-self.CONTEXT:])
        self.ctx_text = tokenizer.decode(self.ctx) if self.ctx else ""
        self.stops = list(stops)
        self.hold = max((len(s) for s in stops), default=1) - 1
        self.emitted = ""
        self.checked = 0  # text before this index holds no stop string

    def text(self, ids: Sequence[int]) -> str:
        if not self.ctx:
            return self.tok.decode(list(ids))
        full = self.tok.decode(self.ctx + list(ids))
        if full.startswith(self.ctx_text):
            return full[len(self.ctx_text):]
        return self.tok.decode(list(ids))

    def find_stop(self, text: str) -> int:
        """Index of the first stop string in `text`, or -1."""
        if not self.stops:
            return -1
        start = max(0, self.checked - self.hold)
        hits = [i for i in (text.find(s, start) for s in self.stops) if i >= 0]
        self.checked = len(text.rstrip("\ufffd"))  # a trailing incomplete character may still change
        return min(hits) if hits else -1

    def new_piece(self, text: str, final: bool) -> str:
        """Text safe to show now: complete UTF-8 and not possibly the start of a stop string."""
        if not final:  # hold back a trailing incomplete character and a possible stop-string start
            text = text[:max(len(text.rstrip("\ufffd")) - self.hold, 0)]
        if not text.startswith(self.emitted) or len(text) <= len(self.emitted):
            return ""
        piece = text[len(self.emitted):]
        self.emitted = text
        return piece


# ---- the engine -------------------------------------------------------------------------------------
@dataclass
class _Row:
    prompt_ids: list[int]
    limit: int  # max tokens this row may generate
    limit_reason: str  # "length" or "context"
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    entropies: list[float] = field(default_factory=list)
    finish: str | None = None
    text: str | None = None
    score: float | None = None


def _stop_ids(cfg: GenerationConfig, eos_id: int | None, vocab: int) -> set[int]:
    ids = set(cfg.stop_token_ids)
    if eos_id is not None and eos_id >= 0 and not cfg.ignore_eos:
        ids.add(int(eos_id))
    for t in ids:
        if t >= vocab:
            raise SettingError(f"stop_token_ids: id {t} is outside the vocabulary (0..{vocab - 1})")
    return ids


def _prefill(model: Llama, rows: Sequence[_Row], cache_len: int, pad_id: int
             ) -> tuple[torch.Tensor, KVCache, torch.Tensor | None, torch.Tensor]:
    """Run the left-padded prompts; return last logits (B, V), the cache, the key mask buffer and positions."""
    device = model.tok_embeddings.weight.device
    dtype = model.tok_embeddings.weight.dtype
    lens = [len(r.prompt_ids) for r in rows]
    P, B = max(lens), len(rows)
    tokens = torch.full((B, P), pad_id, dtype=torch.long)
    keys = torch.zeros(B, P + cache_len, dtype=torch.bool)
    for i, r in enumerate(rows):
        tokens[i, P - lens[i]:] = torch.tensor(r.prompt_ids)
        keys[i, P - lens[i]:] = True
    tokens, keys = tokens.to(device), keys.to(device)
    padded = min(lens) != P
    cache = KVCache(model.config, B, max_len=P + cache_len, device=device, dtype=dtype)
    out = model(tokens, attention_mask=keys[:, :P] if padded else None, kv_cache=cache, last_only=True,
                outputs_from=P - 1)
    positions = torch.tensor(lens, dtype=torch.long, device=device)
    return out.logits[:, -1].float(), cache, (keys if padded else None), positions


def _step_fn(model: Llama, fast: bool) -> Callable[..., torch.Tensor]:
    if fast and isinstance(model, Llama) and model.tok_embeddings.weight.dtype in (torch.float32, torch.float64):
        return model.decoder()

    def slow(tokens: torch.Tensor, positions: torch.Tensor, cache: KVCache, keys: torch.Tensor | None):
        out = model(tokens[:, None], attention_mask=keys, positions=positions[:, None], kv_cache=cache,
                    last_only=True)
        return out.logits[:, -1].float()

    return slow


@torch.inference_mode()
def _run_batch(model: Llama, rows: list[_Row], cfg: GenerationConfig, stop_ids: set[int], texts: list[_Text] | None,
               stream: Callable[[int, str], None] | None, generator: torch.Generator | None, pad_id: int,
               fast: bool) -> None:
    """Greedy or sampled decoding of a batch of rows (filled in place)."""
    steps = max(r.limit for r in rows)
    logits, cache, keys, positions = _prefill(model, rows, steps, pad_id)
    step = _step_fn(model, fast)
    proc = _Processor(cfg, [r.prompt_ids for r in rows], logits.shape[-1], logits.device, generator)
    active = [i for i, r in enumerate(rows)]
    for n in range(steps):
        scored = proc.penalise(logits)
        tokens = proc.choose(scored)
        ids = tokens.tolist()
        if cfg.logprobs:
            lps, ents = _raw_stats(logits, tokens)
        still = []
        for i in active:
            r, t = rows[i], ids[i]
            if t in stop_ids:
                r.finish = "stop"
            else:
                r.tokens.append(t)
                if cfg.logprobs:
                    r.logprobs.append(lps[i])
                    r.entropies.append(ents[i])
                if texts is not None and (texts[i].stops or stream is not None):
                    tx = texts[i]
                    text = tx.text(r.tokens)
                    cut = tx.find_stop(text)
                    if cut >= 0:
                        r.finish, r.text = "stop", text[:cut]
                    elif stream is not None:
                        piece = tx.new_piece(text, final=False)
                        if piece:
                            stream(i, piece)
                if r.finish is None and len(r.tokens) >= r.limit:
                    r.finish = r.limit_reason
            if r.finish is None:
                still.append(i)
            elif stream is not None and texts is not None:
                if r.text is None:
                    r.text = texts[i].text(r.tokens)
                piece = texts[i].new_piece(r.text, final=True)
                if piece:
                    stream(i, piece)
        active = still
        if not active:
            break
        proc.push(tokens, ids)
        logits = step(tokens, positions, cache, None if keys is None else keys[:, :cache.length + 1])
        positions += 1


@torch.inference_mode()
def _beam_search(model: Llama, row: _Row, cfg: GenerationConfig, stop_ids: set[int], text: _Text | None,
                 pad_id: int, fast: bool) -> list[_Row]:
    """Beam search for one prompt; returns up to num_beams finished hypotheses, best first."""
    k = cfg.num_beams
    logits, cache, _, positions = _prefill(model, [row], row.limit, pad_id)
    cache.k = cache.k.repeat(1, k, 1, 1, 1)
    cache.v = cache.v.repeat(1, k, 1, 1, 1)
    positions = positions.repeat(k)
    logits = logits.repeat(k, 1)
    step = _step_fn(model, fast)
    V = logits.shape[-1]
    proc = _Processor(cfg, [row.prompt_ids] * k, V, logits.device, None)
    scores = torch.full((k,), float("-inf"), dtype=torch.float64, device=logits.device)
    scores[0] = 0.0
    beams: list[_Row] = [_Row(row.prompt_ids, row.limit, row.limit_reason) for _ in range(k)]
    done: list[_Row] = []
    lp = cfg.length_penalty

    def add(hyp: _Row, total: float) -> None:
        hyp.score = total / (max(len(hyp.logprobs), 1) ** lp)
        done.append(hyp)
        done.sort(key=lambda h: h.score, reverse=True)
        del done[k:]

    for n in range(row.limit):
        logp = proc.penalise(logits).log_softmax(-1)
        raw = logits.log_softmax(-1)
        cand = (scores[:, None] + logp.double()).view(-1)
        top_scores, top_idx = torch.topk(cand, 2 * k)
        ent = (-(raw.exp() * raw).nan_to_num(0.0).sum(-1)).tolist()
        nxt: list[tuple[int, int, float]] = []
        for rank, (s, j) in enumerate(zip(top_scores.tolist(), top_idx.tolist())):
            if s == float("-inf"):
                break
            b, t = divmod(j, V)
            src = beams[b]
            if t in stop_ids:
                if rank < k:
                    hyp = _Row(row.prompt_ids, row.limit, row.limit_reason, list(src.tokens),
                               src.logprobs + [raw[b, t].item()], src.entropies + [ent[b]], "stop")
                    add(hyp, s)
                continue
            nxt.append((b, t, s))
            if len(nxt) == k:
                break
        if not nxt:
            break
        new_beams, new_scores = [], []
        for b, t, s in nxt:
            src = beams[b]
            nb = _Row(row.prompt_ids, row.limit, row.limit_reason, src.tokens + [t],
                      src.logprobs + [raw[b, t].item()], src.entropies + [ent[b]])
            if text is not None and text.stops:
                full = text.text(nb.tokens)
                text.checked = 0
                cut = text.find_stop(full)
                if cut >= 0:
                    nb.finish, nb.text = "stop", full[:cut]
                    add(nb, s)
                    s = float("-inf")
            new_beams.append(nb)
            new_scores.append(s)
        while len(new_beams) < k:  # fewer live candidates than beams: pad with dead copies
            new_beams.append(new_beams[0])
            new_scores.append(float("-inf"))
            nxt.append(nxt[0])
        index_list = [b for b, _, _ in nxt]
        index = torch.tensor(index_list, device=logits.device)
        beams = new_beams
        scores = torch.tensor(new_scores, dtype=torch.float64, device=logits.device)
        if n + 1 >= row.limit or not math.isfinite(max(new_scores)):
            break
        if len(done) >= k:
            if cfg.early_stopping:
                break
            best_possible = max(new_scores) / ((n + 1) ** lp)
            if done[-1].score >= best_possible:
                break
        L = cache.length
        cache.k[:, :, :, :L] = cache.k[:, index, :, :L]
        cache.v[:, :, :, :L] = cache.v[:, index, :, :L]
        proc.reorder(index, index_list)
        tokens = torch.tensor([t for _, t, _ in nxt], device=logits.device)
        proc.push(tokens, tokens.tolist())
        logits = step(tokens, positions, cache, None)
        positions += 1
    for b, s in zip(beams, scores.tolist()):
        if math.isfinite(s) and b.finish is None:
            b.finish = b.limit_reason if len(b.tokens) >= b.limit else "length"
            add(b, s)
    return done


def _encode_prompts(tokenizer: Any, prompts: Sequence[str | Sequence[int]], cfg: GenerationConfig
                    ) -> list[tuple[str | None, list[int]]]:
    out = []
    for i, p in enumerate(prompts):
        if isinstance(p, str):
            if tokenizer is None:
                raise SettingError("text prompts need a tokenizer; pass one or give token id lists")
            ids = tokenizer.encode(p, bos=cfg.add_bos, eos=False)
            out.append((p, list(ids)))
        else:
            ids = [int(t) for t in p]
            out.append((None, ids))
        if not out[-1][1]:
            raise SettingError(f"prompt {i} is empty and add_bos is off; give text or turn add_bos on")
    return out


def _fit_prompt(ids: list[int], index: int, cfg: GenerationConfig, max_len: int, bos_id: int | None
                ) -> tuple[list[int], int, str]:
    """Truncate a too-long prompt from the left (keeping BOS) and work out the row's token limit."""
    if len(ids) >= max_len:
        keep = max_len - min(cfg.max_new_tokens, max_len // 2)
        if cfg.truncate == "error":
            raise BabyLlamaError(f"prompt {index}: {len(ids)} tokens leave no room in the model's context of "
                                 f"{max_len}; shorten it or use truncate='left'")
        head = [ids[0]] if bos_id is not None and ids and ids[0] == bos_id else []
        ids = head + ids[len(ids) - (keep - len(head)):]
        warnings.warn(f"prompt {index} is longer than the context ({max_len} tokens); kept its last "
                      f"{len(ids)} tokens", stacklevel=4)
    room = max_len - len(ids)
    if cfg.max_new_tokens <= room:
        return ids, cfg.max_new_tokens, "length"
    return ids, room, "context"


@torch.inference_mode()
def generate(model: Llama, tokenizer: Any, prompts: str | Sequence[str] | Sequence[Sequence[int]],
             config: GenerationConfig | None = None, *, batch_size: int = 32, stream: StreamFn | None = None,
             fast: bool = True, **overrides: Any) -> list[GenerationResult]:
    """Generate continuations of `prompts` (text, or token id lists used as given).

    Returns one result per prompt and sample, ordered by prompt then sample
    (`num_return_sequences` per prompt). `stream(i, text)` receives each result's text as it grows
    (greedy and sampling only). Settings come from `config`, with keyword overrides on top, e.g.
    `generate(model, tok, "Once", temperature=0.8, max_new_tokens=50)`.
    """
    cfg = (config or GenerationConfig()).replace(**overrides) if overrides else (config or GenerationConfig())
    if batch_size < 1:
        raise SettingError(f"batch_size={batch_size}: must be >= 1")
    if isinstance(prompts, str) or (prompts and isinstance(prompts[0], int)):
        prompts = [prompts]  # type: ignore[list-item]
    if not prompts:
        raise SettingError("no prompts given")
    if stream is not None and cfg.num_beams > 1:
        raise SettingError("streaming works with greedy decoding and sampling, not beam search")
    if (cfg.stop or stream is not None) and tokenizer is None:
        raise SettingError("stop strings and streaming need a tokenizer")
    mcfg = model.config
    if tokenizer is not None and getattr(tokenizer, "vocab_size", mcfg.vocab_size) != mcfg.vocab_size:
        raise BabyLlamaError(f"tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is "
                             f"{mcfg.vocab_size}; use the tokenizer the model was trained with")
    eos_id = getattr(tokenizer, "eos_id", None) if tokenizer is not None else None
    bos_id = getattr(tokenizer, "bos_id", None) if tokenizer is not None else None
    pad_id = getattr(tokenizer, "pad_id", 0) if tokenizer is not None else 0
    pad_id = pad_id if pad_id is not None and 0 <= pad_id < mcfg.vocab_size else 0
    stop_ids = _stop_ids(cfg, eos_id, mcfg.vocab_size)
    encoded = _encode_prompts(tokenizer, prompts, cfg)

    jobs: list[tuple[int, int, str | None, _Row]] = []  # (prompt index, sample index, prompt text, row)
    for pi, (ptext, ids) in enumerate(encoded):
        if max(ids) >= mcfg.vocab_size or min(ids) < 0:
            raise SettingError(f"prompt {pi}: token ids must be in 0..{mcfg.vocab_size - 1}")
        ids, limit, why = _fit_prompt(ids, pi, cfg, mcfg.max_seq_len, bos_id)
        copies = cfg.num_return_sequences if cfg.num_beams == 1 else 1
        for si in range(copies):
            jobs.append((pi, si, ptext, _Row(ids, limit, why)))

    was_training = model.training
    model.eval()
    generator = None
    if not cfg.greedy:
        generator = torch.Generator(device=model.tok_embeddings.weight.device)
        if cfg.seed is None:
            generator.seed()
        else:
            generator.manual_seed(cfg.seed)
    results: list[GenerationResult] = []
    try:
        if cfg.num_beams > 1:
            for pi, _, ptext, row in jobs:
                tx = _Text(tokenizer, row.prompt_ids, cfg.stop) if tokenizer is not None else None
                hyps = _beam_search(model, row, cfg, stop_ids, tx, pad_id, fast)
                for si, h in enumerate(hyps[:cfg.num_return_sequences]):
                    results.append(_result(h, pi, si, ptext, tx, cfg))
        else:
            # batch prompts of similar length together; each row keeps its own index for streaming
            order = sorted(range(len(jobs)), key=lambda j: len(jobs[j][3].prompt_ids)) if stream is None \
                else list(range(len(jobs)))
            texts_all = [(_Text(tokenizer, r.prompt_ids, cfg.stop) if tokenizer is not None else None)
                         for _, _, _, r in jobs]
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size]
                rows = [jobs[j][3] for j in chunk]
                texts = [texts_all[j] for j in chunk] if tokenizer is not None else None
                sfn = None if stream is None else (lambda i, s, chunk=chunk: stream(chunk[i], s))
                _run_batch(model, rows, cfg, stop_ids, texts, sfn, generator, pad_id, fast)
            for j, (pi, si, ptext, row) in enumerate(jobs):
                results.append(_result(row, pi, si, ptext, texts_all[j], cfg))
    finally:
        model.train(was_training)
    return results


def _result(row: _Row, pi: int, si: int, ptext: str | None, text: _Text | None,
            cfg: GenerationConfig) -> GenerationResult:
    if row.text is None:
        row.text = text.text(row.tokens) if text is not None else ""
    return GenerationResult(prompt=ptext, prompt_tokens=row.prompt_ids, tokens=row.tokens, text=row.text,
                            finish_reason=row.finish or row.limit_reason, prompt_index=pi, sample_index=si,
                            logprobs=row.logprobs if cfg.logprobs else None,
                            entropies=row.entropies if cfg.logprobs else None, score=row.score)


# ---- CLI ---------------------------------------------------------------------------------------------
_FLAGS: list[tuple[str, type, str]] = [
    ("max_new_tokens", int, "tokens to generate at most"),
    ("temperature", float, "0 = greedy (default); > 0 samples"),
    ("top_k", int, "sample from the k most likely tokens (0 = off)"),
    ("top_p", float, "nucleus sampling mass in (0, 1] (1 = off)"),
    ("min_p", float, "drop tokens below min_p x the top probability (0 = off)"),
    ("repetition_penalty", float, "CTRL-style penalty on tokens in prompt+output (1 = off)"),
    ("presence_penalty", float, "subtract once from logits of generated tokens"),
    ("frequency_penalty", float, "subtract per occurrence in the output"),
    ("no_repeat_ngram_size", int, "never repeat an n-gram of this size (0 = off)"),
    ("num_beams", int, "beam search with this many beams (1 = off)"),
    ("length_penalty", float, "beam score = logprob / length^this"),
    ("num_return_sequences", int, "samples (or best beams) per prompt"),
    ("seed", int, "random seed for sampling"),
]


def add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags for every GenerationConfig field (defaults are GenerationConfig's)."""
    g = parser.add_argument_group("decoding")
    d = GenerationConfig()
    for name, typ, help_ in _FLAGS:
        g.add_argument("--" + name.replace("_", "-"), type=typ, default=getattr(d, name),
                       help=f"{help_} (default {getattr(d, name)})")
    g.add_argument("--early-stopping", action="store_true", help="beam: stop when num_beams hypotheses end")
    g.add_argument("--stop", action="append", default=[], metavar="TEXT", help="stop string (repeatable)")
    g.add_argument("--stop-token-id", action="append", type=int, default=[], metavar="ID",
                   help="extra stop token id (repeatable)")
    g.add_argument("--ignore-eos", action="store_true", help="do not stop at EOS")
    g.add_argument("--logprobs", action="store_true", help="store per-token log-probs and entropies")
    g.add_argument("--no-bos", action="store_true", help="do not put BOS before the prompt")
    g.add_argument("--truncate", choices=("left", "error"), default="left",
                   help="prompt longer than the context: keep its end with a warning, or fail")


def config_from_args(args: argparse.Namespace) -> GenerationConfig:
    kw = {name: getattr(args, name) for name, _, _ in _FLAGS}
    return GenerationConfig(**kw, early_stopping=args.early_stopping, stop=tuple(args.stop),
                            stop_token_ids=tuple(args.stop_token_id), ignore_eos=args.ignore_eos,
                            logprobs=args.logprobs, add_bos=not args.no_bos, truncate=args.truncate)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model folder (config.json + model.safetensors + tokenizer.model)")
    parser.add_argument("--tokenizer", help="tokenizer to use instead of the model folder's (must match)")
    src = parser.add_argument_group("prompts (default: one per line from stdin)")
    src.add_argument("--prompt", action="append", default=[], help="a prompt (repeatable)")
    src.add_argument("--prompts-file", help="text file with one prompt per line, or JSONL with --prompt-field")
    src.add_argument("--prompt-field", default="prompt", help="JSONL field holding the prompt (default prompt)")
    src.add_argument("--interactive", action="store_true", help="read prompts in a loop, stream the answers")
    parser.add_argument("--out", help="write results as JSONL here")
    parser.add_argument("--stream", action="store_true", help="print text token by token (one prompt at a time)")
    parser.add_argument("--batch-size", type=int, default=32, help="prompts decoded together (default 32)")
    parser.add_argument("--device", default="cpu")
    add_threads_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="print nothing but results/errors")
    add_generation_arguments(parser)


SMALL_MODEL_PARAMS = 5_000_000


def add_threads_argument(parser: argparse.ArgumentParser, auto_small: bool = True) -> None:
    help_ = ("CPU threads for torch (default: 1 for models under 5M parameters, whose decode steps are "
             "too small to gain from threads and stall badly on a busy machine; else torch's default)"
             if auto_small else "CPU threads for torch (default: torch's)")
    parser.add_argument("--threads", type=int, help=help_)


@contextlib.contextmanager
def cli_threads(args: argparse.Namespace, model: Llama, auto_small: bool = True) -> Iterator[None]:
    """torch's intra-op threads from --threads (see add_threads_argument) for the body, then restored."""
    n = getattr(args, "threads", None)
    if n is not None and n < 1:
        raise SettingError(f"--threads {n}: must be >= 1")
    if n is None and auto_small and model.config.num_params() < SMALL_MODEL_PARAMS and str(args.device) == "cpu":
        n = 1
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def read_prompts(path: str | Path, field_name: str = "prompt") -> list[str]:
    """Prompts from a text file (one per non-blank line; `\\n` escapes allowed) or JSONL (`field_name`)."""
    p = Path(path)
    if not p.is_file():
        raise BabyLlamaError(f"{p}: prompts file not found")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise BabyLlamaError(f"{p}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
    prompts = []
    jsonl = p.suffix.lower() in (".jsonl", ".json")
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if jsonl:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise BabyLlamaError(f"{p}:{n}: invalid JSON ({e.msg})") from None
            if not isinstance(obj, dict) or field_name not in obj or not isinstance(obj[field_name], str):
                raise BabyLlamaError(f"{p}:{n}: no string field {field_name!r}; pass --prompt-field NAME")
            if not obj[field_name].strip():
                raise BabyLlamaError(f"{p}:{n}: field {field_name!r} is empty")
            prompts.append(obj[field_name])
        else:
            prompts.append(line.replace("\\n", "\n"))
    if not prompts:
        raise BabyLlamaError(f"{p}: no prompts in the file (it is empty or blank)")
    return prompts


def _print_stream(piece: str) -> None:
    sys.stdout.write(piece)
    sys.stdout.flush()


def _interactive(model: Llama, tok: Any, cfg: GenerationConfig, quiet: bool) -> int:
    print("interactive: type a prompt; '/set key=value' changes a setting, '/config' shows them, "
          "'/quit' or Ctrl-D exits", file=sys.stderr)
    while True:
        try:
            line = input("> ")
        except EOFError:
            print(file=sys.stderr)
            return 0
        cmd = line.strip()
        if cmd in ("/quit", "/exit"):
            return 0
        if cmd == "/config":
            print(json.dumps(cfg.to_dict()), file=sys.stderr)
            continue
        if cmd.startswith("/set"):
            try:
                cfg = cfg.replace(**parse_assignments(cmd[4:].split()))
            except BabyLlamaError as e:
                print(f"error: {e}", file=sys.stderr)
            continue
        prompt = line.replace("\\n", "\n")
        sys.stdout.write(prompt)
        t0 = time.perf_counter()
        res = generate(model, tok, [prompt], cfg, stream=lambda i, s: _print_stream(s))
        sys.stdout.write("\n")
        if not quiet:
            dt = time.perf_counter() - t0
            print(f"[{len(res[0].tokens)} tokens, {len(res[0].tokens) / dt:.1f} tok/s, {res[0].finish_reason}]",
                  file=sys.stderr)


def parse_assignments(items: Sequence[str]) -> dict[str, Any]:
    """['temperature=0.8', 'stop=a|b'] -> typed dict for GenerationConfig.replace."""
    types = {f.name: f.type for f in dataclasses.fields(GenerationConfig)}
    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or key not in types:
            raise SettingError(f"{item!r}: expected key=value with key one of {', '.join(types)}")
        t = str(types[key])
        try:
            if key == "stop":
                out[key] = tuple(s for s in value.split("|") if s)
            elif key == "stop_token_ids":
                out[key] = tuple(int(s) for s in value.split(",") if s)
            elif "bool" in t:
                out[key] = value.lower() in ("1", "true", "yes", "on")
            elif key == "seed":
                out[key] = None if value.lower() == "none" else int(value)
            elif "int" in t:
                out[key] = int(value)
            elif "float" in t:
                out[key] = float(value)
            else:
                out[key] = value
        except ValueError:
            raise SettingError(f"{item!r}: {value!r} is not a valid value for {key}") from None
    return out


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.batch_size < 1:
        raise SettingError(f"--batch-size {args.batch_size}: must be >= 1")
    from babyllama.loading import load

    model, tok = load(args.model, args.tokenizer, args.device)
    with cli_threads(args, model):
        return _run(args, cfg, model, tok)


def _run(args: argparse.Namespace, cfg: GenerationConfig, model: Llama, tok: Any) -> int:
    if args.interactive:
        return _interactive(model, tok, cfg, args.quiet)
    prompts = list(args.prompt)
    if args.prompts_file:
        prompts += read_prompts(args.prompts_file, args.prompt_field)
    if not args.prompt and not args.prompts_file:
        if sys.stdin.isatty():
            raise BabyLlamaError("no prompts: give --prompt TEXT, --prompts-file FILE, pipe prompts on stdin, "
                                 "or use --interactive")
        prompts = [ln.replace("\\n", "\n") for ln in sys.stdin.read().splitlines() if ln.strip()]
        if not prompts:
            raise BabyLlamaError("stdin: no prompts (input was empty or blank)")
    t0 = time.perf_counter()
    results: list[GenerationResult] = []
    if args.stream:
        if cfg.num_return_sequences > 1 or cfg.num_beams > 1:
            raise SettingError("--stream shows one sequence at a time; drop --num-return-sequences/--num-beams")
        for p in prompts:
            sys.stdout.write(p)
            res = generate(model, tok, [p], cfg, stream=lambda i, s: _print_stream(s))
            sys.stdout.write("\n")
            for r in res:
                r.prompt_index = len(results)
            results += res
    else:
        results = generate(model, tok, prompts, cfg, batch_size=args.batch_size)
        if not args.out:
            for r in results:
                head = f"--- prompt {r.prompt_index}" + (f" sample {r.sample_index}" if cfg.num_return_sequences > 1
                                                          else "") + f" ({r.finish_reason}) ---"
                print(head)
                print((r.prompt or "") + r.text)
    dt = time.perf_counter() - t0
    if args.out:
        with atomic_path(args.out) as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                for r in results:
                    d = r.to_dict()
                    d["config"] = cfg.to_dict() if r is results[0] else None
                    f.write(json.dumps({k: v for k, v in d.items() if v is not None}, ensure_ascii=False) + "\n")
    if not args.quiet:
        n = sum(len(r.tokens) for r in results)
        print(f"{len(results)} result(s), {n} tokens in {dt:.2f}s ({n / max(dt, 1e-9):.1f} tok/s)"
              + (f" -> {args.out}" if args.out else ""), file=sys.stderr)
    return 0
