"""Load a base model and its tokenizer from anything babyllama reads (via babyllama.interop.detect):
babyllama model folders, llama2.c .pt/.bin, Hugging Face folders, GGUF."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from babyllama.model import Llama
from babyllama.utils.io import BabyLlamaError


def load_backbone(path: str | os.PathLike, tokenizer_path: str | os.PathLike | None = None,
                  device: str | torch.device = "cpu",
                  default_tokenizer: str | os.PathLike | None = None) -> tuple[Llama, Any]:
    """(model in eval mode, tokenizer). `tokenizer_path` overrides the model's own tokenizer;
    `default_tokenizer` is used only when the model comes without one (llama2.c files carry none).
    Raises BabyLlamaError when either cannot be loaded or they do not fit together."""
    from babyllama.interop.detect import load_model

    path = Path(path)
    if not path.exists():
        raise BabyLlamaError(f"{path}: no such model file or folder")
    model, tokenizer, _ = load_model(path, device=device, tokenizer=tokenizer_path)
    if tokenizer is None and default_tokenizer is not None and Path(default_tokenizer).is_file():
        from babyllama.tokenizer import Tokenizer

        tokenizer = Tokenizer.load(default_tokenizer)
    if tokenizer is None:
        raise BabyLlamaError(f"{path}: no tokenizer found with the model; pass one with --tokenizer "
                             f"(for llama2.c models, its tokenizer.bin or tokenizer.model)")
    if tokenizer.vocab_size != model.config.vocab_size:
        raise BabyLlamaError(f"{path}: tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is "
                             f"{model.config.vocab_size}; use the tokenizer the model was trained with")
    return model, tokenizer
