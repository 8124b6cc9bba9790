"""`babyllama convert SRC DST --to FORMAT`: any supported checkpoint to any writable format."""
from __future__ import annotations

import argparse

from babyllama.interop.convert import TARGETS, check_destination, save_as
from babyllama.loading import load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", help="checkpoint to read (format detected from its content)")
    parser.add_argument("dst", help="file or folder to write")
    parser.add_argument("--to", required=True, choices=TARGETS, help="output format")
    parser.add_argument("--tokenizer", default=None,
                        help="tokenizer file (.model or llama2.c tokenizer.bin); needed for llama2.c sources")
    parser.add_argument("--hf-dtype", default="float32", choices=("float32", "float16", "bfloat16"),
                        help="weight dtype of an hf export")
    parser.add_argument("--force", action="store_true", help="replace DST if it exists")


def run(args: argparse.Namespace) -> int:
    check_destination(args.src, args.dst, args.to, force=args.force)
    loaded = load(args.src, tokenizer=args.tokenizer, require_tokenizer=False)
    written = save_as(loaded.model, loaded.tokenizer, args.dst, args.to, hf_dtype=args.hf_dtype)
    info = loaded.info
    print(f"read {info['format']}: {info['description']}")
    for note in info.get("notes", []):
        print(f"note: {note}")
    for p in written:
        print(f"wrote {p}")
    if args.to.startswith("llama2c") and len(written) == 1:
        print("note: no tokenizer written (llama2.c's tokenizer.bin needs a SentencePiece tokenizer; pass "
              "--tokenizer with a .model or tokenizer.bin)")
    return 0
