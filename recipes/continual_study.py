"""Continual pretraining study: teach llama2.c's stories260K (English) Traditional Chinese.

    OMP_NUM_THREADS=1 .venv/bin/python recipes/continual_study.py            # ~20 min on one core
    STEPS=100 .venv/bin/python recipes/continual_study.py                    # a quick look

Grid {no extension, extension} x {no replay, 10% English replay} at the recipe's learning rate, then
the best cell (lowest zh + en bits per byte at the end) at half and twice that rate. Every run starts
from the same base, trains STEPS steps of recipes/continual_zh.toml's shape and tracks bits per byte
on zh and en validation text. Writes docs/continual/{results.md, bpb.png, lr.png, fertility.json}.
Data and runs go under data/continual/ and runs/continual/ (git-ignored).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch

from babyllama.checkpoint.extend import extend_vocabulary, fertility
from babyllama.checkpoint.model_dir import save_model
from babyllama.config import load_config
from babyllama.data.prepare import prepare
from babyllama.data.sources import Source, iter_documents
from babyllama.loading import load
from babyllama.report.continual import bpb_summary, bpb_table, plot_bpb
from babyllama.train import train

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHARED_DATA", ROOT.parent / "shared" / "data"))
STEPS = int(os.environ.get("STEPS", "400"))
NEW_PIECES = int(os.environ.get("NEW_PIECES", "2000"))
DATA, RUNS, DOCS = ROOT / "data" / "continual", ROOT / "runs" / "continual", ROOT / "docs" / "continual"
ZH = Source(str(SHARED / "stories_zh" / "tinychinesestories_train.jsonl"), field="story")
ZH_TEST = Source(str(SHARED / "stories_zh" / "tinychinesestories_test.jsonl"), field="story")
EN = Source(str(SHARED / "tinystories" / "TinyStories-train-head.txt"))
EN_TEST = Source(str(SHARED / "tinystories" / "TinyStories-valid-head.paragraphs.txt"))


def models() -> dict[str, dict]:
    """The base model folder and its extension, with fertility before/after on the test texts."""
    base = RUNS / "base"
    model, tok = load(SHARED / "llama2c" / "stories260K.bin", tokenizer=SHARED / "llama2c" / "tok512.bin")
    save_model(model, base, tok)
    ext = extend_vocabulary(model, tok, iter_documents([ZH]), NEW_PIECES, num_threads=1)
    tests = {"zh": list(iter_documents([ZH_TEST])), "en": list(iter_documents([EN_TEST]))}
    fert = {n: {"before": fertility(tok, t), "after": fertility(ext.tokenizer, t)} for n, t in tests.items()}
    save_model(ext.model, RUNS / "base_ext", ext.tokenizer, extra={"extended": {**ext.info(), "fertility": fert}})
    for kind, folder in (("base", base), ("ext", RUNS / "base_ext")):
        for lang, src in (("zh", ZH), ("en", EN)):
            prepare([src], DATA / f"{lang}_{kind}", folder / "tokenizer.model", num_workers=1, progress=False,
                    overwrite=True)
    return {"base": {"dir": base}, "ext": {"dir": RUNS / "base_ext"}, "fertility": fert, "added": ext.added}


def run(name: str, kind: str, replay: bool, lr: float) -> Path:
    d = DATA
    mixture = f"{d}/zh_{kind}=0.9, {d}/en_{kind}=0.1" if replay else f"{d}/zh_{kind}=1"
    init = RUNS / ("base_ext" if kind == "ext" else "base")
    cfg = load_config(ROOT / "recipes" / "continual_zh.toml", [
        f"data.data_dir={d}/zh_{kind}", f"data.mixture={mixture}", f"data.val_sets=zh={d}/zh_{kind}, en={d}/en_{kind}",
        f"train.init_from={init}", f"train.run_dir={RUNS / name}", f"optim.max_steps={STEPS}", f"optim.lr={lr}",
        f"optim.min_lr={lr / 10}", f"optim.warmup_steps={min(20, STEPS // 5)}", f"train.eval_every={max(STEPS // 8, 1)}",
        "train.save_every=0", "train.device=cpu"])
    t0 = time.time()
    train(cfg, overwrite=True, quiet=True)
    print(f"{name}: {time.time() - t0:.0f}s", flush=True)
    return RUNS / name


def main() -> None:
    torch.set_num_threads(1)
    t0 = time.time()
    info = models()
    lr = load_config(ROOT / "recipes" / "continual_zh.toml").optim.lr
    cells = {f"{'ext' if kind == 'ext' else 'no ext'}, {'10% en replay' if replay else 'no replay'}":
             run(f"{kind}_{'replay' if replay else 'zh'}", kind, replay, lr)
             for kind in ("base", "ext") for replay in (False, True)}
    summary = bpb_summary(cells, ["zh", "en"])
    best = min(summary, key=lambda k: summary[k]["zh"][1] + summary[k]["en"][1])
    kind, replay = ("ext" if best.startswith("ext") else "base"), "10%" in best
    lrs = {f"{best}, lr {lr:g}": cells[best]}
    for f in (0.5, 2.0):
        lrs[f"{best}, lr {lr * f:g}"] = run(f"{kind}_{'replay' if replay else 'zh'}_lr{lr * f:g}", kind, replay, lr * f)
    DOCS.mkdir(parents=True, exist_ok=True)
    plot_bpb(cells, ["zh", "en"], DOCS / "bpb.png", title=f"stories260K -> Chinese, {STEPS} steps")
    plot_bpb(lrs, ["zh", "en"], DOCS / "lr.png", title=f"best cell ({best}): learning rate")
    fert = info["fertility"]
    lines = [f"# Continual pretraining study (stories260K -> Traditional Chinese, {STEPS} steps per run)", "",
             f"Written by `recipes/continual_study.py` in {(time.time() - t0) / 60:.1f} min on one CPU thread. "
             f"Extension added {info['added']} pieces (512 -> {512 + info['added']}).", "",
             "| test text | tokens/char before | after | tokens/byte before | after |", "|---|---:|---:|---:|---:|"]
    for n, f in fert.items():
        lines.append(f"| {n} | {f['before']['tokens_per_char']:.3f} | {f['after']['tokens_per_char']:.3f} | "
                     f"{f['before']['tokens_per_byte']:.3f} | {f['after']['tokens_per_byte']:.3f} |")
    lines += ["", "## Grid (bits per byte on the validation splits, step 0 and the end)", "", bpb_table(cells, ["zh", "en"]),
              "", f"## Learning rates for the best cell ({best})", "", bpb_table(lrs, ["zh", "en"]), "",
              "![bits per byte](bpb.png)", "", "![learning rates](lr.png)", ""]
    (DOCS / "results.md").write_text("\n".join(lines), encoding="utf-8")
    (DOCS / "fertility.json").write_text(json.dumps(fert, indent=1) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
