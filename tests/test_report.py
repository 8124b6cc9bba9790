"""Run records, seed statistics, and the report (Markdown, LaTeX compiled with pdflatex, HTML opened
in headless Chromium), checked against the records and independent computations."""
import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import tiny_stories_data
import torch

import babyllama
from babyllama.cli import main as cli_main
from babyllama.config import load_config
from babyllama.data.prepare import load_manifest
from babyllama.report.build import build_report
from babyllama.report.records import add_evaluation, load_run, read_record, write_record
from babyllama.report.scaling import fit_isoflop, fit_power_law
from babyllama.report.summary import seed_stat
from babyllama.train import train
from babyllama.utils.io import BabyLlamaError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tiny_stories_data(tmp_path_factory.mktemp("data"), seed=0)


def tiny(data_dir, run_dir, *extra):
    return load_config(None, [f"data.data_dir={data_dir}", f"train.run_dir={run_dir}", "model.dim=32",
                              "model.n_layers=1", "model.n_heads=4", "model.multiple_of=16", "data.seq_len=16",
                              "data.batch_size=4", "optim.max_steps=6", "optim.warmup_steps=1", "train.log_every=2",
                              "train.eval_every=3", "train.eval_batches=2", "train.save_every=0",
                              "train.num_samples=2", "train.sample_tokens=5", "train.device=cpu", *extra])


@pytest.fixture(scope="module")
def finished_run(data_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "tiny"
    cfg = tiny(data_dir, run)
    return run, cfg, train(cfg, quiet=True)


def test_the_record_of_a_tiny_run(finished_run, data_dir):
    run, cfg, res = finished_run
    rec = read_record(run)
    assert rec["status"] == "finished" and rec["task"] == "pretrain"
    assert rec["config"] == json.loads(json.dumps(cfg.to_dict()))
    assert rec["babyllama"]["version"] == babyllama.__version__
    git = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert rec["babyllama"]["git_commit"] == (git.stdout.strip() if git.returncode == 0 else None)
    manifest = load_manifest(data_dir)
    for split in ("train", "val"):
        got, want = rec["data"]["splits"][split], manifest["splits"][split]
        assert (got["documents"], got["tokens"], got["bytes"]) == (want["documents"], want["tokens"], want["bytes"])
    assert rec["data"]["tokenizer_sha256"] == manifest["tokenizer"]["sha256"]
    hw = rec["hardware"]
    assert hw["device"] == "cpu" and hw["gpu"] is None and hw["threads"] == torch.get_num_threads()
    assert hw["cpu"] and hw["precision"] == "fp32"
    p = rec["progress"]
    assert p["step"] == 6 and p["tokens"] == res.tokens_seen == 6 * 4 * 16
    assert p["wall_time_s"] > 0 and p["tokens_per_s"] == pytest.approx(p["tokens"] / p["wall_time_s"])
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    vals = [m["val_loss"] for m in metrics if "val_loss" in m]
    assert rec["final"]["val_loss"] == res.val_loss == vals[-1]
    assert rec["final"]["val_bpb"] == res.val_bpb and rec["final"]["train_loss"] == res.train_loss
    assert rec["best"]["val_loss"] == min(vals)
    from babyllama.checkpoint.model_dir import load_model_dir

    model, _ = load_model_dir(run / "model")
    assert rec["model"]["params"] == sum(t.numel() for t in model.parameters())
    text = (run / "samples.txt").read_text()
    assert len(rec["samples"]) == 2 and all(s in text.split("final samples")[1] for s in rec["samples"])


def test_ppl_appends_to_the_record_and_old_folders_still_work(finished_run, data_dir, tmp_path):
    run, _, res = finished_run
    out = tmp_path / "ppl.json"
    assert cli_main(["ppl", str(run / "model"), "--data", str(data_dir), "--context", "16", "--quiet",
                     "--out", str(out), "--record", str(run)]) == 0
    ev = read_record(run)["evaluations"][-1]
    assert ev["name"] == "ppl" and ev["result"]["perplexity"] == json.loads(out.read_text())["perplexity"]
    assert read_record(run)["status"] == "finished"  # appending keeps the rest
    assert cli_main(["ppl", str(run / "model"), "--data", str(data_dir), "--record", str(tmp_path / "nope")]) == 2
    # an old run folder: no record.json; the report reads config.toml and metrics.jsonl
    old = tmp_path / "old"
    shutil.copytree(run, old)
    (old / "record.json").unlink()
    r = load_run(old)
    assert r.finished and r.metric("final.val_loss") == res.val_loss and r.setting("model.dim") == 32
    add_evaluation(old, "classify", {"accuracy": 0.5})
    assert load_run(old).record["evaluations"][0]["result"] == {"accuracy": 0.5}
    assert load_run(old).finished


def test_an_interrupted_run_is_marked_unfinished(data_dir, tmp_path):
    def stop(step, record):
        if step == 4:
            raise KeyboardInterrupt
    run = tmp_path / "stopped"
    res = train(tiny(data_dir, run), quiet=True, callbacks=[stop])
    assert res.interrupted and read_record(run)["status"] == "stopped"
    r = load_run(run)
    assert not r.finished and r.record["progress"]["step"] == 4
    # killed while training: the record still says "running", metrics.jsonl went on
    rec = read_record(run)
    rec["status"] = "running"
    (run / "record.json").write_text(json.dumps(rec))
    assert load_run(run).status == "unfinished"
    report = build_report([run], tmp_path / "rep")
    assert "unfinished" in report.read_text()


def test_mean_std_n_against_numpy():
    rng = np.random.default_rng(0)
    for n in (2, 3, 7):
        x = rng.normal(3.0, 0.5, n)
        s = seed_stat([*x.tolist(), None, float("nan")])
        assert s.n == n and s.mean == pytest.approx(np.mean(x), rel=1e-12)
        assert s.std == pytest.approx(np.std(x, ddof=1), rel=1e-12)
    assert seed_stat([1.5]).std is None and seed_stat([]).n == 0


def test_isoflop_and_power_law_recover_known_optima():
    # loss = 0.3 (log10 N - log10 N*)^2 + 2 with N* = 2 C^0.5
    budgets = [1e10, 1e11, 1e12]
    fits = []
    for c in budgets:
        opt = 2 * c ** 0.5
        ns = [opt * f for f in (0.25, 0.6, 1.7, 4.0)]
        fits.append(fit_isoflop(c, ns, [0.3 * (math.log10(n / opt)) ** 2 + 2 for n in ns]))
        assert fits[-1].from_fit and fits[-1].optimum == pytest.approx(opt, rel=1e-6)
        assert fits[-1].optimum_loss == pytest.approx(2.0)
    law = fit_power_law(budgets, [f.optimum for f in fits])
    assert law.exponent == pytest.approx(0.5, abs=1e-6) and 10 ** law.log10_k == pytest.approx(2, rel=1e-5)
    # no minimum inside the ladder: the best size seen
    edge = fit_isoflop(1e10, [10, 100, 1000], [3.0, 2.0, 1.0])
    assert not edge.from_fit and edge.optimum == pytest.approx(1000)


# ---------------------------------------------------------------- reports of synthetic records

def fake_sweep(root: Path, lrs=(1e-3, 3e-3), seeds=3, task="pretrain") -> dict:
    """A sweep folder with record.json files only (no training), and the values written."""
    rng = np.random.default_rng(1)
    plan = {"format": "babyllama-sweep", "grid": {"optim.lr": [str(x) for x in lrs]}, "flops": [], "seeds": [],
            "runs": []}
    values = {}
    for lr in lrs:
        for s in range(seeds):
            d = root / f"optim.lr={lr}" / f"seed_{s}"
            d.mkdir(parents=True)
            loss, bpb = float(rng.normal(2 + 100 * lr, 0.05)), float(rng.normal(1 + 50 * lr, 0.02))
            values[(lr, s)] = (loss, bpb)
            write_record(d, {"task": task, "status": "finished", "config": {"optim": {"lr": lr}, "train": {"seed": s}},
                             "final": {"val_loss": loss, "val_bpb": bpb, "train_loss": loss + 0.1},
                             "best": {"val_loss": loss}, "progress": {"step": 10, "tokens": 100,
                                                                      "wall_time_s": 1.0, "tokens_per_s": 100.0}})
            (d / "metrics.jsonl").write_text("".join(json.dumps({"step": i, "loss": 3 - i / 10, "tokens": 10 * i,
                                                                 "elapsed": i / 10}) + "\n" for i in range(1, 11)))
            plan["runs"].append({"cell": d.parent.name, "settings": {"optim.lr": str(lr)}, "seed": s,
                                 "dir": f"{d.parent.name}/{d.name}"})
    (root / "sweep.json").write_text(json.dumps(plan))
    return values


def md_table_rows(md: str, first_header: str) -> list[list[str]]:
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def test_report_tables_equal_the_records(tmp_path):
    values = fake_sweep(tmp_path / "sweep")
    md = build_report([tmp_path / "sweep"], tmp_path / "out").read_text()
    rows = md_table_rows(md, "optim.lr")
    assert [r[0] for r in rows] == ["0.001", "0.003"]
    means = {}
    for row, lr in zip(rows, (1e-3, 3e-3)):
        losses = np.array([values[(lr, s)][0] for s in range(3)])
        bpbs = np.array([values[(lr, s)][1] for s in range(3)])
        assert row[1].strip("*") == f"{losses.mean():.4f} ± {np.std(losses, ddof=1):.4f}"
        assert row[2].strip("*") == f"{bpbs.mean():.4f} ± {np.std(bpbs, ddof=1):.4f}"
        means[lr] = losses.mean()
    best = min(means, key=means.get)
    assert rows[[1e-3, 3e-3].index(best)][1].startswith("**")
    tex = (tmp_path / "out" / "tables" / "sweep-sweep-results.tex").read_text()
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex and "n = 3 seeds" in tex
    losses = np.array([values[(best, s)][0] for s in range(3)])
    assert rf"$\mathbf{{{losses.mean():.4f} \pm {np.std(losses, ddof=1):.4f}}}$" in tex
    for ext in ("png", "pdf"):
        assert (tmp_path / "out" / "figures" / f"sweep-sweep-curves.{ext}").stat().st_size > 1000


def test_runs_of_different_tasks_are_never_in_one_table(tmp_path):
    fake_sweep(tmp_path / "a", task="pretrain")
    fake_sweep(tmp_path / "b", lrs=(1e-4,), task="ClassifierObjective")
    loose = [tmp_path / "a" / "optim.lr=0.001" / "seed_0", tmp_path / "b" / "optim.lr=0.0001" / "seed_0"]
    md = build_report(loose, tmp_path / "out").read_text()
    assert "## Runs (pretrain)" in md and "## Runs (ClassifierObjective)" in md
    sections = md.split("## Runs (")
    assert all(s.count("| seed_0 |") <= 1 for s in sections)


def test_report_refuses_what_is_not_a_run(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BabyLlamaError, match="not a run folder"):
        build_report([tmp_path / "empty"], tmp_path / "out")


@pytest.mark.skipif(shutil.which("pdflatex") is None,
                    reason="pdflatex not installed (apt-get install texlive-latex-base texlive-latex-recommended)")
def test_latex_tables_compile(tmp_path):
    fake_sweep(tmp_path / "sweep")
    build_report([tmp_path / "sweep"], tmp_path / "out", title="LaTeX_test & co")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"],
                          cwd=tmp_path / "out", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / "out" / "report.pdf").read_bytes()[:5] == b"%PDF-"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_html_opens_in_headless_chromium_without_console_errors(tmp_path):
    fake_sweep(tmp_path / "sweep")
    build_report([tmp_path / "sweep"], tmp_path / "out")
    page = tmp_path / "out" / "report.html"
    text = page.read_text()
    assert not re.search(r'(src|href)="(?!data:)', text)  # self-contained: nothing to fetch
    shot = tmp_path / "shot.png"
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                           "--no-first-run", "--disable-background-networking", "--disable-component-update",
                           "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
                           "--v=0", "--window-size=1200,2400", f"--screenshot={shot}", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("L"))
    assert img.shape[0] > 1000 and img.std() > 10  # a rendered page, not a blank one
