"""`python -m babyllama.compat.run_llama`: the minllama assignment's flags and output files, end to end."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from babyllama.checkpoint import save_model
from babyllama.compat import run_llama
from babyllama.model import Llama, LlamaConfig
from babyllama.tokenizers import train_tokenizer

SENTS = {0: ["a dull and bad film .", "bad acting , awful plot .", "it was dull ."],
         1: ["a good and fine film .", "great acting , good plot .", "it was great ."]}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder like the assignment's: data/ with tiny SST-style files, and a tiny model folder."""
    root = tmp_path_factory.mktemp("minllama")
    corpus = [s for v in SENTS.values() for s in v] * 30 + [run_llama.PREFIX] * 5
    tok = train_tokenizer(corpus, 400, root / "tok.model", num_threads=1)
    torch.manual_seed(0)
    model = Llama(LlamaConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=tok.vocab_size,
                              max_seq_len=160))
    save_model(model, root / "tiny", tok)
    data = root / "data"
    data.mkdir()
    for split, reps in (("train", 3), ("dev", 1), ("test", 1)):
        lines = [f"{y} ||| {s}\n" for _ in range(reps) for y, ss in SENTS.items() for s in ss]
        (data / f"toy-{split}.txt").write_text("".join(lines))
    (data / "toy-label-mapping.json").write_text(json.dumps(["bad", "good"]))
    return root


def common(root: Path) -> list[str]:
    d = root / "data"
    return ["--train", str(d / "toy-train.txt"), "--dev", str(d / "toy-dev.txt"), "--test", str(d / "toy-test.txt"),
            "--label-names", str(d / "toy-label-mapping.json"), "--pretrained-model-path", str(root / "tiny")]


def greedy_reference(model: Llama, ids: list[int], n: int) -> list[int]:
    """Greedy decoding by full forward passes, no KV cache."""
    ids = list(ids)
    with torch.no_grad():
        for _ in range(n):
            ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
    return ids


def test_generate_via_python_m(workdir, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "babyllama.compat.run_llama", "--option", "generate",
                           "--pretrained-model-path", str(workdir / "tiny")],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    low = (tmp_path / "generated-sentence-temp-0.txt").read_text()
    high = (tmp_path / "generated-sentence-temp-1.txt").read_text()
    assert low.startswith(run_llama.PREFIX) and high.startswith(run_llama.PREFIX)
    assert "Temperature is 0.0" in proc.stdout and "Temperature is 1.0" in proc.stdout
    from babyllama.checkpoint.model_dir import load_model_dir as load_model

    model, tok = load_model(workdir / "tiny")
    ids = tok.encode(run_llama.PREFIX, bos=True)
    assert low == tok.decode(greedy_reference(model, ids, 75))


def read_output(path: Path) -> list[tuple[int, str]]:
    out = []
    for line in path.read_text().splitlines():
        p, s = line.split(" ||| ", 1)
        out.append((int(p), s))
    return out


def gold(root: Path, split: str) -> list[tuple[int, str]]:
    return read_output(root / "data" / f"toy-{split}.txt")


def prompt_reference(model: Llama, tok, sentence: str, names: list[str]) -> int:
    """The label minllama's prompt should pick, by plain full forward passes (no cache, no padding,
    no batching): the label whose tokens are most probable after the prompt."""
    ctx = tok.encode(f"{sentence} Is this movie {' or '.join(names)}? This movie is", bos=True, eos=False)
    scores = []
    for name in names:
        lab = tok.encode(name, bos=False, eos=False)
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ctx + lab])).logits[0].double(), -1)
        scores.append(sum(float(logp[len(ctx) - 1 + j, t]) for j, t in enumerate(lab)))
    return max(range(len(names)), key=lambda k: scores[k])


def test_prompt_writes_minllama_outputs(workdir, tmp_path, monkeypatch, capsys):
    from babyllama.checkpoint.model_dir import load_model_dir

    monkeypatch.chdir(tmp_path)
    argv = common(workdir) + ["--option", "prompt", "--dev_out", "toy-dev-prompting-output.txt",
                              "--test_out", "toy-test-prompting-output.txt", "--batch_size", "4"]
    assert run_llama.main(argv) == 0
    printed = capsys.readouterr().out
    model, tok = load_model_dir(workdir / "tiny")
    for split in ("dev", "test"):
        rows = read_output(tmp_path / f"toy-{split}-prompting-output.txt")
        ref = gold(workdir, split)
        # minllama writes the prompted sentence: "<sentence> Is this movie bad or good? This movie is "
        assert [s for _, s in rows] == [f"{s} Is this movie bad or good? This movie is " for _, s in ref]
        expected = [prompt_reference(model, tok, s, ["bad", "good"]) for _, s in ref]
        assert [p for p, _ in rows] == expected
        acc = sum(p == y for p, (y, _) in zip(expected, ref)) / len(ref)
        assert f"{split} acc :: {acc:.3f}" in printed


def finetuned_reference(saved: dict, tok, sentence: str) -> int:
    """The saved classifier's prediction by hand: a fresh Llama from the saved config and weights, one
    unpadded forward pass over BOS + sentence, the linear head on the last position's hidden state."""
    backbone = Llama(LlamaConfig.from_dict(saved["model_config"])).eval()
    backbone.load_state_dict({k[len("backbone."):]: v for k, v in saved["model"].items() if k.startswith("backbone.")})
    ids = [tok.bos_id] + tok.encode(sentence, bos=False, eos=False)
    with torch.no_grad():
        h = backbone(torch.tensor([ids])).hidden[0, -1]
        logits = saved["model"]["head.weight"] @ h + saved["model"]["head.bias"]
    return int(logits.argmax())


def test_finetune_writes_minllama_outputs(workdir, tmp_path, monkeypatch, capsys):
    from babyllama.checkpoint.model_dir import load_model_dir

    monkeypatch.chdir(tmp_path)
    argv = common(workdir) + ["--option", "finetune", "--epochs", "2", "--lr", "1e-3", "--batch_size", "4",
                              "--dev_out", "toy-dev-finetuning-output.txt",
                              "--test_out", "toy-test-finetuning-output.txt"]
    assert run_llama.main(argv) == 0
    printed = capsys.readouterr().out
    saved = torch.load(tmp_path / "finetune-2-0.001.pt", weights_only=True)
    assert saved["num_labels"] == 2 and "head.weight" in saved["model"]
    _, tok = load_model_dir(workdir / "tiny")
    for split in ("dev", "test"):
        rows = read_output(tmp_path / f"toy-{split}-finetuning-output.txt")
        ref = gold(workdir, split)
        assert [s for _, s in rows] == [s for _, s in ref]
        expected = [finetuned_reference(saved, tok, s) for _, s in ref]
        assert [p for p, _ in rows] == expected
        acc = sum(p == y for p, (y, _) in zip(expected, ref)) / len(ref)
        assert f"{split} acc :: {acc:.3f}" in printed
    assert "epoch 1" in printed


def test_bad_input_is_one_line_error(workdir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_llama.main(common(workdir) + ["--option", "finetune"]) == 2  # default dev_out is for prompting
    assert "dev-finetuning-output.txt" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_text("1 ||| fine\nthis line has no separator\n")
    argv = common(workdir) + ["--option", "prompt", "--dev", str(bad)]
    assert run_llama.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.txt:2: no '|||'" in err[0]
    argv = ["--option", "generate", "--pretrained-model-path", str(tmp_path / "missing.pt")]
    assert run_llama.main(argv) == 2
    assert "missing.pt" in capsys.readouterr().err
    for option, out in (("prompt", "prompting"), ("finetune", "finetuning")):
        outs = ["--dev_out", f"toy-dev-{out}-output.txt", "--test_out", f"toy-test-{out}-output.txt"]
        for bad_len in ("0", "-1"):
            assert run_llama.main(common(workdir) + ["--option", option, "--max_sentence_len", bad_len, *outs]) == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and f"--max_sentence_len {bad_len}" in err[0]
    missing = tmp_path / "missing-labels.json"
    argv = common(workdir) + ["--option", "prompt", "--label-names", str(missing)]
    assert run_llama.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--label-names {missing}: file not found" in err[0]
