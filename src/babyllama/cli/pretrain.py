"""`babyllama pretrain`: train a Llama model on prepared token shards, or resume a run.

    babyllama pretrain --config recipes/quickstart.toml
    babyllama pretrain --config recipes/quickstart.toml optim.lr=1e-3 optim.max_steps=500
    babyllama pretrain --resume runs/quickstart                 # continue after Ctrl-C or a crash
    babyllama pretrain --resume runs/quickstart optim.max_steps=4000   # ... and train longer
    torchrun --nproc_per_node 2 -m babyllama pretrain --config recipes/quickstart.toml

Exit code 0 when the run finished; 128 + the signal's number when Ctrl-C (130) or SIGTERM (143)
stopped it after saving a checkpoint.
"""
from __future__ import annotations

import argparse
from typing import Any

from babyllama.config import TrainConfig, config_help, load_config
from babyllama.utils.io import BabyLlamaError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = config_help()
    parser.add_argument("overrides", nargs="*", metavar="section.key=value",
                        help="override settings of the recipe, e.g. optim.lr=3e-4 optim.max_steps=200")
    parser.add_argument("--config", help="TOML recipe (e.g. recipes/quickstart.toml); defaults below if omitted")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue the run in RUN_DIR from its latest checkpoint (uses RUN_DIR/config.toml)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run in train.run_dir")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, samples or log lines")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's config: RUN_DIR/config.toml with --resume, else --config; overrides on top."""
    from babyllama.train.loop import resume_config

    if args.resume:
        if args.config:
            raise BabyLlamaError("--resume uses RUN_DIR/config.toml; drop --config and pass changes as "
                                 "section.key=value overrides")
        if args.overwrite:
            raise BabyLlamaError("--resume and --overwrite contradict each other; choose one")
        return resume_config(args.resume, args.overrides)
    return load_config(args.config, args.overrides)


def exit_code(result: Any) -> int:
    """0 when the run finished; 128 + the signal's number when a signal stopped it."""
    if not result.interrupted:
        return 0
    return 128 + result.stop_signal if result.stop_signal else 130


def run(args: argparse.Namespace) -> int:
    from babyllama.train.loop import train

    cfg = config_from_args(args)
    return exit_code(train(cfg, resume=bool(args.resume), overwrite=args.overwrite, quiet=args.quiet))
