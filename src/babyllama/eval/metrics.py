"""Scores of generated text against references, in percent (0-100) per example.

    squad_scores(["the Denver Broncos"], [["Denver Broncos", "Broncos"]])   # {"em": [100.0], "f1": [100.0]}
    rouge_scores(summaries, highlights)    # {"rouge1": [...], "rouge2": [...], "rougeL": [...], "rougeLsum": [...]}
    corpus_bleu(summaries, highlights)     # sacrebleu's corpus BLEU (corpus_bleu_ci: with a bootstrap CI)

SQuAD exact match and F1 follow the official v1.1 evaluation script's rules: lower-case, drop
punctuation, drop the articles a/an/the, squeeze white space, then compare (EM) or count shared
tokens (F1), taking the best over the gold answers. ROUGE is Google's `rouge-score` (F-measure,
Porter stemming; rougeLsum over newline-separated sentences), BLEU is `sacrebleu`'s corpus BLEU.
"""
from __future__ import annotations

import random
import re
import string
from collections import Counter
from typing import Any, Sequence, TypeVar

import numpy as np

from babyllama.utils.io import BabyLlamaError
from babyllama.utils.optional import require
from babyllama.utils.stats import bootstrap_ci, bootstrap_ci_of

T = TypeVar("T")
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"')\]])\s+")


def mean_ci(values: Sequence[float], n_boot: int = 2000) -> dict[str, Any]:
    """{"mean", "ci95_low", "ci95_high", "n"} of per-example scores (percentile bootstrap CI)."""
    lo, hi = bootstrap_ci(values, n_boot=n_boot)
    return {"mean": float(np.mean(values)), "ci95_low": lo, "ci95_high": hi, "n": len(values)}


def sample_subset(items: Sequence[T], n: int | None, seed: int = 0) -> list[T]:
    """`n` of the items drawn at random with `seed`, kept in their order (all of them when n is None
    or n >= len): files sorted by label or subject still give a fair subset."""
    if n is None or n >= len(items):
        return list(items)
    keep = sorted(random.Random(seed).sample(range(len(items)), n))
    return [items[i] for i in keep]


def check_lengths(predictions: Sequence, references: Sequence, where: str = "scores") -> None:
    if len(predictions) != len(references):
        raise BabyLlamaError(f"{where}: {len(predictions)} predictions but {len(references)} references; "
                             f"give one prediction per reference")


def normalize_answer(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    shared = sum((Counter(pred) & Counter(ref)).values())
    if shared == 0:
        return 0.0
    precision, recall = shared / len(pred), shared / len(ref)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, list[float]]:
    """Per-example exact match and F1 (percent), each the best over that example's gold answers."""
    check_lengths(predictions, references, "squad")
    em, f1 = [], []
    for i, (pred, golds) in enumerate(zip(predictions, references)):
        if isinstance(golds, str) or not golds:
            raise BabyLlamaError(f"squad: example {i} needs a non-empty list of gold answers")
        em.append(100.0 * max(float(normalize_answer(pred) == normalize_answer(g)) for g in golds))
        f1.append(100.0 * max(_f1(pred, g) for g in golds))
    return {"em": em, "f1": f1}


def split_sentences(text: str) -> list[str]:
    """Sentences of a text: its lines, each cut after . ! or ? (and a closing quote or bracket)
    followed by white space."""
    return [s.strip() for line in text.splitlines() for s in _SENTENCE_END.split(line) if s.strip()]


def rouge_scores(predictions: Sequence[str], references: Sequence[str],
                 types: Sequence[str] = ROUGE_TYPES) -> dict[str, list[float]]:
    """Per-example ROUGE F-measures (percent) with rouge-score; rougeLsum sees one sentence a line."""
    check_lengths(predictions, references, "rouge")
    require("rouge_score", "for ROUGE")
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(types), use_stemmer=True)
    out: dict[str, list[float]] = {t: [] for t in types}
    for pred, ref in zip(predictions, references):
        scores = scorer.score("\n".join(split_sentences(ref)), "\n".join(split_sentences(pred)))
        for t in types:
            out[t].append(100.0 * scores[t].fmeasure)
    return out


def corpus_bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu's corpus BLEU (0-100) with one reference per prediction."""
    check_lengths(predictions, references, "bleu")
    sacrebleu = require("sacrebleu", "for BLEU")
    return float(sacrebleu.corpus_bleu(list(predictions), [list(references)]).score)


def corpus_bleu_ci(predictions: Sequence[str], references: Sequence[str], n_boot: int = 200) -> dict[str, Any]:
    """Corpus BLEU with a bootstrap 95% CI over examples (BLEU recomputed on each resample)."""
    check_lengths(predictions, references, "bleu")
    lo, hi = bootstrap_ci_of(lambda idx: corpus_bleu([predictions[i] for i in idx], [references[i] for i in idx]),
                             len(predictions), n_boot=n_boot)
    return {"mean": corpus_bleu(predictions, references), "ci95_low": lo, "ci95_high": hi, "n": len(predictions)}
