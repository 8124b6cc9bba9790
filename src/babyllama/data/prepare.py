"""Tokenize documents into flat token shards for training (`babyllama prepare`).

Output folder:
    train_000.bin, train_001.bin, ..., val_000.bin   raw little-endian uint16 (uint32 if vocab_size > 65535):
                                                     documents concatenated, each prefixed with BOS (and
                                                     followed by EOS if eos=True); shards hold whole documents
    tokenizer.model                                  copy of the tokenizer used
    manifest.json                                    counts, dtype, tokenizer hash, sources, settings

A document goes to validation when a hash of (seed, document index) falls below `val_fraction`
(or, with `val_docs=K`, when its index is among the first K of a seeded permutation), so the split
does not depend on the tokenizer or on the number of workers.
"""
from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Sequence

import numpy as np

from babyllama.data.sources import Source, as_source
from babyllama.utils.io import BabyLlamaError, atomic_write_json, read_json

FORMAT_NAME = "babyllama-tokens"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TOKENIZER_FILE = "tokenizer.model"
SPLITS = ("train", "val")
DEFAULT_SHARD_TOKENS = 50_000_000
DEFAULT_BATCH_DOCS = 1024


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


class _ShardWriter:
    """Writes one split's token shards; holds back the last document so it can be moved to validation."""

    def __init__(self, folder: Path, split: str, dtype: np.dtype, shard_tokens: int) -> None:
        self.folder, self.split, self.dtype, self.shard_tokens = folder, split, dtype, shard_tokens
        self.shards: list[dict[str, Any]] = []
        self.documents = self.tokens = self.bytes = 0
        self._f: BinaryIO | None = None
        self._pending: tuple[np.ndarray, int] | None = None

    def add(self, ids: np.ndarray, nbytes: int) -> None:
        if self._pending is not None:
            self._write(*self._pending)
        self._pending = (ids, nbytes)

    def pop_pending(self) -> tuple[np.ndarray, int] | None:
        p, self._pending = self._pending, None
        return p

    def _write(self, ids: np.ndarray, nbytes: int) -> None:
        if self._f is None or (self.shards[-1]["tokens"] > 0
                               and self.shards[-1]["tokens"] + len(ids) > self.shard_tokens):
            self._open_next()
        assert self._f is not None
        self._f.write(ids.astype(self.dtype, copy=False).tobytes())
        self.shards[-1]["tokens"] += len(ids)
        self.documents += 1
        self.tokens += len(ids)
        self.bytes += nbytes

    def _open_next(self) -> None:
        self._close_file()
        name = f"{self.split}_{len(self.shards):03d}.bin"
        self._f = open(self.folder / name, "wb")
        self.shards.append({"file": name, "tokens": 0})

    def _close_file(self) -> None:
        if self._f is not None:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            self._f = None

    def close(self) -> dict[str, Any]:
        p = self.pop_pending()
        if p is not None:
            self._write(*p)
        self._close_file()
        return {"documents": self.documents, "tokens": self.tokens, "bytes": self.bytes, "shards": self.shards}


def _enumerate_docs(sources: Sequence[Source]) -> Iterator[tuple[int, str]]:
    i = 0
    for s in sources:
        for doc in s.documents():
            yield i, doc
            i += 1


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


# ---- parallel encoding: worker processes, each with its own SentencePiece model --------------------------
_worker_tok: Any = None


def _worker_init(proto: bytes) -> None:
    global _worker_tok
    from babyllama.tokenizers import Tokenizer

    _worker_tok = Tokenizer(proto)


def _encode_flat(tok: Any, texts: list[str], bos: bool, eos: bool, dtype: np.dtype,
                 threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Encode texts; return all ids in one array plus per-text lengths (cheap to send between processes)."""
    encoded = tok.encode_batch(texts, bos=bos, eos=eos, num_threads=threads)
    lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
    flat = np.fromiter(itertools.chain.from_iterable(encoded), dtype=dtype, count=int(lengths.sum()))
    return flat, lengths


def _worker_encode(texts: list[str], bos: bool, eos: bool, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    return _encode_flat(_worker_tok, texts, bos, eos, np.dtype(dtype))


def _encoded_batches(tok: Any, batches: Iterator[list[tuple[int, str]]], workers: int, bos: bool, eos: bool,
                     dtype: np.dtype) -> Iterator[tuple[list[tuple[int, str]], np.ndarray, np.ndarray]]:
    """Yield (batch, flat ids, lengths) in input order. With workers > 1 and more than two batches, a process
    pool encodes, with at most 2*workers batches in flight so memory stays bounded."""
    head = list(itertools.islice(batches, 2))
    if workers <= 1 or len(head) < 2:  # small inputs are not worth starting processes for
        for batch in itertools.chain(head, batches):
            yield (batch, *_encode_flat(tok, [t for _, t in batch], bos, eos, dtype))
        return
    import multiprocessing as mp
    from collections import deque

    ctx = mp.get_context("spawn")  # safe even when torch/threads are live in the parent
    with ctx.Pool(workers, initializer=_worker_init, initargs=(tok.serialized(),)) as pool:
        pending: deque = deque()
        for batch in itertools.chain(head, batches):
            pending.append((batch, pool.apply_async(_worker_encode, ([t for _, t in batch], bos, eos, dtype.str))))
            if len(pending) >= 2 * workers:
                b, res = pending.popleft()
                yield (b, *res.get())
        while pending:
            b, res = pending.popleft()
            yield (b, *res.get())


def _comparable(m: dict[str, Any]) -> dict[str, Any]:
    """The parts of a manifest that identify a job (not timings)."""
    return {"version": m.get("version"), "sources": m.get("sources"), "settings": m.get("settings"),
            "tokenizer_request": m.get("tokenizer", {}).get("request")}


def prepare(sources: Sequence[Source | str | os.PathLike], out_dir: str | os.PathLike, tokenizer: Any = None, *,
            vocab_size: int | None = None, val_fraction: float = 0.05, val_docs: int | None = None,
            seed: int = 0, shard_tokens: int = DEFAULT_SHARD_TOKENS, num_workers: int | None = None,
            bos: bool = True, eos: bool = False, overwrite: bool = False, progress: bool = True,
            batch_docs: int = DEFAULT_BATCH_DOCS) -> dict[str, Any]:
    """Tokenize `sources` into `out_dir` and return the manifest (see module docstring).

    `tokenizer`: a Tokenizer, a path to one, or None with `vocab_size` to train one on the training split.
    If `out_dir` already holds a manifest of the same job it is returned unchanged; a different one is an
    error unless `overwrite`.
    """
    from babyllama.tokenizers import Tokenizer, train_tokenizer

    srcs = [as_source(s) for s in sources]
    if not srcs:
        raise BabyLlamaError("no sources given; pass --source FILE|hf:NAME|builtin")
    if not 0.0 <= val_fraction < 1.0:
        raise BabyLlamaError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    if val_docs is not None and val_docs < 0:
        raise BabyLlamaError(f"--val-docs must be >= 0, got {val_docs}")
    if shard_tokens < 1:
        raise BabyLlamaError(f"--shard-tokens must be >= 1, got {shard_tokens}")
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
    descriptions = [s.describe() for s in srcs]
    settings = {"val_fraction": val_fraction, "val_docs": val_docs, "seed": seed, "bos": bos, "eos": eos,
                "shard_tokens": shard_tokens}

    old = None
    if (out / MANIFEST).exists():
        try:
            old = read_json(out / MANIFEST)
        except BabyLlamaError:
            old = {}
        old = old if isinstance(old, dict) else {}
        mine = {"version": FORMAT_VERSION, "sources": descriptions, "settings": settings,
                "tokenizer_request": request}
        if not overwrite:
            if _comparable(old) == mine:
                try:
                    m = load_manifest(out)
                except BabyLlamaError as e:
                    raise BabyLlamaError(f"{e} (pass --overwrite to prepare it again)") from None
                if progress:
                    print(f"{out}: already prepared with the same sources and settings; nothing to do")
                return m
            raise BabyLlamaError(
                f"{out / MANIFEST}: folder holds a different prepared data set; pass --overwrite or another --out"
            )
    elif out.is_dir() and not overwrite:
        ours = [p.name for p in out.iterdir() if p.name == TOKENIZER_FILE or _is_shard_name(p.name)]
        if ours:
            raise BabyLlamaError(f"{out}: has {ours[0]} but no {MANIFEST}; pass --overwrite to replace it "
                                 "or choose another --out")

    def log(msg: str) -> None:
        if progress:
            print(msg, flush=True)

    val_set: set[int] | None = None
    n_docs = None
    if val_docs is not None:
        log("counting documents ...")
        n_docs = sum(1 for _ in _enumerate_docs(srcs))
        if val_docs >= n_docs:
            raise BabyLlamaError(f"--val-docs {val_docs} leaves no training documents (there are {n_docs})")
        val_set = set(np.random.default_rng(seed).permutation(n_docs)[:val_docs].tolist())

    def in_val(i: int) -> bool:
        return i in val_set if val_set is not None else is_val_doc(i, seed, val_fraction)

    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".prepare-", dir=out))
    ok = False
    try:
        if tok is None:
            log(f"training a {vocab_size}-piece tokenizer on the training split ...")
            train_docs = (d for i, d in _enumerate_docs(srcs) if not in_val(i))
            tok = train_tokenizer(train_docs, int(vocab_size), stage / TOKENIZER_FILE, seed=seed, num_threads=workers)
            tok_source = "trained"
        else:
            tok.save(stage / TOKENIZER_FILE)
            tok_source = str(tok.source) if tok.source else "given"
        if (bos and tok.bos_id < 0) or (eos and tok.eos_id < 0):
            raise BabyLlamaError(f"{tok.source}: tokenizer has no {'BOS' if bos and tok.bos_id < 0 else 'EOS'} "
                                 "piece; use --no-bos / drop --eos or another tokenizer")
        dtype = token_dtype(tok.vocab_size)
        writers = {s: _ShardWriter(stage, s, dtype, shard_tokens) for s in SPLITS}
        t0 = time.time()
        bar = _progress_bar(progress, total=None if val_set is None else n_docs)
        batches = batched(_enumerate_docs(srcs), batch_docs)
        for batch, flat, lengths in _encoded_batches(tok, batches, workers, bos, eos, dtype):
            ends = np.cumsum(lengths)
            for (i, text), end, size in zip(batch, ends.tolist(), lengths.tolist()):
                writers["val" if in_val(i) else "train"].add(flat[end - size:end], len(text.encode("utf-8")))
            if bar is not None:
                bar.update(len(batch))
        if bar is not None:
            bar.close()
        tr, va = writers["train"], writers["val"]
        moved = False
        if val_fraction > 0 and val_set is None and va.documents == 0 and va._pending is None \
                and tr.documents >= 1 and tr._pending is not None:
            va.add(*tr.pop_pending())  # tiny corpus: make sure validation is not empty
            moved = True
        splits = {s: w.close() for s, w in writers.items()}
        if splits["train"]["documents"] == 0:
            raise BabyLlamaError("no training documents (every document went to validation); lower --val-fraction")
        manifest = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "dtype": _dtype_name(dtype),
            "vocab_size": tok.vocab_size,
            "bos_id": tok.bos_id,
            "eos_id": tok.eos_id,
            "tokenizer": {"file": TOKENIZER_FILE, "sha256": tok.hash, "source": tok_source, "request": request},
            "splits": splits,
            "sources": descriptions,
            "settings": settings,
            "notes": {"tokens_include_bos": bos, "tokens_include_eos": eos,
                      "bytes": "UTF-8 bytes of the normalized document texts",
                      "last_train_doc_moved_to_val": moved},
            "seconds": round(time.time() - t0, 3),
        }
        _install(stage, out, manifest, old)
        ok = True
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if not ok and created and not any(out.iterdir()):
            out.rmdir()  # leave no empty folder behind after a failed first run
    log(_summary(out, manifest))
    return manifest


def _progress_bar(enabled: bool, total: int | None = None) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="doc", desc="tokenizing", dynamic_ncols=True, mininterval=0.5)


def _install(stage: Path, out: Path, manifest: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Move staged files into `out`; the manifest goes last so a reader never sees a half-made set."""
    (out / MANIFEST).unlink(missing_ok=True)
    new_files = {TOKENIZER_FILE} | {sh["file"] for sp in manifest["splits"].values() for sh in sp["shards"]}
    for name in sorted(new_files):
        os.replace(stage / name, out / name)
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
    return f"wrote {out} ({m['dtype']}, vocab {m['vocab_size']}): " + "; ".join(parts)


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
