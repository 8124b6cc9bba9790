"""`babyllama decode-study MODEL [--setting NAME[:key=value,...]]`: run prompts x decoding settings,
print the statistics table and write tables, samples and plots (babyllama.eval.decode_study)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from babyllama.cli.common import (add_device_argument, add_threads_argument, cli_threads, device_from_args,
                                  read_prompts)
from babyllama.decode import GenerationConfig
from babyllama.eval.decode_study import (BUILTIN_PROMPTS, BUILTIN_SETTINGS, Setting, markdown_table, parse_setting,
                                    run_study, write_outputs)
from babyllama.loading import load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model folder (config.json + model.safetensors + tokenizer.model)")
    parser.add_argument("--out", default="decode_study", help="output folder (default ./decode_study)")
    parser.add_argument("--tokenizer", help="tokenizer to use instead of the model folder's (must match)")
    parser.add_argument("--prompts-file", help="one prompt per line (or JSONL with a 'prompt' field); "
                                               "default: the built-in prompts of the assignment seeds")
    parser.add_argument("--setting", action="append", default=[], metavar="NAME[:key=value,...]",
                        help="a decoding setting (repeatable): a built-in name or NAME:key=value,...; "
                             f"default: all built-ins ({', '.join(BUILTIN_SETTINGS)})")
    parser.add_argument("--samples", type=int, default=4, help="samples per prompt for sampling settings (default 4)")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="tokens per text (default 128)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    add_device_argument(parser)
    add_threads_argument(parser)
    parser.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    settings = [parse_setting(s) for s in args.setting] or [Setting(k, dict(v)) for k, v in BUILTIN_SETTINGS.items()]
    prompts = read_prompts(args.prompts_file) if args.prompts_file else list(BUILTIN_PROMPTS)
    base = GenerationConfig(max_new_tokens=args.max_new_tokens, seed=args.seed)
    model, tok = load(args.model, args.tokenizer, device_from_args(args))
    if not args.quiet:
        print(f"decode-study: {len(prompts)} prompts x {len(settings)} settings, {args.samples} samples per "
              f"prompt when sampling, {args.max_new_tokens} new tokens", file=sys.stderr)
    t0 = time.perf_counter()
    with cli_threads(args, model):
        rows, records = run_study(model, tok, prompts, settings, base=base, samples=args.samples,
                                  batch_size=args.batch_size, progress=not args.quiet)
    out = Path(args.out)
    meta = {"title": f"Model `{args.model}`, {len(prompts)} prompts, {args.max_new_tokens} new tokens, "
                     f"{args.samples} samples per prompt for sampling settings, seed {args.seed}.",
            "model": str(args.model), "settings": {s.name: s.overrides for s in settings},
            "samples": args.samples, "max_new_tokens": args.max_new_tokens, "seed": args.seed,
            "seconds": round(time.perf_counter() - t0, 2)}
    write_outputs(out, rows, records, prompts, meta, plots=not args.no_plots)
    if not args.quiet:
        print(markdown_table(rows))
        print(f"wrote {out}/table.md, table.csv, results.json, samples.md, samples.jsonl"
              + ("" if args.no_plots else ", stats.png, diversity_vs_quality.png")
              + f" in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return 0
