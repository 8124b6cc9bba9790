"""`babyllama ppl`: sliding-window perplexity and bits per byte (babyllama.eval.perplexity)."""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os

from babyllama.cli.common import (add_device_argument, add_dtype_argument, add_threads_argument, cli_threads,
                                  device_from_args, dtype_from_args)
from babyllama.eval.perplexity import evaluate
from babyllama.loading import load
from babyllama.utils.io import BabyLlamaError, atomic_path, atomic_write_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model folder (config.json + model.safetensors + tokenizer.model)")
    parser.add_argument("--data", required=True,
                        help="text/JSONL/JSON/parquet file (optionally .gz/.xz) or a `babyllama prepare` folder")
    parser.add_argument("--tokenizer", help="tokenizer to use instead of the model folder's (must match)")
    parser.add_argument("--format", default="auto",
                        choices=("auto", "lines", "delimited", "jsonl", "json", "parquet", "whole"),
                        help="how to read a file (see `babyllama prepare --help`); 'whole' = the file is one "
                             "document (tokenized in ~1 MB blocks ending at line ends)")
    parser.add_argument("--field", default="text", help="JSONL/JSON/parquet field holding the text (default text)")
    parser.add_argument("--keep-blank-lines", action="store_true", help="keep blank lines inside documents")
    parser.add_argument("--split", default="val", help="split of a prepared folder (default val)")
    parser.add_argument("--mode", choices=("stream", "document"), default="stream",
                        help="stream: one token stream across documents; document: each document alone")
    parser.add_argument("--context", type=int, help="window length (default: the model's max_seq_len)")
    parser.add_argument("--stride", type=int, help="window step (default: context // 2)")
    parser.add_argument("--batch-size", type=int, default=8, help="windows per forward pass (default 8)")
    parser.add_argument("--max-tokens", type=int,
                        help="stop after the documents (for --format whole: ~1 MB blocks) holding this many tokens")
    parser.add_argument("--out", help="write the result as JSON here")
    parser.add_argument("--per-doc-out", help="document mode: write one JSON line per document here")
    parser.add_argument("--record", metavar="RUN_DIR",
                        help="also append the result to RUN_DIR/record.json (the run record reports read)")
    add_device_argument(parser)
    add_dtype_argument(parser)
    add_threads_argument(parser, auto_small=False)
    parser.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    if args.per_doc_out and args.mode != "document":
        raise BabyLlamaError("--per-doc-out needs --mode document")
    if args.record and not os.path.isdir(args.record):
        raise BabyLlamaError(f"--record {args.record}: run folder not found")
    model, tok = load(args.model, args.tokenizer, device_from_args(args), dtype=dtype_from_args(args))
    with contextlib.ExitStack() as stack:
        stack.enter_context(cli_threads(args, model, auto_small=False))
        on_document = None
        if args.per_doc_out:  # written to a temp file, renamed into place only if scoring succeeds
            sink = stack.enter_context(open(stack.enter_context(atomic_path(args.per_doc_out)), "w",
                                            encoding="utf-8"))

            def on_document(i: int, nll: float, n: int) -> None:
                sink.write(json.dumps({"document": i, "tokens": n, "nll": nll, "mean_nll": nll / n,
                                       "perplexity": math.exp(nll / n)}) + "\n")

        res = evaluate(model, tok, args.data, mode=args.mode, context=args.context, stride=args.stride,
                       batch_size=args.batch_size, fmt=args.format, field=args.field, split=args.split,
                       max_tokens=args.max_tokens, keep_blank_lines=args.keep_blank_lines,
                       on_document=on_document, progress=not args.quiet)
    print(res.summary())
    d = res.to_dict()
    d.update(model=str(args.model), data=str(args.data), split=args.split, format=args.format)
    if args.out:
        atomic_write_json(args.out, d)
    if args.record:
        from babyllama.report.records import add_evaluation

        add_evaluation(args.record, "ppl", d)
    return 0
