"""Byte-level BPE tokenizers (a Hugging Face tokenizer.json, or a GGUF "gpt2" vocabulary such as SmolLM2's)
through the optional `tokenizers` library, with the same encode/decode interface as the SentencePiece
`Tokenizer`. Saved as tokenizer.json."""
from __future__ import annotations

import hashlib
import os
from typing import Any, Iterable

from babyllama.utils.io import BabyLlamaError, atomic_write_text
from babyllama.utils.optional import require


class BPETokenizer:
    """A `tokenizers.Tokenizer` with BOS/EOS ids; `pre` is llama.cpp's pre-tokenizer name (for GGUF export)."""

    def __init__(self, tk: Any, bos_id: int | None, eos_id: int | None, pad_id: int | None = None,
                 add_bos: bool = True, source: str | None = None, pre: str = "default") -> None:
        self.tk, self.source, self.pre = tk, source, pre
        self.bos_id = -1 if bos_id is None else int(bos_id)
        self.eos_id = -1 if eos_id is None else int(eos_id)
        self.pad_id = self.eos_id if pad_id is None else int(pad_id)
        self.add_bos = add_bos

    @classmethod
    def from_file(cls, path: str | os.PathLike, bos_id: int | None = None, eos_id: int | None = None,
                  add_bos: bool = True) -> "BPETokenizer":
        """Read a tokenizer.json."""
        tokenizers = require("tokenizers", "to read tokenizer.json")
        try:
            tk = tokenizers.Tokenizer.from_file(str(path))
        except Exception as e:  # tokenizers raises plain Exception subclasses
            raise BabyLlamaError(f"{path}: cannot read tokenizer.json ({str(e)[:160]})") from None
        tk.no_padding()
        tk.no_truncation()
        return cls(tk, bos_id, eos_id, add_bos=add_bos, source=str(path))

    @property
    def vocab_size(self) -> int:
        return self.tk.get_vocab_size(with_added_tokens=True)

    @property
    def unk_id(self) -> int:
        return -1

    @property
    def hash(self) -> str:
        """sha256 of the tokenizer.json text."""
        return hashlib.sha256(self.tk.to_str().encode("utf-8")).hexdigest()

    def piece_to_id(self, piece: str) -> int:
        i = self.tk.token_to_id(piece)
        return -1 if i is None else i

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size}, source={self.source!r})"

    def encode(self, text: str, bos: bool = True, eos: bool = False) -> list[int]:
        ids = list(self.tk.encode(text, add_special_tokens=False).ids)
        if bos and self.add_bos and self.bos_id >= 0:
            ids = [self.bos_id] + ids
        if eos and self.eos_id >= 0:
            ids = ids + [self.eos_id]
        return ids

    def encode_batch(self, texts: list[str], bos: bool = True, eos: bool = False) -> list[list[int]]:
        return [self.encode(t, bos, eos) for t in texts]

    def decode(self, ids: Iterable[int]) -> str:
        return self.tk.decode([int(i) for i in ids], skip_special_tokens=True)

    def id_to_piece(self, id: int) -> str:
        return self.tk.id_to_token(int(id))

    def save(self, path: str | os.PathLike) -> None:
        """Write the tokenizer.json atomically."""
        atomic_write_text(path, self.tk.to_str())
