"""`babyllama train-tokenizer`: train a SentencePiece BPE tokenizer on the documents of some sources."""
from __future__ import annotations

import argparse

from babyllama.cli.common import add_source_arguments, sources_from_args
from babyllama.data.sources import iter_documents
from babyllama.tokenizers import save_llama2c_tokenizer, train_tokenizer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser, flag="--source")
    parser.add_argument("--input", nargs="+", action="extend", dest="sources", metavar="FILE",
                        help="input files (same as --source)")
    parser.add_argument("--vocab-size", type=int, required=True, help="number of pieces, e.g. 512, 4096, 32000")
    parser.add_argument("--out", required=True, help="output SentencePiece model, e.g. tok4096.model")
    parser.add_argument("--model-type", choices=("bpe", "unigram"), default="bpe")
    parser.add_argument("--character-coverage", type=float, default=None,
                        help="share of characters covered by pieces (default 1.0 below 8000 pieces, else 0.9995)")
    parser.add_argument("--input-sentence-size", type=int, default=2_000_000,
                        help="at most this many lines are sampled for training (default 2000000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--export-bin", metavar="PATH", help="also write a llama2.c tokenizer.bin")
    parser.add_argument("--verbose", action="store_true", help="show SentencePiece's training log")


def run(args: argparse.Namespace) -> int:
    texts = iter_documents(sources_from_args(args))
    tok = train_tokenizer(texts, args.vocab_size, args.out, model_type=args.model_type,
                          character_coverage=args.character_coverage, input_sentence_size=args.input_sentence_size,
                          seed=args.seed, num_threads=args.threads, verbose=args.verbose)
    if args.export_bin:
        save_llama2c_tokenizer(tok, args.export_bin)
    print(f"wrote {args.out}: {tok.vocab_size} pieces, sha256 {tok.hash[:16]}")
    return 0
