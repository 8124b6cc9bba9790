"""`babyllama dpo`: direct preference optimisation (sigmoid DPO, conservative DPO, IPO).

    babyllama dpo --config recipes/story_dpo.toml
    babyllama dpo train.init_from=runs/sft/model align.train_files=pairs.jsonl align.beta=0.1
    babyllama dpo --resume runs/dpo

Pairs are JSONL/JSON rows {prompt, chosen, rejected} (prompt: text or messages ending with the
user) or the Azure layout {input: {messages}, preferred_output, non_preferred_output}. The
init_from model is also the frozen reference; its log-probabilities are computed once at the start.
Logged: loss, logp_chosen, logp_rejected, reward_margin, reward_acc (and val_* on align.val_files).
"""
from __future__ import annotations

import argparse

from babyllama.cli.pretrain import add_arguments as add_run_arguments, config_from_args, exit_code


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from babyllama.train.align import dpo

    return exit_code(dpo(config_from_args(args), resume=bool(args.resume), overwrite=args.overwrite,
                         quiet=args.quiet))
