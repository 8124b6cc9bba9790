"""Write a loaded checkpoint in any writable format (`babyllama convert SRC DST --to FORMAT`).

    babyllama convert out/model stories.bin --to llama2c        # + stories.tokenizer.bin for run.c
    babyllama convert stories260K.bin out/m --to babyllama --tokenizer tok512.bin
    babyllama convert out/model out/hf --to hf                   # transformers folder
    babyllama convert out/model model.gguf --to gguf-q8_0        # llama.cpp

SRC is read with babyllama.loading.load (format recognised by content), then `save_as` writes it.
Targets: babyllama, llama2c (legacy v0, what run.c reads), llama2c-v1, hf, gguf (f32), gguf-f16, gguf-q8_0.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from babyllama.tokenizers import Tokenizer, save_llama2c_tokenizer
from babyllama.utils.io import BabyLlamaError

TARGETS = ("babyllama", "llama2c", "llama2c-v1", "hf", "gguf", "gguf-f16", "gguf-q8_0")


def save_as(model: Any, tokenizer: Any, dst: str | os.PathLike, to: str, hf_dtype: str = "float32") -> list[Path]:
    """Write `model` (+ tokenizer) in format `to`; returns the paths written."""
    _check_target(to)
    dst = Path(dst)
    written: list[Path] = []
    if to == "babyllama":
        from babyllama.checkpoint import save_model

        save_model(model, dst, tokenizer)
        written.append(dst)
    elif to in ("llama2c", "llama2c-v1"):
        from babyllama.interop.llama2c import write_bin

        write_bin(model, dst, version=0 if to == "llama2c" else 1)
        written.append(dst)
        if isinstance(tokenizer, Tokenizer):  # tokenizer.bin is SentencePiece only
            tok_path = dst.with_name(dst.stem + ".tokenizer.bin")
            save_llama2c_tokenizer(tokenizer, tok_path)
            written.append(tok_path)
    elif to == "hf":
        from babyllama.interop.hf import export_hf

        export_hf(model, dst, tokenizer, dtype=hf_dtype)
        written.append(dst)
    else:
        from babyllama.interop.gguf import export_gguf

        kind = "f32" if to == "gguf" else to.split("-", 1)[1]
        export_gguf(model, dst, tokenizer, kind=kind)
        written.append(dst)
    return written


def check_destination(src: str | os.PathLike, dst: str | os.PathLike, to: str, force: bool = False) -> None:
    """Refuse an unknown target format, a destination that is the source, or one that exists (unless force)."""
    _check_target(to)
    src, dst = Path(src), Path(dst)
    if dst.exists() and src.resolve() == dst.resolve():
        raise BabyLlamaError(f"{dst}: destination is the source; choose another path")
    if dst.exists() and not force:
        raise BabyLlamaError(f"{dst}: already exists; pass --force to replace it")


def _check_target(to: str) -> None:
    if to not in TARGETS:
        raise BabyLlamaError(f"unknown target {to!r}; choose from {', '.join(TARGETS)}")
