"""Load a base model and its tokenizer from anything babyllama reads.

babyllama model folders load directly; other formats (llama2.c .pt/.bin, HF, GGUF) go through
`babyllama.interop.detect.load_model`. An explicit tokenizer path overrides the one found with the model.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from babyllama.model import Llama
from babyllama.utils.io import BabyLlamaError


def load_backbone(path: str | os.PathLike, tokenizer_path: str | os.PathLike | None = None,
                  device: str | torch.device = "cpu") -> tuple[Llama, Any]:
    """(model in eval mode, tokenizer). Raises BabyLlamaError when either cannot be loaded."""
    path = Path(path)
    if not path.exists():
        raise BabyLlamaError(f"{path}: no such model file or folder")
    tokenizer = None
    if path.is_dir() and (path / "config.json").is_file() and _is_babyllama(path):
        from babyllama.checkpoint import load_model

        model, tokenizer = load_model(path, device=device, with_tokenizer=tokenizer_path is None)
    else:
        try:
            from babyllama.interop.detect import load_model as load_any
        except ImportError:
            raise BabyLlamaError(f"{path}: not a babyllama model folder, and this install has no "
                                 f"babyllama.interop.detect to read other formats") from None
        model, tokenizer, _ = load_any(path)
        model = model.to(device).eval()
    if tokenizer_path is not None:
        from babyllama.tokenizer import Tokenizer

        tokenizer = Tokenizer.load(tokenizer_path)
    if tokenizer is None:
        raise BabyLlamaError(f"{path}: no tokenizer found with the model; pass one with --tokenizer")
    if tokenizer.vocab_size != model.config.vocab_size:
        raise BabyLlamaError(f"{path}: tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is "
                             f"{model.config.vocab_size}; use the tokenizer the model was trained with")
    return model, tokenizer


def _is_babyllama(folder: Path) -> bool:
    import json

    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8")).get("format") == "babyllama"
    except (OSError, ValueError, AttributeError):
        return False
