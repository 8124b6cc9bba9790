"""`babyllama generate MODEL --prompt TEXT [decoding flags]`: the decoding engine (babyllama.decode)
on prompts from flags, a file, stdin or an interactive loop; prints the texts or writes JSONL."""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from babyllama.cli.common import (add_device_argument, add_dtype_argument, add_threads_argument, cli_threads,
                                  device_from_args, dtype_from_args, read_prompts)
from babyllama.decode import GenerationConfig, GenerationResult, SettingError, generate, parse_assignments
from babyllama.loading import load
from babyllama.utils.io import BabyLlamaError, atomic_path

_FLAGS: list[tuple[str, type, str]] = [
    ("max_new_tokens", int, "tokens to generate at most"),
    ("temperature", float, "0 = greedy (default); > 0 samples"),
    ("top_k", int, "sample from the k most likely tokens (0 = off)"),
    ("top_p", float, "nucleus sampling mass in (0, 1] (1 = off)"),
    ("min_p", float, "drop tokens below min_p x the top probability (0 = off)"),
    ("repetition_penalty", float, "CTRL-style penalty on tokens in prompt+output (1 = off)"),
    ("presence_penalty", float, "subtract once from logits of generated tokens"),
    ("frequency_penalty", float, "subtract per occurrence in the output"),
    ("no_repeat_ngram_size", int, "never repeat an n-gram of this size (0 = off)"),
    ("num_beams", int, "beam search with this many beams (1 = off)"),
    ("length_penalty", float, "beam score = logprob / length^this"),
    ("num_return_sequences", int, "samples (or best beams) per prompt"),
    ("seed", int, "random seed for sampling"),
]


def add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags for every GenerationConfig field (defaults are GenerationConfig's)."""
    g = parser.add_argument_group("decoding")
    d = GenerationConfig()
    for name, typ, help_ in _FLAGS:
        g.add_argument("--" + name.replace("_", "-"), type=typ, default=getattr(d, name),
                       help=f"{help_} (default {getattr(d, name)})")
    g.add_argument("--early-stopping", action="store_true", help="beam: stop when num_beams hypotheses end")
    g.add_argument("--stop", action="append", default=[], metavar="TEXT", help="stop string (repeatable)")
    g.add_argument("--stop-token-id", action="append", type=int, default=[], metavar="ID",
                   help="extra stop token id (repeatable)")
    g.add_argument("--ignore-eos", action="store_true", help="do not stop at EOS")
    g.add_argument("--logprobs", action="store_true", help="store per-token log-probs and entropies")
    g.add_argument("--no-bos", action="store_true", help="do not put BOS before the prompt")
    g.add_argument("--truncate", choices=("left", "error"), default="left",
                   help="prompt longer than the context: keep its end with a warning, or fail")


def config_from_args(args: argparse.Namespace) -> GenerationConfig:
    kw = {name: getattr(args, name) for name, _, _ in _FLAGS}
    return GenerationConfig(**kw, early_stopping=args.early_stopping, stop=tuple(args.stop),
                            stop_token_ids=tuple(args.stop_token_id), ignore_eos=args.ignore_eos,
                            logprobs=args.logprobs, add_bos=not args.no_bos, truncate=args.truncate)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model folder (config.json + model.safetensors + tokenizer.model)")
    parser.add_argument("--tokenizer", help="tokenizer to use instead of the model folder's (must match)")
    src = parser.add_argument_group("prompts (default: one per line from stdin)")
    src.add_argument("--prompt", action="append", default=[], help="a prompt (repeatable)")
    src.add_argument("--prompts-file", help="text file with one prompt per line, or JSONL with --prompt-field")
    src.add_argument("--prompt-field", default="prompt", help="JSONL field holding the prompt (default prompt)")
    src.add_argument("--interactive", action="store_true", help="read prompts in a loop, stream the answers")
    parser.add_argument("--out", help="write results as JSONL here")
    parser.add_argument("--stream", action="store_true", help="print text token by token (one prompt at a time)")
    parser.add_argument("--batch-size", type=int, default=32, help="prompts decoded together (default 32)")
    add_device_argument(parser)
    add_dtype_argument(parser)
    add_threads_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="print nothing but results/errors")
    add_generation_arguments(parser)


def _print_stream(piece: str) -> None:
    sys.stdout.write(piece)
    sys.stdout.flush()


def _interactive(model: Any, tok: Any, cfg: GenerationConfig, quiet: bool) -> int:
    print("interactive: type a prompt; '/set key=value' changes a setting, '/config' shows them, "
          "'/quit' or Ctrl-D exits", file=sys.stderr)
    while True:
        try:
            line = input("> ")
        except EOFError:
            print(file=sys.stderr)
            return 0
        cmd = line.strip()
        if cmd in ("/quit", "/exit"):
            return 0
        if cmd == "/config":
            print(json.dumps(cfg.to_dict()), file=sys.stderr)
            continue
        if cmd.startswith("/set"):
            try:
                cfg = cfg.replace(**parse_assignments(cmd[4:].split()))
            except BabyLlamaError as e:
                print(f"error: {e}", file=sys.stderr)
            continue
        prompt = line.replace("\\n", "\n")
        sys.stdout.write(prompt)
        t0 = time.perf_counter()
        res = generate(model, tok, [prompt], cfg, stream=lambda i, s: _print_stream(s))
        sys.stdout.write("\n")
        if not quiet:
            dt = time.perf_counter() - t0
            print(f"[{len(res[0].tokens)} tokens, {len(res[0].tokens) / dt:.1f} tok/s, {res[0].finish_reason}]",
                  file=sys.stderr)


def _prompts(args: argparse.Namespace) -> list[str]:
    prompts = list(args.prompt)
    if args.prompts_file:
        prompts += read_prompts(args.prompts_file, args.prompt_field)
    if not args.prompt and not args.prompts_file:
        if sys.stdin.isatty():
            raise BabyLlamaError("no prompts: give --prompt TEXT, --prompts-file FILE, pipe prompts on stdin, "
                                 "or use --interactive")
        prompts = [ln.replace("\\n", "\n") for ln in sys.stdin.read().splitlines() if ln.strip()]
        if not prompts:
            raise BabyLlamaError("stdin: no prompts (input was empty or blank)")
    return prompts


def _write_jsonl(path: str, results: list[GenerationResult], cfg: GenerationConfig) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            for r in results:
                d = r.to_dict()
                d["config"] = cfg.to_dict() if r is results[0] else None
                f.write(json.dumps({k: v for k, v in d.items() if v is not None}, ensure_ascii=False) + "\n")


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.batch_size < 1:
        raise SettingError(f"--batch-size {args.batch_size}: must be >= 1")
    model, tok = load(args.model, args.tokenizer, device_from_args(args), dtype=dtype_from_args(args))
    with cli_threads(args, model):
        if args.interactive:
            return _interactive(model, tok, cfg, args.quiet)
        prompts = _prompts(args)
        t0 = time.perf_counter()
        results: list[GenerationResult] = []
        if args.stream:
            if cfg.num_return_sequences > 1 or cfg.num_beams > 1:
                raise SettingError("--stream shows one sequence at a time; drop --num-return-sequences/--num-beams")
            for p in prompts:
                sys.stdout.write(p)
                res = generate(model, tok, [p], cfg, stream=lambda i, s: _print_stream(s))
                sys.stdout.write("\n")
                for r in res:
                    r.prompt_index = len(results)
                results += res
        else:
            results = generate(model, tok, prompts, cfg, batch_size=args.batch_size)
            if not args.out:
                for r in results:
                    sample = f" sample {r.sample_index}" if cfg.num_return_sequences > 1 else ""
                    print(f"--- prompt {r.prompt_index}{sample} ({r.finish_reason}) ---")
                    print((r.prompt or "") + r.text)
        dt = time.perf_counter() - t0
    if args.out:
        _write_jsonl(args.out, results, cfg)
    if not args.quiet:
        n = sum(len(r.tokens) for r in results)
        print(f"{len(results)} result(s), {n} tokens in {dt:.2f}s ({n / max(dt, 1e-9):.1f} tok/s)"
              + (f" -> {args.out}" if args.out else ""), file=sys.stderr)
    return 0
