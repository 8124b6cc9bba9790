"""babyllama's own model folder: `config.json` + `model.safetensors` (+ `tokenizer.model`).

    save_model(model, "out/model", tokenizer)   # atomic: a reader never sees a half-written folder
    model, tok = load_model_dir("out/model")

Weights are plain safetensors (no pickle); a tied output layer is stored once, as tok_embeddings.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from babyllama.model import Llama, LlamaConfig, unwrap_model
from babyllama.tokenizers import TOKENIZER_FILES, load_tokenizer
from babyllama.utils.io import BabyLlamaError, atomic_dir, atomic_path, atomic_write_json, read_json

if TYPE_CHECKING:
    from babyllama.tokenizers import Tokenizer

FORMAT = "babyllama"
VERSION = 1


def model_state(model: Llama) -> dict[str, torch.Tensor]:
    """State dict ready for safetensors: contiguous CPU tensors, tied output dropped."""
    model = unwrap_model(model)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_embeddings:
        state.pop("output.weight", None)
    return state


def save_llama_weights(model: Llama, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        save_file(model_state(model), str(tmp), metadata={"format": "pt"})


def load_llama_weights(model: Llama, path: str | os.PathLike) -> None:
    path = Path(path)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise BabyLlamaError(f"{path}: cannot read safetensors weights ({e})") from None
    if model.config.tie_embeddings:
        state.pop("output.weight", None)
    expected = {k: v.shape for k, v in model_state(model).items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise BabyLlamaError(f"{path}: weights do not fit the config (missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]})")
    for k, shape in expected.items():
        if state[k].shape != shape:
            raise BabyLlamaError(f"{path}: tensor {k} has shape {tuple(state[k].shape)}, "
                                 f"config says {tuple(shape)}")
    model.load_state_dict(state, strict=not model.config.tie_embeddings)


def save_model(model: Llama, out_dir: str | os.PathLike, tokenizer: "Tokenizer | None" = None,
               extra: dict[str, Any] | None = None) -> Path:
    """Write a model folder atomically: built beside the target, then renamed into place."""
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        cfg = unwrap_model(model).config
        save_llama_weights(model, tmp / "model.safetensors")
        meta: dict[str, Any] = {"format": FORMAT, "version": VERSION, "model": cfg.to_dict()}
        if tokenizer is not None:
            # SentencePiece -> tokenizer.model; a `tokenizers` BPE (e.g. from GGUF/HF) -> tokenizer.json
            name = "tokenizer.model" if hasattr(tokenizer, "model_proto") else "tokenizer.json"
            tokenizer.save(tmp / name)
            meta["tokenizer"] = {"file": name, "vocab_size": tokenizer.vocab_size, "hash": tokenizer.hash,
                                 "bos_id": tokenizer.bos_id, "eos_id": tokenizer.eos_id}
        meta.update(extra or {})
        atomic_write_json(tmp / "config.json", meta)
    return out_dir


def read_model_config(model_dir: str | os.PathLike) -> LlamaConfig:
    model_dir = Path(model_dir)
    meta = read_json(model_dir / "config.json")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("model"), dict):
        kind = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise BabyLlamaError(f"{model_dir / 'config.json'}: not a babyllama model config (format={kind!r})")
    try:
        return LlamaConfig.from_dict(meta["model"])
    except (TypeError, ValueError) as e:
        raise BabyLlamaError(f"{model_dir / 'config.json'}: {e}") from None


def load_model_dir(model_dir: str | os.PathLike, device: str | torch.device = "cpu",
               with_tokenizer: bool = True, dropout: float | None = None) -> tuple[Llama, "Tokenizer | None"]:
    """Load a folder written by save_model. Returns (model in eval mode, tokenizer or None); `dropout`
    replaces the saved config's (to train the model further).
    The tokenizer is not checked against the model here: `babyllama.loading.load` does that."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise BabyLlamaError(f"{model_dir}: no such model folder")
    cfg = read_model_config(model_dir)
    if dropout is not None:
        cfg.dropout = dropout
    model = Llama(cfg)
    load_llama_weights(model, model_dir / "model.safetensors")
    tokenizer = load_folder_tokenizer(model_dir) if with_tokenizer else None
    return model.to(device).eval(), tokenizer


def load_folder_tokenizer(model_dir: Path) -> Any:
    """The tokenizer saved in a model folder (tokenizer.model or tokenizer.json), or None when it has none."""
    if not any((model_dir / name).is_file() for name in TOKENIZER_FILES):
        return None
    info = read_json(model_dir / "config.json").get("tokenizer") or {}
    return load_tokenizer(model_dir, bos_id=info.get("bos_id"), eos_id=info.get("eos_id"))
