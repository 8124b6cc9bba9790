"""Read and write other projects' checkpoints: llama2.c, Hugging Face transformers, GGUF.

    from babyllama.interop.detect import read_any
    model, tokenizer, info = read_any("stories260K.bin")   # format found from the file's content

Callers outside interop use `babyllama.loading.load`, which adds the device and the checks.

Each format lives in its own module (llama2c, hf, gguf); this package module holds the small
helpers they share. transformers, tokenizers and gguf are imported only when a format needs them.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from babyllama.model import Llama, LlamaConfig, unwrap_model
from babyllama.utils.io import BabyLlamaError


def make_config(where: str | os.PathLike, **fields: Any) -> LlamaConfig:
    """LlamaConfig from header/metadata values; an impossible combination becomes a BabyLlamaError."""
    try:
        return LlamaConfig(**fields)
    except (TypeError, ValueError) as e:
        raise BabyLlamaError(f"{where}: header describes an impossible model ({e})") from None


def expected_shapes(cfg: LlamaConfig) -> dict[str, tuple[int, ...]]:
    """Our parameter names and shapes for a config (tied output not listed)."""
    d, h, kv = cfg.dim, cfg.hidden_dim, cfg.n_kv_heads * cfg.head_dim
    shapes: dict[str, tuple[int, ...]] = {"tok_embeddings.weight": (cfg.vocab_size, d)}
    for i in range(cfg.n_layers):
        p = f"layers.{i}."
        shapes.update({
            p + "attention.wq.weight": (cfg.n_heads * cfg.head_dim, d),
            p + "attention.wk.weight": (kv, d),
            p + "attention.wv.weight": (kv, d),
            p + "attention.wo.weight": (d, cfg.n_heads * cfg.head_dim),
            p + "feed_forward.w1.weight": (h, d),
            p + "feed_forward.w2.weight": (d, h),
            p + "feed_forward.w3.weight": (h, d),
            p + "attention_norm.weight": (d,),
            p + "ffn_norm.weight": (d,),
        })
    shapes["norm.weight"] = (d,)
    if not cfg.tie_embeddings:
        shapes["output.weight"] = (cfg.vocab_size, d)
    return shapes


def build_model(cfg: LlamaConfig, state: dict[str, torch.Tensor], where: str | os.PathLike) -> Llama:
    """A float32 Llama in eval mode holding `state` (our names); every name and shape is checked first."""
    shapes = expected_shapes(cfg)
    if cfg.tie_embeddings:
        state = {k: v for k, v in state.items() if k != "output.weight"}
    missing = [k for k in shapes if k not in state]
    unexpected = [k for k in state if k not in shapes]
    if missing or unexpected:
        raise BabyLlamaError(f"{where}: weights do not match the config (missing {missing[:4]}, "
                             f"unexpected {unexpected[:4]}); the file is not a complete Llama checkpoint")
    for k, shape in shapes.items():
        if tuple(state[k].shape) != shape:
            raise BabyLlamaError(f"{where}: tensor {k} has shape {tuple(state[k].shape)} but the header/config "
                                 f"implies {shape}; the file is corrupted or its config is wrong")
    with torch.device("meta"):
        model = Llama(cfg)
    model.load_state_dict({k: v.to(torch.float32).contiguous() for k, v in state.items()},
                          strict=not cfg.tie_embeddings, assign=True)
    if cfg.tie_embeddings:
        model.output.weight = model.tok_embeddings.weight
    leftover = [n for n, p in model.named_parameters() if p.is_meta]
    if leftover:  # cannot happen after the checks above; guard against model changes
        raise BabyLlamaError(f"{where}: no weights for {leftover[:4]}")
    return model.eval()


def our_state(model: Llama) -> dict[str, torch.Tensor]:
    """float32 CPU tensors with our names; output.weight present only when untied."""
    model = unwrap_model(model)
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_embeddings:
        state.pop("output.weight", None)
    return state


def file_size_error(path: Path, what: str, expected: int, actual: int) -> BabyLlamaError:
    kind = "truncated" if actual < expected else "longer than its header says"
    return BabyLlamaError(f"{path}: {what} is {kind}: header implies {expected:,} bytes, file has {actual:,}; "
                          f"re-download or re-export it")


def describe(model: Llama, tokenizer: Any | None) -> dict[str, Any]:
    """Config, parameter count and tokenizer summary for `inspect`."""
    cfg = unwrap_model(model).config
    info: dict[str, Any] = {"config": cfg.to_dict(), "num_params": cfg.num_params()}
    if tokenizer is not None:
        info["tokenizer"] = {"kind": type(tokenizer).__name__, "vocab_size": tokenizer.vocab_size,
                             "bos_id": getattr(tokenizer, "bos_id", None), "eos_id": getattr(tokenizer, "eos_id", None)}
    return info
