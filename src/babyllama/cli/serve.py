"""`babyllama serve MODEL [--host 127.0.0.1] [--port 8000]`: an OpenAI-compatible HTTP API
(/v1/completions, /v1/chat/completions, /v1/models, /health) and the playground page at /."""
from __future__ import annotations

import argparse
from pathlib import Path

from babyllama.cli.common import (add_device_argument, add_dtype_argument, add_threads_argument, cli_threads,
                                  device_from_args, dtype_from_args)
from babyllama.loading import load
from babyllama.utils.io import BabyLlamaError
from babyllama.utils.optional import require


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model folder, run folder, or any checkpoint `babyllama inspect` reads")
    parser.add_argument("--tokenizer", help="tokenizer to use instead of the model's own (llama2.c models need one)")
    parser.add_argument("--name", help="model name in the API (default: the model path's name)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens it to others)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--max-tokens", type=int, default=512, help="most tokens one choice may generate (default 512)")
    parser.add_argument("--max-n", type=int, default=8, help="most choices (n) per request (default 8)")
    parser.add_argument("--max-batch", type=int, default=8,
                        help="most sequences decoded together in one batch (default 8)")
    parser.add_argument("--max-queue", type=int, default=16,
                        help="requests that may wait; more are refused with 503 (default 16)")
    parser.add_argument("--max-body-kb", type=int, default=256, help="largest request body in KiB (default 256)")
    parser.add_argument("--no-batching", action="store_true", help="run requests one at a time")
    add_device_argument(parser)
    add_dtype_argument(parser)
    add_threads_argument(parser)


def run(args: argparse.Namespace) -> int:
    for flag in ("port", "max_tokens", "max_n", "max_batch", "max_queue", "max_body_kb"):
        low = 0 if flag == "port" else 1
        if getattr(args, flag) < low or (flag == "port" and args.port > 65535):
            raise BabyLlamaError(f"--{flag.replace('_', '-')} {getattr(args, flag)}: out of range")
    for module in ("starlette", "uvicorn", "pydantic"):
        require(module, "for `babyllama serve`")
    from babyllama.serve import Limits, run_server

    loaded = load(args.model, tokenizer=args.tokenizer, device=device_from_args(args),
                  dtype=dtype_from_args(args))
    path = Path(args.model).resolve()
    name = args.name or (path.parent.name if path.name == "model" else path.stem if path.is_file() else path.name)
    limits = Limits(max_tokens=args.max_tokens, max_n=args.max_n, max_body_bytes=args.max_body_kb * 1024)
    with cli_threads(args, loaded.model):
        run_server(loaded.model, loaded.tokenizer, name=name, host=args.host, port=args.port, limits=limits,
                   max_batch=args.max_batch, max_queue=args.max_queue, batching=not args.no_batching)
    return 0
