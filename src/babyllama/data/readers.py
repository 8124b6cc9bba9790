"""Streaming reads of (compressed) input files, line by line, with problems either raised or counted.

`open_binary` reads plain, `.gz`, `.xz` and `.zst` files (zstandard is optional: `pip install zstandard`).
`iter_lines` checks UTF-8 line by line. With a `Problems` in strict mode (the default) a line that is not
UTF-8, or a compressed file that ends early, is a BabyLlamaError naming file and line; in lenient mode
(`babyllama prepare`) it is counted, its place kept (the first few), and the reader goes on: a bad line
comes back as None (its document is dropped), and a truncated file ends at the last complete line.
`Progress` follows how far into the on-disk input the readers are, for bytes/s and ETA.
"""
from __future__ import annotations

import io
import lzma
import sys
import zlib
from pathlib import Path
from typing import IO, Any, Iterator

from babyllama.utils.io import BabyLlamaError

READ_ERRORS = (OSError, EOFError, lzma.LZMAError)
COMPRESSIONS = {".gz": "gz", ".xz": "xz", ".zst": "zst", ".zstd": "zst"}


def compression(path: Path) -> str | None:
    """gz, xz, zst or None, from the file name."""
    return COMPRESSIONS.get(Path(path).suffix.lower())


class _Decompressed(io.RawIOBase):
    """The decompressed bytes of a gzip, xz or zstd stream (several members/frames allowed) as a raw file.
    A stream that stops inside a member raises EOFError; a damaged one raises OSError."""

    def __init__(self, raw: IO[bytes], kind: str) -> None:
        self._raw, self._kind, self._buf, self._in_member = raw, kind, b"", False
        self._errors: tuple[type[BaseException], ...] = (zlib.error, lzma.LZMAError)
        if kind == "zst":
            from babyllama.utils.optional import require

            zstd = require("zstandard", "to read .zst files")
            self._errors += (zstd.ZstdError,)
            self._new = lambda: zstd.ZstdDecompressor().decompressobj()
        elif kind == "xz":
            self._new = lzma.LZMADecompressor
        else:
            self._new = lambda: zlib.decompressobj(wbits=31)
        self._dobj = self._new()

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            chunk = self._raw.read(1 << 20)
            if not chunk:
                if self._in_member:
                    raise EOFError("compressed file ended before the end-of-stream marker was reached")
                return 0
            try:
                self._buf = self._feed(chunk)
            except self._errors as e:
                raise OSError(f"{self._kind}: {e}") from None
        n = min(len(b), len(self._buf))
        b[:n], self._buf = self._buf[:n], self._buf[n:]
        return n

    def _feed(self, chunk: bytes) -> bytes:
        out = []
        while chunk:
            self._in_member = True
            out.append(self._dobj.decompress(chunk))
            if not self._dobj.eof:
                break
            self._in_member, chunk = False, self._dobj.unused_data  # the next member, if any
            self._dobj = self._new()
        return b"".join(out)

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_binary(path: Path, progress: "Progress | None" = None) -> IO[bytes]:
    """The decompressed bytes of `path`; `progress` (if given) follows the on-disk position."""
    raw = open(path, "rb")
    if progress is not None:
        progress.opened(raw)
    kind = compression(path)
    return raw if kind is None else io.BufferedReader(_Decompressed(raw, kind), 1 << 20)  # type: ignore[return-value]


def read_all(path: Path) -> bytes:
    try:
        with open_binary(path) as f:
            return f.read()
    except READ_ERRORS as e:
        raise BabyLlamaError(f"{path}: cannot read/decompress ({e}); check the file is intact") from None


def decode(path: Path, data: bytes, lineno: int | None = None) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        if lineno is None:  # find the line of the bad byte
            lineno = data.count(b"\n", 0, e.start) + 1
        raise BabyLlamaError(
            f"{path}:{lineno}: not valid UTF-8 ({e.reason} at byte {e.start}); re-encode the file as UTF-8"
        ) from None


class Problems:
    """Input problems: raised at once (strict) or counted by kind with the first `keep` places (lenient).

    A lenient reader's reports wait in `fresh` until `take()`: prepare hands them on with the batch they came
    with and `commit`s them when it writes that batch, so a checkpoint counts exactly the input before it."""

    def __init__(self, strict: bool = True, keep: int = 20, echo: bool = False) -> None:
        self.strict, self.keep, self.echo = strict, keep, echo
        self.counts: dict[str, int] = {}
        self.places: list[str] = []
        self.fresh: list[tuple[str, str]] = []
        self.muted = False  # set while a resumed reader re-reads input it already reported on

    def report(self, kind: str, message: str) -> None:
        if self.strict:
            raise BabyLlamaError(message)
        if self.muted:
            return
        self.fresh.append((kind, message))
        if self.echo and len(self.places) + len(self.fresh) <= self.keep:
            print(f"warning: {message}", file=sys.stderr, flush=True)

    def take(self) -> list[tuple[str, str]]:
        taken, self.fresh = self.fresh, []
        return taken

    def commit(self, items: list[tuple[str, str]]) -> None:
        for kind, message in items:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if len(self.places) < self.keep:
                self.places.append(message)

    def state(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "places": list(self.places)}

    def restore(self, state: dict[str, Any]) -> None:
        self.counts, self.places = dict(state["counts"]), list(state["places"])


STRICT = Problems()


def iter_lines(path: Path, problems: Problems = STRICT,
               progress: "Progress | None" = None) -> Iterator[tuple[int, str | None]]:
    """(line number, line without its newline); None for a line that is not UTF-8 (lenient mode only)."""
    lineno = 0
    try:
        with open_binary(path, progress) as f:
            for lineno, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    problems.report("not_utf8", f"{path}:{lineno}: not valid UTF-8 ({e.reason} at byte {e.start} "
                                    "of the line); " + ("re-encode the file as UTF-8" if problems.strict
                                                        else "document skipped"))
                    yield lineno, None
                    continue
                if lineno == 1 and line.startswith("\ufeff"):
                    line = line[1:]
                if line.endswith("\n"):
                    line = line[:-1]
                if line.endswith("\r"):
                    line = line[:-1]
                yield lineno, line
    except READ_ERRORS as e:
        problems.report("truncated", f"{path}:{lineno + 1}: cannot read/decompress ({e}); "
                        + ("check the file is intact" if problems.strict else
                           f"the file ends early: kept its first {lineno} lines, dropped the document in progress"))
        yield lineno + 1, None
        return
    if lineno == 0:
        raise BabyLlamaError(f"{path}: empty file; give a file with text in it")


def contains(path: Path, needle: str) -> bool:
    """True if the (decompressed) file contains `needle`; streams in 1 MiB chunks."""
    pat = needle.encode("utf-8")
    tail = b""
    try:
        with open_binary(path) as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                if pat in tail + chunk:
                    return True
                tail = chunk[-(len(pat) - 1):] if len(pat) > 1 else b""
    except READ_ERRORS as e:
        if isinstance(e, EOFError):  # a truncated file: decide on what could be read
            return False
        raise BabyLlamaError(f"{path}: cannot read/decompress ({e}); check the file is intact") from None
    return False


class Progress:
    """How many on-disk input bytes the readers have passed: finished files plus the open file's position."""

    def __init__(self) -> None:
        self.done = 0
        self._raw: IO[bytes] | None = None
        self._size = 0

    def opened(self, raw: IO[bytes]) -> None:
        self.finish()
        self._raw = raw
        try:
            self._size = Path(raw.name).stat().st_size  # type: ignore[arg-type]
        except (OSError, TypeError):
            self._size = 0

    def finish(self) -> None:
        """The open file is done (call also when a file is skipped whole: add its size with `skip`)."""
        if self._raw is not None:
            self.done += self._size
            self._raw = None

    def skip(self, nbytes: int) -> None:
        self.done += nbytes

    def position(self) -> int:
        if self._raw is None:
            return self.done
        if self._raw.closed:
            return self.done + self._size
        try:
            return self.done + min(self._raw.tell(), self._size)
        except (OSError, ValueError):
            return self.done
