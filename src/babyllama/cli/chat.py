"""`babyllama chat MODEL`: a multi-turn conversation in the terminal with a model made by `babyllama sft`.

    babyllama chat runs/story_sft/model --system "You write short stories." --temperature 0.7 --top-k 40
    echo "Tell me a story about a cat named Tom." | babyllama chat runs/story_dpo/model   # one turn per line

Each turn goes through the chat template (data/chat.py); the answer streams as it is generated and
stops at <|end|>. Commands: /reset (forget the conversation, keep the system prompt), /save FILE
(write the conversation as JSONL {"messages": [...]}, the layout `babyllama sft` reads), /quit.
The conversation is cut from the left to fit the model's context.
"""
from __future__ import annotations

import argparse
import json
import sys

from babyllama.cli.common import (add_device_argument, add_dtype_argument, add_threads_argument, cli_threads,
                                  device_from_args, dtype_from_args)
from babyllama.cli.generate import add_generation_arguments, config_from_args as generation_config
from babyllama.utils.io import BabyLlamaError, atomic_write_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument("model", help="model folder with the chat tokens (from babyllama sft or dpo)")
    parser.add_argument("--system", default="", help="system prompt put before the conversation")
    add_device_argument(parser)
    add_dtype_argument(parser)
    add_threads_argument(parser)
    add_generation_arguments(parser)
    parser.set_defaults(max_new_tokens=200)


def _save(path: str, messages: list[dict[str, str]]) -> str:
    if not path:
        return "usage: /save FILE"
    try:
        atomic_write_text(path, json.dumps({"messages": messages}, ensure_ascii=False) + "\n")
    except OSError as e:
        return f"cannot write {path}: {e.strerror}"
    return f"saved {len(messages)} messages to {path}"


def run(args: argparse.Namespace) -> int:
    from babyllama.decode.chat import reply
    from babyllama.loading import load

    loaded = load(args.model, device=device_from_args(args), dtype=dtype_from_args(args))
    model, tok = loaded.model, loaded.tokenizer
    cfg = generation_config(args)
    if cfg.num_beams > 1 or cfg.num_return_sequences > 1:
        raise BabyLlamaError("chat streams one answer per turn; drop --num-beams/--num-return-sequences")
    system = [{"role": "system", "content": args.system}] if args.system.strip() else []
    messages = list(system)
    tty = sys.stdin.isatty()
    if tty:
        print("chat with /reset, /save FILE, /quit", file=sys.stderr)
    with cli_threads(args, model):
        while True:
            if tty:
                print("you> ", end="", flush=True, file=sys.stderr)
            line = sys.stdin.readline()
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            if text in ("/quit", "/exit"):
                break
            if text == "/reset":
                messages = list(system)
                print("(conversation reset)", file=sys.stderr)
                continue
            if text.startswith("/save"):
                print(_save(text[5:].strip(), messages), file=sys.stderr)
                continue
            messages.append({"role": "user", "content": text})
            print("assistant> ", end="", flush=True)
            result = reply(model, tok, [messages], cfg, stream=lambda i, piece: print(piece, end="", flush=True))[0]
            print(flush=True)
            messages.append({"role": "assistant", "content": result.text.strip() or "..."})
    return 0
