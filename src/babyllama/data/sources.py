"""Read documents (one str each) from text, JSONL, JSON, parquet, .gz/.xz, Hugging Face datasets or the
built-in story generator.

A source is named by a spec string: a file path, `hf:NAME[@CONFIG][:SPLIT]`, or `builtin`.
Plain text is read either one document per line (`lines`) or as documents separated by a delimiter
such as `<|endoftext|>` (`delimited`); `auto` picks `delimited` when the delimiter occurs in the file.
Every document goes through `normalize_text`: CRLF -> LF, surrounding whitespace stripped and, unless
`keep_blank_lines`, blank lines between paragraphs dropped so paragraphs are separated by exactly one
"\\n" (the TinyStories train file uses single newlines, the validation file blank lines).
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from babyllama.data.readers import STRICT, Problems, Progress, compression, contains, decode, iter_lines, read_all
from babyllama.utils.io import BabyLlamaError

DEFAULT_DELIMITER = "<|endoftext|>"
FORMATS = ("auto", "lines", "delimited", "jsonl", "json", "parquet")
# files a folder or glob source reads (each optionally .gz/.xz/.zst); other files there are left alone
READABLE_SUFFIXES = (".txt", ".text", ".jsonl", ".ndjson", ".json", ".parquet")
DEFAULT_BUILTIN_STORIES = 20000


def normalize_text(text: str, keep_blank_lines: bool = False) -> str:
    """CRLF -> LF; drop blank (whitespace-only) lines unless keep_blank_lines; strip surrounding whitespace
    (as llama2.c does before encoding)."""
    text = text.replace("\r\n", "\n")
    if not keep_blank_lines:
        text = "\n".join(line for line in text.split("\n") if line.strip())
    return text.strip()


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def iter_jsonl(path: str | os.PathLike, problems: Problems = STRICT,
               progress: Progress | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSONL file (optionally .gz/.xz/.zst). A missing
    file, or a line that is not a JSON object, is a BabyLlamaError naming the file and line; a line that is
    not UTF-8 too, unless `problems` is lenient (then it is counted and skipped)."""
    path = Path(path)
    if not path.is_file():
        raise BabyLlamaError(f"{path}: file not found")
    for lineno, line in iter_lines(path, problems, progress):
        if line is None or not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise BabyLlamaError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno}); "
                                 f"expected one JSON object per line") from None
        if not isinstance(obj, dict):
            raise BabyLlamaError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        yield lineno, obj


def _one_line(e: Exception) -> str:
    """An exception's message on one line (pyarrow's span several)."""
    return " ".join(str(e).split()) or type(e).__name__


def _readable_name(path: Path) -> bool:
    name = path.name.lower()
    if compression(path):
        name = name.rsplit(".", 1)[0]
    return name.endswith(READABLE_SUFFIXES)


def format_from_name(path: Path) -> str:
    """Format implied by the file name (after any .gz/.xz/.zst): jsonl, json, parquet, else auto (text)."""
    name = path.name.lower()
    if compression(path):
        name = name.rsplit(".", 1)[0]
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".json"):
        return "json"
    if name.endswith(".parquet"):
        return "parquet"
    return "auto"


def _field_text(value: Any, where: str, field: str) -> str:
    if not isinstance(value, str):
        raise BabyLlamaError(f"{where}: field {field!r} is {type(value).__name__}, not a string; pass --field NAME")
    return value


def _missing_field(where: str, field: str, keys: Iterable[str]) -> BabyLlamaError:
    have = ", ".join(map(str, list(keys)[:12])) or "none"
    return BabyLlamaError(f"{where}: no field {field!r} (fields: {have}); pass --field NAME")


@dataclass
class Source:
    """One input: a file path, a folder or glob of files, `hf:NAME[@CONFIG][:SPLIT]`, or `builtin` (the story
    generator). A folder is read recursively in sorted order (hidden files and files not named *.txt, *.text,
    *.jsonl, *.ndjson, *.json, *.parquet, each optionally .gz/.xz/.zst, are left out); so is a glob's match."""

    spec: str
    format: str = "auto"
    field: str = "text"
    delimiter: str = DEFAULT_DELIMITER
    keep_blank_lines: bool = False
    builtin_stories: int = DEFAULT_BUILTIN_STORIES
    seed: int = 0

    def __post_init__(self) -> None:
        self._resolved: str | None = None
        self._stories: list[str] | None = None  # builtin stories, generated once per Source
        self._units: list[Source] | None = None
        self.spec = str(self.spec)
        if self.format not in FORMATS:
            raise BabyLlamaError(f"unknown format {self.format!r}; choose from {', '.join(FORMATS)}")
        if not self.delimiter:
            raise BabyLlamaError("the document delimiter must not be empty")

    @property
    def kind(self) -> str:
        """builtin, hf, file, or files (a folder or a glob)."""
        if self.spec == "builtin":
            return "builtin"
        if self.spec.startswith("hf:"):
            return "hf"
        if self.path.is_dir() or (glob.has_magic(self.spec) and not self.path.exists()):
            return "files"
        return "file"

    @property
    def path(self) -> Path:
        return Path(self.spec).expanduser()

    def units(self) -> list["Source"]:
        """The sources read one after another: one per file of a folder or glob, else [self]."""
        if self.kind != "files":
            return [self]
        if self._units is None:
            self._units = [dataclasses.replace(self, spec=str(p)) for p in self._expand()]
        return self._units

    def _expand(self) -> list[Path]:
        if self.path.is_dir():
            found = [p for p in self.path.rglob("*") if p.is_file()
                     and not any(part.startswith(".") for part in p.relative_to(self.path).parts)]
            files = sorted((p for p in found if _readable_name(p) and p.stat().st_size > 0),
                           key=lambda p: p.relative_to(self.path).as_posix())
            if not files:
                raise BabyLlamaError(
                    f"{self.path}: no readable files in this folder ({len(found)} other file(s)); it reads non-empty "
                    f"{', '.join('*' + s for s in READABLE_SUFFIXES)} (optionally .gz/.xz/.zst)")
            return files
        files = sorted(Path(p) for p in glob.glob(os.path.expanduser(self.spec), recursive=True) if Path(p).is_file())
        if not files:
            raise BabyLlamaError(f"{self.spec}: no files match this pattern")
        return files

    def resolved_format(self) -> str:
        """The format actually used for a file (auto resolved by name, then by delimiter presence)."""
        self._check_file()
        if self._resolved is None:
            fmt = self.format if self.format != "auto" else format_from_name(self.path)
            if fmt == "auto":
                fmt = "delimited" if contains(self.path, self.delimiter) else "lines"
            self._resolved = fmt
        return self._resolved

    def _check_file(self) -> None:
        p = self.path
        if not p.exists():
            raise BabyLlamaError(f"{p}: file not found; give an existing file, folder, glob, hf:NAME or builtin")
        if not p.is_file():
            raise BabyLlamaError(f"{p}: not a file; give a text/JSONL/JSON/parquet file")
        if p.stat().st_size == 0:
            raise BabyLlamaError(f"{p}: empty file; give a file with text in it")

    def documents(self, problems: Problems | None = None, skip: int = 0,
                  progress: Progress | None = None) -> Iterator[str]:
        """Yield normalized, non-empty documents.

        Without `problems` every input problem is a BabyLlamaError, as is a source with no documents. With a
        lenient `problems` (babyllama prepare) a line that is not UTF-8 drops its document and a truncated
        compressed file ends early, both counted there. `skip` leaves out the first `skip` documents (without
        reporting problems among them again), to resume; `progress` follows the on-disk position."""
        count = 0
        probs = problems or STRICT
        for unit in self.units():
            if problems is not None:
                problems.muted = count < skip
            for text in unit._raw_documents(probs, progress):
                text = normalize_text(text, self.keep_blank_lines)
                if text.strip():
                    count += 1
                    if count <= skip:
                        if problems is not None:
                            problems.muted = count < skip
                        continue
                    yield text
            if progress is not None:
                progress.finish()
        if count == 0 and problems is None:
            raise BabyLlamaError(f"{self.spec}: no documents found (only blank text); check --format/--field")

    def _raw_documents(self, problems: Problems = STRICT, progress: Progress | None = None) -> Iterator[str]:
        if self.kind == "builtin":
            return self._builtin()
        if self.kind == "hf":
            return self._hf(streaming=problems is not STRICT)
        fmt = self.resolved_format()
        if fmt in ("json", "parquet"):
            if progress is not None:
                progress.skip(self.path.stat().st_size)
            return self._json() if fmt == "json" else self._parquet()
        reader = {"lines": self._lines, "delimited": self._delimited, "jsonl": self._jsonl}[fmt]
        return reader(problems, progress)

    def _lines(self, problems: Problems, progress: Progress | None) -> Iterator[str]:
        for _, line in iter_lines(self.path, problems, progress):
            if line is not None and line.strip():
                yield line

    def _delimited(self, problems: Problems, progress: Progress | None) -> Iterator[str]:
        current: list[str] = []
        bad = False  # the document in progress had a line that could not be read: drop it
        for _, line in iter_lines(self.path, problems, progress):
            if line is None:
                bad = True
                continue
            if self.delimiter in line:
                parts = line.split(self.delimiter)
                current.append(parts[0])
                if not bad:
                    yield "\n".join(current)
                bad = False
                yield from parts[1:-1]
                current = [parts[-1]]
            else:
                current.append(line)
        if not bad:
            yield "\n".join(current)

    def _jsonl(self, problems: Problems, progress: Progress | None) -> Iterator[str]:
        path, field = self.path, self.field
        for lineno, obj in iter_jsonl(path, problems, progress):
            value = obj.get(field)
            if not isinstance(value, str):  # missing or not text: say where
                if field not in obj:
                    raise _missing_field(f"{path}:{lineno}", field, obj.keys())
                _field_text(value, f"{path}:{lineno}", field)
            yield value

    def _json(self) -> Iterator[str]:
        text = decode(self.path, read_all(self.path))
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise BabyLlamaError(f"{self.path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None
        if not isinstance(data, list):
            raise BabyLlamaError(
                f"{self.path}: expected a JSON list of objects, got a {type(data).__name__}; use JSONL or a list"
            )
        for i, obj in enumerate(data):
            where = f"{self.path}: item {i}"
            if not isinstance(obj, dict):
                raise BabyLlamaError(f"{where}: expected an object, got {type(obj).__name__}")
            if self.field not in obj:
                raise _missing_field(where, self.field, obj.keys())
            yield _field_text(obj[self.field], where, self.field)

    def _parquet(self) -> Iterator[str]:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise BabyLlamaError(f"{self.path}: reading parquet needs pyarrow; pip install pyarrow") from None
        try:
            handle = io.BytesIO(read_all(self.path)) if compression(self.path) else self.path
            pf = pq.ParquetFile(handle)
        except BabyLlamaError:
            raise
        except Exception as e:  # pyarrow raises ArrowInvalid / OSError for non-parquet input
            raise BabyLlamaError(f"{self.path}: not a readable parquet file ({_one_line(e)})") from None
        names = pf.schema_arrow.names
        if self.field not in names:
            raise _missing_field(str(self.path), self.field, names)
        row = 0
        batches = pf.iter_batches(columns=[self.field], batch_size=1024)
        while True:
            try:  # a damaged page or footer only shows up while reading
                batch = next(batches)
            except StopIteration:
                return
            except Exception as e:
                raise BabyLlamaError(f"{self.path}: damaged parquet file near row {row} ({_one_line(e)}); "
                                     f"check the file is intact") from None
            for value in batch.column(0).to_pylist():
                yield _field_text(value, f"{self.path}: row {row}", self.field)
                row += 1

    def _hf_parts(self) -> tuple[str, str | None, str]:
        rest = self.spec[3:]
        name, _, split = rest.partition(":")
        name, _, config = name.partition("@")
        if not name:
            raise BabyLlamaError(f"{self.spec}: give a dataset name, e.g. hf:roneneldan/TinyStories")
        return name, (config or None), (split or "train")

    def _hf(self, streaming: bool = False) -> Iterator[str]:
        """Rows of a Hugging Face dataset; `streaming` reads them as they download, without a local copy."""
        name, config, split = self._hf_parts()
        try:
            import datasets  # type: ignore[import-not-found]
        except ImportError:
            raise BabyLlamaError(
                f"{self.spec}: Hugging Face datasets need the `datasets` package (pip install datasets) "
                "and network access or a local cache; or download the data and pass the file"
            ) from None
        try:
            ds = (datasets.load_dataset(name, config, split=split, streaming=True) if streaming
                  else datasets.load_dataset(name, config, split=split))
        except Exception as e:  # offline, unknown name, bad split: all reported the same way
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise BabyLlamaError(
                f"{self.spec}: could not load dataset ({msg}); check the name/split and the network, "
                "or set HF_DATASETS_OFFLINE=1 to use a cached copy"
            ) from None
        columns = ds.column_names  # None for some streaming datasets: then checked on the first rows
        if columns is not None and self.field not in columns:
            raise _missing_field(self.spec, self.field, columns)
        row = 0
        for batch in ds.iter(batch_size=1000):
            if self.field not in batch:
                raise _missing_field(self.spec, self.field, batch.keys())
            for value in batch[self.field]:
                yield _field_text(value, f"{self.spec}: row {row}", self.field)
                row += 1

    def _builtin(self) -> Iterator[str]:
        try:
            from babyllama.data.stories import generate_stories
        except ImportError as e:
            raise BabyLlamaError(f"builtin: the story generator is unavailable ({e})") from None
        if self.builtin_stories < 1:
            raise BabyLlamaError(f"builtin: --builtin-stories must be >= 1, got {self.builtin_stories}")
        if self._stories is None:
            self._stories = list(generate_stories(self.builtin_stories, self.seed))
        yield from self._stories

    def describe(self, hash_files: bool = True) -> dict[str, Any]:
        """A JSON-able description, with the sha256 of a source file (of each file of a folder or glob)."""
        if self.kind == "files":
            return {"spec": self.spec, "kind": "files", "files": [u.describe(hash_files) for u in self.units()]}
        if self.kind == "builtin":
            return {"spec": "builtin", "kind": "builtin", "stories": self.builtin_stories, "seed": self.seed}
        if self.kind == "hf":
            name, config, split = self._hf_parts()
            return {"spec": self.spec, "kind": "hf", "name": name, "config": config, "split": split,
                    "field": self.field}
        fmt = self.resolved_format()
        d: dict[str, Any] = {"spec": self.spec, "kind": "file", "path": str(self.path.resolve()), "format": fmt,
                             "bytes": self.path.stat().st_size}
        if fmt in ("jsonl", "json", "parquet"):
            d["field"] = self.field
        if fmt == "delimited":
            d["delimiter"] = self.delimiter
        d["keep_blank_lines"] = self.keep_blank_lines
        if hash_files:
            d["sha256"] = file_sha256(self.path)
        return d


def iter_documents(sources: Iterable[Source | str | os.PathLike]) -> Iterator[str]:
    """All documents of several sources in order (str/path specs use default options)."""
    for s in sources:
        yield from as_source(s).documents()


def as_source(s: Source | str | os.PathLike) -> Source:
    return s if isinstance(s, Source) else Source(str(s))
