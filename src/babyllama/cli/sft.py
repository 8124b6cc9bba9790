"""`babyllama sft`: instruction tuning with the loss on the assistant's tokens only.

    babyllama sft --config recipes/story_sft.toml
    babyllama sft train.init_from=runs/quickstart/model align.train_files=alpaca.json train.run_dir=runs/sft
    babyllama sft --resume runs/sft

Reads conversations from Alpaca JSON (instruction/input/output), JSONL rows with `messages`
([{role, content}, ...]: optional system, then user and assistant in turn) or prompt/completion
JSONL. The model (train.init_from) gets the chat tokens <|system|> <|user|> <|assistant|> <|end|>
if it lacks them. Every [model]/[data]/[optim]/[train] setting of `pretrain` applies; data.seq_len
is the longest rendered conversation (longer ones lose the start of their prompt, with a warning).
"""
from __future__ import annotations

import argparse

from babyllama.cli.pretrain import add_arguments as add_run_arguments, config_from_args, exit_code


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from babyllama.train.align import sft

    return exit_code(sft(config_from_args(args), resume=bool(args.resume), overwrite=args.overwrite,
                         quiet=args.quiet))
