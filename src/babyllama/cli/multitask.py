"""`babyllama multitask`: finetune one model on a mixture of tasks (SQuAD, CNN/DailyMail, SST-5, CFIMDB).

    babyllama multitask --base runs/base/model --tasks squad,cnn_dm,sst train.run_dir=runs/mt
    babyllama multitask --base runs/base/model --tasks squad,sst --weights squad=3,sst=1 train.run_dir=runs/mt
    babyllama multitask --config recipes/multitask.toml tasks.temperature=2
    babyllama multitask --resume runs/mt

Each task is rendered as instruction + input -> answer with the chat template (the loss on the answer
only; inputs longer than data.seq_len lose their end, or for SQuAD are cut around the answer's span).
Tasks are drawn by explicit weights (--weights) or with p_i ~ n_i^(1/T) (--temperature; 1 = by size).
Every validation pass logs val/<task>/loss beside val_loss in metrics.jsonl. --base, --tasks, --weights
and --temperature are short for train.init_from, tasks.names, tasks.weights and tasks.temperature;
every [model]/[data]/[optim]/[train]/[tasks] setting below applies. Score the result with
`babyllama evaluate`.
"""
from __future__ import annotations

import argparse

from babyllama.cli.pretrain import add_arguments as add_run_arguments, config_from_args, exit_code

SHORTHANDS = {"base": "train.init_from", "tasks": "tasks.names", "weights": "tasks.weights",
              "temperature": "tasks.temperature"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    parser.add_argument("--base", metavar="MODEL_DIR", help="the model folder to finetune (train.init_from)")
    parser.add_argument("--tasks", metavar="A,B", help="tasks to mix: squad, cnn_dm, sst, cfimdb (tasks.names)")
    parser.add_argument("--weights", metavar="A=W,B=W", help="explicit mixture weights (tasks.weights)")
    parser.add_argument("--temperature", metavar="T", help="p_i ~ n_i^(1/T) without weights (tasks.temperature)")


def run(args: argparse.Namespace) -> int:
    from babyllama.train.multitask import multitask

    args.overrides = [*(f"{key}={getattr(args, flag)}" for flag, key in SHORTHANDS.items()
                        if getattr(args, flag) is not None), *args.overrides]
    return exit_code(multitask(config_from_args(args), resume=bool(args.resume), overwrite=args.overwrite,
                               quiet=args.quiet))
