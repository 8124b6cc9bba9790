"""`babyllama evaluate`: WikiText perplexities against a plain forward pass, generation-task scoring and
its baselines on small files, several tasks in one CLI call (record + predictions), and bad input."""
import json
import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from babyllama.checkpoint.model_dir import save_model
from babyllama.data.chat import add_chat_tokens
from babyllama.data.stories import generate_stories
from babyllama.eval.generation import evaluate_generation, first_label
from babyllama.eval.metrics import squad_scores
from babyllama.eval.tasks import format_report, get_task, results_rows
from babyllama.eval.wikitext import evaluate_wikitext, read_wikitext
from babyllama.model import Llama, LlamaConfig
from babyllama.tokenizers import train_tokenizer
from babyllama.utils.io import BabyLlamaError
from helpers import write_mmlu

WIKI = " = Robert Boulter = \r\n Robert Boulter is an English film , television and theatre actor .\r\n" \
       " He had a guest @-@ starring role on the television series The Bill in 2000 .\r\n"
WIKI_WORDS = 4 + 12 + 16  # counted by hand: whitespace-separated words of the three lines


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    tok = add_chat_tokens(train_tokenizer(generate_stories(200), 400))
    torch.manual_seed(0)
    model = Llama(LlamaConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=tok.vocab_size,
                              multiple_of=16, max_seq_len=256)).eval()
    save_model(model, root / "model", tok)
    paragraphs = [("Paris is the capital of France. It is large.", "What is the capital of France?", "Paris"),
                  ("Tom had a red ball! He played with it.", "What colour was the ball?", "red"),
                  ("The river runs north. Boats sail on it.", "Where does the river run?", "north")]
    data = {"version": "1.1", "data": [
        {"title": f"T{i}", "paragraphs": [{"context": c, "qas": [
            {"id": f"q{i}", "question": q, "answers": [{"text": a, "answer_start": c.index(a)}]}]}]}
        for i, (c, q, a) in enumerate(paragraphs)]}
    (root / "squad.json").write_text(json.dumps(data))
    (root / "sst").mkdir()
    (root / "sst" / "sst-label-mapping.json").write_text('["bad", "good"]')
    (root / "sst" / "sst-train.txt").write_text("1 ||| fine film\n1 ||| great fun\n0 ||| dull\n")
    (root / "sst" / "sst-test.txt").write_text("0 ||| boring\n0 ||| too long\n1 ||| lovely\n0 ||| weak\n")
    (root / "wiki.test.raw").write_bytes(WIKI.encode())
    write_mmlu(root / "mmlu")
    return root, model, tok


def test_wikitext_word_perplexity_is_total_nll_over_words(setup):
    root, model, tok = setup
    assert read_wikitext(root / "wiki.test.raw") == WIKI.replace("\r\n", "\n")
    rep = evaluate_wikitext(model, tok, path=root / "wiki.test.raw", context=256, stride=256)
    text = WIKI.replace("\r\n", "\n")
    ids = tok.encode(text, bos=True)
    assert len(ids) <= 256  # one window: every token after BOS scored from the full left context
    with torch.no_grad():
        logp = F.log_softmax(model(torch.tensor([ids])).logits[0].double(), -1)
    nll = -sum(float(logp[i - 1, t]) for i, t in enumerate(ids) if i > 0)
    m = rep["metrics"]
    assert m["word_perplexity"]["mean"] == pytest.approx(math.exp(nll / WIKI_WORDS), rel=1e-4)
    assert m["token_perplexity"]["mean"] == pytest.approx(math.exp(nll / (len(ids) - 1)), rel=1e-4)
    assert m["bits_per_byte"]["mean"] == pytest.approx(nll / math.log(2) / len(text.encode()), rel=1e-4)
    assert rep["settings"]["words"] == WIKI_WORDS and rep["subset"] is None
    V = tok.vocab_size
    assert rep["baselines"]["word_perplexity"]["uniform over the vocabulary"] == pytest.approx(
        math.exp((len(ids) - 1) * math.log(V) / WIKI_WORDS))
    two = evaluate_wikitext(model, tok, path=root / "wiki.test.raw", n=2)
    assert two["subset"] == "first 2 of 3 lines" and two["settings"]["words"] == 4 + 12
    with pytest.raises(BabyLlamaError, match="nope.raw: WikiText file not found"):
        evaluate_wikitext(model, tok, path=root / "nope.raw")


def test_squad_scores_and_baselines(setup):
    root, model, tok = setup
    rep = evaluate_generation(model, tok, "squad", path=root / "squad.json", split="all", batch_size=2)
    assert [r["id"] for r in rep["rows"]] == ["q0", "q1", "q2"] and rep["mode"] == "chat"
    assert rep["settings"]["max_new_tokens"] == 24
    got = squad_scores([r["prediction"] for r in rep["rows"]], [r["references"] for r in rep["rows"]])
    assert rep["metrics"]["f1"]["mean"] == pytest.approx(sum(got["f1"]) / 3)
    # first sentences: "Paris is the capital of France." -> {paris is capital of france} vs {paris}: F1 = 1/3;
    # "Tom had a red ball!" -> {tom had red ball} vs {red}: 2/5; "The river runs north." -> {river runs north}: 1/2
    assert rep["baselines"]["f1"]["first sentence"] == pytest.approx(100 * (1 / 3 + 2 / 5 + 1 / 2) / 3)
    assert rep["baselines"]["em"]["first sentence"] == 0.0
    one = evaluate_generation(model, tok, "squad", path=root / "squad.json", split="all", n=1, max_new_tokens=3)
    assert one["subset"] == "1 of 3 all examples, drawn with seed 0" and one["settings"]["max_new_tokens"] == 3


def test_label_tasks_and_majority_baseline(setup):
    root, model, tok = setup
    rep = evaluate_generation(model, tok, "sst", path=root / "sst")
    # train majority is "good" (2 of 3); the test set has 1 "good" in 4
    assert rep["baselines"]["accuracy"] == {"majority label 'good' (train split)": 25.0}
    assert rep["n"] == 4 and all(r["label"] in (None, "bad", "good") for r in rep["rows"])
    assert first_label("I think it is GOOD, not bad", ["bad", "good"]) == "good"
    assert first_label("goodness", ["bad", "good"]) is None
    with pytest.raises(BabyLlamaError, match="'mmlu': not a generation task; choose from squad, cnn_dm"):
        evaluate_generation(model, tok, "mmlu")


def test_registry_and_report_table():
    with pytest.raises(BabyLlamaError, match=r"--task 'nope': unknown task; choose from story-instructions, squad, "
                                             r"cnn_dm, sst, cfimdb, mmlu, wikitext"):
        get_task("nope")
    report = {"task": "x", "mode": "m", "n": 3, "subset": "first 3 of 9", "metrics": {
        "f1": {"mean": 12.5, "ci95_low": 1.0, "ci95_high": 30.0, "n": 3}}, "baselines": {"f1": {"lead": 2.0}}}
    assert results_rows(report)[0] == {"task": "x", "metric": "f1", "value": 12.5, "ci95": [1.0, 30.0],
                                       "baseline": {"lead": 2.0}, "n": 3, "subset": "first 3 of 9", "mode": "m",
                                       "settings": {}}
    text = format_report(report)
    assert "12.5  [1, 30]" in text and "lead 2" in text and "subset: first 3 of 9" in text


def evaluate(*args):
    return subprocess.run([sys.executable, "-m", "babyllama", "evaluate", *map(str, args)], capture_output=True,
                          text=True)


def test_cli_several_tasks_one_record(setup, tmp_path):
    root, _, _ = setup
    out = tmp_path / "res" / "run.json"
    files = f"squad={root / 'squad.json'},sst={root / 'sst'},mmlu={root / 'mmlu'},wikitext={root / 'wiki.test.raw'}"
    r = evaluate(root / "model", "--task", "squad,sst,mmlu,wikitext", "--file", files, "--n", "squad=2,mmlu=1",
                 "--split", "test", "--mmlu-shots", "0", "--out", out, "--threads", "1", "--record", tmp_path)
    assert r.returncode == 0, r.stderr
    rec = json.loads(out.read_text())
    assert rec["tasks_asked"] == ["squad", "sst", "mmlu", "wikitext"] and rec["machine"]["threads"] == 1
    by = {(x["task"], x["metric"]): x for x in rec["results"]}
    assert set(by) >= {("squad", "em"), ("squad", "f1"), ("sst", "accuracy"), ("mmlu", "accuracy"),
                       ("wikitext", "word_perplexity")}
    assert by[("mmlu", "accuracy")]["n"] == 2 and by[("mmlu", "accuracy")]["baseline"]["chance"] == 25.0
    assert "subset: 1 test questions of each of the 2 subjects, drawn with seed 0 (2 of 8)" in r.stdout
    assert by[("sst", "accuracy")]["subset"] is None and by[("sst", "accuracy")]["n"] == 4
    preds = [json.loads(x) for x in (out.parent / "run.sst.jsonl").read_text().splitlines()]
    assert [p["id"] for p in preds] == [f"sst-test.txt:{i}" for i in range(1, 5)]
    assert rec["tasks"]["sst"]["predictions"] == str(out.parent / "run.sst.jsonl")
    assert (out.parent / "run.mmlu.jsonl").is_file() and "rows" not in rec["tasks"]["mmlu"]
    run_record = json.loads((tmp_path / "record.json").read_text())
    assert run_record["evaluations"][-1]["name"] == "evaluate" and run_record["evaluations"][-1]["result"] == rec


def test_cli_bad_input_is_one_line(setup, tmp_path):
    root, _, _ = setup
    r = evaluate(root / "model", "--task", "squad,nope")
    assert r.returncode == 2 and "unknown task; choose from story-instructions, squad" in r.stderr
    r = evaluate(root / "model", "--task", "mmlu", "--n", "squad=3")
    assert r.returncode == 2 and "'squad=3' is not TASK=VALUE for one of the tasks asked (mmlu)" in r.stderr
    r = evaluate(root / "model", "--task", "mmlu,squad", "--file", root / "mmlu")
    assert r.returncode == 2 and "several tasks asked; give task=path pairs" in r.stderr
    r = evaluate(root / "model", "--task", "mmlu", "--n", "0")
    assert r.returncode == 2 and "--n '0' for mmlu: give a number >= 1 or 'all'" in r.stderr
    bad = write_mmlu(tmp_path / "mmlu")
    (bad / "test" / "anatomy_test.csv").write_text("question,choice0,choice1,choice2,choice3,answer\nq,a,b,c,d,7\n")
    r = evaluate(root / "model", "--task", "mmlu", "--file", bad, "--out", tmp_path / "r.json")
    assert r.returncode == 2 and r.stderr.strip().endswith("anatomy_test.csv:2: answer '7' must be 0-3 (or A-D)")
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "r.json").exists()
