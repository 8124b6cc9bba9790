"""Text statistics for comparing decoding settings: length, distinct-n, repetition, self-BLEU, TTR.

Texts are split into lower-cased words and punctuation marks by `words`; every function also takes
pre-split token lists (any hashable items, e.g. token ids), so the same measures work on model tokens.

    distinct_n(texts, n)         unique n-grams / all n-grams, pooled over the texts (Li et al., 2016)
    repeated_ngram_rate(t, n)    share of a text's n-grams that already occurred earlier in it
    type_token_ratio(t)          unique words / words
    self_bleu(texts)             mean BLEU of each text against all the others (Zhu et al., 2018);
                                 sentence BLEU with sacrebleu's rules: clipped counts against all
                                 references, closest reference length, "exp" smoothing, effective order
"""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Hashable, Iterable, Sequence

_WORD = re.compile(r"\w+(?:'\w+)*|[^\w\s]")

Tokens = Sequence[Hashable]


def words(text: str) -> list[str]:
    """Lower-cased words (with inner apostrophes) and single punctuation marks."""
    return _WORD.findall(text.lower())


def _toks(x: str | Tokens) -> Tokens:
    return words(x) if isinstance(x, str) else x


def ngrams(tokens: Tokens, n: int) -> list[tuple]:
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Iterable[str | Tokens], n: int) -> float:
    """Distinct n-grams / total n-grams over all texts (0.0 when there are no n-grams)."""
    total, unique = 0, set()
    for t in texts:
        grams = ngrams(_toks(t), n)
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else 0.0


def repeated_ngram_rate(text: str | Tokens, n: int = 4) -> float:
    """Fraction of the n-grams of one text that repeat an earlier n-gram of the same text."""
    grams = ngrams(_toks(text), n)
    if not grams:
        return 0.0
    seen: set[tuple] = set()
    repeats = 0
    for g in grams:
        if g in seen:
            repeats += 1
        seen.add(g)
    return repeats / len(grams)


def type_token_ratio(text: str | Tokens) -> float:
    toks = _toks(text)
    return len(set(toks)) / len(toks) if toks else 0.0


def sentence_bleu(hypothesis: str | Tokens, references: Sequence[str | Tokens], max_n: int = 4) -> float:
    """BLEU in [0, 1] of one hypothesis against several references (sacrebleu's sentence_bleu rules)."""
    hyp = list(_toks(hypothesis))
    refs = [list(_toks(r)) for r in references]
    if not refs:
        raise ValueError("sentence_bleu needs at least one reference")
    correct, total = [], []
    for n in range(1, max_n + 1):
        h = Counter(ngrams(hyp, n)) if len(hyp) >= n else Counter()
        best: Counter = Counter()
        for r in refs:
            for g, c in Counter(ngrams(r, n)).items():
                if c > best[g]:
                    best[g] = c
        correct.append(sum(min(c, best[g]) for g, c in h.items()))
        total.append(max(len(hyp) - n + 1, 0))
    if not any(correct):
        return 0.0
    ref_len = min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1]
    bp = 1.0 if len(hyp) >= ref_len else (math.exp(1 - ref_len / len(hyp)) if hyp else 0.0)
    logs, order, halvings = [], 0, 1.0
    for n in range(max_n):
        if total[n] == 0:
            break
        order = n + 1
        if correct[n] == 0:
            halvings *= 2
            logs.append(math.log(1.0 / (halvings * total[n])))
        else:
            logs.append(math.log(correct[n] / total[n]))
    return bp * math.exp(sum(logs) / order)


def self_bleu(texts: Sequence[str | Tokens], max_n: int = 4) -> float:
    """Mean BLEU of each text against all the others; nan with fewer than two texts."""
    toks = [list(_toks(t)) for t in texts]
    if len(toks) < 2:
        return float("nan")
    scores = [sentence_bleu(toks[i], toks[:i] + toks[i + 1:], max_n) for i in range(len(toks))]
    return sum(scores) / len(scores)
