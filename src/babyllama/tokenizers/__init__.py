"""Tokenizers: SentencePiece (`Tokenizer`), byte-level BPE (`BPETokenizer`), llama2.c tokenizer.bin, training.

    from babyllama.tokenizers import load_tokenizer, train_tokenizer
    tok = load_tokenizer("tok512.bin")        # .model, llama2.c tokenizer.bin or tokenizer.json, by content
    tok = train_tokenizer(texts, 4096, "tok4096.model")   # texts: any iterable of strings

This package imports nothing of babyllama but utils.
"""
from __future__ import annotations

import os
import re
from typing import Any

from babyllama.tokenizers.bpe import BPETokenizer
from babyllama.tokenizers.llama2c import llama2c_tokenizer_bytes, save_llama2c_tokenizer
from babyllama.tokenizers.sentencepiece import Tokenizer, parse_sentencepiece, read_tokenizer_file
from babyllama.tokenizers.train import extend_tokenizer, train_tokenizer
from babyllama.utils.io import BabyLlamaError

__all__ = ["BPETokenizer", "Tokenizer", "check_vocab", "extend_tokenizer", "llama2c_tokenizer_bytes",
           "load_tokenizer", "save_llama2c_tokenizer", "train_tokenizer"]

TOKENIZER_FILES = ("tokenizer.model", "tokenizer.json")
_JSON_OBJECT = re.compile(rb'\s*\{\s*["}]')


def load_tokenizer(path: str | os.PathLike, *, bos_id: int | None = None, eos_id: int | None = None,
                   add_bos: bool = True) -> Tokenizer | BPETokenizer:
    """Load a tokenizer file, or a folder holding tokenizer.model or tokenizer.json, by its content:
    a SentencePiece model, a llama2.c tokenizer.bin (both give a `Tokenizer`) or a tokenizer.json (a
    `BPETokenizer`; bos_id, eos_id and add_bos apply to it only, as tokenizer.json does not record them)."""
    path, data = read_tokenizer_file(path, TOKENIZER_FILES)
    if _JSON_OBJECT.match(data):
        return BPETokenizer.from_file(path, bos_id=bos_id, eos_id=eos_id, add_bos=add_bos)
    proto = parse_sentencepiece(data, str(path))
    if proto is None:
        raise BabyLlamaError(f"{path}: not a tokenizer babyllama reads (a SentencePiece .model, a llama2.c "
                             f"tokenizer.bin or a tokenizer.json)")
    return Tokenizer(proto, source=str(path))


def check_vocab(tokenizer: Any, model: Any, where: str | os.PathLike) -> None:
    """Refuse a tokenizer whose vocabulary size differs from the model's (`model`: a Llama or its vocab_size).
    The one vocabulary check; `where` names the file or folder in the message."""
    expected = model if isinstance(model, int) else model.config.vocab_size
    if tokenizer.vocab_size != expected:
        raise BabyLlamaError(f"{where}: tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size "
                             f"is {expected}; use the tokenizer the model was trained with")
