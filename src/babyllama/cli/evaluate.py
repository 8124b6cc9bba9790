"""`babyllama evaluate MODEL --task NAME`: score a model on a task with bootstrap 95% CIs.

    babyllama evaluate runs/story_sft/model --task story-instructions --n 200
    babyllama evaluate runs/story_dpo/model --task story-instructions --file data/instr/eval.jsonl --out dpo.json

Tasks (eval/tasks.py): story-instructions = held-out verifiable story instructions (share of required
words used, named character present, requested place present, happy ending, all constraints met).
A model without chat tokens is prompted with the plain instruction text. Decoding flags are those
of `generate` (greedy by default).
"""
from __future__ import annotations

import argparse
import json
import sys

from babyllama.cli.common import add_device_argument, add_threads_argument, cli_threads, device_from_args
from babyllama.cli.generate import add_generation_arguments, config_from_args as generation_config
from babyllama.utils.io import BabyLlamaError, atomic_write_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from babyllama.eval.tasks import TASKS

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument("model", help="model folder")
    parser.add_argument("--task", required=True, choices=list(TASKS), help="what to evaluate")
    parser.add_argument("--file", help="the task's examples (default: the task's built-in held-out set)")
    parser.add_argument("--n", type=int, default=200, help="examples to score (default 200)")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the built-in example set (default 0)")
    parser.add_argument("--out", help="write the report (metrics and every answer) as JSON here")
    parser.add_argument("--batch-size", type=int, default=32, help="prompts decoded together (default 32)")
    add_device_argument(parser)
    add_threads_argument(parser)
    add_generation_arguments(parser)
    parser.set_defaults(max_new_tokens=200)


def run(args: argparse.Namespace) -> int:
    from babyllama.eval.tasks import format_report, get_task
    from babyllama.loading import load

    if args.n < 1:
        raise BabyLlamaError(f"--n {args.n}: must be >= 1")
    task = get_task(args.task)
    loaded = load(args.model, device=device_from_args(args))
    with cli_threads(args, loaded.model):
        report = task(loaded.model, loaded.tokenizer, path=args.file, n=args.n, seed=args.data_seed,
                      config=generation_config(args), batch_size=args.batch_size)
    report["model"] = str(args.model)
    print(format_report(report))
    if args.out:
        atomic_write_text(args.out, json.dumps(report, indent=1, ensure_ascii=False) + "\n")
        print(f"report -> {args.out}", file=sys.stderr)
    return 0
