"""`babyllama convert SRC DST --to FORMAT`: any supported checkpoint to any writable format.

    babyllama convert out/model stories.bin --to llama2c        # + stories.tokenizer.bin for run.c
    babyllama convert stories260K.bin out/m --to babyllama --tokenizer tok512.bin
    babyllama convert out/model out/hf --to hf                   # transformers folder
    babyllama convert out/model model.gguf --to gguf-q8_0        # llama.cpp

SRC is recognised by content (see babyllama.interop.detect). Targets: babyllama, llama2c (legacy v0,
what run.c reads), llama2c-v1, hf, gguf (f32), gguf-f16, gguf-q8_0.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from babyllama.utils.io import BabyLlamaError

TARGETS = ("babyllama", "llama2c", "llama2c-v1", "hf", "gguf", "gguf-f16", "gguf-q8_0")


def save_as(model: Any, tokenizer: Any, dst: str | os.PathLike, to: str, hf_dtype: str = "float32") -> list[Path]:
    """Write `model` (+ tokenizer) in format `to`; returns the paths written."""
    dst = Path(dst)
    written: list[Path] = []
    if to == "babyllama":
        from babyllama.checkpoint import save_model

        save_model(model, dst, tokenizer)
        written.append(dst)
    elif to in ("llama2c", "llama2c-v1"):
        from babyllama.interop.llama2c import export_tokenizer, write_bin

        write_bin(model, dst, version=0 if to == "llama2c" else 1)
        written.append(dst)
        if tokenizer is not None and hasattr(tokenizer, "model_proto"):  # tokenizer.bin is SentencePiece only
            tok_path = dst.with_name(dst.stem + ".tokenizer.bin")
            export_tokenizer(tokenizer, tok_path)
            written.append(tok_path)
    elif to == "hf":
        from babyllama.interop.hf import export_hf

        export_hf(model, dst, tokenizer, dtype=hf_dtype)
        written.append(dst)
    elif to.startswith("gguf"):
        from babyllama.interop.gguf import export_gguf

        kind = "f32" if to == "gguf" else to.split("-", 1)[1]
        export_gguf(model, dst, tokenizer, kind=kind)
        written.append(dst)
    else:
        raise BabyLlamaError(f"unknown target {to!r}; choose from {', '.join(TARGETS)}")
    return written


def convert(src: str | os.PathLike, dst: str | os.PathLike, to: str, tokenizer: Any = None,
            force: bool = False, hf_dtype: str = "float32") -> tuple[dict[str, Any], list[Path]]:
    """Load `src` (any format), write it to `dst` as `to`. Returns (source info, paths written)."""
    from babyllama.loading import load

    if to not in TARGETS:
        raise BabyLlamaError(f"unknown target {to!r}; choose from {', '.join(TARGETS)}")
    src, dst = Path(src), Path(dst)
    if dst.exists() and src.resolve() == dst.resolve():
        raise BabyLlamaError(f"{dst}: destination is the source; choose another path")
    if dst.exists() and not force:
        raise BabyLlamaError(f"{dst}: already exists; pass --force to replace it")
    loaded = load(src, tokenizer=tokenizer, require_tokenizer=False)
    model, tok, info = loaded.model, loaded.tokenizer, loaded.info
    return info, save_as(model, tok, dst, to, hf_dtype=hf_dtype)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", help="checkpoint to read (format detected from its content)")
    parser.add_argument("dst", help="file or folder to write")
    parser.add_argument("--to", required=True, choices=TARGETS, help="output format")
    parser.add_argument("--tokenizer", default=None,
                        help="tokenizer file (.model or llama2.c tokenizer.bin); needed for llama2.c sources")
    parser.add_argument("--hf-dtype", default="float32", choices=("float32", "float16", "bfloat16"),
                        help="weight dtype of an hf export")
    parser.add_argument("--force", action="store_true", help="replace DST if it exists")


def run(args: argparse.Namespace) -> int:
    info, written = convert(args.src, args.dst, args.to, tokenizer=args.tokenizer, force=args.force,
                            hf_dtype=args.hf_dtype)
    print(f"read {info['format']}: {info['description']}")
    for note in info.get("notes", []):
        print(f"note: {note}")
    for p in written:
        print(f"wrote {p}")
    if args.to.startswith("llama2c") and len(written) == 1:
        print("note: no tokenizer written (llama2.c's tokenizer.bin needs a SentencePiece tokenizer; pass "
              "--tokenizer with a .model or tokenizer.bin)")
    return 0
