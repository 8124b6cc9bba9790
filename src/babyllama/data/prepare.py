"""Tokenize documents into flat token shards for training (`babyllama prepare`), streaming, in parallel,
in bounded memory, resumable.

Output folder:
    train_000.bin, train_001.bin, ..., val_000.bin   raw little-endian uint16 (uint32 if vocab_size > 65535):
                                                     documents concatenated, each prefixed with BOS (and
                                                     followed by EOS if eos=True); shards hold whole documents
    tokenizer.model                                  copy of the tokenizer used
    manifest.json                                    counts, dtype, tokenizer hash, sources, settings, filters,
                                                     skipped input (with the first places)

A document goes to validation when a hash of (seed, document index) falls below `val_fraction`
(or, with `val_docs=K`, when its index is among the first K of a seeded permutation), so the split
does not depend on the tokenizer, the filters or the number of workers.

How it runs: the main process reads the sources in order (files, folders, globs; .gz/.xz/.zst; hf:NAME
streamed) and cuts the documents into batches of about `batch_bytes`; `num_workers` processes filter and
tokenize them, at most 2 batches per worker in flight, and the main process writes the results in input
order, so N workers write byte-identical shards to 1. Shards fill in `OUT/.prepare-work/` (the open one as
NAME.part, renamed when full); after each filled shard (and every `checkpoint_seconds`) a checkpoint records
where the input stands. A killed prepare, run again with the same command, goes on from the last checkpoint
and writes the same bytes as an uninterrupted one; a different command is refused, naming what differs.
At the end the shards move into OUT and manifest.json is written last, so a folder with a manifest is
always complete.

Memory: what prepare holds does not grow with the input. Each process's peak RSS stays within its
start-up RSS (Python, numpy, the tokenizer) plus MEMORY_BATCHES x `batch_bytes` (64 MiB at the default
1 MiB batches) plus about 40 bytes per token of the largest document, plus 8 bytes per kept document with
`dedup`. Training a tokenizer here (vocab_size=N) samples up to 2M lines into memory first; for big
corpora train it on a sample with `babyllama train-tokenizer` and pass --tokenizer.
"""
from __future__ import annotations

import errno
import hashlib
import itertools
import json
import os
import shutil
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from babyllama.data.filters import Filters, SeenHashes, doc_hash
from babyllama.data.readers import Problems, Progress
from babyllama.data.shards import ShardWriter
from babyllama.data.sources import Source, as_source
from babyllama.utils.io import BabyLlamaError, atomic_path, atomic_write_json, read_json

FORMAT_NAME = "babyllama-tokens"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TOKENIZER_FILE = "tokenizer.model"
WORK_DIR = ".prepare-work"
STATE = "state.json"
SEEN_FILE = "seen_hashes.npy"
SPLITS = ("train", "val")
DEFAULT_SHARD_TOKENS = 50_000_000
DEFAULT_BATCH_DOCS = 1024
DEFAULT_BATCH_BYTES = 1 << 20
MEMORY_BATCHES = 64
REASONS = ("", "short", "charset", "language")  # filter codes the workers send back (0 = kept)


def token_dtype(vocab_size: int) -> np.dtype:
    """Little-endian uint16 for vocab_size <= 65535, else uint32."""
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
    return np.dtype("<u2") if vocab_size <= 65535 else np.dtype("<u4")


def _dtype_name(dt: np.dtype) -> str:
    return {2: "uint16", 4: "uint32"}[dt.itemsize]


def is_val_doc(index: int, seed: int, val_fraction: float) -> bool:
    """Deterministic split: blake2b(seed, index) mapped to [0, 1) is below val_fraction."""
    h = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") / 2.0**64 < val_fraction


def batched(it: Iterable[Any], n: int) -> Iterator[list[Any]]:
    """Lists of n consecutive items of `it` (the last may be shorter)."""
    batch: list[Any] = []
    for x in it:
        batch.append(x)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def steady_malloc() -> None:
    """Keep glibc's malloc from raising its mmap threshold as big buffers come and go (it does so by default,
    and then the heap fragments and RSS creeps up with the input size); a no-op elsewhere."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD, fixed
    except (OSError, AttributeError):
        pass


# ---- filtering and encoding, in worker processes (each with its own SentencePiece model) ----------------
Encoded = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, "np.ndarray | None"]
_worker: dict[str, Any] = {}


def encode_texts(tok: Any, texts: list[str], bos: bool, eos: bool, dtype: np.dtype, filters: Filters) -> Encoded:
    """(filter code per text, ids of the kept texts in one array, their lengths, UTF-8 bytes per text,
    64-bit hashes of the kept texts or None): compact to send between processes."""
    texts = [filters.layout(t) for t in texts] if filters.paragraph_breaks != "keep" else texts
    codes = np.zeros(len(texts), dtype=np.uint8)
    if filters.min_chars or filters.lang:
        for k, t in enumerate(texts):
            r = filters.reason(t)
            if r is not None:
                codes[k] = REASONS.index(r)
    keep = texts if not codes.any() else [t for t, c in zip(texts, codes) if c == 0]
    encoded = tok.encode_batch(keep, bos=bos, eos=eos, num_threads=1)
    lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
    flat = np.fromiter(itertools.chain.from_iterable(encoded), dtype=dtype, count=int(lengths.sum()))
    del encoded
    nbytes = np.fromiter((len(t.encode("utf-8")) for t in texts), dtype=np.int64, count=len(texts))
    hashes = np.fromiter((doc_hash(t) for t in keep), dtype=np.uint64, count=len(keep)) if filters.dedup else None
    return codes, flat, lengths, nbytes, hashes


def _worker_init(proto: bytes, bos: bool, eos: bool, dtype: str, filters: dict[str, Any]) -> None:
    from babyllama.tokenizers import Tokenizer

    steady_malloc()
    _worker.update(tok=Tokenizer(proto), bos=bos, eos=eos, dtype=np.dtype(dtype), filters=Filters(**filters))


def _worker_encode(texts: list[str]) -> Encoded:
    w = _worker
    return encode_texts(w["tok"], texts, w["bos"], w["eos"], w["dtype"], w["filters"])


def _encoded(tok: Any, batches: Iterator[tuple[Any, list[str]]], workers: int, bos: bool, eos: bool,
             dtype: np.dtype, filters: Filters) -> Iterator[tuple[Any, Encoded]]:
    """(tag, encoded) per batch, in input order. With workers > 1 a process pool encodes, with at most
    2*workers batches in flight so memory stays bounded."""
    head = list(itertools.islice(batches, 2))
    batches = itertools.chain(head, batches)
    if workers <= 1 or len(head) < 2:  # small inputs are not worth starting processes for
        for tag, texts in batches:
            yield tag, encode_texts(tok, texts, bos, eos, dtype, filters)
        return
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # safe even when torch/threads are live in the parent
    init = (tok.serialized(), bos, eos, dtype.str, filters.settings())
    with ctx.Pool(workers, initializer=_worker_init, initargs=init) as pool:
        pending: deque = deque()
        for tag, texts in batches:
            pending.append((tag, pool.apply_async(_worker_encode, (texts,))))
            del texts
            if len(pending) >= 2 * workers:
                t, res = pending.popleft()
                yield t, res.get()
        while pending:
            t, res = pending.popleft()
            yield t, res.get()


# ---- reading in batches, from a position ---------------------------------------------------------------
def _input_size(srcs: Sequence[Source]) -> int:
    """On-disk bytes of all file inputs; 0 if any input is not a file (then there is no ETA)."""
    total = 0
    for s in srcs:
        for u in s.units():
            if u.kind != "file":
                return 0
            total += u.path.stat().st_size
    return total


def _batches(srcs: Sequence[Source], start: dict[str, int], problems: Problems, progress: Progress,
             batch_docs: int, batch_bytes: int) -> Iterator[tuple[tuple[int, int, int, list], list[str]]]:
    """((source, unit, documents of the unit read so far, problems met), texts) from position `start` on; a
    batch never spans two units, so a checkpoint after it names a place to re-read from."""
    here = (start["source"], start["unit"])
    for si, src in enumerate(srcs):
        for ui, unit in enumerate(src.units()):
            if (si, ui) < here:
                progress.skip(unit.path.stat().st_size if unit.kind == "file" else 0)
                continue
            n = start["docs"] if (si, ui) == here else 0
            texts: list[str] = []
            size = 0
            for text in unit.documents(problems, skip=n, progress=progress):
                texts.append(text)
                size += len(text)
                n += 1
                if len(texts) >= batch_docs or size >= batch_bytes:
                    yield (si, ui, n, problems.take()), texts
                    texts, size = [], 0
            if texts or problems.fresh:
                yield (si, ui, n, problems.take()), texts


# ---- the job: identity, checkpoints -----------------------------------------------------------------------
def _differences(old: Any, new: Any, where: str = "") -> list[str]:
    """Human-readable differences between two JSON-like values ('settings.seed: 0 -> 9')."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in list(old) + [k for k in new if k not in old]:
            out += _differences(old.get(k), new.get(k), f"{where}.{k}" if where else str(k))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in _differences(a, b, f"{where}[{i}]")]
    return [] if old == new else [f"{where}: {json.dumps(old)} -> {json.dumps(new)}"]


def _comparable(m: dict[str, Any]) -> dict[str, Any]:
    """The parts of a manifest or checkpoint that identify a job (not timings, not the number of workers)."""
    return {"version": m.get("version"), "sources": m.get("sources"), "settings": m.get("settings"),
            "tokenizer_request": (m.get("tokenizer") or {}).get("request")}


class _Job:
    """The running state of one prepare: writers, filters, counts, input position; checkpoints it."""

    def __init__(self, work: Path, ident: dict[str, Any], dtype: np.dtype, shard_tokens: int, filters: Filters,
                 problems: Problems, state: dict[str, Any] | None) -> None:
        self.work, self.ident, self.filters, self.problems = work, ident, filters, problems
        if state is None:
            self.writers = {s: ShardWriter(work, s, dtype, shard_tokens) for s in SPLITS}
            self.position = {"source": 0, "unit": 0, "docs": 0, "index": 0}
            self.skipped = {r: 0 for r in REASONS[1:] + ("duplicate",)}
            self.seen = SeenHashes() if filters.dedup else None
        else:
            self.writers = {s: ShardWriter.resume(work, s, dtype, shard_tokens, state["writers"][s]) for s in SPLITS}
            self.position, self.skipped = state["position"], state["skipped"]
            problems.restore(state["problems"])
            self.seen = SeenHashes(np.load(work / SEEN_FILE)) if filters.dedup else None
        self.last_checkpoint = time.time()

    def add_batch(self, tag: tuple[int, int, int, list], enc: Encoded, in_val: Any) -> int:
        """Write one encoded batch in order; returns the tokens written."""
        codes, flat, lengths, nbytes, hashes = enc
        self.problems.commit(tag[3])
        new = self.seen.add_new(hashes) if self.seen is not None and hashes is not None else None
        index, kept, end = self.position["index"], 0, 0
        for k, code in enumerate(codes.tolist()):
            if code:
                self.skipped[REASONS[code]] += 1
                continue
            size = int(lengths[kept])
            ids = flat[end:end + size]
            end += size
            if new is not None and not new[kept]:
                self.skipped["duplicate"] += 1
            else:
                self.writers["val" if in_val(index + k) else "train"].add(ids, int(nbytes[k]))
            kept += 1
        self.position = {"source": tag[0], "unit": tag[1], "docs": tag[2], "index": index + len(codes)}
        return end

    def maybe_checkpoint(self, every: float) -> None:
        if any(w.filled for w in self.writers.values()) or time.time() - self.last_checkpoint >= every:
            self.checkpoint()

    def checkpoint(self) -> None:
        """fsync the open shards, save the hash set, then write state.json (last)."""
        for w in self.writers.values():
            w.sync()
            w.filled = 0
        if self.seen is not None:
            with atomic_path(self.work / SEEN_FILE) as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, self.seen.members())
        atomic_write_json(self.work / STATE, {
            **self.ident, "position": self.position, "skipped": self.skipped, "problems": self.problems.state(),
            "writers": {s: w.state() for s, w in self.writers.items()}})
        self.last_checkpoint = time.time()


def _open_work(out: Path, ident: dict[str, Any], overwrite: bool) -> dict[str, Any] | None:
    """The checkpoint of an interrupted run of this same job in OUT/.prepare-work, or None (fresh start)."""
    work = out / WORK_DIR
    state = None
    if (work / STATE).is_file():
        try:
            state = read_json(work / STATE)
        except BabyLlamaError:
            state = None
    if state is not None and _comparable(state) != _comparable(ident):
        if not overwrite:
            diff = "; ".join(_differences(_comparable(state), _comparable(ident))[:6])
            raise BabyLlamaError(f"{work}: holds an interrupted prepare with other settings ({diff}); run the "
                                 "same command to resume it, or pass --overwrite to start again")
        state = None
    if state is None:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    return state


def _progress_line(enabled: bool, total: int) -> Any:
    """A function(read_bytes, text_bytes, tokens, docs, final) that prints a status line to stderr."""
    t0, last, first = time.time(), [0.0], [-1]
    tty = sys.stderr.isatty()

    def show(read: int, text: int, tokens: int, docs: int, final: bool = False) -> None:
        now = time.time()
        if first[0] < 0:  # input skipped when resuming does not count towards the rate
            first[0] = read
        if not enabled or (not final and now - last[0] < (1.0 if tty else 15.0)):
            return
        last[0] = now
        dt = max(now - t0, 1e-9)
        line = ((f"prepare: {read / 1e6:,.1f} MB read of {total / 1e6:,.1f} ({100 * read / total:.0f}%)" if total
                 else f"prepare: {text / 1e6:,.1f} MB of text")
                + f" | {text / 1e6 / dt:.2f} MB/s text | {tokens / 1e6 / dt:.2f} M tok/s | {docs:,} docs")
        if total and read > first[0] and not final:
            eta = (total - read) * dt / (read - first[0])
            line += f" | ETA {int(eta // 3600)}:{int(eta % 3600 // 60):02d}:{int(eta % 60):02d}"
        print(("\r" if tty else "") + line + ("\n" if final or not tty else ""), end="", file=sys.stderr, flush=True)

    return show


def prepare(sources: Sequence[Source | str | os.PathLike], out_dir: str | os.PathLike, tokenizer: Any = None, *,
            vocab_size: int | None = None, val_fraction: float = 0.05, val_docs: int | None = None,
            seed: int = 0, shard_tokens: int = DEFAULT_SHARD_TOKENS, num_workers: int | None = None,
            bos: bool = True, eos: bool = False, overwrite: bool = False, progress: bool = True,
            batch_docs: int = DEFAULT_BATCH_DOCS, batch_bytes: int = DEFAULT_BATCH_BYTES,
            filters: Filters | None = None, checkpoint_seconds: float = 60.0) -> dict[str, Any]:
    """Tokenize `sources` into `out_dir` and return the manifest (see module docstring).

    `tokenizer`: a Tokenizer, a path to one, or None with `vocab_size` to train one on the training split.
    If `out_dir` already holds a manifest of the same job it is returned unchanged; a different one is an
    error unless `overwrite`. An interrupted run of the same job is resumed.
    """
    from babyllama.tokenizers import Tokenizer, train_tokenizer

    srcs = [as_source(s) for s in sources]
    filters = filters or Filters()
    if not srcs:
        raise BabyLlamaError("no sources given; pass --source FILE|DIR|GLOB|hf:NAME|builtin")
    if not 0.0 <= val_fraction < 1.0:
        raise BabyLlamaError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    if val_docs is not None and val_docs < 0:
        raise BabyLlamaError(f"--val-docs must be >= 0, got {val_docs}")
    for flag, value in (("--shard-tokens", shard_tokens), ("batch_bytes (--batch-kb)", batch_bytes), ("batch_docs", batch_docs)):
        if value < 1:
            raise BabyLlamaError(f"{flag} must be >= 1, got {value}")
    if tokenizer is None and vocab_size is None:
        raise BabyLlamaError("give a tokenizer (--tokenizer PATH) or --vocab-size N to train one")
    if tokenizer is not None and vocab_size is not None:
        raise BabyLlamaError("give either --tokenizer or --vocab-size, not both")
    workers = num_workers or max(1, os.cpu_count() or 1)
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise BabyLlamaError(f"{out}: exists and is not a directory; choose another --out")

    tok = None
    if tokenizer is not None:
        tok = tokenizer if isinstance(tokenizer, Tokenizer) else Tokenizer.load(tokenizer)
        request: dict[str, Any] = {"sha256": tok.hash}
    else:
        request = {"train_vocab_size": vocab_size}
    settings = {"val_fraction": val_fraction, "val_docs": val_docs, "seed": seed, "bos": bos, "eos": eos,
                "shard_tokens": shard_tokens, "filters": filters.settings()}
    ident = {"version": FORMAT_VERSION, "sources": [s.describe() for s in srcs], "settings": settings,
             "tokenizer": {"request": request}}

    old = None
    if (out / MANIFEST).exists():
        try:
            old = read_json(out / MANIFEST)
        except BabyLlamaError:
            old = {}
        old = old if isinstance(old, dict) else {}
        if not overwrite:
            if _comparable(old) == _comparable(ident):
                try:
                    m = load_manifest(out)
                except BabyLlamaError as e:
                    raise BabyLlamaError(f"{e} (pass --overwrite to prepare it again)") from None
                if progress:
                    print(f"{out}: already prepared with the same sources and settings; nothing to do")
                return m
            diff = "; ".join(_differences(_comparable(old), _comparable(ident))[:6])
            raise BabyLlamaError(f"{out / MANIFEST}: folder holds a different prepared data set ({diff}); "
                                 "pass --overwrite or another --out")
    elif out.is_dir() and not overwrite:
        ours = [p.name for p in out.iterdir() if p.name == TOKENIZER_FILE or _is_shard_name(p.name)]
        if ours:
            raise BabyLlamaError(f"{out}: has {ours[0]} but no {MANIFEST}; pass --overwrite to replace it "
                                 "or choose another --out")

    def log(msg: str) -> None:
        if progress:
            print(msg, flush=True)

    problems = Problems(strict=False, echo=progress)
    val_set: set[int] | None = None
    if val_docs is not None:
        log("counting documents ...")
        n_docs = sum(1 for s in srcs for _ in s.documents(Problems(strict=False)))
        if val_docs >= n_docs:
            raise BabyLlamaError(f"--val-docs {val_docs} leaves no training documents (there are {n_docs})")
        val_set = set(np.random.default_rng(seed).permutation(n_docs)[:val_docs].tolist())

    def in_val(i: int) -> bool:
        return i in val_set if val_set is not None else is_val_doc(i, seed, val_fraction)

    state = _open_work(out, ident, overwrite)
    steady_malloc()
    work = out / WORK_DIR
    job = None
    try:
        if state is not None:
            tok = Tokenizer.load(work / TOKENIZER_FILE)
            tok_source = state["tokenizer"]["source"]
            log(f"resuming from document {state['position']['index']:,} ({WORK_DIR}/{STATE})")
        elif tok is None:
            log(f"training a {vocab_size}-piece tokenizer on the training split ...")
            train_docs = (d for i, d in enumerate(t for s in srcs for t in s.documents(Problems(strict=False)))
                          if not in_val(i))
            tok = train_tokenizer(train_docs, int(vocab_size), work / TOKENIZER_FILE, seed=seed, num_threads=workers)
            tok_source = "trained"
        else:
            tok.save(work / TOKENIZER_FILE)
            tok_source = str(tok.source) if tok.source else "given"
        if (bos and tok.bos_id < 0) or (eos and tok.eos_id < 0):
            raise BabyLlamaError(f"{tok.source}: tokenizer has no {'BOS' if bos and tok.bos_id < 0 else 'EOS'} "
                                 "piece; use --no-bos / drop --eos or another tokenizer")
        dtype = token_dtype(tok.vocab_size)
        ident["tokenizer"] = {"request": request, "sha256": tok.hash, "source": tok_source}
        job = _Job(work, ident, dtype, shard_tokens, filters, problems, state)
        if state is None:
            job.checkpoint()  # from here on the run can be resumed
        t0 = time.time()
        reader = Progress()
        show = _progress_line(progress, _input_size(srcs))
        text_bytes = tokens = docs = 0
        batches = _batches(srcs, dict(job.position), problems, reader, batch_docs, batch_bytes)
        for tag, enc in _encoded(tok, batches, workers, bos, eos, dtype, filters):
            tokens += job.add_batch(tag, enc, in_val)
            text_bytes += int(enc[3].sum())
            docs += len(enc[0])
            job.maybe_checkpoint(checkpoint_seconds)
            show(reader.position(), text_bytes, tokens, docs)
        show(reader.position(), text_bytes, tokens, docs, final=True)
        manifest = _finish(job, tok, ident, val_fraction > 0 and val_set is None)
        manifest["seconds"] = round(time.time() - t0, 3)
        _install(work, out, manifest, old)
    except OSError as e:
        if job is not None:
            for w in job.writers.values():
                w.abandon()
        what = "the disk is full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
        raise BabyLlamaError(f"{getattr(e, 'filename', None) or work}: {what}; nothing was listed in {MANIFEST}; "
                             "fix it (free some space) and run the same command again to resume") from None
    except BabyLlamaError:
        shutil.rmtree(work, ignore_errors=True)  # the input or a setting must change: nothing to resume
        raise
    shutil.rmtree(work, ignore_errors=True)
    if progress:
        print(_summary(out, manifest))
    return manifest


def _finish(job: _Job, tok: Any, ident: dict[str, Any], want_val: bool) -> dict[str, Any]:
    tr, va = job.writers["train"], job.writers["val"]
    moved = False
    if want_val and va.documents == 0 and not va.has_pending and tr.documents >= 1 and tr.has_pending:
        p = tr.pop_pending()
        assert p is not None
        va.add(*p)  # tiny corpus: make sure validation is not empty
        moved = True
    splits = {s: w.close() for s, w in job.writers.items()}
    if splits["train"]["documents"] == 0:
        raise BabyLlamaError("no training documents (every document went to validation or was filtered out; "
                             "lower --val-fraction or loosen the filters)")
    settings = ident["settings"]
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "dtype": _dtype_name(token_dtype(tok.vocab_size)),
        "vocab_size": tok.vocab_size,
        "bos_id": tok.bos_id,
        "eos_id": tok.eos_id,
        "tokenizer": {"file": TOKENIZER_FILE, **ident["tokenizer"]},
        "splits": splits,
        "sources": ident["sources"],
        "settings": settings,
        "filtered": dict(job.skipped),
        "unreadable": {"not_utf8": job.problems.counts.get("not_utf8", 0),
                       "truncated_files": job.problems.counts.get("truncated", 0), "places": job.problems.places},
        "notes": {"tokens_include_bos": settings["bos"], "tokens_include_eos": settings["eos"],
                  "bytes": "UTF-8 bytes of the normalized document texts",
                  "last_train_doc_moved_to_val": moved},
    }


def _install(work: Path, out: Path, manifest: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Move the finished files into `out`; the manifest goes last so a reader never sees a half-made set."""
    (out / MANIFEST).unlink(missing_ok=True)
    new_files = {TOKENIZER_FILE} | {sh["file"] for sp in manifest["splits"].values() for sh in sp["shards"]}
    for name in sorted(new_files):
        os.replace(work / name, out / name)
    stale = set()
    if old:
        for sp in (old.get("splits") or {}).values():
            for sh in (sp.get("shards") or []) if isinstance(sp, dict) else []:
                if isinstance(sh, dict) and isinstance(sh.get("file"), str):
                    stale.add(sh["file"])
    stale |= {p.name for p in out.iterdir() if _is_shard_name(p.name)}  # leftovers of an interrupted run
    for name in stale - new_files:
        if "/" not in name and (out / name).is_file():
            (out / name).unlink()
    atomic_write_json(out / MANIFEST, manifest)


def _is_shard_name(name: str) -> bool:
    split, _, rest = name.partition("_")
    return split in SPLITS and rest.endswith(".bin") and rest[:-4].isdigit()


def _summary(out: Path, m: dict[str, Any]) -> str:
    parts = [f"{s}: {v['documents']} docs, {v['tokens']} tokens, {len(v['shards'])} shard(s)"
             for s, v in m["splits"].items()]
    skipped = {k: v for part in ("filtered", "unreadable") for k, v in m.get(part, {}).items()
               if k != "places" and v}
    return (f"wrote {out} ({m['dtype']}, vocab {m['vocab_size']}): " + "; ".join(parts)
            + (f"; skipped {skipped}" if skipped else ""))
# ---- reading ------------------------------------------------------------------------------------------------
def load_manifest(data_dir: str | os.PathLike) -> dict[str, Any]:
    """Read and check `data_dir/manifest.json` (format, dtype, shard files and sizes)."""
    d = Path(data_dir).expanduser()
    path = d / MANIFEST
    if not d.is_dir():
        raise BabyLlamaError(f"{d}: data folder not found; run `babyllama prepare --out {d}` first")
    if not path.is_file():
        raise BabyLlamaError(f"{path}: not found; run `babyllama prepare --out {d}` first")
    m = read_json(path)
    if not isinstance(m, dict) or m.get("format") != FORMAT_NAME:
        raise BabyLlamaError(f"{path}: not a babyllama token manifest (key 'format' is not {FORMAT_NAME!r})")
    if m.get("version") != FORMAT_VERSION:
        raise BabyLlamaError(f"{path}: key 'version' is {m.get('version')!r}; this babyllama reads "
                             f"{FORMAT_VERSION}; prepare the data again")
    if m.get("dtype") not in ("uint16", "uint32"):
        raise BabyLlamaError(f"{path}: key 'dtype' is {m.get('dtype')!r}; expected uint16 or uint32")
    if not isinstance(m.get("vocab_size"), int) or m["vocab_size"] < 1:
        raise BabyLlamaError(f"{path}: key 'vocab_size' missing or not a positive integer")
    splits = m.get("splits")
    if not isinstance(splits, dict) or "train" not in splits:
        raise BabyLlamaError(f"{path}: key 'splits' missing or without 'train'")
    itemsize = 2 if m["dtype"] == "uint16" else 4
    for name, sp in splits.items():
        where = f"{path}: splits.{name}"
        if not isinstance(sp, dict) or not isinstance(sp.get("shards"), list):
            raise BabyLlamaError(f"{where}: missing 'shards' list")
        for key in ("documents", "tokens", "bytes"):
            if not isinstance(sp.get(key), int):
                raise BabyLlamaError(f"{where}: key {key!r} missing or not an integer")
        total = 0
        for j, sh in enumerate(sp["shards"]):
            if not isinstance(sh, dict) or not isinstance(sh.get("file"), str) or not isinstance(sh.get("tokens"), int):
                raise BabyLlamaError(f"{where}.shards[{j}]: needs 'file' (str) and 'tokens' (int)")
            f = d / sh["file"]
            if not f.is_file():
                raise BabyLlamaError(f"{f}: shard listed in {MANIFEST} is missing; prepare the data again")
            if f.stat().st_size != sh["tokens"] * itemsize:
                raise BabyLlamaError(f"{f}: {f.stat().st_size} bytes but {MANIFEST} says {sh['tokens']} "
                                     f"{m['dtype']} tokens; the shard is damaged, prepare the data again")
            total += sh["tokens"]
        if total != sp["tokens"]:
            raise BabyLlamaError(f"{where}: shard tokens add up to {total}, not {sp['tokens']}")
    return m


def split_info(manifest: dict[str, Any], split: str, data_dir: str | os.PathLike = "") -> dict[str, Any]:
    """The manifest entry of a split ('validation' is accepted for 'val')."""
    name = "val" if split == "validation" else split
    splits = manifest["splits"]
    if name not in splits or splits[name]["tokens"] == 0:
        have = ", ".join(k for k, v in splits.items() if v["tokens"] > 0)
        raise BabyLlamaError(f"{Path(data_dir) / MANIFEST}: split {split!r} has no tokens (splits with data: {have})")
    return splits[name]
