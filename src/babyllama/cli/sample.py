"""`babyllama sample MODEL --prompt TEXT`: quick samples from a model, run or checkpoint folder.

This is `babyllama generate` with sampling defaults (temperature 0.8, top-k 40, stop at EOS or BOS,
see `babyllama.decode.sample_text`): the same seed and settings give the same text as `generate`."""
from __future__ import annotations

import argparse

from babyllama.cli.common import add_device_argument, add_dtype_argument, device_from_args, dtype_from_args
from babyllama.decode import sample_text
from babyllama.loading import load
from babyllama.utils.io import BabyLlamaError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="model, run or checkpoint folder, or any checkpoint "
                        "`babyllama inspect` reads (HF folder, GGUF, llama2.c .bin/.pt)")
    parser.add_argument("--tokenizer", default=None, help="tokenizer file, e.g. llama2.c's tokenizer.bin "
                        "(default: the one saved with the model)")
    parser.add_argument("--prompt", default="Once upon a time", help="text to continue (default: %(default)r)")
    parser.add_argument("--max-new-tokens", type=int, default=200, help="tokens to generate (default 200)")
    parser.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (default 0.8)")
    parser.add_argument("--top-k", type=int, default=40, help="sample among the k most likely; 0 = all (default 40)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one)")
    parser.add_argument("--num-samples", type=int, default=1, help="how many samples (default 1)")
    add_device_argument(parser)
    add_dtype_argument(parser)


def run(args: argparse.Namespace) -> int:
    if args.max_new_tokens < 1 or args.num_samples < 1 or args.temperature < 0 or args.top_k < 0:
        raise BabyLlamaError("--max-new-tokens and --num-samples must be >= 1, --temperature and --top-k >= 0")
    model, tokenizer = load(args.model, args.tokenizer, device=device_from_args(args), dtype=dtype_from_args(args))
    texts = sample_text(model, tokenizer, args.prompt, args.max_new_tokens, temperature=args.temperature,
                        top_k=args.top_k, num_samples=args.num_samples, seed=args.seed)
    for i, text in enumerate(texts):
        if len(texts) > 1:
            print(f"--- sample {i + 1}")
        print(text)
    return 0
