"""`babyllama prepare`: tokenize text/JSONL/parquet/HF data into token shards (babyllama.data.prepare)."""
from __future__ import annotations

import argparse

from babyllama.cli.common import add_source_arguments, sources_from_args
from babyllama.data.filters import LANGUAGES, PARAGRAPH_BREAKS, Filters
from babyllama.data.prepare import DEFAULT_BATCH_BYTES, DEFAULT_SHARD_TOKENS, MEMORY_BATCHES, prepare

EPILOG = f"""Inputs stream: a --source may be a file (.txt, .jsonl, .json, .parquet, optionally .gz/.xz/.zst), a
folder or a glob of such files (read in sorted order), hf:NAME (streamed; needs `datasets` and the network),
or builtin. Documents that are not UTF-8 and files that end early are skipped, counted in the manifest
and named (file:line) on stderr.

Memory: bounded whatever the input size. Each process stays within its start-up size (Python, numpy,
tokenizer; about 60-100 MB) plus {MEMORY_BATCHES} x --batch-kb (64 MiB at the default), plus about 40 bytes per
token of the longest document, plus 8 bytes per kept document with --dedup.

Resume: a prepare that is killed (or stops on a full disk) keeps its work in OUT/.prepare-work; run the
same command again and it continues from the last filled shard, writing the same bytes as an uninterrupted
run. Other settings or another tokenizer are refused, naming what differs (--overwrite starts again)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_source_arguments(parser, default=["builtin"])
    parser.add_argument("--out", required=True, help="output folder for shards and manifest.json")
    tg = parser.add_mutually_exclusive_group()
    tg.add_argument("--tokenizer", help="SentencePiece .model, llama2.c tokenizer.bin, or folder with tokenizer.model")
    tg.add_argument("--vocab-size", type=int, help="train a tokenizer of this size on the training split "
                    "(holds a sample of up to 2M lines in memory; for big corpora use train-tokenizer on a sample)")
    vg = parser.add_mutually_exclusive_group()
    vg.add_argument("--val-fraction", type=float, default=0.05, help="share of documents for validation (0.05)")
    vg.add_argument("--val-docs", type=int, default=None, help="exact number of validation documents")
    parser.add_argument("--seed", type=int, default=0, help="split seed (also the built-in stories' seed)")
    parser.add_argument("--shard-tokens", type=int, default=DEFAULT_SHARD_TOKENS,
                        help=f"about this many tokens per shard (default {DEFAULT_SHARD_TOKENS}); a filled shard "
                             "is also a resume point")
    parser.add_argument("--workers", type=int, default=None,
                        help="tokenizer processes (default: all cores; 1 = no pool); the output does not depend on it")
    parser.add_argument("--batch-kb", type=int, default=DEFAULT_BATCH_BYTES // 1024,
                        help=f"text per batch sent to a worker, in KiB (default {DEFAULT_BATCH_BYTES // 1024}); "
                             "sets the memory bound")
    parser.add_argument("--eos", action="store_true", help="also end each document with EOS")
    parser.add_argument("--no-bos", action="store_true", help="do not prefix documents with BOS")
    fg = parser.add_argument_group("web-text filters (off by default; what they drop is counted in the manifest)")
    fg.add_argument("--min-chars", type=int, default=0, help="drop documents shorter than this many characters")
    fg.add_argument("--lang", choices=LANGUAGES, default=None,
                    help="drop documents whose letters are under 90%% Latin (charset) or whose words are under "
                         "10%% common English words (language)")
    fg.add_argument("--dedup", action="store_true", help="drop exact duplicates (by a 64-bit hash of the text)")
    parser.add_argument("--paragraph-breaks", choices=PARAGRAPH_BREAKS, default="keep",
                        help="keep (default) or blank: every run of newlines inside a document becomes one blank "
                             "line, the layout of HF TinyStories' validation text (the 2 MiB train slice in "
                             "shared/data has single newlines)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a different data set (or an interrupted run with other settings) in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress line or summary")


def run(args: argparse.Namespace) -> int:
    sources = sources_from_args(args, default=["builtin"])
    filters = Filters(min_chars=args.min_chars, lang=args.lang, dedup=args.dedup,
                      paragraph_breaks=args.paragraph_breaks)
    prepare(sources, args.out, args.tokenizer, vocab_size=args.vocab_size, val_fraction=args.val_fraction,
            val_docs=args.val_docs, seed=args.seed, shard_tokens=args.shard_tokens, num_workers=args.workers,
            bos=not args.no_bos, eos=args.eos, overwrite=args.overwrite, progress=not args.quiet,
            batch_bytes=args.batch_kb * 1024, filters=filters)
    return 0
