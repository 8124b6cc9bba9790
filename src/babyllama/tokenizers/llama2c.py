"""llama2.c's tokenizer.bin: read it into SentencePiece pieces, write a SentencePiece tokenizer as one.

Layout (little-endian, as written by llama2.c's tokenizer.py `export`):
    uint32 max_token_length
    then for each id 0..vocab-1: float32 score, uint32 n, n bytes (UTF-8 text of the piece)
The text of a piece is the SentencePiece piece with '▁' (U+2581) replaced by ' ', except BOS and EOS which
are written as '\\n<s>\\n' and '\\n</s>\\n'; byte pieces stay as the literal text '<0xNN>' (the published
tok512.bin and Llama-2 tokenizer.bin both do this; one llama2.c version of export() wrote them as raw
characters instead, which this reader does not handle). Scores are float32 in both formats, so
bin -> Tokenizer -> bin reproduces the file byte for byte.

The .bin does not record normalizer settings: the reader assumes Llama-2's (identity, dummy prefix,
whitespace kept). llama2.c trained tok512 with SentencePiece's default remove_extra_whitespaces=true, so
on text with runs of spaces the rebuilt tok512 may split differently from the original tok512.model; for
Llama-2's 32000-piece tokenizer the rebuilt model matches exactly.
"""
from __future__ import annotations

import os
import re
import struct
from typing import Any, NamedTuple

from sentencepiece import sentencepiece_model_pb2 as sp_pb2

from babyllama.utils.io import BabyLlamaError, atomic_write_bytes

BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")
SPACE = "\u2581"  # '▁', SentencePiece's whitespace symbol
_BIN_BOS, _BIN_EOS = "\n<s>\n", "\n</s>\n"
_Piece = sp_pb2.ModelProto.SentencePiece


class Llama2cVocab(NamedTuple):
    """A tokenizer.bin as SentencePiece pieces: (piece, score, type) per id, and the special ids."""
    pieces: list[tuple[str, float, int]]
    unk_id: int
    bos_id: int
    eos_id: int


def parse_llama2c_tokenizer(data: bytes) -> list[tuple[bytes, float]] | None:
    """Tokens (bytes, score) if `data` has the llama2.c tokenizer.bin layout exactly, else None."""
    if len(data) < 4:
        return None
    (max_len,) = struct.unpack_from("<I", data, 0)
    if not 0 < max_len <= 4096:
        return None
    off, tokens, longest = 4, [], 0
    while off < len(data):
        if off + 8 > len(data):
            return None
        score, n = struct.unpack_from("<fI", data, off)
        off += 8
        if n > max_len or off + n > len(data):
            return None
        tokens.append((data[off:off + n], score))
        longest = max(longest, n)
        off += n
    if len(tokens) < 3 or longest != max_len:
        return None
    return tokens


def llama2c_vocab(tokens: list[tuple[bytes, float]], name: str) -> Llama2cVocab:
    """The SentencePiece pieces behind parsed tokenizer.bin tokens; `name` is used in error messages."""
    pieces: list[tuple[str, float, int]] = []
    ids: dict[str, int] = {}
    for i, (raw, score) in enumerate(tokens):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BabyLlamaError(f"{name}: token {i} is not valid UTF-8; not a llama2.c tokenizer.bin") from None
        if text == _BIN_BOS and "<s>" not in ids:
            piece, kind = "<s>", _Piece.CONTROL
        elif text == _BIN_EOS and "</s>" not in ids:
            piece, kind = "</s>", _Piece.CONTROL
        else:
            piece = text.replace(" ", SPACE)
            if piece == "<unk>" and "<unk>" not in ids:
                kind = _Piece.UNKNOWN
            elif BYTE_PIECE.match(piece):
                kind = _Piece.BYTE
            else:
                kind = _Piece.NORMAL
        if piece in ids:
            raise BabyLlamaError(f"{name}: token {i} repeats piece {piece!r} (also id {ids[piece]})")
        ids[piece] = i
        pieces.append((piece, score, kind))
    if "<unk>" not in ids:
        raise BabyLlamaError(f"{name}: no <unk> token; not a SentencePiece-derived tokenizer.bin")
    return Llama2cVocab(pieces, ids["<unk>"], ids.get("<s>", -1), ids.get("</s>", -1))


def llama2c_tokenizer_bytes(tokenizer: Any) -> bytes:
    """A SentencePiece `Tokenizer` in llama2.c's tokenizer.bin layout (see the module docstring)."""
    out, longest = [], 0
    for i, p in enumerate(tokenizer.model_proto().pieces):
        if i == tokenizer.bos_id:
            text = _BIN_BOS
        elif i == tokenizer.eos_id:
            text = _BIN_EOS
        else:
            text = p.piece.replace(SPACE, " ")
        raw = text.encode("utf-8")
        longest = max(longest, len(raw))
        out.append(struct.pack("<fI", p.score, len(raw)) + raw)
    return struct.pack("<I", longest) + b"".join(out)


def save_llama2c_tokenizer(tokenizer: Any, path: str | os.PathLike) -> None:
    """Write a SentencePiece `Tokenizer` as llama2.c's tokenizer.bin, atomically."""
    atomic_write_bytes(path, llama2c_tokenizer_bytes(tokenizer))
