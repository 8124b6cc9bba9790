"""SQuAD exact match / F1 against the official v1.1 rules worked by hand, ROUGE and BLEU against direct
calls of rouge-score and sacrebleu, and the one-line errors."""
import math

import numpy as np

import pytest

from babyllama.eval.metrics import (corpus_bleu, corpus_bleu_ci, mean_ci, normalize_answer, rouge_scores, sample_subset,
                                    split_sentences, squad_scores)
from babyllama.utils.io import BabyLlamaError
from babyllama.utils.stats import bootstrap_ci, bootstrap_ci_of

# (prediction, gold answers, EM, F1), each worked out by hand with the official script's rules:
# lower case -> drop string.punctuation -> drop the words a/an/the -> split on white space;
# EM: the normalised strings are equal; F1: 2PR/(P+R) over the multiset of shared tokens; best gold wins.
CASES = [
    ("Denver Broncos", ["Denver Broncos", "Broncos"], 1, 1.0),
    ("the Denver Broncos!", ["Denver Broncos"], 1, 1.0),                     # article and punctuation go
    ("DENVER   broncos", ["Denver Broncos"], 1, 1.0),                        # case and white space
    ("An apple a day", ["apple day"], 1, 1.0),                              # "an", "a" are articles
    ("Theater", ["the ater"], 0, 0.0),                                      # "Theater" is not "the" + "ater"
    ("Santa Clara, California", ["Levi's Stadium", "Santa Clara"], 0, 0.8),   # P=2/3, R=1 against the 2nd
    ("big red dog", ["the red dog barked"], 0, 2 / 3),                       # P=2/3, R=2/3
    ("red red dog", ["red dog dog"], 0, 2 / 3),                              # shared multiset {red, dog}: P=R=2/3
    ("the", ["The"], 1, 0.0),                                                # both empty: EM 1, F1 0 (official)
    ("it's 1,000", ["its 1000"], 1, 1.0),                                   # punctuation inside words goes
    ("co-operation – talks", ["cooperation talks"], 0, 0.8),  # the en dash is not ASCII punctuation: 3 tokens
    ("Luther", ["Martin Luther", "Luther's"], 0, 2 / 3),                     # "luthers" != "luther"; best is 2/3
]


def test_squad_em_f1_follow_the_official_rules():
    got = squad_scores([c[0] for c in CASES], [c[1] for c in CASES])
    for (pred, golds, em, f1), e, f in zip(CASES, got["em"], got["f1"]):
        assert e == 100.0 * em, (pred, golds)
        assert f == pytest.approx(100.0 * f1), (pred, golds)
    # the official script's totals are the means of these, in percent
    assert sum(got["em"]) / len(CASES) == pytest.approx(100.0 * sum(c[2] for c in CASES) / len(CASES))
    assert normalize_answer("  The Quick, brown fox.  ") == "quick brown fox"


def test_squad_errors_name_the_problem():
    with pytest.raises(BabyLlamaError, match=r"^squad: 2 predictions but 1 references"):
        squad_scores(["a", "b"], [["a"]])
    with pytest.raises(BabyLlamaError, match="example 0 needs a non-empty list"):
        squad_scores(["a"], [[]])


def test_rouge_equals_rouge_score_called_directly():
    from rouge_score import rouge_scorer

    preds = ["The cat sat on the mat. It was happy!", "Stocks fell sharply on Monday", "a"]
    refs = ["A cat was sitting on the mat.\nThe cat was happy.", "Stocks rose on Monday.\nTraders cheered.", "b c"]
    got = rouge_scores(preds, refs)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    # rougeLsum reads one sentence a line: the predictions' sentences are put on lines, as written here
    lined = ["The cat sat on the mat.\nIt was happy!", "Stocks fell sharply on Monday", "a"]
    for i, (p, r) in enumerate(zip(lined, refs)):
        want = scorer.score(r, p)
        for t in got:
            assert got[t][i] == pytest.approx(100 * want[t].fmeasure)
    assert got["rouge1"][2] == 0.0 and got["rouge1"][0] > got["rouge2"][0] > 0


def test_bleu_equals_sacrebleu_corpus_bleu():
    import sacrebleu

    preds = ["the cat sat on the mat", "there is a dog in the garden today", "hello world"]
    refs = ["the cat is on the mat", "a dog is in the garden", "hello there world"]
    want = sacrebleu.corpus_bleu(preds, [refs]).score
    assert corpus_bleu(preds, refs) == pytest.approx(want) and 0 < want < 100
    assert corpus_bleu(refs, refs) == pytest.approx(100.0)
    with pytest.raises(BabyLlamaError, match=r"^bleu: 3 predictions but 2 references; give one prediction per"):
        corpus_bleu(preds, refs[:2])
    with pytest.raises(BabyLlamaError, match=r"^rouge: 1 predictions but 2 references"):
        rouge_scores(preds[:1], refs[:2])


def test_sentences_and_mean_ci():
    assert split_sentences("He left. She stayed!\nWhy? Because \"it rained.\" Then") == [
        "He left.", "She stayed!", "Why?", "Because \"it rained.\"", "Then"]
    assert split_sentences("Dr.Smith 3.5 units") == ["Dr.Smith 3.5 units"]  # no space after the dot: one sentence
    values = [0.0, 100.0, 100.0, 0.0, 100.0]
    m = mean_ci(values)
    assert m["mean"] == 60.0 and m["n"] == 5 and (m["ci95_low"], m["ci95_high"]) == bootstrap_ci(values)
    assert not math.isnan(m["ci95_low"])


def test_subsets_are_seeded_and_keep_order():
    items = list(range(100))
    a, b = sample_subset(items, 10, seed=1), sample_subset(items, 10, seed=1)
    assert a == b == sorted(a) and len(set(a)) == 10 and a != sample_subset(items, 10, seed=2)
    assert max(a) > 10  # not simply the first ten (files sorted by label would give one label only)
    assert sample_subset(items, None) == items and sample_subset(items, 500) == items


def test_bleu_ci_resamples_sacrebleu():
    import sacrebleu

    preds = ["the cat sat on the mat", "a dog in the garden", "hello world", "it rained all day", "stocks fell"]
    refs = ["the cat is on the mat", "a dog is in the garden", "hello there world", "it rained", "stocks rose"]
    got = corpus_bleu_ci(preds, refs, n_boot=200)
    rng = np.random.default_rng(0)  # independent: sacrebleu on 200 resamples of the five pairs
    resampled = []
    for _ in range(200):
        idx = rng.integers(0, 5, size=5)
        resampled.append(sacrebleu.corpus_bleu([preds[i] for i in idx], [[refs[i] for i in idx]]).score)
    assert (got["ci95_low"], got["ci95_high"]) == pytest.approx(tuple(np.quantile(resampled, [0.025, 0.975])))
    assert got["mean"] == pytest.approx(sacrebleu.corpus_bleu(preds, [refs]).score) and got["n"] == 5
    assert got["ci95_low"] <= got["mean"] <= got["ci95_high"]
    values = np.random.default_rng(5).random(37)  # for a mean it is the ordinary bootstrap CI
    assert bootstrap_ci_of(lambda i: values[i].mean(), 37, n_boot=300) == bootstrap_ci(values, n_boot=300)
