"""Options and checks that several verbs share. Only cli/ imports this module."""
from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Iterator

import torch

from babyllama.utils.device import pick_device
from babyllama.utils.io import BabyLlamaError


def add_device_argument(parser: argparse.ArgumentParser, default: str = "cpu") -> None:
    parser.add_argument("--device", default=default,
                        help="auto, cpu, cuda, cuda:N or mps (default %(default)s)")


def device_from_args(args: argparse.Namespace) -> torch.device:
    """The --device flag as a torch.device; an unknown or missing device is a one-line error."""
    return pick_device(args.device, "--device")


def add_dtype_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dtype", default="fp32", metavar="{fp32,bf16,int8}",
                        help="weights for inference: fp32 (default), or weight-only bf16 / int8 (faster decoding, "
                             "slightly different numbers; see docs)")


def dtype_from_args(args: argparse.Namespace) -> str:
    """The --dtype flag, checked (an unknown value is a one-line error)."""
    from babyllama.decode.precision import check_dtype

    return check_dtype(args.dtype, "--dtype")


def add_source_arguments(parser: argparse.ArgumentParser, *, flag: str = "--source",
                         default: list[str] | None = None) -> None:
    """The options shared by `prepare` and `train-tokenizer` for choosing and reading inputs."""
    from babyllama.data.sources import DEFAULT_BUILTIN_STORIES, DEFAULT_DELIMITER, FORMATS

    parser.add_argument(flag, nargs="+", action="extend", dest="sources", default=None, metavar="SPEC",
                        help="input: a file (txt, jsonl, json, parquet, optionally .gz/.xz/.zst), a folder or glob of "
                             "them, hf:NAME[@CONFIG]"
                             "[:SPLIT], or builtin (the built-in story generator)"
                             + (f"; default {' '.join(default)}" if default else ""))
    parser.add_argument("--format", choices=FORMATS, default="auto",
                        help="how to read files (default auto: by extension; text is 'delimited' if the "
                             "delimiter occurs, else 'lines' = one document per line)")
    parser.add_argument("--field", default="text", help="text field of JSONL/JSON/parquet/HF rows (default text)")
    parser.add_argument("--delimiter", default=DEFAULT_DELIMITER,
                        help=f"document separator for delimited text (default {DEFAULT_DELIMITER})")
    parser.add_argument("--keep-blank-lines", action="store_true",
                        help="keep blank lines inside documents (default: collapse paragraph breaks to one newline)")
    parser.add_argument("--builtin-stories", type=int, default=DEFAULT_BUILTIN_STORIES, metavar="N",
                        help=f"number of generated stories for --source builtin (default {DEFAULT_BUILTIN_STORIES})")


def sources_from_args(args: argparse.Namespace, default: list[str] | None = None) -> list:
    """The data.sources.Source of each --source SPEC, read with the shared reading options."""
    from babyllama.data.sources import Source

    specs = args.sources or default or []
    if not specs:
        raise BabyLlamaError("no input given; pass --source FILE|hf:NAME|builtin")
    return [Source(spec, format=args.format, field=args.field, delimiter=args.delimiter,
                   keep_blank_lines=args.keep_blank_lines, builtin_stories=args.builtin_stories,
                   seed=getattr(args, "seed", 0))
            for spec in specs]


SMALL_MODEL_PARAMS = 5_000_000


def add_threads_argument(parser: argparse.ArgumentParser, auto_small: bool = True) -> None:
    help_ = ("CPU threads for torch (default: 1 for models under 5M parameters, whose decode steps are "
             "too small to gain from threads and stall badly on a busy machine; else torch's default)"
             if auto_small else "CPU threads for torch (default: torch's)")
    parser.add_argument("--threads", type=int, help=help_)


@contextlib.contextmanager
def cli_threads(args: argparse.Namespace, model: torch.nn.Module, auto_small: bool = True) -> Iterator[None]:
    """torch's intra-op threads from --threads (see add_threads_argument) for the body, then restored."""
    from babyllama.decode.settings import SettingError

    n = getattr(args, "threads", None)
    if n is not None and n < 1:
        raise SettingError(f"--threads {n}: must be >= 1")
    on_cpu = next(model.parameters()).device.type == "cpu"
    if n is None and auto_small and on_cpu and model.config.num_params() < SMALL_MODEL_PARAMS:
        n = 1
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def read_prompts(path: str | Path, field_name: str = "prompt") -> list[str]:
    """Prompts from a text file (one per non-blank line; `\\n` escapes allowed) or JSONL (`field_name`)."""
    from babyllama.data.sources import iter_jsonl

    p = Path(path)
    if not p.is_file():
        raise BabyLlamaError(f"{p}: prompts file not found")
    prompts = []
    if p.suffix.lower() in (".jsonl", ".json"):
        for n, obj in iter_jsonl(p):
            if not isinstance(obj.get(field_name), str):
                raise BabyLlamaError(f"{p}:{n}: no string field {field_name!r}; pass --prompt-field NAME")
            if not obj[field_name].strip():
                raise BabyLlamaError(f"{p}:{n}: field {field_name!r} is empty")
            prompts.append(obj[field_name])
    else:
        try:
            lines = p.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as e:
            raise BabyLlamaError(f"{p}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
        prompts = [line.replace("\\n", "\n") for line in lines if line.strip()]
    if not prompts:
        raise BabyLlamaError(f"{p}: no prompts in the file (it is empty or blank)")
    return prompts
