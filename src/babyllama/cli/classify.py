"""`babyllama classify prompt|finetune`: sentiment (or any label) classification on top of a base model.

    babyllama classify prompt   --model MODEL --data ../shared/data/sst --out runs/cls/sst-prompt
    babyllama classify finetune --model MODEL --data ../shared/data/sst --mode head --seeds 3 --out ...

MODEL is anything babyllama loads (model folder, llama2.c .pt/.bin, HF folder, GGUF). --data names a
folder in minllama's layout (*-train.txt, *-dev.txt, *-test.txt, *-label-mapping.json); or give the
files with --train/--dev/--test/--label-names (JSONL/CSV need --text-field/--label-field).
Writes results.json (per-seed accuracies, mean ± std, bootstrap 95% CI, chance and majority baselines)
and predictions in minllama's format (`PRED ||| sentence`). The work is babyllama.classify.experiment.
"""
from __future__ import annotations

import argparse
import time

import torch

from babyllama.classify import experiment
from babyllama.classify.finetune import FinetuneConfig
from babyllama.classify.prompting import DEFAULT_TEMPLATE, NORMALIZE
from babyllama.cli.common import add_device_argument, device_from_args
from babyllama.loading import load
from babyllama.utils.io import BabyLlamaError


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
    for s in experiment.SPLITS:
        p.add_argument(f"--{s}", default=None, help=f"{s} file (LABEL ||| sentence, .jsonl, .csv)")
    p.add_argument("--label-names", default=None, help="JSON list of label names (index i names label i)")
    p.add_argument("--text-field", default="text", help="text field/column for JSONL/CSV")
    p.add_argument("--label-field", default="label", help="label field/column for JSONL/CSV")
    p.add_argument("--max-len", type=int, default=None, help="cut each sentence to its first N tokens")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--limit", type=int, default=None, help="use only the first N examples of each split (quick runs)")
    p.add_argument("--out", default=None, help="folder for results.json and prediction files")
    p.add_argument("--name", default=None, help="data set name in output file names (default: from the files)")
    add_device_argument(p)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("prompt", help="zero-shot: score each label's log-probability after a prompt")
    _common(p)
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


def run(args: argparse.Namespace) -> int:
    started = time.time()
    device = device_from_args(args)
    experiment.check_max_len(args.max_len)
    if args.action == "finetune":
        cfg = FinetuneConfig(mode=args.mode, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                             eval_batch_size=max(args.batch_size, 32), dropout=args.dropout,
                             max_text_tokens=args.max_len, weight_decay=args.weight_decay)
        seeds = parse_seeds(args.seeds)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    splits = experiment.load_splits(args.data, {s: getattr(args, s) for s in experiment.SPLITS}, args.label_names,
                                    text_field=args.text_field, label_field=args.label_field, limit=args.limit,
                                    name=args.name)
    model, tokenizer = load(args.model, args.tokenizer, device=device)
    if args.action == "prompt":
        exp = experiment.run_prompting(model, tokenizer, splits, template=args.template, normalize=args.normalize,
                                       batch_size=args.batch_size, max_len=args.max_len,
                                       model_name=str(args.model), started=started)
    else:
        exp = experiment.run_finetuning(model, tokenizer, splits, cfg, seeds, model_name=str(args.model),
                                        started=started)
    print(f"\n{exp.title}\n{experiment.format_table(exp.record['results'], exp.record['baselines'])}")
    print(f"wall time {exp.record['seconds']:.1f} s")
    if args.out:
        print(f"wrote {experiment.save_experiment(exp, args.out)}")
    return 0
