"""`babyllama extend MODEL --corpus FILES --new-pieces N --out DIR`: extend a model's SentencePiece
vocabulary with pieces learned on a new language (babyllama.checkpoint.extend)."""
from __future__ import annotations

import argparse
import copy
from pathlib import Path

from babyllama.checkpoint.extend import INITS, extend_vocabulary, fertility
from babyllama.checkpoint.model_dir import save_model
from babyllama.cli.common import add_source_arguments, sources_from_args
from babyllama.data.sources import iter_documents
from babyllama.loading import load
from babyllama.utils.io import BabyLlamaError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model to extend: a model folder, llama2.c .bin (with --tokenizer), HF, GGUF")
    parser.add_argument("--tokenizer", help="tokenizer file, for formats that carry none (llama2.c: tok512.bin)")
    add_source_arguments(parser, flag="--corpus")
    parser.add_argument("--new-pieces", type=int, required=True, metavar="N",
                        help="pieces to add (fewer are added when the corpus has fewer new pieces)")
    parser.add_argument("--init", choices=INITS, default="calibrated",
                        help="new rows: 'mean' = the mean of the rows of the pieces the old tokenizer splits each "
                             "into; 'calibrated' (default) = that mean, each new row moved along the base model's "
                             "mean hidden state on the corpus until its logit there gives the piece its corpus "
                             "frequency (untied models: both matrices by that rule)")
    parser.add_argument("--eval", nargs="+", action="extend", default=[], metavar="FILE",
                        help="texts to report fertility on before/after (read like --corpus), e.g. test sets")
    parser.add_argument("--out", required=True, help="model folder to write")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument("--seed", type=int, default=0, help="seed of the piece learner (default 0)")
    parser.add_argument("--threads", type=int, default=None, help="SentencePiece trainer threads (default: all)")


def run(args: argparse.Namespace) -> int:
    if args.new_pieces < 1:
        raise BabyLlamaError(f"--new-pieces {args.new_pieces}: must be >= 1")
    out = Path(args.out)
    if out.exists() and not args.force:
        raise BabyLlamaError(f"{out}: exists; pass --force to replace it or choose another --out")
    loaded = load(args.model, tokenizer=args.tokenizer)
    model, tok = loaded.model, loaded.tokenizer
    texts = list(iter_documents(sources_from_args(args)))
    evals = {spec: list(iter_documents(sources_from_args(_with_sources(args, [spec])))) for spec in args.eval}
    before = {name: fertility(tok, docs) for name, docs in evals.items()}
    ext = extend_vocabulary(model, tok, texts, args.new_pieces, init=args.init, seed=args.seed,
                            num_threads=args.threads)
    after = {name: fertility(ext.tokenizer, docs) for name, docs in evals.items()}
    if ext.added < args.new_pieces:
        print(f"note: the corpus supplies only {ext.added} new pieces; added {ext.added} of {args.new_pieces}")
    print(f"vocabulary {ext.old_vocab_size} -> {ext.tokenizer.vocab_size} ({ext.added} new pieces)")
    if evals:
        print(f"{'text':<48} {'tokens/char':>22} {'tokens/byte':>22}")
        for name in evals:
            b, a = before[name], after[name]
            print(f"{Path(name).name[:48]:<48} {b['tokens_per_char']:>9.3f} -> {a['tokens_per_char']:<9.3f}"
                  f"   {b['tokens_per_byte']:>9.3f} -> {a['tokens_per_byte']:<9.3f}")
    info = {**ext.info(), "from": str(args.model), "corpus": args.sources,
            "fertility": {name: {"before": before[name], "after": after[name]} for name in evals}}
    save_model(ext.model, out, ext.tokenizer, extra={"extended": info})
    print(f"wrote {out}")
    return 0


def _with_sources(args: argparse.Namespace, specs: list[str]) -> argparse.Namespace:
    other = copy.copy(args)
    other.sources = specs
    return other
