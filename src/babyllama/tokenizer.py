"""SentencePiece tokenizers: load (.model or llama2.c tokenizer.bin), encode/decode, train, extend, export.

llama2.c `tokenizer.bin` layout (little-endian, as written by llama2.c's tokenizer.py `export`):
    uint32 max_token_length
    then for each id 0..vocab-1: float32 score, uint32 n, n bytes (UTF-8 text of the piece)
The text of a piece is the SentencePiece piece with '▁' (U+2581) replaced by ' ', except BOS and EOS which
are written as '\\n<s>\\n' and '\\n</s>\\n'; byte pieces stay as the literal text '<0xNN>' (the published
tok512.bin and Llama-2 tokenizer.bin both do this; one llama2.c version of export() wrote them as raw characters instead,
which this reader does not handle). Scores are stored as float32 in both formats, so
bin -> Tokenizer -> bin reproduces the file byte for byte. Reading reverses that mapping and rebuilds an equivalent
SentencePiece BPE ModelProto with Llama-2's normalizer settings (identity, dummy prefix, whitespace kept).
The .bin does not record normalizer settings: llama2.c trained tok512 with SentencePiece's default
remove_extra_whitespaces=true, so on text with runs of spaces the rebuilt tok512 may split differently from
the original tok512.model; for Llama-2's 32000-piece tokenizer the rebuilt model matches exactly.
"""
from __future__ import annotations

import argparse
import codecs
import hashlib
import io
import os
import re
import struct
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as sp_pb2

from babyllama.utils.io import BabyLlamaError, atomic_write_bytes

_BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")
_SPACE = "\u2581"  # '▁', SentencePiece's whitespace symbol
_BIN_BOS, _BIN_EOS = "\n<s>\n", "\n</s>\n"
_Piece = sp_pb2.ModelProto.SentencePiece


def _default_threads() -> int:
    return max(1, os.cpu_count() or 1)


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
        self._bytes_table: list[bytes] | None = None

    def __getstate__(self) -> dict[str, Any]:  # picklable (worker processes): rebuild from the proto
        return {"proto": self._proto, "source": self.source}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["proto"], source=state["source"])  # type: ignore[misc]

    # ---- loading / saving -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike) -> "Tokenizer":
        """Load a SentencePiece .model, a llama2.c tokenizer.bin, or a directory holding tokenizer.model.

        The kind is detected from the content, not the name.
        """
        path = Path(path).expanduser()
        if path.is_dir():
            if not (path / "tokenizer.model").is_file():
                raise BabyLlamaError(f"{path}: directory has no tokenizer.model; pass the tokenizer file itself")
            path = path / "tokenizer.model"
        if not path.is_file():
            raise BabyLlamaError(f"{path}: tokenizer file not found")
        data = path.read_bytes()
        if not data:
            raise BabyLlamaError(f"{path}: empty tokenizer file")
        tokens = parse_llama2c_bin(data)
        if tokens is not None:
            return cls(_proto_from_llama2c(tokens, str(path)).SerializeToString(), source=str(path))
        proto = sp_pb2.ModelProto()
        try:
            proto.ParseFromString(data)
        except Exception:
            proto = None
        if proto is None or len(proto.pieces) == 0:
            raise BabyLlamaError(
                f"{path}: neither a SentencePiece .model nor a llama2.c tokenizer.bin; check the file"
            )
        return cls(data, source=str(path))

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

    @property
    def sp(self) -> spm.SentencePieceProcessor:
        return self._sp

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
                               num_threads=num_threads or _default_threads())

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

    def is_control(self, id: int) -> bool:
        return bool(self._sp.IsControl(int(id)))

    def token_bytes(self, id: int) -> bytes:
        """Raw bytes a token adds to the text: b'' for control, the byte of <0xNN>, else the piece
        with '▁' -> ' '. Concatenate and UTF-8 decode for streaming output (see StreamDecoder)."""
        if self._bytes_table is None:
            self._bytes_table = self._build_bytes_table()
        return self._bytes_table[self._check_ids([id])[0]]

    def _build_bytes_table(self) -> list[bytes]:
        sp = self._sp
        unk_surface = self.model_proto().trainer_spec.unk_surface
        table = []
        for i in range(sp.vocab_size()):
            if sp.IsControl(i):
                table.append(b"")
            elif sp.IsUnknown(i):
                table.append(unk_surface.encode("utf-8"))
            elif sp.IsByte(i):
                table.append(bytes([int(_BYTE_PIECE.match(sp.id_to_piece(i)).group(1), 16)]))
            else:
                table.append(sp.id_to_piece(i).replace(_SPACE, " ").encode("utf-8"))
        return table

    def stream_decoder(self) -> "StreamDecoder":
        return StreamDecoder(self)


class StreamDecoder:
    """Turn ids into text one at a time; output concatenates to `tokenizer.decode(ids)`.

    Like SentencePiece, the first text piece drops its leading dummy-prefix space; incomplete UTF-8
    sequences (split byte-fallback tokens) are held until complete.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tok = tokenizer
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._started = False

    def push(self, id: int) -> str:
        data = self.tok.token_bytes(id)
        if not data:
            return ""
        if not self._started:
            self._started = True
            sp = self.tok.sp
            if not (sp.IsByte(int(id)) or sp.IsUnknown(int(id))) and data.startswith(b" "):
                data = data[1:]
        return self._utf8.decode(data)

    def flush(self) -> str:
        return self._utf8.decode(b"", final=True)


# ---- llama2.c tokenizer.bin ---------------------------------------------------------------------------
def parse_llama2c_bin(data: bytes) -> list[tuple[bytes, float]] | None:
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


def _proto_from_llama2c(tokens: list[tuple[bytes, float]], name: str) -> sp_pb2.ModelProto:
    m = sp_pb2.ModelProto()
    ids: dict[str, int] = {}
    has_bytes = False
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
            piece = text.replace(" ", _SPACE)
            if piece == "<unk>" and "<unk>" not in ids:
                kind = _Piece.UNKNOWN
            elif _BYTE_PIECE.match(piece):
                kind, has_bytes = _Piece.BYTE, True
            else:
                kind = _Piece.NORMAL
        if piece in ids:
            raise BabyLlamaError(f"{name}: token {i} repeats piece {piece!r} (also id {ids[piece]})")
        ids[piece] = i
        m.pieces.add(piece=piece, score=score, type=kind)
    if "<unk>" not in ids:
        raise BabyLlamaError(f"{name}: no <unk> token; not a SentencePiece-derived tokenizer.bin")
    _set_llama_specs(m, vocab_size=len(tokens), unk_id=ids["<unk>"], bos_id=ids.get("<s>", -1),
                     eos_id=ids.get("</s>", -1), byte_fallback=has_bytes)
    return m


def _set_llama_specs(m: sp_pb2.ModelProto, *, vocab_size: int, unk_id: int, bos_id: int, eos_id: int,
                     byte_fallback: bool) -> None:
    t = m.trainer_spec
    t.model_type = sp_pb2.TrainerSpec.BPE
    t.vocab_size = vocab_size
    t.byte_fallback = byte_fallback
    t.split_digits = True
    t.allow_whitespace_only_pieces = True
    t.unk_id, t.bos_id, t.eos_id, t.pad_id = unk_id, bos_id, eos_id, -1
    t.unk_surface = " \u2047 "
    n = m.normalizer_spec
    n.name = "identity"
    n.precompiled_charsmap = b""
    n.add_dummy_prefix = True
    n.remove_extra_whitespaces = False
    n.escape_whitespaces = True


def llama2c_bin_bytes(tokenizer: Tokenizer) -> bytes:
    """The tokenizer in llama2.c's tokenizer.bin layout (see the module docstring)."""
    m = tokenizer.model_proto()
    out, longest = [], 0
    for i, p in enumerate(m.pieces):
        if i == tokenizer.bos_id:
            text = _BIN_BOS
        elif i == tokenizer.eos_id:
            text = _BIN_EOS
        else:
            text = p.piece.replace(_SPACE, " ")
        raw = text.encode("utf-8")
        longest = max(longest, len(raw))
        out.append(struct.pack("<fI", p.score, len(raw)) + raw)
    return struct.pack("<I", longest) + b"".join(out)


def export_llama2c_bin(tokenizer: Tokenizer, path: str | os.PathLike) -> None:
    """Write llama2.c's tokenizer.bin atomically."""
    atomic_write_bytes(path, llama2c_bin_bytes(tokenizer))


# ---- training -----------------------------------------------------------------------------------------
def _documents(texts: Any) -> Iterator[str]:
    """Documents from: a path (str or PathLike) or a list/tuple of pathlib.Path, else an iterable of str."""
    from babyllama.data.sources import Source, iter_documents

    if isinstance(texts, (str, os.PathLike, Source)):
        yield from iter_documents([texts])
    elif isinstance(texts, (list, tuple)) and texts and all(isinstance(t, (os.PathLike, Source)) for t in texts):
        yield from iter_documents(texts)
    else:
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"expected str documents, got {type(t).__name__}")
            yield t


class _Lines:
    """Iterate non-blank lines of documents; remember an exception instead of raising it into C++."""

    def __init__(self, docs: Iterator[str]) -> None:
        self.docs, self.error, self.count = docs, None, 0

    def __iter__(self) -> Iterator[str]:
        try:
            for doc in self.docs:
                for line in doc.split("\n"):
                    if line.strip():
                        self.count += 1
                        yield line
        except BaseException as e:  # re-raised by the caller once SentencePiece returns
            self.error = e


def _train_proto(texts: Any, vocab_size: int, *, model_type: str, byte_fallback: bool,
                 character_coverage: float, max_sentence_length: int, input_sentence_size: int,
                 seed: int, num_threads: int | None, verbose: bool) -> bytes:
    if vocab_size < 8:
        raise BabyLlamaError(f"vocab size {vocab_size} is too small")
    lines = _Lines(_documents(texts))
    buf = io.BytesIO()
    spm.set_random_generator_seed(seed)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_writer=buf,
            model_type=model_type, vocab_size=vocab_size, byte_fallback=byte_fallback,
            character_coverage=character_coverage, split_digits=True, allow_whitespace_only_pieces=True,
            normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=True,
            unk_id=0, bos_id=1, eos_id=2, pad_id=-1, unk_surface=" \u2047 ",
            max_sentence_length=max_sentence_length, input_sentence_size=input_sentence_size,
            shuffle_input_sentence=True, num_threads=num_threads or _default_threads(),
            max_sentencepiece_length=16, minloglevel=0 if verbose else 2,
        )
    except RuntimeError as e:
        if lines.error is not None:
            raise lines.error from None
        msg = str(e).split("] ")[-1].strip().rstrip(".")
        if lines.count == 0:
            raise BabyLlamaError("no text to train the tokenizer on; the input has only blank lines") from None
        hint = ("use a smaller --vocab-size or more text" if "too high" in msg else
                "lower --character-coverage or raise --vocab-size" if "required_chars" in msg else
                "check the settings")
        raise BabyLlamaError(f"tokenizer training failed: {msg}; {hint}") from None
    if lines.error is not None:
        raise lines.error
    return buf.getvalue()


def train_tokenizer(texts: Any, vocab_size: int, out_path: str | os.PathLike | None = None, *,
                    model_type: str = "bpe", byte_fallback: bool = True, character_coverage: float | None = None,
                    max_sentence_length: int = 16384, input_sentence_size: int = 2_000_000, seed: int = 0,
                    num_threads: int | None = None, verbose: bool = False) -> Tokenizer:
    """Train a Llama-style SentencePiece tokenizer (unk 0, bos 1, eos 2, no pad; byte fallback, digits split,
    identity normalization, whitespace kept) and save it atomically to `out_path` (if given).

    `texts`: a file path (str/PathLike) or list of pathlib.Path / Source (read with data.sources), or any
    iterable of document strings. Documents stream line by line into the trainer; SentencePiece samples at
    most `input_sentence_size` lines. `character_coverage` defaults to 1.0 below 8000 pieces, else 0.9995.
    """
    if character_coverage is None:
        character_coverage = 1.0 if vocab_size < 8000 else 0.9995
    proto = _train_proto(texts, vocab_size, model_type=model_type, byte_fallback=byte_fallback,
                         character_coverage=character_coverage, max_sentence_length=max_sentence_length,
                         input_sentence_size=input_sentence_size, seed=seed, num_threads=num_threads,
                         verbose=verbose)
    tok = Tokenizer(proto, source=str(out_path) if out_path else "trained")
    if out_path is not None:
        tok.save(out_path)
    return tok


def extend_tokenizer(base: Tokenizer, texts: Any, n_new: int, out_path: str | os.PathLike | None = None, *,
                     helper_vocab_size: int | None = None, character_coverage: float = 0.9995, seed: int = 0,
                     num_threads: int | None = None) -> Tokenizer:
    """Add up to `n_new` pieces learned from `texts` to the end of `base` (ids 0..V-1 unchanged).

    A helper BPE tokenizer is trained on `texts`; its pieces missing from `base` are appended, new single
    characters first (BPE needs them to start merging), then merged pieces in the helper's merge order,
    with scores below every base score so the base merges keep priority. Fewer than `n_new` are added when
    the corpus does not have that many new pieces.
    """
    if n_new < 1:
        raise BabyLlamaError(f"n_new must be >= 1, got {n_new}")
    texts = list(_documents(texts))
    size = helper_vocab_size or (2 * n_new + 300)
    try:
        helper = _train_proto(texts, size, model_type="bpe", byte_fallback=True,
                              character_coverage=character_coverage, max_sentence_length=16384,
                              input_sentence_size=2_000_000, seed=seed, num_threads=num_threads, verbose=False)
    except BabyLlamaError as e:  # corpus too small for that many pieces: retry at the size SentencePiece allows
        m = re.search(r"value <= (\d+)", str(e))
        if not m:
            raise
        helper = _train_proto(texts, int(m.group(1)), model_type="bpe", byte_fallback=True,
                              character_coverage=character_coverage, max_sentence_length=16384,
                              input_sentence_size=2_000_000, seed=seed, num_threads=num_threads, verbose=False)
    hp = sp_pb2.ModelProto()
    hp.ParseFromString(helper)
    proto = base.model_proto()
    have = {p.piece for p in proto.pieces}
    normal = [p for p in hp.pieces if p.type == _Piece.NORMAL and p.piece not in have]
    chars = [p.piece for p in normal if len(p.piece) == 1]
    merged = [p.piece for p in sorted(normal, key=lambda p: -p.score) if len(p.piece) > 1]
    new = (chars + merged)[:n_new]
    if not new:
        raise BabyLlamaError("the new corpus adds no pieces the base tokenizer lacks")
    low = min([p.score for p in proto.pieces] + [0.0])
    for k, piece in enumerate(new):
        proto.pieces.add(piece=piece, score=low - 1.0 - k, type=_Piece.NORMAL)
    proto.trainer_spec.vocab_size = len(proto.pieces)
    tok = Tokenizer(proto.SerializeToString(), source=str(out_path) if out_path else "extended")
    if out_path is not None:
        tok.save(out_path)
    return tok


# ---- CLI: babyllama train-tokenizer ---------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    from babyllama.data.sources import add_source_arguments

    add_source_arguments(parser, flag="--source")
    parser.add_argument("--input", nargs="+", action="extend", dest="sources", metavar="FILE",
                        help="input files (same as --source)")
    parser.add_argument("--vocab-size", type=int, required=True, help="number of pieces, e.g. 512, 4096, 32000")
    parser.add_argument("--out", required=True, help="output SentencePiece model, e.g. tok4096.model")
    parser.add_argument("--model-type", choices=("bpe", "unigram"), default="bpe")
    parser.add_argument("--character-coverage", type=float, default=None,
                        help="share of characters covered by pieces (default 1.0 below 8000 pieces, else 0.9995)")
    parser.add_argument("--input-sentence-size", type=int, default=2_000_000,
                        help="at most this many lines are sampled for training (default 2000000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--export-bin", metavar="PATH", help="also write a llama2.c tokenizer.bin")
    parser.add_argument("--verbose", action="store_true", help="show SentencePiece's training log")


def run(args: argparse.Namespace) -> int:
    from babyllama.data.sources import sources_from_args

    sources = sources_from_args(args)
    tok = train_tokenizer(sources, args.vocab_size, args.out, model_type=args.model_type,
                          character_coverage=args.character_coverage, input_sentence_size=args.input_sentence_size,
                          seed=args.seed, num_threads=args.threads, verbose=args.verbose)
    if args.export_bin:
        export_llama2c_bin(tok, args.export_bin)
    print(f"wrote {args.out}: {tok.vocab_size} pieces, sha256 {tok.hash[:16]}")
    return 0
