"""Train a Llama-style SentencePiece tokenizer on texts, or extend one with pieces from new texts.

Both take any iterable of document strings; reading files is the caller's job
(e.g. `babyllama.data.sources.iter_documents`).
"""
from __future__ import annotations

import io
import os
import re
from typing import Iterable, Iterator

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as sp_pb2

from babyllama.tokenizers.sentencepiece import Tokenizer, default_threads
from babyllama.utils.io import BabyLlamaError

_Piece = sp_pb2.ModelProto.SentencePiece


def _documents(texts: Iterable[str]) -> Iterator[str]:
    """The documents of `texts`, refusing anything but strings (a path is not a text)."""
    if isinstance(texts, (str, bytes, os.PathLike)):
        raise TypeError("texts must be an iterable of document strings, not a single string or path; "
                        "read files with babyllama.data.sources.iter_documents")
    return (_checked(t) for t in texts)


def _checked(text: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"expected str documents, got {type(text).__name__}")
    return text


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


def _train_proto(texts: Iterable[str], vocab_size: int, *, model_type: str, byte_fallback: bool,
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
            shuffle_input_sentence=True, num_threads=num_threads or default_threads(),
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


def train_tokenizer(texts: Iterable[str], vocab_size: int, out_path: str | os.PathLike | None = None, *,
                    model_type: str = "bpe", byte_fallback: bool = True, character_coverage: float | None = None,
                    max_sentence_length: int = 16384, input_sentence_size: int = 2_000_000, seed: int = 0,
                    num_threads: int | None = None, verbose: bool = False) -> Tokenizer:
    """Train a Llama-style SentencePiece tokenizer (unk 0, bos 1, eos 2, no pad; byte fallback, digits split,
    identity normalization, whitespace kept) and save it atomically to `out_path` (if given).

    `texts`: any iterable of document strings; they stream line by line into the trainer, which samples at
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


def extend_tokenizer(base: Tokenizer, texts: Iterable[str], n_new: int, out_path: str | os.PathLike | None = None, *,
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

    def train_helper(size: int) -> bytes:
        return _train_proto(texts, size, model_type="bpe", byte_fallback=True,
                            character_coverage=character_coverage, max_sentence_length=16384,
                            input_sentence_size=2_000_000, seed=seed, num_threads=num_threads, verbose=False)

    try:
        helper = train_helper(helper_vocab_size or (2 * n_new + 300))
    except BabyLlamaError as e:  # corpus too small for that many pieces: retry at the size SentencePiece allows
        m = re.search(r"value <= (\d+)", str(e))
        if not m:
            raise
        helper = train_helper(int(m.group(1)))
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
