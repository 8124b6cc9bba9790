"""Logits processing: repetition / presence / frequency penalties, top-k / top-p / min-p filters,
the no-repeat-n-gram blocker, and the one sampler every decoding path uses (`sample_from`)."""
from __future__ import annotations

from typing import Iterable, Sequence

import torch

from babyllama.decode.settings import GenerationConfig


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


def sample_from(logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Draw one token per row from softmax(logits): argmax of p / Exp(1) noise (the exponential race)."""
    probs = logits.softmax(-1)
    noise = torch.empty_like(probs).exponential_(1.0, generator=generator)
    return (probs / noise).argmax(-1)


def token_stats(logits: torch.Tensor, tokens: torch.Tensor) -> tuple[list[float], list[float]]:
    """log p(token) and entropy (nats) of softmax(logits), per row."""
    logp = logits.float().log_softmax(-1)
    chosen = logp.gather(-1, tokens[:, None])[:, 0]
    entropy = -(logp.exp() * logp).nan_to_num(0.0).sum(-1)
    return chosen.tolist(), entropy.tolist()


def top_alternatives(logits: torch.Tensor, k: int) -> list[list[tuple[int, float]]]:
    """The k most likely tokens of softmax(logits) per row, as (token id, log p), most likely first."""
    values, ids = logits.float().log_softmax(-1).topk(min(k, logits.shape[-1]), dim=-1)
    return [list(zip(i, v)) for i, v in zip(ids.tolist(), values.tolist())]


class LogitsProcessor:
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
        """The next token of every row: argmax at temperature 0, else a draw from the filtered distribution."""
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
        """Row i becomes old row index[i] (beam search)."""
        if self.seen is not None:
            self.seen = self.seen[index]
        if self.counts is not None:
            self.counts = self.counts[index]
        if self.ngrams is not None:
            seqs = [list(self.ngrams.seqs[i]) for i in index_list]
            self.ngrams = NgramBlocker(self.ngrams.n, seqs)
