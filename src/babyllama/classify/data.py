"""Classification data: `LABEL ||| sentence` files (SST-5, CFIMDB), label-name JSON, JSONL and CSV.

    examples = read_label_file("sst/sst-dev.txt")          # [Example(text, label, line), ...]
    names = read_label_names("sst/sst-label-mapping.json") # ["awful", "bad", ...]
    examples, names = read_table("reviews.jsonl", text_field="review", label_field="stars")

Labels are integer indices into the label names. Every problem is a BabyLlamaError naming file and line.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

# the `LABEL ||| sentence` reader and label names live in data/labels.py (data/tasks reads them too);
# classify's callers import them from here
from babyllama.data.labels import Example, check_labels, read_label_file, read_label_names, read_text  # noqa: F401
from babyllama.data.sources import iter_jsonl
from babyllama.utils.io import BabyLlamaError


def _to_label(value: object, names: Sequence[str] | None, where: str) -> int | str:
    """An int label stays an int; a string is a digit string or a label name."""
    if isinstance(value, bool) or value is None:
        raise BabyLlamaError(f"{where}: label {value!r} is neither an integer nor a label name")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        v = value.strip()
        if names is not None and v in names:
            return names.index(v)
        if v.isdigit():
            return int(v)
        if names is None:
            return v
    raise BabyLlamaError(f"{where}: label {value!r} is neither an integer nor one of the label names "
                         f"{list(names or [])}")


def read_table(path: str | os.PathLike, text_field: str = "text", label_field: str = "label",
               label_names: Sequence[str] | None = None) -> tuple[list[Example], list[str] | None]:
    """Read JSONL (.jsonl/.json, one object a line) or CSV/TSV (.csv/.tsv, with a header row).

    Labels may be integers or names. With `label_names` names map to their index; without them,
    string labels get indices in sorted order and those sorted names are returned."""
    path = Path(path)
    rows: list[tuple[int, dict]] = []
    if path.suffix.lower() in (".csv", ".tsv"):
        text = read_text(path)
        reader = csv.DictReader(text.splitlines(), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        for field in (text_field, label_field):
            if reader.fieldnames is None or field not in reader.fieldnames:
                raise BabyLlamaError(f"{path}:1: no column {field!r} in the header {reader.fieldnames}; "
                                     f"name the columns with --text-field / --label-field")
        rows = [(reader.line_num, row) for row in reader]
    elif path.suffix.lower() in (".jsonl", ".json"):
        rows = list(iter_jsonl(path))
    else:
        raise BabyLlamaError(f"{path}: unknown table type {path.suffix!r}; use .jsonl, .csv or .tsv")
    raw = []
    for i, row in rows:
        for field in (text_field, label_field):
            if field not in row or row[field] is None:
                raise BabyLlamaError(f"{path}:{i}: no field {field!r}; name the fields with "
                                     f"--text-field / --label-field")
        text = str(row[text_field]).strip()
        if not text:
            raise BabyLlamaError(f"{path}:{i}: empty {text_field!r}")
        raw.append((text, _to_label(row[label_field], label_names, f"{path}:{i}"), i))
    if not raw:
        raise BabyLlamaError(f"{path}: no examples (the file is empty)")
    names = list(label_names) if label_names is not None else None
    strings = sorted({lab for _, lab, _ in raw if isinstance(lab, str)})
    if strings:
        if any(isinstance(lab, int) for _, lab, _ in raw):
            raise BabyLlamaError(f"{path}: labels mix integers and names; give --label-names to map the names")
        names = strings
        raw = [(t, names.index(lab), i) for t, lab, i in raw]
    return [Example(t, int(lab), i) for t, lab, i in raw], names


@dataclass
class DatasetFiles:
    train: Path | None
    dev: Path | None
    test: Path | None
    label_names: Path | None


def find_dataset_files(folder: str | os.PathLike) -> DatasetFiles:
    """Find `*-train.txt`, `*-dev.txt`, `*-test.txt`, `*-label-mapping.json` in a folder (minllama's layout)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BabyLlamaError(f"{folder}: no such data folder")

    def one(suffix: str) -> Path | None:
        hits = sorted(folder.glob(f"*{suffix}"))
        if len(hits) > 1:
            raise BabyLlamaError(f"{folder}: several files end in {suffix!r} ({[h.name for h in hits]}); "
                                 f"pass --train/--dev/--test/--label-names explicitly")
        return hits[0] if hits else None

    return DatasetFiles(one("-train.txt"), one("-dev.txt"), one("-test.txt"), one("-label-mapping.json"))


def write_predictions(path: str | os.PathLike, preds: Sequence[int], texts: Sequence[str]) -> None:
    """minllama's output format: one `PRED ||| sentence` line per example, written atomically."""
    from babyllama.utils.io import atomic_write_text

    atomic_write_text(path, "".join(f"{p} ||| {s}\n" for p, s in zip(preds, texts)))


def left_pad(seqs: Sequence[Sequence[int]], pad_id: int):
    """Left-pad token lists into (ids, attention_mask), both int64 (B, T); mask is 1 on real tokens."""
    import torch

    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), T), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, T - len(s):] = torch.tensor(list(s), dtype=torch.long)
            mask[i, T - len(s):] = 1
    return ids, mask
