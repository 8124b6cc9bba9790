"""Built-in corpus: a procedural generator of simple children's stories.

The stories are plain TinyStories-like English (past tense, small words, a problem and a
resolution, some dialogue), built from hand-written word lists and sentence variants, so the
quickstart can train a model with no network. Story i of `generate_stories(n, seed)` depends
only on (seed, i), so any slice of a corpus can be rebuilt on its own.

Modules: `lexicon` (the word lists and sentence tables, data only), `grammar` (articles, verb
forms, plurals), `teller` (the Teller that writes one story, shared opening and closing) and
`plots_everyday` / `plots_adventure` (one function per kind of story).
"""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Callable

from babyllama.data.stories.grammar import count_words
from babyllama.data.stories.plots_adventure import (
    plot_fear, plot_garden, plot_race, plot_rescue, plot_treasure, plot_trip, plot_weather,
)
from babyllama.data.stories.plots_everyday import (
    plot_bake, plot_broken, plot_help, plot_lesson, plot_lost, plot_new_friend, plot_share, plot_surprise,
)
from babyllama.data.stories.teller import Teller
from babyllama.utils.io import BabyLlamaError, atomic_path

MIN_WORDS = 80
MAX_WORDS = 300
DELIMITER = "<|endoftext|>"

# The order is part of the corpus: story i picks PLOTS[k] from its own random stream.
PLOTS: tuple[Callable[[Teller], None], ...] = (
    plot_lost, plot_share, plot_fear, plot_help, plot_trip, plot_broken, plot_lesson, plot_surprise,
    plot_race, plot_bake, plot_weather, plot_new_friend, plot_garden, plot_rescue, plot_treasure,
)

_WORD_RE = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")


def generate_story(rng: random.Random) -> str:
    """One story of MIN_WORDS..MAX_WORDS words; paragraphs are separated by single newlines."""
    return tell_story(rng)[0]


def tell_story(rng: random.Random) -> tuple[str, Teller]:
    """`generate_story`'s story with the Teller that wrote it (its cast, place and other slots)."""
    for _ in range(200):
        t = Teller(rng)
        rng.choice(PLOTS)(t)
        text = t.text()
        if MIN_WORDS <= count_words(text) <= MAX_WORDS:
            return text, t
    raise RuntimeError("could not write a story of the right length")  # pragma: no cover


def generate_stories(n: int, seed: int = 0, start: int = 0) -> list[str]:
    """Stories start .. start+n-1 of corpus `seed`; story i depends only on (seed, i)."""
    if n < 0 or start < 0:
        raise BabyLlamaError(f"n={n}, start={start}: both must be >= 0")
    return [generate_story(random.Random(f"babyllama-stories-{seed}-{i}")) for i in range(start, start + n)]


def write_stories(path: str | Path, n: int, seed: int = 0, delimiter: str = DELIMITER) -> list[str]:
    """Write `n` stories in the TinyStories layout (each story, then a line with `delimiter`), atomically."""
    stories = generate_stories(n, seed)
    with atomic_path(path) as tmp:
        tmp.write_text(format_stories(stories, delimiter), encoding="utf-8")
    return stories


def format_stories(stories: list[str], delimiter: str = DELIMITER) -> str:
    """The TinyStories layout: each story, then a line holding `delimiter`."""
    return "".join(f"{s}\n{delimiter}\n" for s in stories)


def count_distinct_words(stories: list[str]) -> int:
    """Distinct words over all stories, ignoring case (a word may hold an apostrophe: "didn't")."""
    return len({m.lower() for m in _WORD_RE.findall(" ".join(stories))})
