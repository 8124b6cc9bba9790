"""Document filters for web text, all off by default: minimum length, English (script and function words),
exact duplicates.

`Filters.reason(text)` runs in the tokenizer worker processes (no state); duplicates need every earlier
document, so `SeenHashes` runs in the main process on 64-bit hashes the workers compute. It keeps the
hashes in sorted numpy runs merged like a log-structured tree: 8 bytes per kept document, checked a batch
at a time.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from babyllama.utils.io import BabyLlamaError

LANGUAGES = ("en",)
# the commonest English function words: ordinary English prose has 30-50% of its words among them
_EN_WORDS = frozenset("""the of and to a in is was that for it with as on be at by this had not are but from or
have an they which one you were her all she there would their we him been has when who will more no if out so
said what up its about into than them can only other new some could time these two may then do first any my now
such like our over man me even most made after also did many before must through back years where much your way
well down should because each just those people how too little state good very make world still own see men work
long get here between both life being under never day same another know while last might us great old year off
come since against go came right used take three he his i""".split())
_WORD = re.compile(r"[^\W\d_]+")
EN_MIN_LATIN = 0.9      # share of letters that must be Latin script
EN_MIN_COMMON = 0.1     # share of words that must be common English function words
PARAGRAPH_BREAKS = ("keep", "blank")
_NEWLINES = re.compile(r"\n+")


@dataclass(frozen=True)
class Filters:
    """Which documents to drop: shorter than `min_chars` characters, not `lang` (only "en"), exact duplicates;
    and the paragraph layout of the kept ones."""

    min_chars: int = 0
    lang: str | None = None
    dedup: bool = False
    paragraph_breaks: str = "keep"  # "blank": every run of newlines in a kept document becomes one blank line

    def __post_init__(self) -> None:
        if self.paragraph_breaks not in PARAGRAPH_BREAKS:
            raise BabyLlamaError(f"--paragraph-breaks {self.paragraph_breaks!r}: use one of {', '.join(PARAGRAPH_BREAKS)}")
        if self.min_chars < 0:
            raise BabyLlamaError(f"--min-chars must be >= 0, got {self.min_chars}")
        if self.lang is not None and self.lang not in LANGUAGES:
            raise BabyLlamaError(f"--lang {self.lang!r}: only {', '.join(LANGUAGES)} is known")

    @property
    def active(self) -> bool:
        return bool(self.min_chars or self.lang or self.dedup)

    def settings(self) -> dict[str, Any]:
        return asdict(self)

    def layout(self, text: str) -> str:
        """The text as it is tokenized: paragraph breaks made blank lines with paragraph_breaks = "blank"
        (the layout of HF TinyStories' validation text, where the 2 MiB train slice has single newlines)."""
        return _NEWLINES.sub("\n\n", text.strip("\n")) if self.paragraph_breaks == "blank" else text

    def reason(self, text: str) -> str | None:
        """Why `text` is dropped ("short", "charset", "language"), or None to keep it (duplicates aside)."""
        if len(text) < self.min_chars:
            return "short"
        if self.lang == "en":
            return english_problem(text)
        return None


def english_problem(text: str) -> str | None:
    """"charset" when under 90% of the letters are Latin script, "language" when under 10% of the words are
    common English function words, else None."""
    letters = sum(1 for c in text if c.isalpha())
    if letters == 0:
        return "charset"
    latin = sum(1 for c in text if c.isalpha() and (c < "\u0250" or "\u1e00" <= c < "\u1f00"))
    if latin < EN_MIN_LATIN * letters:
        return "charset"
    words = _WORD.findall(text.lower())
    if not words or sum(1 for w in words if w in _EN_WORDS) < EN_MIN_COMMON * len(words):
        return "language"
    return None


def doc_hash(text: str) -> int:
    """64-bit blake2b of the document's UTF-8 bytes."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


class SeenHashes:
    """An exact set of 64-bit hashes in sorted runs of doubling sizes (8 bytes per member)."""

    def __init__(self, members: np.ndarray | None = None) -> None:
        self._runs: list[np.ndarray] = []
        if members is not None and len(members):
            self._runs.append(np.unique(members.astype(np.uint64)))

    def __len__(self) -> int:
        return sum(len(r) for r in self._runs)

    def _contains(self, h: np.ndarray) -> np.ndarray:
        found = np.zeros(len(h), dtype=bool)
        for run in self._runs:
            i = np.searchsorted(run, h)
            found |= run[np.minimum(i, len(run) - 1)] == h
        return found

    def add_new(self, hashes: np.ndarray) -> np.ndarray:
        """Mark which of `hashes` (in order) are new, counting earlier ones in the same call; add them."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        if not len(hashes):
            return np.zeros(0, dtype=bool)
        _, first = np.unique(hashes, return_index=True)
        new = np.zeros(len(hashes), dtype=bool)
        new[first] = True
        new &= ~self._contains(hashes)
        run = np.sort(hashes[new])
        while self._runs and len(self._runs[-1]) <= len(run):
            run = np.union1d(self._runs.pop(), run)  # both sorted and disjoint: keeps the runs few
        if len(run):
            self._runs.append(run)
        return new

    def members(self) -> np.ndarray:
        return np.sort(np.concatenate(self._runs)) if self._runs else np.zeros(0, dtype=np.uint64)
