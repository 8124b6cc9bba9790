"""`babyllama stories`: write the built-in generated children's stories to a file or stdout."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from babyllama.data.stories import (
    DELIMITER, count_distinct_words, count_words, format_stories, generate_stories, write_stories,
)
from babyllama.utils.io import BabyLlamaError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=20000, help="number of stories (default 20000)")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed; story i depends only on (seed, i)")
    parser.add_argument("--out", default="-", help="output text file, or '-' for stdout (default)")
    parser.add_argument("--delimiter", default=DELIMITER, help=f"line written after each story (default {DELIMITER})")
    parser.add_argument("--instructions", metavar="DIR",
                        help="instead, write verifiable story instructions to DIR: sft_train.jsonl and "
                             "pairs_train.jsonl (--n of them), eval.jsonl and pairs_val.jsonl (--n-eval held out)")
    parser.add_argument("--n-eval", type=int, default=200, help="held-out instructions with --instructions (default 200)")


def run(args: argparse.Namespace) -> int:
    if args.n < 0:
        raise BabyLlamaError(f"--n {args.n}: the number of stories must be >= 0")
    if not args.delimiter or "\n" in args.delimiter:
        raise BabyLlamaError("--delimiter: must be a non-empty single line")
    start = time.perf_counter()
    if args.instructions:
        from babyllama.data.stories.instructions import write_instruction_files

        counts = write_instruction_files(args.instructions, args.n, args.n_eval, args.seed)
        print(f"instructions: {', '.join(f'{k} {v}' for k, v in counts.items())}, {time.perf_counter() - start:.1f} s "
              f"-> {args.instructions}", file=sys.stderr)
        return 0
    if args.out == "-":
        stories = generate_stories(args.n, args.seed)
        sys.stdout.write(format_stories(stories, args.delimiter))
        sys.stdout.flush()
    else:
        out = Path(args.out)
        if out.is_dir():
            raise BabyLlamaError(f"{out}: is a folder; give a file path for --out")
        stories = write_stories(out, args.n, args.seed, args.delimiter)
    n_words = sum(count_words(s) for s in stories)
    where = "stdout" if args.out == "-" else args.out
    print(f"stories: {len(stories)} stories, {n_words} words, {count_distinct_words(stories)} distinct words, "
          f"{time.perf_counter() - start:.1f} s -> {where}", file=sys.stderr)
    return 0
