"""One loader for every model babyllama reads.

    from babyllama.loading import load
    loaded = load("runs/quickstart")                  # a run folder, model folder or checkpoint folder
    loaded = load("stories260K.bin", tokenizer="tok512.bin")
    loaded.model, loaded.tokenizer, loaded.info        # model in eval mode, tokenizer, format/path/notes

Formats: babyllama model folders (and run/checkpoint folders), Hugging Face folders, GGUF files,
llama2.c .pt and .bin (which carry no tokenizer: pass one). `check_vocab`, the one vocabulary check, is
babyllama.tokenizers.check_vocab (re-exported here; interop's exports use it too).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from babyllama.checkpoint.run_dir import resolve_model_dir
from babyllama.decode.precision import check_dtype, to_precision
from babyllama.interop import describe
from babyllama.interop.detect import read_any
from babyllama.model import Llama
from babyllama.tokenizers import check_vocab, load_tokenizer
from babyllama.utils.io import BabyLlamaError, read_json

__all__ = ["Loaded", "check_vocab", "inspect", "load"]


@dataclass
class Loaded:
    """What `load` returns: the model (eval mode), its tokenizer (None only when not required) and
    info (format, path, dtype, description, notes)."""
    model: Llama
    tokenizer: Any
    info: dict[str, Any] = field(default_factory=dict)

    def __iter__(self):  # `model, tokenizer = load(...)` reads naturally
        return iter((self.model, self.tokenizer))


def load(path: str | os.PathLike, tokenizer: Any = None, device: str | torch.device = "cpu", *,
         require_tokenizer: bool = True, default_tokenizer: str | os.PathLike | None = None,
         dtype: str = "fp32") -> Loaded:
    """Load any checkpoint babyllama reads.

    tokenizer: a path or tokenizer object that replaces the model's own (llama2.c files need one);
    default_tokenizer: used only when the model comes without one. A tokenizer whose vocabulary size
    differs from the model's, or (for our folders) whose hash differs from the one saved with the
    model, is refused. dtype: fp32, or bf16 / int8 for weight-only lower-precision inference
    (babyllama.decode.precision; such a model is for inference only)."""
    check_dtype(dtype)
    path = Path(path)
    if not path.exists():
        raise BabyLlamaError(f"{path}: no such file or folder")
    if path.is_dir() and not (path / "config.json").is_file() and any((path / d).is_dir() for d in ("model", "checkpoints")):
        path = resolve_model_dir(path)  # a run folder: its model/, else its latest checkpoint
    override = tokenizer
    model, tok, info = read_any(path, with_tokenizer=override is None)
    if override is not None:
        tok = _as_tokenizer(override)
    elif tok is None and default_tokenizer is not None and Path(default_tokenizer).is_file():
        tok = _as_tokenizer(default_tokenizer)
    if tok is None:
        if require_tokenizer:
            raise BabyLlamaError(f"{path}: no tokenizer found with the model; pass one with --tokenizer "
                                 f"(for llama2.c models, its tokenizer.bin or tokenizer.model)")
        if info.get("format", "").startswith("llama2c"):
            info["notes"].append("llama2.c checkpoints carry no tokenizer; pass its tokenizer.bin with --tokenizer")
    else:
        check_vocab(tok, model, override if override is not None and not hasattr(override, "encode") else path)
        want = _saved_hash(path) if override is not None else None
        if want and getattr(tok, "hash", want) != want:
            raise BabyLlamaError(f"{override}: tokenizer differs from the one the model was saved with "
                                 f"(hash {tok.hash[:12]} vs {want[:12]}); use the model's own tokenizer")
    if dtype != "fp32":
        to_precision(model, dtype)
        info["precision"] = dtype
    return Loaded(model.to(device).eval(), tok, info)


def _saved_hash(path: Path) -> str | None:
    if path.is_dir() and (path / "config.json").is_file():
        try:
            return (read_json(path / "config.json").get("tokenizer") or {}).get("hash")
        except BabyLlamaError:
            return None
    return None


def _as_tokenizer(arg: Any) -> Any:
    return load_tokenizer(arg) if isinstance(arg, (str, os.PathLike)) else arg


def inspect(path: str | os.PathLike, tokenizer: Any = None) -> dict[str, Any]:
    """What `path` holds: format, description, dtype, config, num_params, tokenizer, notes."""
    loaded = load(path, tokenizer=tokenizer, require_tokenizer=False)
    return {**loaded.info, **describe(loaded.model, loaded.tokenizer)}
