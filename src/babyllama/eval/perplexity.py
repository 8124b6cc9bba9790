"""Perplexity, mean NLL and bits per byte with a sliding window, in bounded memory.

    babyllama ppl runs/quickstart/model --data valid.txt --context 256 --stride 128
    babyllama ppl runs/quickstart/model --data data/builtin --split val --mode document

The window rule is Hugging Face's "perplexity of fixed-length models": windows of `context` tokens
start every `stride` tokens; each window scores only the tokens after the previous window's end, so
every token is scored once, with as much left context as the window allows (at least
context - stride tokens once past the first window). With stride == context the windows do not
overlap and each window's first token is not scored (it has no context), as in HF's recipe.

Tokens stream from the input (a text/JSONL/... file read document by document, a whole text file
read in blocks, or a `babyllama prepare` shard folder read through a memory map); windows are
produced lazily and scored `batch_size` at a time, so memory does not grow with the corpus.
Only the scored positions go through the output layer.

Modes: "stream" scores the concatenation of all documents (each starting with BOS, as in training
shards); "document" scores each document on its own. Bits per byte = total NLL / ln 2 / UTF-8 bytes
of the scored text, comparable across tokenizers.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from babyllama.data.prepare import batched
from babyllama.utils.io import BabyLlamaError

WHOLE_BLOCK_BYTES = 1 << 20  # "whole" text files are tokenized in blocks of about this size


@dataclass
class Window:
    """A window of tokens; positions first..len-1 are scored (each predicted from the ones before)."""

    tokens: np.ndarray  # int64 (L,)
    first: int
    doc: int = 0


@dataclass
class PerplexityResult:
    nll: float  # total negative log-likelihood in nats
    tokens: int  # scored tokens
    bytes: int | None  # UTF-8 bytes of the scored text (None when unknown)
    documents: int
    windows: int
    context: int
    stride: int
    mode: str
    seconds: float = 0.0

    @property
    def mean_nll(self) -> float:
        return self.nll / self.tokens if self.tokens else float("nan")

    @property
    def perplexity(self) -> float:
        return math.exp(self.mean_nll) if self.tokens else float("nan")

    @property
    def bits_per_byte(self) -> float | None:
        return self.nll / math.log(2) / self.bytes if self.bytes else None

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(perplexity=self.perplexity, mean_nll=self.mean_nll, bits_per_byte=self.bits_per_byte,
                 tokens_per_second=self.tokens_per_second)
        return d

    def summary(self) -> str:
        bpb = f"{self.bits_per_byte:.4f}" if self.bits_per_byte is not None else "n/a"
        return (f"perplexity {self.perplexity:.4f}  mean NLL {self.mean_nll:.5f}  bits/byte {bpb}  "
                f"({self.tokens:,} tokens, {self.bytes if self.bytes is not None else '?'} bytes, "
                f"{self.documents:,} docs, {self.windows:,} windows, {self.mode} mode, context {self.context}, "
                f"stride {self.stride}, {self.tokens_per_second:,.0f} tok/s)")


# ---- windows -----------------------------------------------------------------------------------------
def check_window(context: int, stride: int, max_seq_len: int | None = None) -> None:
    if context < 2:
        raise BabyLlamaError(f"--context {context}: must be >= 2")
    if max_seq_len is not None and context > max_seq_len:
        raise BabyLlamaError(f"--context {context}: exceeds the model's max_seq_len {max_seq_len}")
    if not 1 <= stride <= context:
        raise BabyLlamaError(f"--stride {stride}: must be in 1..context ({context})")


def iter_windows(chunks: Iterable[Sequence[int] | np.ndarray], context: int, stride: int,
                 doc: int = 0) -> Iterator[Window]:
    """Sliding windows over a token stream given as chunks; holds at most context + one chunk tokens."""
    check_window(context, stride)
    buf = np.empty(0, dtype=np.int64)  # holds stream[base : base + len(buf)]
    base = begin = prev_end = 0
    it = iter(chunks)
    exhausted = False
    while True:
        while not exhausted and base + len(buf) < begin + context:
            try:
                chunk = np.asarray(next(it), dtype=np.int64).ravel()
            except StopIteration:
                exhausted = True
                break
            buf = np.concatenate([buf, chunk])
        end = min(begin + context, base + len(buf))
        first = max(prev_end, begin + 1)
        if end <= first:
            return
        yield Window(buf[begin - base:end - base].copy(), first - begin, doc)
        prev_end = end
        if exhausted and end == base + len(buf):
            return
        begin += stride
        buf, base = buf[begin - base:], begin  # drop tokens no later window needs


@torch.inference_mode()
def score_batch(model: Any, batch: Sequence[Window], max_logit_rows: int | None = None) -> list[tuple[float, int]]:
    """(NLL sum in nats, scored tokens) for each window, in one forward pass over the padded batch."""
    device = model.tok_embeddings.weight.device
    L = max(len(w.tokens) for w in batch)
    x = np.zeros((len(batch), L), dtype=np.int64)
    rows, cols = [], []
    for i, w in enumerate(batch):
        x[i, :len(w.tokens)] = w.tokens
        n = len(w.tokens) - w.first
        rows.append(np.full(n, i))
        cols.append(np.arange(w.first - 1, len(w.tokens) - 1))
    xt = torch.from_numpy(x).to(device)
    r = torch.from_numpy(np.concatenate(rows)).to(device)
    c = torch.from_numpy(np.concatenate(cols)).to(device)
    start = int(c.min())  # the last layer computes outputs from here on only
    hidden = model(xt, last_only=True, outputs_from=start).hidden[r, c - start]  # states predicting scored tokens
    targets = xt[r, c + 1]
    vocab = model.config.vocab_size
    step = max_logit_rows or max(64, (1 << 23) // vocab)  # ~32 MB of logits at a time
    nll = torch.empty(len(targets), dtype=torch.float64, device=device)
    for s in range(0, len(targets), step):
        logits = model.output(hidden[s:s + step]).float()
        nll[s:s + step] = F.cross_entropy(logits, targets[s:s + step], reduction="none").double()
    sums = torch.zeros(len(batch), dtype=torch.float64, device=device).index_add_(0, r, nll)
    return [(float(sums[i]), len(w.tokens) - w.first) for i, w in enumerate(batch)]


def score_windows(model: Any, windows: Iterable[Window], batch_size: int = 8,
                  on_window: Callable[[Window, float, int], None] | None = None) -> tuple[float, int, int]:
    """Total NLL, scored tokens and window count; windows are pulled `batch_size` at a time."""
    if batch_size < 1:
        raise BabyLlamaError(f"--batch-size {batch_size}: must be >= 1")
    was_training = model.training
    model.eval()
    total, count, n_windows = 0.0, 0, 0
    try:
        for batch in batched(windows, batch_size):
            for w, (s, n) in zip(batch, score_batch(model, batch)):
                total += s
                count += n
                n_windows += 1
                if on_window is not None:
                    on_window(w, s, n)
    finally:
        model.train(was_training)
    return total, count, n_windows


def perplexity_of_tokens(model: Any, tokens: Iterable[int] | Iterable[Sequence[int]], context: int | None = None,
                         stride: int | None = None, batch_size: int = 8, nbytes: int | None = None
                         ) -> PerplexityResult:
    """Stream-mode perplexity of one token sequence (a flat list/array, or an iterable of chunks)."""
    context = model.config.max_seq_len if context is None else context
    stride = max(1, context // 2) if stride is None else stride
    check_window(context, stride, model.config.max_seq_len)
    if isinstance(tokens, (list, tuple)) and tokens and isinstance(tokens[0], (int, np.integer)):
        tokens = [np.asarray(tokens, dtype=np.int64)]
    elif isinstance(tokens, np.ndarray):
        tokens = [tokens]
    t0 = time.perf_counter()
    nll, n, w = score_windows(model, iter_windows(tokens, context, stride), batch_size)
    return PerplexityResult(nll, n, nbytes, 1, w, context, stride, "stream", time.perf_counter() - t0)


# ---- inputs ------------------------------------------------------------------------------------------
@dataclass
class _Docs:
    """A lazily read corpus: an iterator of token arrays per document, plus byte counting."""

    docs: Iterator[np.ndarray]
    bytes_total: int | None = None  # known up front (manifest), else counted while reading
    counted: int = 0
    count_bytes: bool = True


def _text_docs(tokenizer: Any, texts: Iterable[str], state: _Docs) -> Iterator[np.ndarray]:
    for text in texts:
        state.counted += len(text.encode("utf-8"))
        yield np.asarray(tokenizer.encode(text, bos=True, eos=False), dtype=np.int64)


def _whole_file_blocks(path: Path) -> Iterator[str]:
    """A text file as one document, in blocks that end at line ends (CRLF -> LF)."""
    try:
        with open(path, "rb") as f:
            pending = b""
            for raw in f:
                pending += raw
                if len(pending) >= WHOLE_BLOCK_BYTES:
                    yield _utf8(path, pending).replace("\r\n", "\n")
                    pending = b""
            if pending:
                yield _utf8(path, pending).replace("\r\n", "\n")
    except OSError as e:
        raise BabyLlamaError(f"{path}: cannot read ({e})") from None


def _utf8(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BabyLlamaError(f"{path}: not valid UTF-8 ({e.reason} near byte {e.start} of a block); "
                             f"convert the file to UTF-8") from None


def _whole_docs(tokenizer: Any, path: Path, state: _Docs) -> Iterator[np.ndarray]:
    if not path.is_file():
        raise BabyLlamaError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise BabyLlamaError(f"{path}: empty file; give a file with text in it")
    for i, block in enumerate(_whole_file_blocks(path)):
        state.counted += len(block.encode("utf-8"))
        yield np.asarray(tokenizer.encode(block, bos=(i == 0), eos=False), dtype=np.int64)


def _split_at_bos(chunks: Iterable[np.ndarray], bos: int) -> Iterator[np.ndarray]:
    """Documents (each starting with BOS) from a token stream."""
    parts: list[np.ndarray] = []
    for ch in chunks:
        starts = np.flatnonzero(ch == bos)
        prev = 0
        for s in starts:
            if s > prev:
                parts.append(ch[prev:s])
            if parts:
                yield np.concatenate(parts)
                parts = []
            prev = s
        parts.append(ch[prev:])
    if parts and sum(len(p) for p in parts):
        yield np.concatenate(parts)


def _limit_docs(docs: Iterable[np.ndarray], max_tokens: int | None) -> Iterator[np.ndarray]:
    seen = 0
    for d in docs:
        yield d
        seen += len(d)
        if max_tokens is not None and seen >= max_tokens:
            return


def open_corpus(tokenizer: Any, data: str | Path, *, fmt: str = "auto", field: str = "text", split: str = "val",
                max_tokens: int | None = None, keep_blank_lines: bool = False) -> tuple[_Docs, str]:
    """Documents of a text/JSONL/... file (via babyllama.data.sources), a whole text file (fmt="whole"),
    or a prepared shard folder. Returns (lazy docs, description)."""
    path = Path(data).expanduser()
    state = _Docs(iter(()))
    if path.is_dir():
        from babyllama.data.loader import TokenStream
        from babyllama.data.prepare import MANIFEST

        if not (path / MANIFEST).is_file():
            raise BabyLlamaError(f"{path}: a folder but not a prepared data set (no {MANIFEST}); give a file "
                                 f"or a `babyllama prepare` output folder")
        stream = TokenStream(path, split)
        m = stream.manifest
        tok_hash = (m.get("tokenizer") or {}).get("sha256")
        if tokenizer is not None and tok_hash and getattr(tokenizer, "hash", tok_hash) != tok_hash:
            raise BabyLlamaError(f"{path / MANIFEST}: shards were made with another tokenizer (sha256 "
                                 f"{tok_hash[:12]}, model's is {tokenizer.hash[:12]}); prepare the data with "
                                 f"the model's tokenizer")
        if tokenizer is not None and m["vocab_size"] != tokenizer.vocab_size:
            raise BabyLlamaError(f"{path / MANIFEST}: vocab_size {m['vocab_size']} differs from the tokenizer's "
                                 f"{tokenizer.vocab_size}")
        bos = m.get("bos_id", getattr(tokenizer, "bos_id", 1))
        docs = _limit_docs(_split_at_bos(stream.chunks(), bos), max_tokens)
        if max_tokens is None:
            state.bytes_total = stream.info["bytes"]
            state.count_bytes = False
        elif tokenizer is not None:  # partial split: bytes of the decoded documents
            docs = _count_decoded(docs, tokenizer, state)
        else:
            state.count_bytes = False
        state.docs = docs
        return state, f"{path} [{split}]"
    if fmt == "whole":
        state.docs = _limit_docs(_whole_docs(tokenizer, path, state), max_tokens)
        return state, f"{path} (whole file)"
    if tokenizer is None:
        raise BabyLlamaError(f"{path}: text input needs a tokenizer")
    from babyllama.data.sources import Source

    src = Source(str(path), format=fmt, field=field, keep_blank_lines=keep_blank_lines)
    state.docs = _limit_docs(_text_docs(tokenizer, src.documents(), state), max_tokens)
    return state, str(path)


def _count_decoded(docs: Iterable[np.ndarray], tokenizer: Any, state: _Docs) -> Iterator[np.ndarray]:
    for d in docs:
        state.counted += len(tokenizer.decode(d.tolist()).encode("utf-8"))
        yield d


def evaluate(model: Any, tokenizer: Any, data: str | Path, *, mode: str = "stream", context: int | None = None,
             stride: int | None = None, batch_size: int = 8, fmt: str = "auto", field: str = "text",
             split: str = "val", max_tokens: int | None = None, keep_blank_lines: bool = False,
             on_document: Callable[[int, float, int], None] | None = None, progress: bool = False
             ) -> PerplexityResult:
    """Perplexity of a corpus (see the module docstring). `on_document(i, nll, tokens)` is called per
    document in document mode, in order."""
    if mode not in ("stream", "document"):
        raise BabyLlamaError(f"--mode {mode!r}: choose 'stream' or 'document'")
    if max_tokens is not None and max_tokens < 1:
        raise BabyLlamaError(f"--max-tokens {max_tokens}: must be >= 1")
    context = model.config.max_seq_len if context is None else context
    stride = max(1, context // 2) if stride is None else stride
    check_window(context, stride, model.config.max_seq_len)
    corpus, _ = open_corpus(tokenizer, data, fmt=fmt, field=field, split=split, max_tokens=max_tokens,
                            keep_blank_lines=keep_blank_lines)
    n_docs = 0
    bar = _progress(progress)

    def counted(docs: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        nonlocal n_docs
        for d in docs:
            n_docs += 1
            yield d

    if mode == "stream":
        windows: Iterable[Window] = iter_windows(counted(corpus.docs), context, stride)
    else:
        windows = (w for i, d in enumerate(counted(corpus.docs)) for w in iter_windows([d], context, stride, doc=i))

    per_doc: dict[int, list[float]] = {}

    def on_window(w: Window, s: float, n: int) -> None:
        if bar is not None:
            bar.update(n)
        if mode == "document" and on_document is not None:
            acc = per_doc.setdefault(w.doc, [0.0, 0])
            acc[0] += s
            acc[1] += n
            for d in [d for d in sorted(per_doc) if d < w.doc]:  # earlier documents are complete
                on_document(d, *per_doc.pop(d))

    t0 = time.perf_counter()
    nll, n, n_windows = score_windows(model, windows, batch_size, on_window)
    if mode == "document" and on_document is not None:
        for d in sorted(per_doc):
            on_document(d, *per_doc.pop(d))
    if bar is not None:
        bar.close()
    if n == 0:
        raise BabyLlamaError(f"{data}: nothing to score (every document is a single token); give more text")
    nbytes = corpus.bytes_total if not corpus.count_bytes else corpus.counted
    return PerplexityResult(nll, n, nbytes, n_docs, n_windows, context, stride, mode, time.perf_counter() - t0)


def _progress(enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(unit="tok", unit_scale=True, desc="scoring", file=sys.stderr)
