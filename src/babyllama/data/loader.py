"""Stream fixed-length training windows from prepared token shards.

The shards of a split form one token stream of N tokens. Window i is tokens[i*T : i*T + T + 1] (T = seq_len),
so consecutive windows share one token and every token after the first is a target exactly once;
there are (N - 1) // T windows. Training reads windows in a per-epoch permutation seeded by (seed, epoch);
the epochs are laid end to end as one endless sequence of window positions. Global batch b covers
positions [b*B*W, (b+1)*B*W) (B = batch_size, W = world_size) and rank r takes its r-th block of B, so
the ranks of one step together see exactly the batch a single process with batch B*W would see.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from babyllama.data.prepare import load_manifest, split_info
from babyllama.utils.io import BabyLlamaError


class TokenStream:
    """The shards of one split, memory-mapped and read as one array of token ids."""

    def __init__(self, data_dir: str | os.PathLike, split: str) -> None:
        self.data_dir = Path(data_dir).expanduser()
        self.manifest = load_manifest(self.data_dir)
        self.info = split_info(self.manifest, split, self.data_dir)
        self.split = split
        self.vocab_size: int = self.manifest["vocab_size"]
        dtype = np.dtype("<u2") if self.manifest["dtype"] == "uint16" else np.dtype("<u4")
        self._maps = [np.memmap(self.data_dir / sh["file"], dtype=dtype, mode="r")
                      for sh in self.info["shards"] if sh["tokens"] > 0]
        sizes = [len(m) for m in self._maps]
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.n_tokens = int(self._starts[-1])

    def __len__(self) -> int:
        return self.n_tokens

    def read(self, start: int, length: int) -> np.ndarray:
        """Tokens [start, start+length) as int64, crossing shard boundaries if needed."""
        if start < 0 or start + length > self.n_tokens:
            raise IndexError(f"tokens [{start}, {start + length}) outside 0..{self.n_tokens}")
        out = np.empty(length, dtype=np.int64)
        k = int(np.searchsorted(self._starts, start, side="right")) - 1
        done = 0
        while done < length:
            lo = start + done - int(self._starts[k])
            take = min(length - done, len(self._maps[k]) - lo)
            out[done:done + take] = self._maps[k][lo:lo + take]
            done += take
            k += 1
        return out

    def chunks(self, size: int = 1 << 16) -> Iterator[np.ndarray]:
        """The whole stream in order, as int64 arrays of at most `size` tokens."""
        for start in range(0, self.n_tokens, size):
            yield self.read(start, min(size, self.n_tokens - start))


def _num_windows(stream: TokenStream, seq_len: int) -> int:
    if seq_len < 1:
        raise BabyLlamaError(f"seq_len must be >= 1, got {seq_len}")
    if seq_len + 1 > stream.n_tokens:
        raise BabyLlamaError(
            f"{stream.data_dir}: split {stream.split!r} has {stream.n_tokens} tokens, fewer than seq_len+1 = "
            f"{seq_len + 1}; use a shorter seq_len or more data"
        )
    return (stream.n_tokens - 1) // seq_len


def _to_xy(windows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.from_numpy(windows)
    return t[:, :-1].contiguous(), t[:, 1:].contiguous()


class TokenLoader:
    """Endless shuffled (x, y) batches of shape (batch_size, seq_len), int64, for one rank."""

    def __init__(self, data_dir: str | os.PathLike, split: str, batch_size: int, seq_len: int, *,
                 rank: int = 0, world_size: int = 1, seed: int = 0, shuffle: bool = True) -> None:
        if batch_size < 1:
            raise BabyLlamaError(f"batch_size must be >= 1, got {batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise BabyLlamaError(f"rank {rank} is not in 0..world_size-1 (world_size {world_size})")
        self.stream = TokenStream(data_dir, split)
        self.split, self.batch_size, self.seq_len = split, batch_size, seq_len
        self.rank, self.world_size, self.seed, self.shuffle = rank, world_size, seed, shuffle
        self.num_windows = _num_windows(self.stream, seq_len)
        self._pos = 0  # global window position of the next step (counts across epochs)
        self._perms: dict[int, np.ndarray] = {}

    @property
    def vocab_size(self) -> int:
        return self.stream.vocab_size

    @property
    def epoch(self) -> int:
        """Epoch of the next window this loader (all ranks together) will read."""
        return self._pos // self.num_windows

    @property
    def position(self) -> int:
        """Window position of the next global batch within the current epoch."""
        return self._pos % self.num_windows

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.world_size

    @property
    def steps_per_epoch(self) -> float:
        return self.num_windows / self.global_batch_size

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            if len(self._perms) >= 2:
                self._perms.pop(min(self._perms))
            if self.shuffle:
                perm = np.random.default_rng([self.seed, epoch]).permutation(self.num_windows)
            else:
                perm = np.arange(self.num_windows)
            self._perms[epoch] = perm
        return self._perms[epoch]

    def window_ids(self, start: int, count: int) -> np.ndarray:
        """Window ids at global positions [start, start+count) of the endless epoch sequence."""
        pos = np.arange(start, start + count, dtype=np.int64)
        out = np.empty(count, dtype=np.int64)
        for e in np.unique(pos // self.num_windows):
            sel = pos // self.num_windows == e
            out[sel] = self._order(int(e))[pos[sel] % self.num_windows]
        return out

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        ids = self.window_ids(self._pos + self.rank * self.batch_size, self.batch_size)
        self._pos += self.global_batch_size
        T = self.seq_len
        windows = np.stack([self.stream.read(int(i) * T, T + 1) for i in ids])
        return _to_xy(windows)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield self.next_batch()

    def state_dict(self) -> dict[str, Any]:
        """Cursor to resume exactly (it does not depend on rank or world size)."""
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed, "shuffle": self.shuffle,
                "seq_len": self.seq_len, "num_windows": self.num_windows, "split": self.split}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            epoch, position = int(state["epoch"]), int(state["position"])
            seq_len, num_windows = int(state["seq_len"]), int(state["num_windows"])
        except (KeyError, TypeError, ValueError) as e:
            raise BabyLlamaError(f"loader state is missing or has a bad key ({e}); it is not a TokenLoader state")
        if seq_len != self.seq_len or num_windows != self.num_windows:
            raise BabyLlamaError(
                f"loader state is for seq_len {seq_len} with {num_windows} windows, but this loader has seq_len "
                f"{self.seq_len} with {self.num_windows}; resume with the same data and seq_len"
            )
        if epoch < 0 or not 0 <= position < num_windows:
            raise BabyLlamaError(f"loader state has epoch {epoch}, position {position}: out of range")
        self.seed = int(state.get("seed", self.seed))
        self.shuffle = bool(state.get("shuffle", self.shuffle))
        self._perms.clear()
        self._pos = epoch * self.num_windows + position


def iter_eval_batches(data_dir: str | os.PathLike, split: str, batch_size: int, seq_len: int,
                      max_batches: int | None = None, *, rank: int = 0,
                      world_size: int = 1) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Windows 0, 1, 2, ... in order (targets never overlap), batch_size at a time; the last batch may be
    smaller. `max_batches` caps the number of batches overall; with world_size > 1, batch k goes to rank
    k % world_size."""
    if batch_size < 1:
        raise BabyLlamaError(f"batch_size must be >= 1, got {batch_size}")
    if world_size < 1 or not 0 <= rank < world_size:
        raise BabyLlamaError(f"rank {rank} is not in 0..world_size-1 (world_size {world_size})")
    stream = TokenStream(data_dir, split)
    n = _num_windows(stream, seq_len)
    n_batches = -(-n // batch_size)
    if max_batches is not None:
        n_batches = min(n_batches, max_batches)
    for b in range(rank, n_batches, world_size):
        lo, hi = b * batch_size, min(n, (b + 1) * batch_size)
        flat = stream.read(lo * seq_len, (hi - lo) * seq_len + 1)
        windows = np.lib.stride_tricks.sliding_window_view(flat, seq_len + 1)[::seq_len]
        yield _to_xy(np.array(windows))  # a copy: the window view is read-only (and may be contiguous)
