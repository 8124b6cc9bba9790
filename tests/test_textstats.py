"""Text statistics against hand-counted examples and sacrebleu; the decoding study end to end."""
import argparse
import csv
import json
import math
import random

import pytest
import torch

from babyllama.eval.textstats import (distinct_n, ngrams, repeated_ngram_rate, self_bleu, sentence_bleu,
                                      type_token_ratio, words)


def test_words_split_punctuation_and_keep_contractions():
    assert words("Tim didn't run, he WALKED!") == ["tim", "didn't", "run", ",", "he", "walked", "!"]


def test_distinct_n_counts_pooled_ngrams():
    texts = [["a", "b", "a", "b"], ["a", "b", "c"]]
    # unigrams: a b a b a b c -> 3 unique / 7; bigrams: ab ba ab ab bc -> 3 unique / 5
    assert distinct_n(texts, 1) == pytest.approx(3 / 7)
    assert distinct_n(texts, 2) == pytest.approx(3 / 5)
    assert distinct_n([["a"]], 2) == 0.0


def test_repeated_ngram_rate_and_ttr():
    toks = [1, 2, 3, 1, 2, 3, 1]  # trigrams 123 231 312 123 231: the last two repeat
    assert repeated_ngram_rate(toks, 3) == pytest.approx(2 / 5)
    assert repeated_ngram_rate([1, 2, 3, 4], 2) == 0.0
    assert repeated_ngram_rate([1], 4) == 0.0
    assert type_token_ratio("the cat and the dog") == pytest.approx(4 / 5)
    with pytest.raises(ValueError):
        ngrams([1, 2], 0)


def test_sentence_bleu_matches_sacrebleu():
    sacrebleu = pytest.importorskip("sacrebleu")
    rng = random.Random(0)
    vocab = "a b c d e f the cat sat".split()
    for _ in range(200):
        hyp = [rng.choice(vocab) for _ in range(rng.randint(0, 14))]
        refs = [[rng.choice(vocab) for _ in range(rng.randint(1, 14))] for _ in range(rng.randint(1, 4))]
        ref = sacrebleu.sentence_bleu(" ".join(hyp), [" ".join(r) for r in refs], tokenize="none").score / 100
        assert sentence_bleu(hyp, refs) == pytest.approx(ref, abs=1e-9)


def test_self_bleu_extremes():
    same = ["the cat sat on the mat"] * 3
    assert self_bleu(same) == pytest.approx(1.0)
    assert self_bleu(["a b c d", "e f g h"]) == 0.0
    assert math.isnan(self_bleu(["only one"]))


# ---- decoding study ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from babyllama.checkpoint import save_model
    from babyllama.model import Llama, LlamaConfig
    from babyllama.tokenizers import train_tokenizer

    docs = ["Once upon a time there was a little dog named Spot. He liked to run in the park."] * 40 + \
           ["Tim and Lily were playing with a big red ball. Lily was happy."] * 40
    d = tmp_path_factory.mktemp("study")
    tok = train_tokenizer(docs, 320)
    torch.manual_seed(0)
    model = Llama(LlamaConfig(dim=32, n_layers=2, n_heads=4, vocab_size=tok.vocab_size, max_seq_len=128,
                              multiple_of=8))
    save_model(model, d / "model", tok)
    return d / "model"


def test_decode_study_writes_consistent_tables_and_plots(model_dir, tmp_path):
    from babyllama.cli import decode_study as ds
    from babyllama.eval.decode_study import BUILTIN_PROMPTS

    p = argparse.ArgumentParser()
    ds.add_arguments(p)
    out = tmp_path / "study"
    args = p.parse_args([str(model_dir), "--out", str(out), "--setting", "greedy", "--setting", "beam-4",
                         "--setting", "hot:temperature=1.5,top_k=20", "--samples", "3", "--max-new-tokens", "12",
                         "--quiet"])
    assert ds.run(args) == 0
    for name in ("table.md", "table.csv", "results.json", "samples.md", "samples.jsonl", "stats.png",
                 "diversity_vs_quality.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "stats.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(open(out / "table.csv")))
    assert [r["setting"] for r in rows] == ["greedy", "beam-4", "hot"]
    samples = [json.loads(line) for line in open(out / "samples.jsonl")]
    n_prompts = len(BUILTIN_PROMPTS)
    assert sum(s["setting"] == "hot" for s in samples) == 3 * n_prompts
    assert sum(s["setting"] == "greedy" for s in samples) == n_prompts
    for r in rows:  # the table agrees with statistics recomputed from the samples
        mine = [s for s in samples if s["setting"] == r["setting"]]
        firsts = [s["text"] for s in mine if s["sample_index"] == 0]
        assert float(r["distinct_2"]) == pytest.approx(distinct_n(firsts, 2))
        assert float(r["tokens"]) == pytest.approx(sum(s["tokens"] for s in mine) / len(mine))
        assert float(r["repeat_4gram"]) == pytest.approx(sum(repeated_ngram_rate(s["text"], 4) for s in mine)
                                                         / len(mine))
    assert rows[0]["self_bleu_within"] == "" and float(rows[2]["self_bleu_within"]) >= 0
    assert "| greedy |" in (out / "table.md").read_text()


def test_decode_study_bad_settings():
    from babyllama.decode import SettingError
    from babyllama.eval.decode_study import parse_setting

    assert parse_setting("top-p-0.9").overrides == {"temperature": 1.0, "top_p": 0.9}
    assert parse_setting("x:temperature=0.5,stop=a|b").overrides == {"temperature": 0.5, "stop": ("a", "b")}
    with pytest.raises(SettingError, match="unknown built-in"):
        parse_setting("nope")
    with pytest.raises(SettingError, match="key=value"):
        parse_setting("x:temprature=1")
    with pytest.raises(SettingError, match="not a valid value"):
        parse_setting("x:top_k=abc")
