"""Grammar helpers for the story generator: articles, verb forms, plurals, capitals."""
from __future__ import annotations

import re


def words(text: str) -> tuple[str, ...]:
    """Split a comma-separated word list (entries may hold spaces)."""
    return tuple(x.strip() for x in text.split(",") if x.strip())


_A_BEFORE_VOWEL = ("uni", "use", "usu", "uke", "uku", "one", "once", "eu", "ewe")
_AN_BEFORE_H = ("hour", "honest", "honor", "heir")


def article(phrase: str) -> str:
    """'a' or 'an' for the first word of `phrase` (by sound, with the usual exceptions)."""
    w = phrase.lstrip().lower()
    if w.startswith(_AN_BEFORE_H):
        return "an"
    if w.startswith(_A_BEFORE_VOWEL):
        return "a"
    return "an" if w[:1] in "aeiou" else "a"


def with_article(phrase: str) -> str:
    return f"{article(phrase)} {phrase}"


_IRREGULAR_PAST = dict(
    x.split(":")
    for x in words(
        "be:was, bite:bit, blow:blew, break:broke, bring:brought, build:built, buy:bought,"
        "catch:caught, come:came, dig:dug, do:did, draw:drew, drink:drank, eat:ate, fall:fell,"
        "feed:fed, find:found, fly:flew, get:got, give:gave, go:went, grow:grew, hang:hung,"
        "have:had, hear:heard, hide:hid, hold:held, keep:kept, know:knew, leave:left, lose:lost,"
        "make:made, meet:met, put:put, read:read, ride:rode, ring:rang, run:ran, say:said, see:saw,"
        "sing:sang, sit:sat, sleep:slept, slide:slid, spin:spun, stick:stuck, sweep:swept,"
        "swim:swam, swing:swung, string:strung, take:took, teach:taught, tell:told, think:thought, throw:threw,"
        "wake:woke, wear:wore, win:won, write:wrote, shake:shook, sink:sank, light:lit, cut:cut,"
        "hit:hit, let:let, feel:felt, sell:sold, stand:stood, understand:understood, bake:baked"
    )
)


# Short verbs that double their last consonant before -ed / -ing.
_DOUBLE = set(
    words(
        "hop, skip, stop, clap, drop, hug, jog, nap, pat, plan, shop, step, tap, trip, wag, chop,"
        "grab, hum, mop, pop, rub, scrub, spot, tip, zip, dip, drum, flip, pet, plug, rip, sip,"
        "slip, snap, trot, tug, wrap, run, swim, sit, dig, get, put, cut, spin, win, begin, hit,"
        "let, shut, bat, knit, pin, stir, skid, swap"
    )
)


def _ing(verb: str) -> str:
    if verb in _DOUBLE:
        return verb + verb[-1] + "ing"
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")) and verb != "be":
        return verb[:-1] + "ing"
    return verb + "ing"


def _past(verb: str) -> str:
    if verb in _IRREGULAR_PAST:
        return _IRREGULAR_PAST[verb]
    if verb in _DOUBLE:
        return verb + verb[-1] + "ed"
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2:-1] not in tuple("aeiou"):
        return verb[:-1] + "ied"
    return verb + "ed"


def past_tense(phrase: str) -> str:
    """Past tense of a verb phrase: 'build a fort' -> 'built a fort'."""
    head, _, rest = phrase.partition(" ")
    return f"{_past(head)} {rest}".rstrip()


def ing_form(phrase: str) -> str:
    """Present participle of a verb phrase: 'swim in the lake' -> 'swimming in the lake'."""
    head, _, rest = phrase.partition(" ")
    return f"{_ing(head)} {rest}".rstrip()


_IRREGULAR_PLURAL = dict(
    x.split(":")
    for x in words(
        "mouse:mice, sheep:sheep, goose:geese, fish:fish, deer:deer, moose:moose, wolf:wolves,"
        "starfish:starfish, child:children, leaf:leaves, calf:calves, shelf:shelves, loaf:loaves,"
        "jellyfish:jellyfish, shrimp:shrimp, person:people"
    )
)


def plural(noun: str) -> str:
    """Plural of a noun or of the last word of a noun phrase."""
    head, _, last = noun.rpartition(" ")
    pre = head + " " if head else ""
    if last in _IRREGULAR_PLURAL:
        return pre + _IRREGULAR_PLURAL[last]
    if last.endswith("y") and last[-2:-1] not in tuple("aeiou"):
        return pre + last[:-1] + "ies"
    if last.endswith(("s", "x", "z", "ch", "sh")):
        return pre + last + "es"
    return pre + last + "s"


_CAP_RE = re.compile(r'(^"?|[.!?] "?|\s")([a-z])')


def capitalize_sentences(text: str) -> str:
    """Upper-case the first letter of the text, of each sentence, and of each opened quote."""
    return _CAP_RE.sub(lambda m: m.group(1) + m.group(2).upper(), text)


def count_words(text: str) -> int:
    return len(text.split())


# subject, object, possessive and reflexive pronoun of a character
PRONOUNS = {"he": ("he", "him", "his", "himself"), "she": ("she", "her", "her", "herself")}
