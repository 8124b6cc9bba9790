"""Story instructions whose every constraint a program can check, with stories that obey them.

    item = make_instruction(7, seed=0)
    item.prompt   # "Write a story about a girl named Mia at the beach that uses the words 'kite'
                  #  and 'brave' and ends happily."
    item.story    # a built-in story that obeys it
    check_story(item.story, item.constraints)["all"]   # True

The story comes from the built-in generator (its own random stream, "babyllama-instructions-{seed}-{i}",
so `generate_stories` is untouched); the constraints are read off the story: the hero's name and
kind, a place the story names, two of its less common words, and "ends happily" when its last
sentence is a happy one. `preference_pair` keeps the story as the chosen answer and breaks exactly
one constraint for the rejected one, at about the story's length (another name, another place, each
sentence with a required word swapped for a sentence of another story, or a sad last sentence); the
checker confirms which one broke.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from babyllama.data.stories import tell_story
from babyllama.data.stories.grammar import count_words, with_article
from babyllama.data.stories.lexicon import BOY_NAMES, GIRL_NAMES, PET_NAMES, PLAY_PLACES
from babyllama.utils.io import BabyLlamaError, atomic_write_text

PLACES = tuple(p for p, _ in PLAY_PLACES) + ("kitchen", "school", "pool", "library", "bakery", "zoo", "store",
                                              "castle", "cave", "island", "mountain", "sea")
PREPOSITIONS = {**dict(PLAY_PLACES), "kitchen": "in", "school": "at", "library": "in", "cave": "in",
                "island": "on", "mountain": "on", "sea": "by", "castle": "in"}
HAPPY_WORDS = frozenset("happy happily smile smiled smiling glad best fun great lovely good proud laughed hugged "
                        "love loved nice wonderful beamed joy grinned cheered safe".split())
SAD_WORDS = frozenset("sad sadly cried alone lonely angry never badly gloomy".split())
COMMON_WORDS = frozenset(
    "that with they them then there their this when what were said have from into went could would "
    "about very just also again back after before down over some your like made make will came come "
    "looked look felt know knew here every each much many more most other than only even still such "
    "because while where which who whom whose been being does doing done think thought told tell asked "
    "always never something anything nothing everyone someone thing things little big good great happy "
    "once upon time long away around under near next took take gave give going want wanted found find "
    "friend friends play played playing today tomorrow yes okay right left ever must both liked likes "
    "turn first last same other another really".split())
SAD_ENDINGS = ("{name} felt sad.", "{name} cried and cried.", "{name} was sad and alone.",
               "{name} cried, and the day ended badly.", "{name} was still sad and lonely that night.",
               "In the end, {name} felt sad and went home alone.",
               "{name} sat alone by the window, and the day ended badly.",
               "{name} went to bed that night feeling sad and lonely, and cried a little.")
MAX_WORDS = 100  # story length for instructions (the corpus has 80..300 words)
CONSTRAINTS = ("character", "place", "words", "happy")
_WORD = re.compile(r"[A-Za-z]+")


@dataclass
class Constraints:
    name: str                 # the named character
    kind: str                 # girl, boy, fox, ...
    place: str | None         # a place the story must name, or none
    words: tuple[str, ...]    # words the story must use
    happy: bool               # the last sentence must be a happy one

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "words": list(self.words)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Constraints":
        return cls(str(d["name"]), str(d["kind"]), d.get("place"), tuple(d["words"]), bool(d["happy"]))


@dataclass
class Instruction:
    index: int
    prompt: str
    story: str
    constraints: Constraints = field(repr=False)


# ---------------------------------------------------------------- checking

def _has(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![A-Za-z]){re.escape(phrase)}(?![A-Za-z])", text, re.IGNORECASE) is not None


def last_sentence(text: str) -> str:
    parts = [p for p in re.split(r"(?<=[.!?])[\"']?\s+", text.strip()) if p.strip()]
    return parts[-1] if parts else ""


def ends_happily(text: str) -> bool:
    """The last sentence has a happy word and no sad one."""
    words = {w.lower() for w in _WORD.findall(last_sentence(text))}
    return bool(words & HAPPY_WORDS) and not words & SAD_WORDS


def check_story(text: str, c: Constraints) -> dict[str, Any]:
    """Which constraints `text` meets: character, place (None when not asked), words (share of the
    required words used), happy (None when not asked), and all."""
    used = [_has(text, w) for w in c.words]
    out: dict[str, Any] = {
        "character": _has(text, c.name),
        "place": _has(text, c.place) if c.place else None,
        "words": sum(used) / len(used) if used else 1.0,
        "happy": ends_happily(text) if c.happy else None,
    }
    out["all"] = bool(out["character"] and out["place"] is not False and out["words"] == 1.0
                      and out["happy"] is not False)
    return out


# ---------------------------------------------------------------- making instructions

def _pick_words(text: str, exclude: set[str], rng: random.Random, k: int = 2) -> tuple[str, ...]:
    words = _WORD.findall(text)
    names = {w.lower() for w in words if w[0].isupper()}
    seen: list[str] = []
    for w in words:
        low = w.lower()
        if len(low) >= 4 and low not in COMMON_WORDS and low not in exclude and low not in names \
                and low not in seen:
            seen.append(low)
    return tuple(rng.sample(seen, min(k, len(seen))))


def _prompt(c: Constraints, rng: random.Random) -> str:
    who = f"{with_article(c.kind)} named {c.name}"
    where = f" {PREPOSITIONS.get(c.place, 'at')} the {c.place}" if c.place else ""
    words = " and ".join(f"'{w}'" for w in c.words)
    happy = " and ends happily" if c.happy else ""
    forms = (f"Write a story about {who}{where} that uses the words {words}{happy}.",
             f"Tell me a short story about {who}{where}. Use the words {words}{happy.replace(' and', ', and it')}.",
             f"Please write a children's story about {who}{where}. It must use the words {words}"
             f"{happy.replace(' and ends', ' and end')}.")
    return rng.choice(forms)


def make_instruction(index: int, seed: int = 0, max_words: int = MAX_WORDS) -> Instruction:
    """Instruction `index` of set `seed` (depends on nothing else), its story at most `max_words` long
    (stories are drawn until one is, so prompt and story fit a 256-token context)."""
    rng = random.Random(f"babyllama-instructions-{seed}-{index}")
    for _ in range(1000):
        story, t = tell_story(rng)
        if count_words(story) <= max_words:
            break
    name, kind = t.s["H"], t.s["kind"]
    place = t.s.get("place") or next((p for p in PLACES if _has(story, p)), None)
    if place is not None and not _has(story, place):
        place = None
    exclude = {name.lower(), kind.lower(), *(place.lower().split() if place else ())}
    c = Constraints(name, kind, place, _pick_words(story, exclude, rng), ends_happily(story))
    return Instruction(index, _prompt(c, rng), story, c)


def make_instructions(n: int, seed: int = 0, start: int = 0, max_words: int = MAX_WORDS) -> list[Instruction]:
    return [make_instruction(i, seed, max_words) for i in range(start, start + n)]


# ---------------------------------------------------------------- breaking one constraint

def _replace(text: str, old: str, new: str) -> str:
    return re.sub(rf"(?<![A-Za-z]){re.escape(old)}(?![A-Za-z])", new, text, flags=re.IGNORECASE)


def _closest(options: list[str], target: str, rng: random.Random, size: Callable[[str], int] = len) -> str:
    """One of the options whose size is nearest the target's (ties broken at random)."""
    best = min(abs(size(o) - size(target)) for o in options)
    return rng.choice([o for o in options if abs(size(o) - size(target)) == best])


_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_OTHER_NAMES = frozenset(n.lower() for n in GIRL_NAMES + BOY_NAMES + PET_NAMES)  # one word each


def _donor_sentences(c: Constraints, story: str, rng: random.Random, n_stories: int = 3) -> list[str]:
    """Sentences of freshly generated stories, their hero renamed to c.name, that name no other
    character or place, use none of c.words, hold whole quotes and are not in `story` already."""
    out: list[str] = []
    for _ in range(n_stories):
        text, t = tell_story(rng)
        for s in _SENTENCE.split(_replace(text.replace("\n", " "), t.s["H"], c.name)):
            if s.count('"') % 2 or s in story or s in out or any(_has(s, w) for w in c.words) \
                    or any(_has(s, p) for p in PLACES) \
                    or {w.lower() for w in _WORD.findall(s)} & _OTHER_NAMES - {c.name.lower()}:
                continue
            out.append(s)
    return out


def _swap_word_sentences(c: Constraints, story: str, word: str, rng: random.Random) -> str:
    """The story with every sentence that uses `word` replaced by a donor sentence of about its
    length (a happy one where the story's happy last sentence is replaced)."""
    donors = _donor_sentences(c, story, rng)
    lines = [_SENTENCE.split(line) for line in story.split("\n")]
    last = (len(lines) - 1, len(lines[-1]) - 1)
    for i, sentences in enumerate(lines):
        for j, s in enumerate(sentences):
            if not _has(s, word):
                continue
            pool = [d for d in donors if ends_happily(d)] if c.happy and (i, j) == last else donors
            if not pool:
                return story
            sentences[j] = _closest(pool, s, rng, size=count_words)
            donors.remove(sentences[j])
    return "\n".join(" ".join(sentences) for sentences in lines)


def break_constraint(item: Instruction, which: str, rng: random.Random) -> str | None:
    """The story changed so that `which` constraint fails and the others still hold, at about the
    story's length (a name or place of about the same length, each sentence with a required word
    swapped for a sentence of another story, a sad last sentence of about the happy one's length);
    None when that constraint was not asked or cannot be broken alone."""
    c, story = item.constraints, item.story
    if which == "character":
        names = [n for n in GIRL_NAMES + BOY_NAMES if not _has(story, n)]
        out = _replace(story, c.name, _closest(names, c.name, rng))
    elif which == "place" and c.place:
        out = _replace(story, c.place, _closest([p for p in PLACES if not _has(story, p)], c.place, rng))
    elif which == "words" and c.words:
        out = _swap_word_sentences(c, story, rng.choice(c.words), rng)
    elif which == "happy" and c.happy:
        body = story.strip()
        ending = last_sentence(body)
        sad = [e.format(name=c.name) for e in SAD_ENDINGS]
        out = body[:len(body) - len(ending)] + _closest(sad, ending, rng, size=count_words)
    else:
        return None
    result = check_story(out, c)
    broke = {"character": not result["character"], "place": result["place"] is False,
             "words": result["words"] < 1.0, "happy": result["happy"] is False}
    return out if [k for k, v in broke.items() if v] == [which] else None


def preference_pair(item: Instruction, seed: int = 0) -> dict[str, Any] | None:
    """{"prompt", "chosen", "rejected", "broken", "constraints"}: the rejected story breaks exactly one
    constraint (tried in a random order); None if none can be broken alone."""
    rng = random.Random(f"babyllama-pairs-{seed}-{item.index}")
    for which in rng.sample(CONSTRAINTS, len(CONSTRAINTS)):
        rejected = break_constraint(item, which, rng)
        if rejected is not None:
            return {"prompt": item.prompt, "chosen": item.story, "rejected": rejected, "broken": which,
                    "constraints": item.constraints.to_dict()}
    return None


# ---------------------------------------------------------------- files

EVAL_START = 1_000_000  # held-out instructions are numbered from here, apart from the training ones


def write_instruction_files(out_dir: str | Path, n_train: int, n_eval: int, seed: int = 0) -> dict[str, int]:
    """Write sft_train.jsonl (messages + constraints), pairs_train.jsonl (from the same instructions),
    eval.jsonl (held-out prompts, constraints and a reference story) and pairs_val.jsonl (held-out
    pairs) into out_dir, atomically; returns the row count of each."""
    if n_train < 1 or n_eval < 1:
        raise BabyLlamaError(f"n_train={n_train}, n_eval={n_eval}: both must be >= 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train, held = make_instructions(n_train, seed), make_instructions(n_eval, seed, start=EVAL_START)
    rows = {
        "sft_train.jsonl": [{"messages": [{"role": "user", "content": it.prompt},
                                          {"role": "assistant", "content": it.story}],
                             "constraints": it.constraints.to_dict()} for it in train],
        "pairs_train.jsonl": [p for it in train if (p := preference_pair(it, seed)) is not None],
        "eval.jsonl": [{"prompt": it.prompt, "constraints": it.constraints.to_dict(), "reference": it.story}
                       for it in held],
        "pairs_val.jsonl": [p for it in held if (p := preference_pair(it, seed)) is not None],
    }
    for name, items in rows.items():
        atomic_write_text(out / name, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items))
    return {name: len(items) for name, items in rows.items()}
