"""`babyllama sweep`: train every combination of a grid of settings with several seeds.

    babyllama sweep recipes/quickstart.toml optim.max_steps=150 --grid optim.lr=1e-3,3e-3,1e-2 --seeds 3
    babyllama sweep recipes/sizing.toml --grid model.dim=16,24,40,64 --flops 1e11,3e11,1e12 --out runs/sizing

Settings for every run (section.key=value) go before --grid. Run the same command again to
continue: finished runs are skipped. The folder then holds summary.csv / summary.json (mean ± std
over seeds per cell); `babyllama report DIR` turns it into tables and figures.
"""
from __future__ import annotations

import argparse

from babyllama.train.sweep import run_sweep, split_values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = __doc__.split("\n\n", 1)[1]
    parser.add_argument("recipe", help="TOML recipe every run starts from")
    parser.add_argument("overrides", nargs="*", metavar="section.key=value",
                        help="settings changed for every run, e.g. optim.max_steps=150")
    parser.add_argument("--grid", nargs="+", default=[], metavar="section.key=V1,V2",
                        help="a setting and its values (lists in brackets: optim.betas=[0.9,0.95],[0.9,0.99])")
    parser.add_argument("--seeds", type=int, default=1,
                        help="runs per cell, with train.seed = the recipe's seed + 0, 1, ... (default 1)")
    parser.add_argument("--flops", metavar="C1,C2",
                        help="compute budgets (FLOPs): each run trains for tokens = C / (6 x parameters)")
    parser.add_argument("--out", help="sweep folder (default runs/sweep_<recipe name>)")
    parser.add_argument("--devices", metavar="DEV,DEV",
                        help="one training process per device, e.g. cuda:0,cuda:1 (default: every CUDA GPU when "
                             "there are several, else all runs in this process, one after another)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch in this process (default: torch's)")


def run(args: argparse.Namespace) -> int:
    import torch
    from pathlib import Path

    from babyllama.utils.io import BabyLlamaError

    if args.threads is not None:
        if args.threads < 1:
            raise BabyLlamaError(f"--threads {args.threads}: must be >= 1")
        torch.set_num_threads(args.threads)
    devices = split_values(args.devices) if args.devices else []
    if not devices and torch.cuda.device_count() > 1:
        devices = [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    out = args.out or f"runs/sweep_{Path(args.recipe).stem}"
    try:
        run_sweep(args.recipe, args.grid, out=out, seeds=args.seeds, overrides=args.overrides,
                  flops=split_values(args.flops) if args.flops else [], devices=devices)
    except KeyboardInterrupt:
        print(f"babyllama sweep: stopped; run the same command again to continue {out}")
        return 130
    return 0
