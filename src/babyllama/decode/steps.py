"""What the greedy/sampling loop and beam search share: a row's state, the stop tokens, the
left-padded prompt pass (prefill) and the one-token step."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from babyllama.decode.precision import precision_step
from babyllama.decode.settings import GenerationConfig, SettingError
from babyllama.model import KVCache, Llama


@dataclass
class Row:
    """One sequence being decoded (and, once done, its result)."""

    prompt_ids: list[int]
    limit: int  # max tokens this row may generate
    limit_reason: str  # "length" or "context"
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    entropies: list[float] = field(default_factory=list)
    finish: str | None = None
    text: str | None = None
    score: float | None = None
    top: list[list[tuple[int, float]]] = field(default_factory=list)  # per step: the most likely alternatives


def stop_token_set(cfg: GenerationConfig, eos_id: int | None, vocab: int) -> set[int]:
    """cfg.stop_token_ids plus EOS (unless ignore_eos), each checked against the vocabulary."""
    ids = set(cfg.stop_token_ids)
    if eos_id is not None and eos_id >= 0 and not cfg.ignore_eos:
        ids.add(int(eos_id))
    for t in ids:
        if t >= vocab:
            raise SettingError(f"stop_token_ids: id {t} is outside the vocabulary (0..{vocab - 1})")
    return ids


def prefill(model: Llama, rows: Sequence[Row], cache_len: int, pad_id: int
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


StepFn = Callable[[torch.Tensor, torch.Tensor, KVCache, "torch.Tensor | None"], torch.Tensor]


def step_function(model: Llama, fast: bool) -> StepFn:
    """step(tokens, positions, cache, keys) -> logits (B, V): the model's fused DecodeStep when `fast`
    (fp32/fp64 weights; its PrecisionStep for bf16/int8 ones from `decode.precision`), else
    `Llama.forward` on one token."""
    if fast and isinstance(model, Llama) and model.tok_embeddings.weight.dtype in (torch.float32, torch.float64):
        return precision_step(model)

    def slow(tokens: torch.Tensor, positions: torch.Tensor, cache: KVCache, keys: torch.Tensor | None):
        out = model(tokens[:, None], attention_mask=keys, positions=positions[:, None], kv_cache=cache,
                    last_only=True)
        return out.logits[:, -1].float()

    return slow
