"""SentencePiece tokenizers: load (.model or llama2.c tokenizer.bin), save, encode/decode, ids.

A `Tokenizer` holds its serialized ModelProto. A llama2.c tokenizer.bin (see tokenizers/llama2c.py) or a
GGUF "llama" vocabulary becomes an equivalent BPE ModelProto with Llama-2's settings
(`llama_sentencepiece_proto`).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as sp_pb2

from babyllama.tokenizers.llama2c import llama2c_vocab, parse_llama2c_tokenizer
from babyllama.utils.io import BabyLlamaError, atomic_write_bytes

_Piece = sp_pb2.ModelProto.SentencePiece


def default_threads() -> int:
    return max(1, os.cpu_count() or 1)


def read_tokenizer_file(path: str | os.PathLike, names: Sequence[str] = ("tokenizer.model",)) -> tuple[Path, bytes]:
    """(file, its bytes) for a tokenizer file, or for a folder holding one of `names` (first found)."""
    path = Path(path).expanduser()
    if path.is_dir():
        found = next((path / n for n in names if (path / n).is_file()), None)
        if found is None:
            raise BabyLlamaError(f"{path}: folder has no {' or '.join(names)}; pass the tokenizer file itself")
        path = found
    if not path.is_file():
        raise BabyLlamaError(f"{path}: tokenizer file not found")
    data = path.read_bytes()
    if not data:
        raise BabyLlamaError(f"{path}: empty tokenizer file")
    return path, data


def llama_sentencepiece_proto(pieces: Iterable[tuple[str, float, int]], *, unk_id: int, bos_id: int, eos_id: int,
                              add_dummy_prefix: bool = True) -> sp_pb2.ModelProto:
    """A BPE ModelProto with Llama-2's settings (identity normalizer, whitespace kept, digits split,
    byte fallback when there are byte pieces) from (piece, score, SentencePiece type) triples."""
    m = sp_pb2.ModelProto()
    for piece, score, kind in pieces:
        m.pieces.add(piece=piece, score=float(score), type=int(kind))
    t = m.trainer_spec
    t.model_type = sp_pb2.TrainerSpec.BPE
    t.vocab_size = len(m.pieces)
    t.byte_fallback = any(p.type == _Piece.BYTE for p in m.pieces)
    t.split_digits = True
    t.allow_whitespace_only_pieces = True
    t.unk_id, t.bos_id, t.eos_id, t.pad_id = unk_id, bos_id, eos_id, -1
    t.unk_surface = " \u2047 "
    n = m.normalizer_spec
    n.name = "identity"
    n.precompiled_charsmap = b""
    n.add_dummy_prefix = add_dummy_prefix
    n.remove_extra_whitespaces = False
    n.escape_whitespaces = True
    return m


def parse_sentencepiece(data: bytes, source: str) -> bytes | None:
    """A serialized ModelProto from a llama2.c tokenizer.bin or a SentencePiece .model; None when `data`
    is neither."""
    tokens = parse_llama2c_tokenizer(data)
    if tokens is not None:
        vocab = llama2c_vocab(tokens, source)
        return llama_sentencepiece_proto(vocab.pieces, unk_id=vocab.unk_id, bos_id=vocab.bos_id,
                                         eos_id=vocab.eos_id).SerializeToString()
    proto = sp_pb2.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception:  # protobuf's DecodeError, or worse on garbage
        return None
    return data if len(proto.pieces) else None


class Tokenizer:
    """A SentencePiece model held as its serialized ModelProto, with Llama-style BOS/EOS handling."""

    def __init__(self, model_proto: bytes, *, source: str | None = None) -> None:
        sp = spm.SentencePieceProcessor()
        try:
            sp.LoadFromSerializedProto(bytes(model_proto))
        except Exception as e:  # sentencepiece raises RuntimeError/OSError on a bad proto
            raise BabyLlamaError(f"{source or 'tokenizer'}: not a usable SentencePiece model ({e})") from None
        self._sp = sp
        self._proto = sp.serialized_model_proto()
        self.source = source

    def __getstate__(self) -> dict[str, Any]:  # picklable (worker processes): rebuild from the proto
        return {"proto": self._proto, "source": self.source}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["proto"], source=state["source"])  # type: ignore[misc]

    # ---- loading / saving -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike) -> "Tokenizer":
        """Load a SentencePiece .model, a llama2.c tokenizer.bin, or a folder holding tokenizer.model.

        The kind is detected from the content, not the name.
        """
        path, data = read_tokenizer_file(path)
        proto = parse_sentencepiece(data, str(path))
        if proto is None:
            raise BabyLlamaError(f"{path}: neither a SentencePiece .model nor a llama2.c tokenizer.bin; "
                                 f"check the file")
        return cls(proto, source=str(path))

    def save(self, path: str | os.PathLike) -> None:
        """Write the SentencePiece .model file atomically."""
        atomic_write_bytes(path, self._proto)

    def model_proto(self) -> sp_pb2.ModelProto:
        """A fresh copy of the ModelProto (edit it and build a new Tokenizer from it)."""
        m = sp_pb2.ModelProto()
        m.ParseFromString(self._proto)
        return m

    def serialized(self) -> bytes:
        return self._proto

    # ---- properties -------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self._sp.vocab_size()

    @property
    def bos_id(self) -> int:
        return self._sp.bos_id()

    @property
    def eos_id(self) -> int:
        return self._sp.eos_id()

    @property
    def unk_id(self) -> int:
        return self._sp.unk_id()

    @property
    def pad_id(self) -> int:
        """SentencePiece's pad id if it has one, else the EOS id."""
        p = self._sp.pad_id()
        return p if p >= 0 else self.eos_id

    @property
    def hash(self) -> str:
        """sha256 hex digest of the serialized model proto."""
        return hashlib.sha256(self._proto).hexdigest()

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size}, source={self.source!r}, hash={self.hash[:12]})"

    # ---- encode / decode --------------------------------------------------------------------------
    def encode(self, text: str, bos: bool = True, eos: bool = False) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"encode expects str, got {type(text).__name__}")
        return self._sp.encode(text, add_bos=bos, add_eos=eos)

    def encode_batch(self, texts: Sequence[str], bos: bool = True, eos: bool = False,
                     num_threads: int | None = None) -> list[list[int]]:
        """Encode many texts with SentencePiece's own thread pool."""
        return self._sp.encode(list(texts), add_bos=bos, add_eos=eos,
                               num_threads=num_threads or default_threads())

    def _check_ids(self, ids: Iterable[int]) -> list[int]:
        out = [int(i) for i in ids]
        n = self.vocab_size
        for i in out:
            if not 0 <= i < n:
                raise ValueError(f"token id {i} is outside the vocabulary (0..{n - 1})")
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Text of the ids; control ids (BOS, EOS, pad) are skipped."""
        ids = [i for i in self._check_ids(ids) if not self._sp.IsControl(i)]
        return self._sp.decode(ids)

    def id_to_piece(self, id: int) -> str:
        return self._sp.id_to_piece(self._check_ids([id])[0])

    def piece_to_id(self, piece: str) -> int:
        return self._sp.piece_to_id(piece)
