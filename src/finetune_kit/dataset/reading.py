"""Reading training files: lines and blocks of bytes, `.gz` decompressed, damage named."""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Generator
from pathlib import Path

from finetune_kit.dataset.formats import HEAD_BYTES, not_text_reason
from finetune_kit.exceptions import DatasetError

__all__ = ["is_gzip", "iter_file_chunks", "iter_file_lines", "open_data", "sniff_file"]

_READ_BYTES = 1024 * 1024


def is_gzip(path: Path) -> bool:
    """Whether a training file is read as gzip-compressed JSONL: its name ends in `.gz`."""
    return path.suffix.lower() == ".gz"


def open_data(path: Path) -> io.BufferedIOBase:
    """Open a training file for reading bytes; a `.gz` file is decompressed as a stream."""
    return gzip.open(path, "rb") if is_gzip(path) else path.open("rb")


_GZIP_ERRORS = (OSError, EOFError, zlib.error)
"""What reading a damaged gzip stream raises (`gzip.BadGzipFile` is an `OSError`)."""


def iter_file_lines(path: Path) -> Generator[bytes, None, None]:
    """The lines of a file, without their newline, read in binary (a `.gz` one decompressed).

    Raises:
        DatasetError: The gzip data of a `.gz` file is damaged or cut short (names the line).
    """
    if is_gzip(path):
        yield from _iter_gzip_lines(path)
        return
    with path.open("rb") as f:
        # In blocks, split in C: a line at a time costs a copy and a generator step per line.
        head: list[bytes] = []  # the start of a line that goes on in the next block
        while block := f.read(_READ_BYTES):
            if b"\n" not in block:
                head.append(block)
                continue
            lines = block.split(b"\n")
            if head:
                head.append(lines[0])
                lines[0] = b"".join(head)
                head = []
            rest = lines.pop()
            if rest:
                head.append(rest)
            yield from lines
        if head:
            yield b"".join(head)


def _iter_gzip_lines(path: Path) -> Generator[bytes, None, None]:
    line = 0
    with gzip.open(path, "rb") as f:
        lines = iter(f)
        while True:
            try:
                raw = next(lines)
            except StopIteration:
                return
            except _GZIP_ERRORS as exc:
                raise DatasetError(
                    f"{path}: the gzip data is damaged or cut short after line {line:,} "
                    f"({_gzip_reason(exc)}): compress the file again",
                    source=str(path),
                    line=line + 1,
                ) from None
            line += 1
            yield raw[:-1] if raw.endswith(b"\n") else raw


def _gzip_reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def iter_file_chunks(path: Path, size: int = 8 * 1024 * 1024) -> Generator[bytes, None, None]:
    """The bytes of a training file in chunks of up to `size` (a `.gz` one decompressed).

    Raises:
        DatasetError: The gzip data of a `.gz` file is damaged or cut short.
    """
    done = 0
    with open_data(path) as f:
        while True:
            try:
                block = f.read(size)
            except _GZIP_ERRORS as exc:
                if not is_gzip(path):
                    raise
                raise DatasetError(
                    f"{path}: the gzip data is damaged or cut short after {done:,} bytes "
                    f"({_gzip_reason(exc)}): compress the file again",
                    source=str(path),
                ) from None
            if not block:
                return
            done += len(block)
            yield block


def sniff_file(path: Path) -> str | None:
    """Why a training file is not JSONL text (binary, misnamed, damaged), or `None`.

    Looks at its first `HEAD_BYTES` only (decompressed, for a `.gz` file).
    """
    try:
        with open_data(path) as f:
            head = f.read(HEAD_BYTES)
    except gzip.BadGzipFile:
        return (
            "not a JSONL text file: its name ends in .gz but it is not gzip-compressed: rename "
            "it (e.g. to .jsonl) or compress it"
        )
    except _GZIP_ERRORS as exc:
        return (
            f"not a JSONL text file: its gzip data is damaged or cut short "
            f"({_gzip_reason(exc)}): compress the file again"
        )
    return not_text_reason(head)
