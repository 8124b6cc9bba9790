"""The machinery that writes one story: template slots, the Teller, and the opening and closing every plot shares."""
from __future__ import annotations

import random
from typing import Sequence, TypeVar

from babyllama.data.stories.grammar import PRONOUNS, capitalize_sentences, ing_form, past_tense, with_article
from babyllama.data.stories.lexicon import (
    ACTIVITIES, ANIMAL_HOMES, ANIMAL_LOOKS, ANIMAL_SOUNDS, AUNT_NAMES, BIRDS, BIRD_HOMES, BOY_NAMES,
    BUGS, CRAWL, FACTS, FLY, GIRL_NAMES, GROWNUPS, HOMES, HOP, KID_FACTS, KID_TRAITS, LAND_ANIMALS,
    OPENINGS, PETS, PET_NAMES, PLAY_PLACES, RANDOM, SEASONS, UNCLE_NAMES, WADDLE,
)

T = TypeVar("T")


class Slots(dict):
    """Template fields: fixed values stored in the dict, random ones drawn on each use.

    "{a_key}" gives the value of "{key}" with its article ("a red kite", "an owl").
    """

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng
        self.choices: dict[str, tuple[str, ...]] = {}

    def __missing__(self, key: str) -> str:
        opts = self.choices.get(key) or RANDOM.get(key)
        if opts is None:
            if key.startswith("a_"):
                return with_article(self[key[2:]])
            raise KeyError(key)
        val = self.rng.choice(opts)
        return val.format_map(self) if "{" in val else val


class Teller:
    """Builds one story: holds the random source, the template fields and the paragraphs."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.s = Slots(rng)
        self.paras: list[list[str]] = [[]]
        self.cast: set[str] = set()
        self.animal = False

    # -- choosing
    def pick(self, seq: Sequence[T]) -> T:
        return self.rng.choice(seq)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def sample(self, seq: Sequence[T], k: int) -> list[T]:
        return self.rng.sample(seq, k)

    # -- writing
    def say(self, *options: str) -> None:
        """Write one of `options` (a sentence or a few) into the current paragraph."""
        t = options[0] if len(options) == 1 else self.rng.choice(options)
        self.paras[-1].append(capitalize_sentences(t.format_map(self.s)))

    def maybe(self, p: float, *options: str) -> None:
        if self.rng.random() < p:
            self.say(*options)

    def para(self) -> None:
        if self.paras[-1]:
            self.paras.append([])

    def text(self) -> str:
        return "\n".join(" ".join(p) for p in self.paras if p)

    # -- cast
    def _name(self, he: str, animal: bool) -> str:
        for _ in range(50):
            if animal and self.rng.random() < 0.6:
                name = self.rng.choice(PET_NAMES)
            else:
                name = self.rng.choice(GIRL_NAMES if he == "she" else BOY_NAMES)
            if name not in self.cast:
                self.cast.add(name)
                return name
        raise RuntimeError("could not find a fresh name")  # pragma: no cover

    def _set_char(self, prefix: str, name_key: str, name: str, he: str, kind: str) -> None:
        s = self.s
        s[name_key] = name
        for key, val in zip(("he", "him", "his", "self"), PRONOUNS[he]):
            s[prefix + key] = val
        s[prefix + "kind"] = kind

    def hero(self, animal: bool | None = None) -> None:
        """Pick the main character: a child (most often) or a small animal."""
        if animal is None:
            animal = self.rng.random() < 0.4
        he = self.rng.choice(("he", "she"))
        if animal:
            kind = self.rng.choice(LAND_ANIMALS + BIRDS[:12])
            look = self.rng.choice(ANIMAL_LOOKS + ("little",) * 6)
            desc = kind if look in kind else f"{look} {kind}"
            moves = ("flew",) if kind in FLY else ("hopped",) if kind in HOP else \
                ("waddled",) if kind in WADDLE else ("crawled",) if kind in CRAWL else ("ran", "hurried")
            self.s["home"] = self.rng.choice(BIRD_HOMES if kind in BIRDS else ANIMAL_HOMES)
        else:
            kind = "girl" if he == "she" else "boy"
            desc = f"{self.rng.choice(KID_TRAITS + ('little',) * 12)} {kind}"
            if desc.startswith("little") and self.rng.random() < 0.5:
                desc = f"little {self.rng.choice(KID_TRAITS)} {kind}"
            moves = ("ran", "hurried", "skipped", "went", "rushed")
            self.s["home"] = self.rng.choice(HOMES)
        self.animal = animal
        self._set_char("", "H", self._name(he, animal), he, kind)
        self.s["kd"] = desc.replace("little little", "little")
        self.s.choices["move"] = moves
        self.s["hands"] = "paws" if animal and kind not in FLY and kind not in WADDLE else \
            "wings" if animal else "hands"
        self.s["fav"] = fav = self.rng.choice(ACTIVITIES)
        self.s["fav_past"] = past_tense(fav)
        self.s["fav_ing"] = ing_form(fav)
        self.set_season(self.rng.choice(tuple(SEASONS)))
        self.s.choices["onday"] = (
            "One day,", "One day,", "One {wx} day,", "One {wx} morning,", "One {season} day,",
            "One afternoon,", "One morning,", "Then one day,", "On a {wx} {season} day,",
            "After breakfast one day,", "One {wx} afternoon,", "Early one morning,", "On Saturday,",
        )

    def set_season(self, season: str) -> None:
        self.s["season"] = season
        self.s.choices["wx"] = SEASONS[season][0]
        self.s.choices["season_line"] = SEASONS[season][1]

    def friend(self, animal: bool | None = None) -> None:
        """Pick a friend of the hero (prefix f: {F}, {fhe}, {fhis}; first mention {Fi})."""
        if animal is None:
            animal = self.rng.random() < (0.7 if self.animal else 0.3)
        he = self.rng.choice(("he", "she"))
        if animal:
            kind = self.rng.choice(LAND_ANIMALS + BIRDS + BUGS[:6])
        else:
            kind = "girl" if he == "she" else "boy"
        name = self._name(he, animal)
        self._set_char("f", "F", name, he, kind)
        his = self.s["his"]
        desc = self.rng.choice(ANIMAL_LOOKS if animal else KID_TRAITS) + " " + kind
        self.s["Fn"] = f"{with_article(desc)} named {name}"
        if animal:
            look = self.rng.choice(ANIMAL_LOOKS)
            self.s.choices["Fi"] = (f"{his} friend {name} the {kind}", f"{his} best friend {name} the {kind}",
                                    f"{with_article(look + ' ' + kind)} named {name}")
        else:
            self.s.choices["Fi"] = (f"{his} friend {name}", f"{his} best friend {name}", f"{his} good friend {name}")

    def grownup(self) -> None:
        """Pick a grown-up for the hero ({G} 'her mom', {gcall} 'Mom', {ghe}, {ghis})."""
        r = self.rng.random()
        if r < 0.8:
            kind, call, he = self.rng.choice(GROWNUPS)
            name = f"{self.s['his']} {kind}"
        else:
            he = "she" if r < 0.9 else "he"
            kind = "aunt" if he == "she" else "uncle"
            first = self.rng.choice([n for n in (AUNT_NAMES if he == "she" else UNCLE_NAMES) if n not in self.cast])
            self.cast.add(first)
            call = name = f"{kind.title()} {first}"
        self._set_char("g", "G", name, he, kind)
        self.s["gcall"] = call

    def pet(self, kinds: tuple[str, ...] = PETS) -> None:
        """Give the hero a pet ({P}, {pkind}, {phe}, {phis})."""
        if "P" in self.s:
            return
        kind = self.rng.choice(kinds)
        he = self.rng.choice(("he", "she"))
        self._set_char("p", "P", self._name(he, True), he, kind)

    def place(self, places: tuple[tuple[str, str], ...] = PLAY_PLACES) -> None:
        """Pick where things happen: {place} 'park', {at_place} 'in the park', {to_place} 'to the park'."""
        name, prep = self.rng.choice(places)
        self.s["place"] = name
        self.s["at_place"] = f"{prep} the {name}"
        self.s["to_place"] = f"to the {name}"


def intro(t: Teller, facts: int = 1) -> None:
    """First sentences: who the hero is, plus `facts` short facts about them."""
    t1, t2 = t.sample(KID_TRAITS[:30], 2)
    t.s["t1"], t.s["t2"] = t1, t2
    t.say(*OPENINGS)
    pool = list(FACTS) + ([] if t.animal else list(KID_FACTS))
    if t.animal and t.s["kind"] in ANIMAL_SOUNDS:
        t.s["sound"] = ANIMAL_SOUNDS[t.s["kind"]]
        t.s["sound2"] = t.s["sound"].lower()
        pool += ['{he} liked to say "{sound}!" to everyone {he} met.',
                 'When {H} was happy, {he} said, "{sound}, {sound2}!"']
    for fact in t.sample(pool, facts):
        t.say(fact)


def closing(t: Teller, *morals: str, p: float = 0.85) -> None:
    """Last sentences: maybe a lesson, then maybe a happy closing line."""
    if morals and t.chance(p):
        t.say(*morals)
    t.maybe(0.5, "{nightline}", "And they all lived happily ever after.", "It was the best day ever.",
            "{smile_line}", "{H} would never forget this day.", "It had been {a_nice} day.",
            "What {a_nice} day it had been!", "Everyone was happy.", "{H} went to bed happy that night.",
            "And that was the end of {a_nice} day.", "{H} hoped tomorrow would be just as fun.")
