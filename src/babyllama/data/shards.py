"""Token shards of one split, written as they fill, so that a killed `prepare` can go on where it stopped.

The open shard is `NAME.part`; when the next document would overflow it, it is fsynced and renamed to
`NAME` (train_000.bin, ...), so a complete-looking name always holds a complete shard. `state()` is the
writer's part of a checkpoint (taken after an fsync of the open shard); `ShardWriter.resume` reopens the
open shard, cuts it back to the checkpointed length (anything written after the checkpoint goes) and
deletes shards started after it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

PART = ".part"
WRITE_BUFFER = 1 << 20  # documents are small: write the shard in 1 MiB pieces


class ShardWriter:
    """One split's shards in `folder`; holds back the last document so it can be moved to validation."""

    def __init__(self, folder: Path, split: str, dtype: np.dtype, shard_tokens: int) -> None:
        self.folder, self.split, self.dtype, self.shard_tokens = folder, split, dtype, shard_tokens
        self.shards: list[dict[str, Any]] = []
        self.documents = self.tokens = self.bytes = 0
        self.filled = 0  # shards completed since the last checkpoint
        self._f: BinaryIO | None = None
        self._pending: tuple[np.ndarray, int] | None = None

    def add(self, ids: np.ndarray, nbytes: int) -> None:
        if self._pending is not None:
            self._write(*self._pending)
        self._pending = (ids, nbytes)

    def pop_pending(self) -> tuple[np.ndarray, int] | None:
        p, self._pending = self._pending, None
        return p

    @property
    def has_pending(self) -> bool:
        return self._pending is not None

    def _write(self, ids: np.ndarray, nbytes: int) -> None:
        if self._f is None or (self.shards[-1]["tokens"] > 0
                               and self.shards[-1]["tokens"] + len(ids) > self.shard_tokens):
            self._open_next()
        assert self._f is not None
        self._f.write(np.ascontiguousarray(ids, dtype=self.dtype).data)
        self.shards[-1]["tokens"] += len(ids)
        self.documents += 1
        self.tokens += len(ids)
        self.bytes += nbytes

    def _path(self, k: int) -> Path:
        return self.folder / f"{self.split}_{k:03d}.bin"

    def _open_next(self) -> None:
        if self._f is not None:
            self._finish_open_shard()
            self.filled += 1
        self._f = open(str(self._path(len(self.shards))) + PART, "wb", buffering=WRITE_BUFFER)
        self.shards.append({"file": self._path(len(self.shards)).name, "tokens": 0})

    def _finish_open_shard(self) -> None:
        assert self._f is not None
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        self._f = None
        name = self.folder / self.shards[-1]["file"]
        os.replace(str(name) + PART, name)

    def sync(self) -> None:
        """Make what is written so far durable (before a checkpoint names it)."""
        if self._f is not None:
            self._f.flush()
            os.fsync(self._f.fileno())

    def state(self) -> dict[str, Any]:
        p = self._pending
        return {"shards": [dict(s) for s in self.shards], "open": self._f is not None,
                "documents": self.documents, "tokens": self.tokens, "bytes": self.bytes,
                "pending": None if p is None else {"ids": p[0].tolist(), "bytes": p[1]}}

    @classmethod
    def resume(cls, folder: Path, split: str, dtype: np.dtype, shard_tokens: int,
               state: dict[str, Any]) -> "ShardWriter":
        w = cls(folder, split, dtype, shard_tokens)
        w.shards = [dict(s) for s in state["shards"]]
        w.documents, w.tokens, w.bytes = state["documents"], state["tokens"], state["bytes"]
        if state["pending"] is not None:
            w._pending = (np.asarray(state["pending"]["ids"], dtype=dtype), state["pending"]["bytes"])
        n_done = len(w.shards) - (1 if state["open"] else 0)
        for p in folder.iterdir():  # shards begun after the checkpoint
            stem = p.name[:-len(PART)] if p.name.endswith(PART) else p.name
            head, _, num = stem.removesuffix(".bin").rpartition("_")
            if head == split and num.isdigit() and int(num) >= n_done and not (state["open"] and int(num) == n_done):
                p.unlink()
        if state["open"]:
            final = w._path(n_done)
            part = Path(str(final) + PART)
            if not part.exists() and final.exists():  # it filled up after the checkpoint: reopen it
                os.replace(final, part)
            w._f = open(part, "r+b" if part.exists() else "wb", buffering=WRITE_BUFFER)
            w._f.truncate(w.shards[-1]["tokens"] * dtype.itemsize)
            w._f.seek(0, os.SEEK_END)
        return w

    def close(self) -> dict[str, Any]:
        """Write the held-back document, finish the open shard; the split's manifest entry."""
        p = self.pop_pending()
        if p is not None:
            self._write(*p)
        if self._f is not None:
            self._finish_open_shard()
        return {"documents": self.documents, "tokens": self.tokens, "bytes": self.bytes, "shards": self.shards}

    def abandon(self) -> None:
        """Close the open file without finishing it (after an error; a resume cuts it back)."""
        if self._f is not None:
            try:
                self._f.close()
            except OSError:
                pass
            self._f = None
