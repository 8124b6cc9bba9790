"""Labelled sentences: `LABEL ||| sentence` files (SST-5, CFIMDB) and label-name JSON files.

    examples = read_label_file("sst/sst-dev.txt")          # [Example(text, label, line), ...]
    names = read_label_names("sst/sst-label-mapping.json") # ["awful", "bad", ...]

Used by classify/ (classifiers) and data/tasks/ (generative classification). Labels are integer
indices into the label names. Every problem is a BabyLlamaError naming file and line.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from babyllama.utils.io import BabyLlamaError, read_json


@dataclass(frozen=True)
class Example:
    text: str
    label: int
    line: int = 0  # 1-based line (or CSV row) in the source file, for error messages


def read_text(path: Path) -> str:
    if not path.is_file():
        raise BabyLlamaError(f"{path}: file not found")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise BabyLlamaError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start})") from None


def read_label_file(path: str | os.PathLike) -> list[Example]:
    """Read `LABEL ||| sentence` lines (blank lines are skipped). LABEL is a non-negative integer."""
    path = Path(path)
    examples = []
    for i, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        if "|||" not in line:
            raise BabyLlamaError(f"{path}:{i}: no '|||' separator; expected 'LABEL ||| sentence'")
        label, text = line.split("|||", 1)
        label, text = label.strip(), text.strip()
        if not label.isdigit():
            raise BabyLlamaError(f"{path}:{i}: label {label!r} is not a non-negative integer; "
                                 f"expected 'LABEL ||| sentence'")
        if not text:
            raise BabyLlamaError(f"{path}:{i}: empty sentence after '|||'")
        examples.append(Example(text, int(label), i))
    if not examples:
        raise BabyLlamaError(f"{path}: no examples (the file is empty)")
    return examples


def read_label_names(path: str | os.PathLike) -> list[str]:
    """A JSON list of label names, index i naming label i, e.g. ["bad", "good"]."""
    path = Path(path)
    names = read_json(path)
    if not isinstance(names, list) or not names:
        raise BabyLlamaError(f"{path}: label names must be a non-empty JSON list of strings, "
                             f"got {type(names).__name__}")
    for i, n in enumerate(names):
        if not isinstance(n, str) or not n.strip():
            raise BabyLlamaError(f"{path}: label name #{i} is {n!r}; every label name must be a non-empty string")
    if len(set(names)) != len(names):
        raise BabyLlamaError(f"{path}: label names repeat: {names}")
    return names


def check_labels(examples: Sequence[Example], num_labels: int, path: str | os.PathLike) -> None:
    """Every label must index the label names."""
    for ex in examples:
        if not 0 <= ex.label < num_labels:
            raise BabyLlamaError(f"{path}:{ex.line}: label {ex.label} is outside the {num_labels} label names "
                                 f"(0..{num_labels - 1}); fix the label or the label-name file")
