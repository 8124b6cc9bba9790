"""`babyllama inspect PATH`: what a checkpoint is (format found from its content), its config,
parameter count, storage dtype and tokenizer."""
from __future__ import annotations

import argparse
import json

from babyllama.loading import inspect


def format_report(info: dict) -> str:
    lines = [f"path:        {info['path']}", f"format:      {info['format']} ({info['description']})",
             f"dtype:       {info['dtype']}", f"parameters:  {info['num_params']:,}"]
    cfg = info["config"]
    lines.append("config:      " + ", ".join(f"{k}={v}" for k, v in cfg.items() if k not in ("multiple_of", "dropout")))
    tok = info.get("tokenizer")
    if tok:
        lines.append(f"tokenizer:   {tok['kind']}, vocab {tok['vocab_size']}, bos {tok['bos_id']}, eos {tok['eos_id']}")
    else:
        lines.append("tokenizer:   none")
    for note in info.get("notes", []):
        lines.append(f"note:        {note}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="checkpoint file or folder (any supported format)")
    parser.add_argument("--tokenizer", default=None, help="tokenizer to pair with it (llama2.c files carry none)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace) -> int:
    info = inspect(args.path, tokenizer=args.tokenizer)
    print(json.dumps(info, indent=2) if args.json else format_report(info))
    return 0
