"""Classification: data readers, zero-shot label scoring, classifier head, finetuning, statistics, CLI."""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from babyllama.classify import data as cdata
from babyllama.classify import stats
from babyllama.classify.finetune import ClassificationObjective, FinetuneConfig, finetune, compute_features
from babyllama.classify.head import Classifier, last_real_index
from babyllama.classify.prompting import (DEFAULT_TEMPLATE, build_context, join_label_names, label_token_ids,
                                         score_labels)
from babyllama.model import Llama, LlamaConfig
from babyllama.utils.io import BabyLlamaError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


class CharTokenizer:
    """A byte-level stand-in for SentencePiece: 0 unk, 1 BOS, 2 EOS, bytes at 3 + b."""

    vocab_size, bos_id, eos_id, pad_id = 259, 1, 2, 2

    def encode(self, text: str, bos: bool = True, eos: bool = False) -> list[int]:
        ids = [3 + b for b in (" " + text).encode()]  # leading space like a dummy prefix
        return ([1] if bos else []) + ids + ([2] if eos else [])

    def decode(self, ids) -> str:
        return bytes(i - 3 for i in ids if i >= 3).decode(errors="replace").lstrip(" ")


def tiny_model(seed: int = 0, vocab: int = 259, max_seq_len: int = 128) -> Llama:
    torch.manual_seed(seed)
    cfg = LlamaConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=vocab, max_seq_len=max_seq_len)
    model = Llama(cfg)
    with torch.no_grad():  # larger weights so different inputs give clearly different scores
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(10)
    return model.eval()


TEXTS = ["a fine film", "dull", "the plot is thin but the acting is warm and true", "bad", "wow !"]
NAMES = ["bad", "so-so", "good"]  # labels of 4, 6 and 5 tokens with the char tokenizer


# ---------------------------------------------------------------- data

def test_read_label_file_and_names(tmp_path):
    f = tmp_path / "d.txt"
    f.write_text("3 ||| It 's good .\n\n0 ||| a ||| b\n", encoding="utf-8")
    ex = cdata.read_label_file(f)
    assert [(e.label, e.text, e.line) for e in ex] == [(3, "It 's good .", 1), (0, "a ||| b", 3)]
    (tmp_path / "n.json").write_text('["bad", "good"]')
    assert cdata.read_label_names(tmp_path / "n.json") == ["bad", "good"]


@pytest.mark.parametrize("content, fragment", [
    ("1 ||| ok\nno separator here\n", "d.txt:2: no '|||'"),
    ("x ||| ok\n", "d.txt:1: label 'x'"),
    ("", "empty"),
    ("1 |||   \n", "d.txt:1: empty sentence"),
])
def test_read_label_file_errors(tmp_path, content, fragment):
    f = tmp_path / "d.txt"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(BabyLlamaError, match=fragment.replace("|", r"\|")):
        cdata.read_label_file(f)


def test_label_names_errors_and_range(tmp_path):
    f = tmp_path / "n.json"
    f.write_text('{"0": "bad"}')
    with pytest.raises(BabyLlamaError, match="JSON list"):
        cdata.read_label_names(f)
    d = tmp_path / "d.txt"
    d.write_text("0 ||| a\n7 ||| b\n")
    with pytest.raises(BabyLlamaError, match=r"d.txt:2: label 7 is outside the 2 label names"):
        cdata.check_labels(cdata.read_label_file(d), 2, d)


def test_read_table_jsonl_and_csv(tmp_path):
    j = tmp_path / "a.jsonl"
    j.write_text('{"review": "great", "stars": "good"}\n{"review": "awful", "stars": "bad"}\n')
    ex, names = cdata.read_table(j, "review", "stars")
    assert names == ["bad", "good"] and [(e.text, e.label) for e in ex] == [("great", 1), ("awful", 0)]
    ex, _ = cdata.read_table(j, "review", "stars", label_names=["good", "bad"])
    assert [e.label for e in ex] == [0, 1]
    c = tmp_path / "a.csv"
    c.write_text('sentence,label\n"fine, really",1\nmeh,0\n')
    ex, names = cdata.read_table(c, "sentence", "label")
    assert names is None and [(e.text, e.label, e.line) for e in ex] == [("fine, really", 1, 2), ("meh", 0, 3)]
    with pytest.raises(BabyLlamaError, match="no column 'text'"):
        cdata.read_table(c)
    j.write_text('{"text": "x"}\n')
    with pytest.raises(BabyLlamaError, match="a.jsonl:1: no field 'label'"):
        cdata.read_table(j)


def test_left_pad():
    ids, mask = cdata.left_pad([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]


# ---------------------------------------------------------------- prompting

def reference_scores(model, tok, texts, names, normalize="sum", template=DEFAULT_TEMPLATE):
    """log p(label | prompt), one unpadded full forward per (text, label), no cache."""
    out = torch.zeros(len(texts), len(names))
    labels = label_token_ids(tok, names)
    for i, t in enumerate(texts):
        ctx = build_context(tok, t, names, template)
        for k, lab in enumerate(labels):
            ids = torch.tensor([ctx + lab])
            logp = F.log_softmax(model(ids).logits[0].double(), -1)
            s = sum(logp[len(ctx) - 1 + j, tok_id].item() for j, tok_id in enumerate(lab))
            out[i, k] = s / len(lab) if normalize == "mean" else s
    return out


def test_minllama_template_wording():
    assert join_label_names(["bad", "good"]) == "bad or good"
    assert join_label_names(["awful", "bad", "average", "good", "excellent"]) == \
        "awful, bad, average, good, or excellent"
    tok = CharTokenizer()
    assert tok.decode(build_context(tok, "Nice .", ["bad", "good"])) == \
        "Nice . Is this movie bad or good? This movie is"


@pytest.mark.parametrize("normalize", ["sum", "mean"])
def test_prompting_picks_highest_scored_label(normalize):
    model, tok = tiny_model(), CharTokenizer()
    ref = reference_scores(model, tok, TEXTS, NAMES, normalize)
    got = score_labels(model, tok, TEXTS, NAMES, normalize=normalize, batch_size=3)
    torch.testing.assert_close(got, ref.float(), atol=2e-4, rtol=1e-4)
    assert got.argmax(-1).tolist() == ref.argmax(-1).tolist()


def test_prompting_predictions_follow_the_scores():
    model, tok = tiny_model(), CharTokenizer()
    names = ["bad", "meh", "top", "wow"]  # equal lengths: no label wins by being short
    # a bare template, so the label follows the text directly and the text decides
    ref = reference_scores(model, tok, TEXTS, names, template="{text}")
    got = score_labels(model, tok, TEXTS, names, template="{text}", batch_size=2)
    assert got.argmax(-1).tolist() == ref.argmax(-1).tolist()
    assert len(set(ref.argmax(-1).tolist())) > 1, "the test model should not prefer one label for every text"


def test_prompting_padding_does_not_change_predictions():
    model, tok = tiny_model(1), CharTokenizer()
    alone = torch.cat([score_labels(model, tok, [t], NAMES, batch_size=1) for t in TEXTS])
    batched = score_labels(model, tok, TEXTS, NAMES, batch_size=len(TEXTS))
    torch.testing.assert_close(batched, alone, atol=1e-4, rtol=1e-4)
    assert batched.argmax(-1).tolist() == alone.argmax(-1).tolist()


def test_prompting_cuts_the_sentence_not_the_template():
    model, tok = tiny_model(max_seq_len=64), CharTokenizer()
    long = "word " * 100
    ctx = build_context(tok, long, NAMES, limit=64 - 6)
    assert len(ctx) <= 58 and tok.decode(ctx).endswith("Is this movie bad, so-so, or good? This movie is")
    assert score_labels(model, tok, [long], NAMES).shape == (1, 3)
    ctx = build_context(tok, long, NAMES, max_text_tokens=5)  # " word"
    assert tok.decode(ctx) == "word Is this movie bad, so-so, or good? This movie is"


# ---------------------------------------------------------------- head

def test_last_real_index():
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 0], [1, 0, 0, 0]])
    assert last_real_index(mask).tolist() == [3, 2, 0]


def test_classifier_reads_last_real_token_whatever_the_padding():
    model = tiny_model(2)
    torch.manual_seed(0)
    clf = Classifier(model, 3, dropout=0.5).eval()
    seqs = [[1, 40, 50, 60, 70], [1, 41], [1, 42, 43]]
    # reference: each sequence alone, no padding, hidden state of its final token
    ref = torch.stack([clf.head(model(torch.tensor([s])).hidden[0, -1]) for s in seqs])
    left_ids, left_mask = cdata.left_pad(seqs, pad_id=2)
    right_ids = torch.full_like(left_ids, 7)
    right_mask = torch.zeros_like(left_mask)
    for i, s in enumerate(seqs):
        right_ids[i, :len(s)] = torch.tensor(s)
        right_mask[i, :len(s)] = 1
    extra_ids = torch.cat([torch.full((3, 4), 9), left_ids], 1)  # more padding, another pad id
    extra_mask = torch.cat([torch.zeros(3, 4, dtype=torch.long), left_mask], 1)
    with torch.no_grad():
        for ids, mask in ((left_ids, left_mask), (right_ids, right_mask), (extra_ids, extra_mask)):
            torch.testing.assert_close(clf(ids, mask), ref, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(clf(features=clf.features(left_ids, left_mask)), ref, atol=1e-4, rtol=1e-4)


def tiny_splits(n_train=24, n_dev=8):
    rng = np.random.default_rng(0)
    words = {0: ["bad", "dull", "awful"], 1: ["good", "fine", "great"]}

    def make(n):
        out = []
        for i in range(n):
            y = int(rng.integers(0, 2))
            out.append(cdata.Example(" ".join(rng.choice(words[y], size=3)), y, i + 1))
        return out
    return {"train": make(n_train), "dev": make(n_dev), "test": make(n_dev)}


def test_head_only_training_leaves_backbone_untouched():
    model, tok = tiny_model(3), CharTokenizer()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = FinetuneConfig(mode="head", epochs=3, batch_size=4, lr=1e-2)
    res = finetune(model, tok, tiny_splits(), 2, cfg, seed=5, log=None, keep_model=True)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f"backbone weight {k} changed"
    assert all(not p.requires_grad for p in model.parameters())
    torch.manual_seed(5)
    fresh_head = torch.nn.Linear(model.config.dim, 2)  # the head's init under the same seed
    assert not torch.equal(res.classifier.head.weight.detach(), fresh_head.weight), "the head did not train"
    assert 0 <= res.best_epoch < 3 and len(res.history) == 3
    assert res.dev_acc == max(h["dev_acc"] for h in res.history)
    assert set(res.predictions) == {"train", "dev", "test"} and len(res.predictions["test"]) == 8


def test_full_finetuning_trains_a_copy_and_learns():
    model, tok = tiny_model(4), CharTokenizer()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    splits = tiny_splits(40, 16)
    cfg = FinetuneConfig(mode="full", epochs=4, batch_size=8, lr=3e-3, dropout=0.0)
    res = finetune(model, tok, splits, 2, cfg, seed=1, log=None, keep_model=True)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items()), "caller's model changed"
    changed = [k for k, v in res.classifier.backbone.state_dict().items() if not torch.equal(v, before[k])]
    assert changed, "full finetuning did not update the backbone"
    train_acc = stats.accuracy(res.predictions["train"], [e.label for e in splits["train"]])
    assert train_acc >= 0.8  # the words are a perfect cue; a working loop fits them


def test_head_features_match_token_path():
    model, tok = tiny_model(5), CharTokenizer()
    clf = Classifier(model, 2, dropout=0.0).eval()
    seqs = [tok.encode(t) for t in TEXTS]
    feats = compute_features(clf, seqs, tok.pad_id, batch_size=2)
    for i, s in enumerate(seqs):
        torch.testing.assert_close(feats[i], model(torch.tensor([s])).hidden[0, -1], atol=1e-4, rtol=1e-4)


def test_objective_is_cross_entropy():
    torch.manual_seed(0)
    head = torch.nn.Linear(4, 3)
    model = lambda ids, mask, features=None: head(features)  # noqa: E731
    feats, labels = torch.randn(5, 4), torch.tensor([0, 2, 1, 1, 0])
    loss, metrics = ClassificationObjective().loss(model, {"features": feats, "labels": labels})
    logits = head(feats)
    manual = -(logits - logits.exp().sum(-1, keepdim=True).log())[torch.arange(5), labels].mean()
    torch.testing.assert_close(loss, manual)
    assert metrics["acc"] == pytest.approx((logits.argmax(-1) == labels).float().mean().item())


# ---------------------------------------------------------------- stats

def test_stats():
    vals = [0.41, 0.43, 0.40, 0.45]
    m, s = stats.mean_std(vals)
    assert m == pytest.approx(statistics.mean(vals)) and s == pytest.approx(statistics.stdev(vals))
    assert stats.mean_std([0.5]) == (0.5, 0.0)
    rng = np.random.default_rng(0)
    small = (rng.random(50) < 0.7).astype(int)
    big = (rng.random(5000) < 0.7).astype(int)
    lo_s, hi_s = stats.bootstrap_ci(small)
    lo_b, hi_b = stats.bootstrap_ci(big)
    assert lo_s <= small.mean() <= hi_s and lo_b <= big.mean() <= hi_b
    assert hi_b - lo_b < hi_s - lo_s
    # normal approximation of the binomial CI for the big sample
    se = np.sqrt(big.mean() * (1 - big.mean()) / len(big))
    assert hi_b - lo_b == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert stats.bootstrap_ci(np.ones((3, 10))) == (1.0, 1.0)
    assert stats.majority_baseline([1, 1, 0, 2, 2], [2, 2, 0]) == (1, 0.0)
    assert stats.majority_baseline([0, 2, 2], [2, 2, 0]) == (2, pytest.approx(2 / 3))
    assert stats.chance_accuracy(5) == 0.2


# ---------------------------------------------------------------- CLI on a tiny model folder

def write_tiny_task(folder: Path) -> None:
    folder.mkdir()
    splits = tiny_splits(16, 6)
    for s, ex in splits.items():
        (folder / f"toy-{s}.txt").write_text("".join(f"{e.label} ||| {e.text}\n" for e in ex))
    (folder / "toy-label-mapping.json").write_text(json.dumps(["bad", "good"]))


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from babyllama.checkpoint import save_model
    from babyllama.tokenizers import train_tokenizer

    tmp = tmp_path_factory.mktemp("model")
    corpus = ["the film was good and fine and great", "the film was bad and dull and awful"] * 50
    tok = train_tokenizer(corpus, 300, tmp / "tok.model", num_threads=1)
    torch.manual_seed(0)
    model = Llama(LlamaConfig(dim=32, n_layers=2, n_heads=4, vocab_size=tok.vocab_size, max_seq_len=64))
    return save_model(model, tmp / "m", tok)


def run_cli(argv):
    from babyllama.cli import classify as cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return cli.run(parser.parse_args(argv))


def test_cli_prompt_and_finetune(tmp_path, tiny_model_dir, capsys):
    write_tiny_task(tmp_path / "toy")
    out = tmp_path / "out"
    assert run_cli(["prompt", "--model", str(tiny_model_dir), "--data", str(tmp_path / "toy"), "--out", str(out),
                    "--normalize", "mean"]) == 0
    rec = json.loads((out / "results.json").read_text())
    assert set(rec["results"]) == {"dev", "test"} and rec["results"]["dev"]["std"] == 0.0
    lines = (out / "toy-dev-prompting-output.txt").read_text().splitlines()
    gold = (tmp_path / "toy" / "toy-dev.txt").read_text().splitlines()
    assert [ln.split(" ||| ")[1] for ln in lines] == [g.split(" ||| ")[1] for g in gold]
    preds = [int(ln.split(" ||| ")[0]) for ln in lines]
    acc = np.mean([p == int(g.split(" ||| ")[0]) for p, g in zip(preds, gold)])
    assert rec["results"]["dev"]["mean"] == pytest.approx(acc)

    assert run_cli(["finetune", "--model", str(tiny_model_dir), "--data", str(tmp_path / "toy"), "--out", str(out),
                    "--mode", "head", "--epochs", "2", "--seeds", "1,2", "--batch-size", "4"]) == 0
    rec = json.loads((out / "results.json").read_text())
    assert rec["seeds"] == [1, 2] and len(rec["results"]["test"]["per_seed"]) == 2
    m, s = stats.mean_std(rec["results"]["test"]["per_seed"])
    assert rec["results"]["test"]["mean"] == pytest.approx(m) and rec["results"]["test"]["std"] == pytest.approx(s)
    assert (out / "toy-test-finetuning-output-seed2.txt").is_file()
    assert "majority" in capsys.readouterr().out


def test_cli_bad_input(tmp_path, tiny_model_dir):
    write_tiny_task(tmp_path / "toy")
    (tmp_path / "toy" / "toy-dev.txt").write_text("0 ||| fine\n5 ||| oops\n")
    with pytest.raises(BabyLlamaError, match=r"toy-dev.txt:2: label 5 is outside"):
        run_cli(["prompt", "--model", str(tiny_model_dir), "--data", str(tmp_path / "toy")])
    write_tiny_task(tmp_path / "toy2")
    with pytest.raises(BabyLlamaError, match="no such file or folder"):
        run_cli(["prompt", "--model", str(tmp_path / "nope"), "--data", str(tmp_path / "toy2")])


def test_cli_refuses_bad_max_len_device_and_missing_label_names(tmp_path, tiny_model_dir, capsys):
    from babyllama.cli import main

    write_tiny_task(tmp_path / "toy")
    base = ["--model", str(tiny_model_dir), "--data", str(tmp_path / "toy")]
    cases = [(["prompt", *base, "--max-len", "0"], "--max-len 0"),
             (["prompt", *base, "--max-len", "-1"], "--max-len -1"),
             (["finetune", *base, "--max-len", "0"], "--max-len 0"),
             (["prompt", *base, "--device", "foo"], "--device"),
             (["prompt", *base, "--label-names", str(tmp_path / "missing.json")],
              f"--label-names {tmp_path / 'missing.json'}: file not found"),
             (["prompt", *base, "--dev", str(tmp_path / "nodev.txt")], "--dev"),
             ]
    if not torch.cuda.is_available():
        cases.append((["prompt", *base, "--device", "cuda"], "CUDA"))
    for argv, fragment in cases:
        rc = main(["classify", *argv])
        err = capsys.readouterr().err
        assert rc == 2 and fragment in err and len(err.strip().splitlines()) == 1, (argv, err)
    assert not (tmp_path / "toy" / "results.json").exists()


def test_experiment_record_matches_the_per_split_predictions(tmp_path, tiny_model_dir):
    from babyllama.classify import experiment
    from babyllama.loading import load

    write_tiny_task(tmp_path / "toy")
    splits = experiment.load_splits(tmp_path / "toy", limit=4)
    assert splits.name == "toy" and splits.label_names == ["bad", "good"]
    assert {s: len(ex) for s, ex in splits.examples.items()} == {"train": 4, "dev": 4, "test": 4}
    model, tok = load(tiny_model_dir)
    exp = experiment.run_prompting(model, tok, splits, batch_size=3, model_name="tiny")
    for s in ("dev", "test"):
        ex = splits.examples[s]
        scores = score_labels(model, tok, [e.text for e in ex], splits.label_names, batch_size=1)
        preds = scores.argmax(-1).tolist()
        assert exp.predictions[f"toy-{s}-prompting-output.txt"] == (preds, [e.text for e in ex])
        acc = sum(p == e.label for p, e in zip(preds, ex)) / len(ex)
        assert exp.record["results"][s]["mean"] == pytest.approx(acc) and exp.record["results"][s]["per_seed"] == [acc]
    assert exp.record["baselines"]["dev"]["majority_from"] == "train"
    path = experiment.save_experiment(exp, tmp_path / "out")
    assert json.loads(path.read_text())["results"] == exp.record["results"]
    assert (tmp_path / "out" / "toy-test-prompting-output.txt").is_file()
    with pytest.raises(BabyLlamaError, match="--max-len 0"):
        experiment.run_prompting(model, tok, splits, max_len=0)


@pytest.mark.skipif(not (SHARED / "sst" / "sst-dev.txt").is_file(), reason="shared SST data not present")
def test_reads_real_sst_and_cfimdb():
    for name, n_labels in (("sst", 5), ("cfimdb", 2)):
        files = cdata.find_dataset_files(SHARED / name)
        names = cdata.read_label_names(files.label_names)
        assert len(names) == n_labels
        for path in (files.train, files.dev, files.test):
            ex = cdata.read_label_file(path)
            cdata.check_labels(ex, n_labels, path)
    assert len(cdata.read_label_file(SHARED / "sst" / "sst-dev.txt")) == 1101
