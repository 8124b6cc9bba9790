"""The decoding engine: `generate` batches left-padded prompts through the model's KV cache
(greedy or sampled, streaming, stop tokens and strings) and hands beam search to `decode.beam`;
`sample_text` is `generate` with sampling defaults."""
from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import torch

from babyllama.decode.beam import beam_search
from babyllama.decode.processors import LogitsProcessor, token_stats, top_alternatives
from babyllama.decode.settings import GenerationConfig, GenerationResult, SettingError
from babyllama.decode.steps import Row, prefill, step_function, stop_token_set
from babyllama.decode.text import RowText
from babyllama.model import Llama
from babyllama.tokenizers import check_vocab
from babyllama.utils.io import BabyLlamaError

StreamFn = Callable[[int, str], None]  # (result index, new text)
# (result index, token id, log p or None, top alternatives or None): each kept token, as it is chosen
TokenFn = Callable[[int, int, "float | None", "list[tuple[int, float]] | None"], None]


@torch.inference_mode()
def _run_batch(model: Llama, rows: list[Row], cfg: GenerationConfig, stop_ids: set[int], texts: list[RowText] | None,
               stream: StreamFn | None, generator: torch.Generator | None, pad_id: int, fast: bool,
               on_token: TokenFn | None = None) -> None:
    """Greedy or sampled decoding of a batch of rows (filled in place)."""
    steps = max(r.limit for r in rows)
    logits, cache, keys, positions = prefill(model, rows, steps, pad_id)
    step = step_function(model, fast)
    proc = LogitsProcessor(cfg, [r.prompt_ids for r in rows], logits.shape[-1], logits.device, generator)
    active = list(range(len(rows)))
    live = torch.ones_like(positions)  # 1 while a row decodes; a finished row keeps its last position
    for _ in range(steps):
        tokens = proc.choose(proc.penalise(logits))
        ids = tokens.tolist()
        lps = tops = None
        if cfg.logprobs:
            lps, ents = token_stats(logits, tokens)
            tops = top_alternatives(logits, cfg.top_logprobs) if cfg.top_logprobs else None
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
                    if tops is not None:
                        r.top.append(tops[i])
                if on_token is not None:
                    on_token(i, t, None if lps is None else lps[i], None if tops is None else tops[i])
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
                continue
            live[i] = 0  # its later positions could pass the context's end (rows stop at different steps)
            if stream is not None and texts is not None:
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
        positions += live


def _encode_prompts(tokenizer: Any, prompts: Sequence[str | Sequence[int]], cfg: GenerationConfig
                    ) -> list[tuple[str | None, list[int]]]:
    out = []
    for i, p in enumerate(prompts):
        if isinstance(p, str):
            if tokenizer is None:
                raise SettingError("text prompts need a tokenizer; pass one or give token id lists")
            out.append((p, list(tokenizer.encode(p, bos=cfg.add_bos, eos=False))))
        else:
            out.append((None, [int(t) for t in p]))
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


def _result(row: Row, pi: int, si: int, ptext: str | None, text: RowText | None,
            cfg: GenerationConfig) -> GenerationResult:
    if row.text is None:
        row.text = text.text(row.tokens) if text is not None else ""
    return GenerationResult(prompt=ptext, prompt_tokens=row.prompt_ids, tokens=row.tokens, text=row.text,
                            finish_reason=row.finish or row.limit_reason, prompt_index=pi, sample_index=si,
                            logprobs=row.logprobs if cfg.logprobs else None,
                            entropies=row.entropies if cfg.logprobs else None, score=row.score,
                            top_logprobs=row.top if cfg.top_logprobs else None)


@torch.inference_mode()
def generate(model: Llama, tokenizer: Any, prompts: str | Sequence[str] | Sequence[Sequence[int]],
             config: GenerationConfig | None = None, *, batch_size: int = 32, stream: StreamFn | None = None,
             fast: bool = True, on_token: TokenFn | None = None, **overrides: Any) -> list[GenerationResult]:
    """Generate continuations of `prompts` (text, or token id lists used as given).

    Returns one result per prompt and sample, ordered by prompt then sample
    (`num_return_sequences` per prompt). `stream(i, text)` receives each result's text as it grows
    (greedy and sampling only); `on_token(i, id, logprob, top)` receives each kept token as it is
    chosen, with its log-prob and top alternatives when logprobs / top_logprobs are on (greedy and
    sampling only). Settings come from `config`, with keyword overrides on top, e.g.
    `generate(model, tok, "Once", temperature=0.8, max_new_tokens=50)`.
    """
    cfg = config or GenerationConfig()
    if overrides:
        cfg = cfg.replace(**overrides)
    if batch_size < 1:
        raise SettingError(f"batch_size={batch_size}: must be >= 1")
    if isinstance(prompts, str) or (prompts and isinstance(prompts[0], int)):
        prompts = [prompts]  # type: ignore[list-item]
    if not prompts:
        raise SettingError("no prompts given")
    if (stream is not None or on_token is not None) and cfg.num_beams > 1:
        raise SettingError("streaming works with greedy decoding and sampling, not beam search")
    if (cfg.stop or stream is not None) and tokenizer is None:
        raise SettingError("stop strings and streaming need a tokenizer")
    mcfg = model.config
    if tokenizer is not None and hasattr(tokenizer, "vocab_size"):
        check_vocab(tokenizer, model, "generate")
    eos_id = getattr(tokenizer, "eos_id", None) if tokenizer is not None else None
    bos_id = getattr(tokenizer, "bos_id", None) if tokenizer is not None else None
    pad_id = getattr(tokenizer, "pad_id", 0) if tokenizer is not None else 0
    pad_id = pad_id if pad_id is not None and 0 <= pad_id < mcfg.vocab_size else 0
    stop_ids = stop_token_set(cfg, eos_id, mcfg.vocab_size)
    encoded = _encode_prompts(tokenizer, prompts, cfg)

    jobs: list[tuple[int, int, str | None, Row]] = []  # (prompt index, sample index, prompt text, row)
    for pi, (ptext, ids) in enumerate(encoded):
        if max(ids) >= mcfg.vocab_size or min(ids) < 0:
            raise SettingError(f"prompt {pi}: token ids must be in 0..{mcfg.vocab_size - 1}")
        ids, limit, why = _fit_prompt(ids, pi, cfg, mcfg.max_seq_len, bos_id)
        copies = cfg.num_return_sequences if cfg.num_beams == 1 else 1
        for si in range(copies):
            jobs.append((pi, si, ptext, Row(ids, limit, why)))

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
                tx = RowText(tokenizer, row.prompt_ids, cfg.stop) if tokenizer is not None else None
                hyps = beam_search(model, row, cfg, stop_ids, tx, pad_id, fast)
                for si, h in enumerate(hyps[:cfg.num_return_sequences]):
                    results.append(_result(h, pi, si, ptext, tx, cfg))
        else:
            # batch prompts of similar length together; each row keeps its own index for streaming
            order = sorted(range(len(jobs)), key=lambda j: len(jobs[j][3].prompt_ids)) if stream is None \
                else list(range(len(jobs)))
            texts_all = [(RowText(tokenizer, r.prompt_ids, cfg.stop) if tokenizer is not None else None)
                         for _, _, _, r in jobs]
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size]
                rows = [jobs[j][3] for j in chunk]
                texts = [texts_all[j] for j in chunk] if tokenizer is not None else None
                sfn = None if stream is None else (lambda i, s, chunk=chunk: stream(chunk[i], s))
                tfn = None if on_token is None else (lambda i, *a, chunk=chunk: on_token(chunk[i], *a))
                _run_batch(model, rows, cfg, stop_ids, texts, sfn, generator, pad_id, fast, tfn)
            for j, (pi, si, ptext, row) in enumerate(jobs):
                results.append(_result(row, pi, si, ptext, texts_all[j], cfg))
    finally:
        model.train(was_training)
    return results


def sampling_config(tokenizer: Any, max_new_tokens: int = 100, *, temperature: float = 0.8, top_k: int = 40,
                    num_samples: int = 1, seed: int | None = None) -> GenerationConfig:
    """The settings of `sample_text`: sampling that also stops at BOS (prepared data starts every
    document with BOS, so BOS marks the start of the next one) as well as at EOS."""
    if num_samples < 1:
        raise SettingError(f"num_samples={num_samples}: must be >= 1")
    bos = getattr(tokenizer, "bos_id", None)
    return GenerationConfig(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, seed=seed,
                            num_return_sequences=num_samples if temperature > 0 else 1,
                            stop_token_ids=(bos,) if bos is not None and bos >= 0 else ())


def sample_text(model: Llama, tokenizer: Any, prompt: str, max_new_tokens: int = 100, *, temperature: float = 0.8,
                top_k: int = 40, num_samples: int = 1, seed: int | None = None) -> list[str]:
    """Prompt plus continuation for each of num_samples samples: `generate` with `sampling_config`.
    At temperature 0 the one greedy text is repeated num_samples times."""
    cfg = sampling_config(tokenizer, max_new_tokens, temperature=temperature, top_k=top_k,
                          num_samples=num_samples, seed=seed)
    texts = [prompt + r.text for r in generate(model, tokenizer, [prompt], cfg)]
    return texts if cfg.num_return_sequences == num_samples else texts * num_samples
