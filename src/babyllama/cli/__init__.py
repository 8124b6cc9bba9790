"""`babyllama <verb>`: one entry point, each verb a thin wrapper over a Python function.

Each verb is one small file in this package, `cli/<verb>.py`, over a library function. It defines
    add_arguments(parser: argparse.ArgumentParser) -> None
    run(args: argparse.Namespace) -> int | None
and is imported only when its verb is used, so `babyllama --help` stays fast. Only cli/ knows the
command line: library modules take plain arguments and raise BabyLlamaError for bad input, which
is printed here on one line (exit code 2).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from babyllama.utils.io import BabyLlamaError

# verb -> (module, one-line help). Keep in pipeline order.
VERBS: dict[str, tuple[str, str]] = {
    "stories": ("babyllama.cli.stories", "write built-in procedurally generated children's stories"),
    "train-tokenizer": ("babyllama.cli.train_tokenizer", "train a SentencePiece BPE tokenizer on a corpus"),
    "prepare": ("babyllama.cli.prepare", "tokenize text/JSONL/parquet/HF data into token shards"),
    "pretrain": ("babyllama.cli.pretrain", "pretrain (or resume) a Llama model on token shards"),
    "sample": ("babyllama.cli.sample", "sample text from a checkpoint (temperature / top-k)"),
    "generate": ("babyllama.cli.generate", "generate text with any decoding strategy (batched, streaming, beams)"),
    "serve": ("babyllama.cli.serve", "serve a model over an OpenAI-compatible HTTP API, with a playground page"),
    "decode-study": ("babyllama.cli.decode_study", "compare decoding settings by text statistics (table + plots)"),
    "ppl": ("babyllama.cli.ppl", "memory-safe sliding-window perplexity and bits per byte"),
    "sweep": ("babyllama.cli.sweep", "train a grid of settings x seeds; summary with mean ± std per cell"),
    "report": ("babyllama.cli.report", "Markdown, HTML, LaTeX tables and figures from run or sweep folders"),
    "sft": ("babyllama.cli.sft", "instruction tuning: chat template, loss on the assistant's tokens only"),
    "dpo": ("babyllama.cli.dpo", "preference tuning on chosen/rejected pairs: DPO, conservative DPO, IPO"),
    "multitask": ("babyllama.cli.multitask", "finetune one model on a mix of tasks: SQuAD, CNN/DM, SST, CFIMDB"),
    "chat": ("babyllama.cli.chat", "multi-turn chat in the terminal with a model made by sft or dpo"),
    "evaluate": ("babyllama.cli.evaluate", "score a model on tasks: SQuAD, CNN/DM, SST, MMLU, WikiText... with baselines"),
    "classify": ("babyllama.cli.classify", "sentiment classification: zero-shot prompting or a finetuned head"),
    "extend": ("babyllama.cli.extend", "extend a model's vocabulary with pieces learned on a new language"),
    "convert": ("babyllama.cli.convert", "convert checkpoints: babyllama, llama2.c, HF transformers, GGUF"),
    "inspect": ("babyllama.cli.inspect", "print the config, size, dtype and tokenizer of any checkpoint"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="babyllama",
        description="Build, train, evaluate and align small Llama-2 models from scratch.",
        epilog="Run `babyllama VERB --help` for a verb's settings.",
        formatter_class=lambda prog: argparse.HelpFormatter(prog, max_help_position=26, width=100),
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, (_, help_) in VERBS.items():
        sub.add_parser(verb, help=help_, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in VERBS:
        parser = build_parser()
        if argv and argv[0] not in ("-h", "--help"):
            parser.error(f"unknown verb {argv[0]!r}; choose from {', '.join(VERBS)}")
        parser.print_help()
        return 0
    verb, rest = argv[0], argv[1:]
    module_name, help_ = VERBS[verb]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"babyllama {verb}", description=help_)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except BabyLlamaError as e:
        print(f"babyllama {verb}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"babyllama {verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
