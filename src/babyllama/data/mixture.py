"""Train on several prepared data folders at once, each sequence drawn from one of them by weight.

    loader = MixtureLoader(parse_mixture("data/zh=0.9, data/en=0.1"), "train", batch_size=16, seq_len=256)
    x, y = loader.next_batch()

Each source keeps its own shards and its own window order (a TokenLoader's: a seeded permutation per
epoch). Global batch b draws its B*W sources from a generator seeded by (seed, b): sequence j of the
batch comes from the first source whose cumulative weight exceeds u_j. The draws of a batch depend on
nothing but (seed, b), so the generator's state is the batch counter, and the resumable state is that
counter plus one window cursor per source. Rank r takes sequences [r*B, (r+1)*B) of each global batch,
so W processes together see exactly the batches one process with batch B*W sees.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from babyllama.data.loader import TokenLoader, _to_xy
from babyllama.utils.io import BabyLlamaError


def parse_mixture(text: str, where: str = "data.mixture") -> list[tuple[str, float]]:
    """[(folder, weight)] from "DIR=WEIGHT, DIR=WEIGHT" (weights need not sum to 1)."""
    out = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        folder, eq, weight = item.rpartition("=")
        if not eq or not folder.strip():
            raise BabyLlamaError(f"{where}: {item!r} is not DIR=WEIGHT (e.g. data/zh=0.9, data/en=0.1)")
        try:
            w = float(weight)
        except ValueError:
            raise BabyLlamaError(f"{where}: weight {weight!r} of {folder.strip()} is not a number") from None
        out.append((folder.strip(), w))
    check_weights(out, where)
    return out


def parse_named(text: str, where: str, example: str, form: str = "NAME=VALUE") -> dict[str, str]:
    """{name: value} from "NAME=VALUE, NAME=VALUE" (names once each); errors show `example`."""
    out: dict[str, str] = {}
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        name, eq, value = item.partition("=")
        if not eq or not name.strip() or not value.strip():
            raise BabyLlamaError(f"{where}: {item!r} is not {form} (e.g. {example})")
        if name.strip() in out:
            raise BabyLlamaError(f"{where}: the name {name.strip()!r} is used twice")
        out[name.strip()] = value.strip()
    return out


def check_weights(sources: Sequence[tuple[str, float]], where: str = "data.mixture") -> None:
    if not sources:
        raise BabyLlamaError(f"{where}: no data sets given; write DIR=WEIGHT, DIR=WEIGHT")
    for folder, w in sources:
        if not np.isfinite(w) or w < 0:
            raise BabyLlamaError(f"{where}: weight {w} of {folder} must be a finite number >= 0")
    if sum(w for _, w in sources) <= 0:
        raise BabyLlamaError(f"{where}: all weights are zero; give at least one data set a weight > 0")
    for folder, _ in sources:
        if not (Path(folder).expanduser() / "manifest.json").is_file():
            raise BabyLlamaError(f"{where}: {folder} is not a prepared data folder (no manifest.json); make it with "
                                 f"`babyllama prepare --out {folder}`")


def draw_sources(cum: np.ndarray, seed: int, batch: int, n: int) -> np.ndarray:
    """n source indices for global batch `batch`: index i with probability cum[i] - cum[i-1] (cum: the
    cumulative weights, ending at 1), from a generator seeded by (seed, batch) alone."""
    u = np.random.default_rng([seed, batch]).random(n)
    return np.searchsorted(cum, u, side="right").clip(max=len(cum) - 1)


class MixtureLoader:
    """Endless (x, y) batches of shape (batch_size, seq_len), each sequence from one source by weight."""

    def __init__(self, sources: Sequence[tuple[str | os.PathLike, float]], split: str, batch_size: int,
                 seq_len: int, *, rank: int = 0, world_size: int = 1, seed: int = 0, shuffle: bool = True) -> None:
        check_weights([(str(d), w) for d, w in sources])
        self.loaders = [TokenLoader(d, split, 1, seq_len, seed=seed + 7919 * k, shuffle=shuffle)
                        for k, (d, _) in enumerate(sources)]
        self.folders = [str(d) for d, _ in sources]
        tokenizers = {(ld.stream.manifest.get("tokenizer") or {}).get("sha256") for ld in self.loaders}
        if len(tokenizers) > 1:
            raise BabyLlamaError(f"data.mixture: the data sets were tokenized with different tokenizers "
                                 f"({', '.join(self.folders)}); prepare all of them with the same one")
        w = np.array([float(w) for _, w in sources])
        self.weights = w / w.sum()
        self._cum = np.cumsum(self.weights)
        self._cum[-1] = 1.0
        self.split, self.batch_size, self.seq_len = split, batch_size, seq_len
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self._batch = 0  # global batches drawn so far: the generator's state
        self._cursor = np.zeros(len(self.loaders), dtype=np.int64)  # windows each source has given

    @property
    def vocab_size(self) -> int:
        return max(ld.vocab_size for ld in self.loaders)

    def draw(self, batch: int) -> np.ndarray:
        """The source index of each of the batch_size * world_size sequences of global batch `batch`."""
        return draw_sources(self._cum, self.seed, batch, self.batch_size * self.world_size)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        choice = self.draw(self._batch)
        self._batch += 1
        lo = self.rank * self.batch_size
        pos = self._cursor + np.bincount(choice[:lo], minlength=len(self.loaders))  # next window per source
        windows = []
        for s in choice[lo:lo + self.batch_size].tolist():
            ld = self.loaders[s]
            wid = int(ld.window_ids(int(pos[s]), 1)[0])
            pos[s] += 1
            windows.append(ld.stream.read(wid * self.seq_len, self.seq_len + 1))
        self._cursor += np.bincount(choice, minlength=len(self.loaders))
        return _to_xy(np.stack(windows))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield self.next_batch()

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "mixture", "batch": self._batch, "cursors": [int(c) for c in self._cursor],
                "folders": self.folders, "weights": [float(w) for w in self.weights], "seed": self.seed,
                "seq_len": self.seq_len}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != "mixture":
            raise BabyLlamaError("loader state is not a mixture's; resume with the data settings the run began with")
        if len(state["cursors"]) != len(self.loaders) or int(state["seq_len"]) != self.seq_len:
            raise BabyLlamaError(f"loader state is for {len(state['cursors'])} data sets at seq_len "
                                 f"{state['seq_len']}, this mixture has {len(self.loaders)} at {self.seq_len}")
        if not np.allclose(state["weights"], self.weights):
            raise BabyLlamaError(f"the mixture weights changed since the checkpoint ({state['weights']} -> "
                                 f"{self.weights.tolist()}); resume with the same data.mixture")
        self._batch, self.seed = int(state["batch"]), int(state["seed"])
        self._cursor = np.array(state["cursors"], dtype=np.int64)
