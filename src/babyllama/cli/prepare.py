"""`babyllama prepare`: tokenize text/JSONL/parquet/HF data into token shards (babyllama.data.prepare)."""
from __future__ import annotations

import argparse

from babyllama.cli.common import add_source_arguments, sources_from_args
from babyllama.data.prepare import DEFAULT_SHARD_TOKENS, prepare


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser, default=["builtin"])
    parser.add_argument("--out", required=True, help="output folder for shards and manifest.json")
    tg = parser.add_mutually_exclusive_group()
    tg.add_argument("--tokenizer", help="SentencePiece .model, llama2.c tokenizer.bin, or folder with tokenizer.model")
    tg.add_argument("--vocab-size", type=int, help="train a tokenizer of this size on the training split")
    vg = parser.add_mutually_exclusive_group()
    vg.add_argument("--val-fraction", type=float, default=0.05, help="share of documents for validation (0.05)")
    vg.add_argument("--val-docs", type=int, default=None, help="exact number of validation documents")
    parser.add_argument("--seed", type=int, default=0, help="split seed (also the built-in stories' seed)")
    parser.add_argument("--shard-tokens", type=int, default=DEFAULT_SHARD_TOKENS,
                        help=f"about this many tokens per shard (default {DEFAULT_SHARD_TOKENS})")
    parser.add_argument("--workers", type=int, default=None, help="tokenizer processes (default: all cores; 1 = no pool)")
    parser.add_argument("--eos", action="store_true", help="also end each document with EOS")
    parser.add_argument("--no-bos", action="store_true", help="do not prefix documents with BOS")
    parser.add_argument("--overwrite", action="store_true", help="replace a different data set in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def run(args: argparse.Namespace) -> int:
    sources = sources_from_args(args, default=["builtin"])
    prepare(sources, args.out, args.tokenizer, vocab_size=args.vocab_size, val_fraction=args.val_fraction,
            val_docs=args.val_docs, seed=args.seed, shard_tokens=args.shard_tokens, num_workers=args.workers,
            bos=not args.no_bos, eos=args.eos, overwrite=args.overwrite, progress=not args.quiet)
    return 0
