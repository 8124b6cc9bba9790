"""`babyllama classify prompt|finetune`: sentiment (or any label) classification on top of a base model.

    babyllama classify prompt   --model MODEL --data ../shared/data/sst --out runs/cls/sst-prompt
    babyllama classify finetune --model MODEL --data ../shared/data/sst --mode head --seeds 3 --out ...

MODEL is anything babyllama loads (model folder, llama2.c .pt/.bin, HF folder, GGUF). --data names a
folder in minllama's layout (*-train.txt, *-dev.txt, *-test.txt, *-label-mapping.json); or give the
files with --train/--dev/--test/--label-names (JSONL/CSV need --text-field/--label-field).
Writes results.json (per-seed accuracies, mean ± std, bootstrap 95% CI, chance and majority baselines)
and predictions in minllama's format (`PRED ||| sentence`).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from babyllama.classify import data as cdata
from babyllama.classify import stats
from babyllama.utils.io import BabyLlamaError, atomic_write_json

SPLITS = ("train", "dev", "test")


def parse_seeds(text: str) -> list[int]:
    """"3" -> [1, 2, 3]; "7,11,13" -> [7, 11, 13]."""
    try:
        if "," in text:
            seeds = [int(s) for s in text.split(",") if s.strip()]
        else:
            seeds = list(range(1, int(text) + 1))
    except ValueError:
        raise BabyLlamaError(f"--seeds: expected a count (5) or a comma list (1,2,3), got {text!r}") from None
    if not seeds:
        raise BabyLlamaError(f"--seeds: no seeds in {text!r}")
    return seeds


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="base model: folder, llama2.c .pt/.bin, HF folder or GGUF")
    p.add_argument("--tokenizer", default=None, help="tokenizer file, if not found with the model")
    p.add_argument("--data", default=None, help="folder with *-train.txt, *-dev.txt, *-test.txt, *-label-mapping.json")
    for s in SPLITS:
        p.add_argument(f"--{s}", default=None, help=f"{s} file (LABEL ||| sentence, .jsonl, .csv)")
    p.add_argument("--label-names", default=None, help="JSON list of label names (index i names label i)")
    p.add_argument("--text-field", default="text", help="text field/column for JSONL/CSV")
    p.add_argument("--label-field", default="label", help="label field/column for JSONL/CSV")
    p.add_argument("--max-len", type=int, default=None, help="cut each sentence to its first N tokens")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--limit", type=int, default=None, help="use only the first N examples of each split (quick runs)")
    p.add_argument("--out", default=None, help="folder for results.json and prediction files")
    p.add_argument("--name", default=None, help="data set name in output file names (default: from the files)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, mps")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("prompt", help="zero-shot: score each label's log-probability after a prompt")
    _common(p)
    from babyllama.classify.prompting import DEFAULT_TEMPLATE, NORMALIZE
    p.add_argument("--template", default=DEFAULT_TEMPLATE,
                   help="prompt with {text} and {labels}; the label follows it (default: minllama's)")
    p.add_argument("--normalize", choices=NORMALIZE, default="sum",
                   help="multi-token labels: sum of log-probs, or mean per token")
    f = sub.add_parser("finetune", help="train a classifier head (or the whole model) on the train split")
    _common(f)
    f.add_argument("--mode", choices=("head", "full"), default="head", help="train the head only, or everything")
    f.add_argument("--epochs", type=int, default=5)
    f.add_argument("--lr", type=float, default=None, help="learning rate (default 1e-3 head, 2e-5 full)")
    f.add_argument("--dropout", type=float, default=0.3, help="dropout before the linear head")
    f.add_argument("--weight-decay", type=float, default=0.0)
    f.add_argument("--seeds", default="3", help="a count (5 -> seeds 1..5) or a comma list")


def load_splits(args: argparse.Namespace) -> tuple[dict[str, list[cdata.Example]], list[str], str]:
    """Examples per split, label names and the data set name, from --data or explicit files."""
    files = {s: getattr(args, s) for s in SPLITS}
    names_file = args.label_names
    if args.data:
        found = cdata.find_dataset_files(args.data)
        for s in SPLITS:
            files[s] = files[s] or getattr(found, s)
        names_file = names_file or found.label_names
    names = cdata.read_label_names(names_file) if names_file else None
    splits: dict[str, list[cdata.Example]] = {}
    for s, path in files.items():
        if path is None:
            continue
        path = Path(path)
        if path.suffix.lower() in (".jsonl", ".json", ".csv", ".tsv"):
            ex, table_names = cdata.read_table(path, args.text_field, args.label_field, names)
            names = names or table_names
        else:
            ex = cdata.read_label_file(path)
        splits[s] = ex[:args.limit] if args.limit else ex
    if not splits:
        raise BabyLlamaError("no data: give --data FOLDER or --train/--dev/--test files")
    if names is None:
        raise BabyLlamaError("no label names: give --label-names FILE.json (a JSON list like [\"bad\", \"good\"])")
    for s, ex in splits.items():
        cdata.check_labels(ex, len(names), files[s])
    first = Path(next(p for p in files.values() if p))
    name = args.name or (Path(args.data).name if args.data else first.stem.rsplit("-", 1)[0])
    return splits, names, name


def baselines(splits: dict[str, list[cdata.Example]], num_labels: int) -> dict[str, dict[str, Any]]:
    train_labels = [e.label for e in splits.get("train", [])]
    out = {}
    for s, ex in splits.items():
        labels = [e.label for e in ex]
        ref = train_labels or labels
        maj_label, maj_acc = stats.majority_baseline(ref, labels)
        out[s] = {"chance": stats.chance_accuracy(num_labels), "majority_label": maj_label,
                  "majority": maj_acc, "majority_from": "train" if train_labels else s,
                  "n": len(labels), "labels_constant": len(set(labels)) == 1}
    return out


def summarize_split(accs: list[float], preds: list[list[int]], labels: list[int]) -> dict[str, Any]:
    correct = np.array([[int(p == y) for p, y in zip(pr, labels)] for pr in preds])
    return {**stats.summarize(accs, correct), "per_seed": accs}


def print_table(title: str, results: dict[str, Any], base: dict[str, Any]) -> None:
    print(f"\n{title}")
    print(f"{'split':<6} {'n':>5} {'chance':>7} {'majority':>9}  accuracy (mean ± std over seeds, bootstrap 95% CI)")
    for s, r in results.items():
        b = base[s]
        note = "  (all gold labels equal: placeholders? accuracy not meaningful)" if b["labels_constant"] else ""
        print(f"{s:<6} {b['n']:>5} {b['chance']:>7.3f} {b['majority']:>9.3f}  {stats.format_summary(r)}{note}")


def run(args: argparse.Namespace) -> int:
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    from babyllama.loading import load

    t0 = time.time()
    splits, names, name = load_splits(args)
    model, tokenizer = load(args.model, args.tokenizer, device=args.device)
    base = baselines(splits, len(names))
    out = Path(args.out) if args.out else None
    record: dict[str, Any] = {"action": args.action, "model": str(args.model), "data": name, "label_names": names,
                              "baselines": base}
    if args.action == "prompt":
        from babyllama.classify.prompting import score_labels

        evals = {s: ex for s, ex in splits.items() if s != "train"} or splits
        results, preds_by_split = {}, {}
        for s, ex in evals.items():
            t = time.time()
            scores = score_labels(model, tokenizer, [e.text for e in ex], names, args.template, args.normalize,
                                  args.batch_size, args.max_len)
            preds = scores.argmax(-1).tolist()
            acc = stats.accuracy(preds, [e.label for e in ex])
            results[s] = {**summarize_split([acc], [preds], [e.label for e in ex]), "seconds": time.time() - t}
            preds_by_split[s] = preds
            if out:
                cdata.write_predictions(out / f"{name}-{s}-prompting-output.txt", preds, [e.text for e in ex])
        record.update(template=args.template, normalize=args.normalize, results=results,
                      note="prompting is deterministic: one run, std 0 by construction")
        print_table(f"{name}: zero-shot prompting ({args.normalize}) with {args.model}", results, base)
    else:
        from babyllama.classify.finetune import FinetuneConfig, finetune_seeds

        if "train" not in splits or "dev" not in splits:
            raise BabyLlamaError("finetune needs --train and --dev (or a --data folder holding both)")
        cfg = FinetuneConfig(mode=args.mode, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                             eval_batch_size=max(args.batch_size, 32), dropout=args.dropout,
                             max_text_tokens=args.max_len, weight_decay=args.weight_decay)
        seeds = parse_seeds(args.seeds)
        runs = finetune_seeds(model, tokenizer, splits, len(names), cfg, seeds)
        results = {}
        for s, ex in splits.items():
            if s == "train":
                continue
            labels = [e.label for e in ex]
            preds = [r.predictions[s] for r in runs]
            results[s] = summarize_split([stats.accuracy(p, labels) for p in preds], preds, labels)
            if out:
                for r in runs:
                    cdata.write_predictions(out / f"{name}-{s}-finetuning-output-seed{r.seed}.txt", r.predictions[s],
                                            [e.text for e in ex])
        record.update(config={**cfg.__dict__, "lr": cfg.learning_rate}, seeds=seeds, results=results,
                      runs=[{"seed": r.seed, "best_epoch": r.best_epoch, "dev_acc": r.dev_acc, "seconds": r.seconds,
                             "history": r.history} for r in runs])
        print_table(f"{name}: finetuning ({args.mode}, {args.epochs} epochs, lr {cfg.learning_rate:g}) "
                    f"with {args.model}", results, base)
    record["seconds"] = time.time() - t0
    print(f"wall time {record['seconds']:.1f} s")
    if out:
        atomic_write_json(out / "results.json", record)
        print(f"wrote {out / 'results.json'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m babyllama.classify.cli ...`, the same as `babyllama classify ...`."""
    import sys

    parser = argparse.ArgumentParser(prog="babyllama classify", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except BabyLlamaError as e:
        print(f"babyllama classify: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
