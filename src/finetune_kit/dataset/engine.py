"""The streaming validation engine: lines in, a `ValidationReport` out.

A file is read line by line (or, when it is large, cut into line-aligned chunks that worker
processes check in parallel); each line is parsed, checked and counted once, and only compact
per-example numbers are kept, so memory stays flat however large the file is.

Added in 0.1.0.
"""

from __future__ import annotations

import gzip
import hashlib
import heapq
import io
import itertools
import multiprocessing
import os
import sys
import tempfile
import threading
import zlib
from array import array
from collections import Counter, deque
from collections.abc import Generator, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import pydantic_core

from finetune_kit.dataset.catalog import model_info
from finetune_kit.dataset.checks import (
    HEAD_BYTES,
    LineChecker,
    detect_format,
    family_of,
    not_text_reason,
)
from finetune_kit.dataset.codes import CODES
from finetune_kit.dataset.cost import estimate_cost
from finetune_kit.dataset.report import (
    DatasetStats,
    Distribution,
    Finding,
    Format,
    ValidationReport,
)
from finetune_kit.dataset.tokens import TokenCounter
from finetune_kit.exceptions import DatasetError

if TYPE_CHECKING:  # transformers loads only when an open-weights model is validated
    from finetune_kit.dataset.hf_tokens import OpenWeights

__all__ = [
    "Method",
    "Settings",
    "example_key",
    "is_gzip",
    "iter_file_chunks",
    "not_text_report",
    "open_data",
    "sniff_file",
    "validate_lines",
    "validate_path",
]

Method = Literal["supervised", "dpo", "reinforcement"]

MIN_EXAMPLES = 10
SNIFF_LINES = 1000
PARALLEL_MIN_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 4 * 1024 * 1024
SERIAL_BATCH_LINES = 20_000
_READ_BYTES = 1024 * 1024
_BOM = b"\xef\xbb\xbf"
_VISION_FAMILIES = frozenset({"gpt-4o", "gpt-4.1", "unknown"})
_LEGACY_FAMILIES = frozenset({"babbage-002", "davinci-002"})
_METHOD_FORMAT: dict[str, Format] = {
    "supervised": "chat",
    "dpo": "dpo",
    "reinforcement": "reinforcement",
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a worker needs to check lines on its own."""

    model: str
    fmt: Format
    encoding: str
    vision_model: bool
    legacy_model: bool = False
    open_weights: OpenWeights | None = None
    """An open-weights model: its chat template counts the tokens (`dataset.hf_tokens`)."""

    @property
    def context(self) -> int | None:
        """Tokens per training example before truncation (`None`: no limit known)."""
        if self.open_weights is not None:
            return self.open_weights.context
        return model_info(self.model).training_context


def example_key(raw: bytes) -> int:
    """Return the duplicate-detection key of a line: a 64-bit hash of its stripped bytes.

    Added in 0.1.0.
    """
    return int.from_bytes(hashlib.blake2b(raw.strip(), digest_size=8).digest(), "little")


@dataclass(slots=True)
class ChunkResult:
    """Per-example numbers and findings of a run of lines; line numbers relative to its start."""

    lines: int = 0
    rows: int = 0
    ex_line: array[int] = field(default_factory=lambda: array("q"))
    tokens: array[int] = field(default_factory=lambda: array("q"))
    assistant: array[int] = field(default_factory=lambda: array("q"))
    messages: array[int] = field(default_factory=lambda: array("q"))
    keys: array[int] = field(default_factory=lambda: array("Q"))
    no_system: int = 0
    no_user: int = 0
    images: int = 0
    findings: list[Finding] = field(default_factory=list)
    partial: set[int] = field(default_factory=set)
    """Lines (relative) of examples counted only until they were over the training context."""


class TokenizerFailedError(Exception):
    """tiktoken failed on a line (it may raise a `BaseException`: a Rust panic)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(line, reason)
        self.line = line
        self.reason = reason


class _LineWorker:
    def __init__(self, settings: Settings) -> None:
        self.checker = LineChecker(settings.fmt, vision_model=settings.vision_model)
        self.template: Any = None
        if settings.open_weights is not None:
            from finetune_kit.dataset.hf_tokens import TemplateCounter  # noqa: PLC0415

            self.template = TemplateCounter(settings.open_weights)
        else:
            self.counter = TokenCounter(settings.encoding)
        self.limit = settings.context

    def run(self, lines: Iterable[bytes], *, first: bool) -> ChunkResult:  # noqa: PLR0915
        res = ChunkResult()
        findings = res.findings
        check = self.checker.check
        template = self.template
        plan_tokens = self.counter.plan_upto if template is None else None
        limit = self.limit
        from_json = pydantic_core.from_json
        n = 0
        for line_bytes in lines:
            raw = line_bytes
            n += 1
            if n == 1 and first and raw.startswith(_BOM):
                findings.append(
                    _finding(
                        "bom",
                        1,
                        None,
                        "the file starts with a UTF-8 byte-order "
                        "mark (BOM): save it as UTF-8 without BOM",
                    )
                )
                raw = raw[len(_BOM) :]
            try:
                obj = from_json(raw, allow_inf_nan=False)
            except ValueError as exc:
                if not raw.strip():
                    findings.append(_finding("blank_line", n, None, "blank line: remove it"))
                    continue
                res.rows += 1
                obj = _diagnose(raw, n, exc, findings)
                if obj is None:
                    continue
            else:
                res.rows += 1
            before = len(findings)
            plan = check(obj, n, findings)
            if plan is None:
                continue
            if template is not None:
                counted = _template_count(template, obj, n, findings, before)
                if counted is None:
                    continue
                tokens, assistant = counted
                exact = True
            else:
                try:
                    tokens, assistant, exact = plan_tokens(plan, limit)  # type: ignore[misc]
                except (KeyboardInterrupt, SystemExit, GeneratorExit):
                    raise
                except BaseException as exc:  # noqa: BLE001 - a Rust panic is a BaseException
                    raise TokenizerFailedError(n, f"{type(exc).__name__}: {exc}"[:300]) from None
            if not exact:
                res.partial.add(n)
            res.ex_line.append(n)
            res.tokens.append(tokens)
            res.assistant.append(assistant)
            res.messages.append(plan.messages)
            res.keys.append(example_key(raw))
            res.no_system += not plan.has_system
            res.no_user += not plan.has_user
            res.images += plan.images
        res.lines = n
        return res


def _template_count(
    template: Any, obj: Any, line: int, findings: list[Finding], before: int
) -> tuple[int, int] | None:
    """(tokens, trained tokens) of a row by the model's chat template; `None` if not rendered.

    A row the template can't render gets a `template_cannot_render` finding, unless the checks
    already found an error on it (its data is wrong: the template's complaint would only echo
    that).
    """
    from finetune_kit.dataset.hf_tokens import Rejection  # noqa: PLC0415

    counted = template.count(obj)
    if isinstance(counted, Rejection):
        if not any(f.severity == "error" for f in findings[before:]):
            findings.append(
                _finding("template_cannot_render", line, counted.field, counted.message)
            )
        return None
    tokens, trained = counted
    return int(tokens), int(trained)


def _finding(code: str, line: int | None, fld: str | None, message: str) -> Finding:
    return Finding(severity=CODES[code].severity, code=code, line=line, field=fld, message=message)


def _diagnose(raw: bytes, line: int, exc: ValueError, findings: list[Finding]) -> object | None:
    """Explain why a line did not parse; return the object if it parses once repaired."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        findings.append(
            _finding(
                "invalid_utf8",
                line,
                None,
                f"byte {err.start + 1} is not valid UTF-8: re-save the file as UTF-8",
            )
        )
        repaired = raw.decode("utf-8", errors="replace").encode()
        try:
            parsed: object = pydantic_core.from_json(repaired, allow_inf_nan=False)
        except ValueError as exc2:
            exc = exc2
        else:
            return parsed
    reason = str(exc).split(" at line ")[0]
    column = str(exc).rsplit("column ", 1)[-1] if "column " in str(exc) else "?"
    findings.append(
        _finding(
            "invalid_json",
            line,
            None,
            f"not valid JSON at column {column}: {reason} (each line must be one complete JSON "
            "object; check quotes, commas and brackets)",
        )
    )
    return None


# --- running ------------------------------------------------------------------------------


TEMPLATE_ENCODING = "chat template"
"""The `encoding` of a report whose tokens an open-weights model's chat template counted."""


def settings_for(model: str, fmt: Format, open_weights: OpenWeights | None = None) -> Settings:
    """Settings for checking `fmt` lines for `model` (an open-weights one: its chat template)."""
    if open_weights is not None:
        return Settings(
            model=model,
            fmt=fmt,
            encoding=TEMPLATE_ENCODING,
            vision_model=False,
            open_weights=open_weights,
        )
    info = model_info(model)
    return Settings(
        model=model,
        fmt=fmt,
        encoding=info.encoding,
        vision_model=info.family in _VISION_FAMILIES,
        legacy_model=info.family in _LEGACY_FAMILIES,
    )


def sniff_format(lines: Iterable[bytes], method: Method | None) -> Format:
    """The file's format: from `method` when given, else from its first lines."""
    if method is not None:
        return _METHOD_FORMAT[method]
    families: Counter[Format] = Counter()
    for raw in lines:
        try:
            obj = pydantic_core.from_json(raw.lstrip(_BOM))
        except ValueError:
            continue
        if isinstance(obj, dict):
            families[family_of(obj)] += 1
    return detect_format(families)


KEYS_IN_MEMORY = 1 << 20
"""Duplicate keys (16 bytes each with their line) held in memory before they go to a temporary
file: about 16 MB. Smaller datasets never touch the disk."""
_KEY_BUCKET_SHIFT = 56  # 256 buckets, by the top 8 bits of a key


class _KeyStore:
    """Every example's duplicate key and line, in memory that does not grow with the file.

    The (key, line) pairs are split by the top 8 bits of the key into 256 buckets, so all the
    copies of an example land in one bucket, in line order. Past `KEYS_IN_MEMORY` pairs the
    buckets are appended to an anonymous temporary file (16 bytes per example on disk, nothing
    per example in memory). At the end each bucket is read back on its own (1/256th of the
    keys) to find its duplicates, exactly: the same 64-bit keys as `example_key`, and the first
    line of each is the first copy's line.
    """

    __slots__ = ("_file", "_keys", "_lines", "_segments", "_spill_at", "buffered", "spilled")

    def __init__(self, spill_at: int | None = None) -> None:
        self._spill_at = KEYS_IN_MEMORY if spill_at is None else spill_at
        self._keys = [array("Q") for _ in range(256)]
        self._lines = [array("q") for _ in range(256)]
        # Per bucket, (offset, count) of each of its runs in the file, flat: 16 bytes per run.
        self._segments = [array("q") for _ in range(256)]
        self._file: IO[bytes] | None = None
        self.buffered = 0
        """Pairs in memory."""
        self.spilled = 0
        """Pairs in the temporary file."""

    def add(self, keys: array[int], lines: array[int], offset: int) -> None:
        """Add the keys of a chunk's examples, and their lines (plus `offset`)."""
        key_to = [a.append for a in self._keys]
        line_to = [a.append for a in self._lines]
        shift = _KEY_BUCKET_SHIFT
        for key, line in zip(keys, lines, strict=True):
            b = key >> shift
            key_to[b](key)
            line_to[b](line + offset)
        self.buffered += len(keys)
        if self.buffered >= self._spill_at:
            self._spill()

    def memory_bytes(self) -> int:
        """Bytes of the pairs held in memory (the arrays' contents)."""
        return sum(a.itemsize * len(a) for a in (*self._keys, *self._lines))

    def _spill(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="finetune-kit-keys-")  # noqa: SIM115
        f = self._file
        f.seek(0, io.SEEK_END)
        for keys, lines, segments in zip(self._keys, self._lines, self._segments, strict=True):
            if keys:
                segments.extend((f.tell(), len(keys)))
                keys.tofile(f)
                lines.tofile(f)
                del keys[:]  # frees the array's memory
                del lines[:]
        self.spilled += self.buffered
        self.buffered = 0

    def _bucket(self, b: int) -> tuple[array[int], array[int]]:
        keys: array[int] = array("Q")
        lines: array[int] = array("q")
        if self._file is not None:
            runs = self._segments[b]
            for start, count in zip(runs[::2], runs[1::2], strict=True):
                self._file.seek(start)
                keys.fromfile(self._file, count)
                lines.fromfile(self._file, count)
        keys.extend(self._keys[b])
        lines.extend(self._lines[b])
        return keys, lines

    def duplicates(self) -> Generator[tuple[int, int], None, None]:
        """(line, line of the first copy) for every later copy of an example, bucket by bucket."""
        for b in range(256):
            keys, lines = self._bucket(b)
            if len(set(keys)) == len(keys):
                continue
            first: dict[int, int] = {}
            for key, line in zip(keys, lines, strict=True):
                at = first.setdefault(key, line)
                if at != line:
                    yield line, at

    def __del__(self) -> None:  # a run that failed half-way: delete the file all the same
        f = getattr(self, "_file", None)
        if f is not None:
            f.close()

    def close(self) -> None:
        """Drop the pairs and delete the temporary file."""
        if self._file is not None:
            self._file.close()
            self._file = None
        for a in (*self._keys, *self._lines, *self._segments):
            del a[:]
        self.buffered = self.spilled = 0


@dataclass(slots=True)
class _Merged:
    settings: Settings
    source: str
    max_findings: int
    validation_keys: dict[int, int] | None
    lines: int = 0
    rows: int = 0
    examples: int = 0
    # Memory that does not grow with the number of examples: the statistics are exact value
    # counts (token and message counts are small integers, so a Counter holds one entry per
    # distinct value, not per example), and the duplicate keys go to a `_KeyStore`.
    tokens: Counter[int] = field(default_factory=Counter)
    assistant: Counter[int] = field(default_factory=Counter)
    messages: Counter[int] = field(default_factory=Counter)
    no_system: int = 0
    no_user: int = 0
    images: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    keys: _KeyStore = field(default_factory=_KeyStore)

    def add(self, chunk: ChunkResult) -> None:
        offset = self.lines
        shifted = [
            f if not offset or f.line is None else f.model_copy(update={"line": f.line + offset})
            for f in chunk.findings
        ]
        context = self.settings.context
        vkeys = self.validation_keys
        overlaps: list[Finding] = []
        if vkeys:
            for rel, key in zip(chunk.ex_line, chunk.keys, strict=True):
                if key in vkeys:
                    overlaps.append(
                        _finding(
                            "train_validation_overlap",
                            rel + offset,
                            None,
                            f"also line {vkeys[key]} of the validation set: remove it "
                            "from one of them, or the validation loss is meaningless",
                        )
                    )
        too_long: list[Finding] = []
        if context is not None and chunk.tokens and max(chunk.tokens) > context:
            for rel, tokens in zip(chunk.ex_line, chunk.tokens, strict=True):
                if tokens > context:
                    # Counting stops early on a very long example once it is over the context.
                    size = f"at least {tokens:,}" if rel in chunk.partial else f"{tokens:,}"
                    too_long.append(
                        _finding(
                            "example_too_long",
                            rel + offset,
                            None,
                            f"{size} tokens, over the {context:,}-token training "
                            "context of this model: it will be truncated; shorten or "
                            "split it",
                        )
                    )
        # Line order, whatever the chunking: the max_findings cap then keeps the same findings.
        # (`heapq.merge` is stable: on one line, the chunk's findings, then overlap, then length.)
        for f in heapq.merge(shifted, overlaps, too_long, key=lambda f: f.line or 0):
            self._keep(f)
        self.keys.add(chunk.keys, chunk.ex_line, offset)
        self.examples += len(chunk.tokens)
        self.tokens.update(chunk.tokens)
        self.assistant.update(chunk.assistant)
        self.messages.update(chunk.messages)
        self.no_system += chunk.no_system
        self.no_user += chunk.no_user
        self.images += chunk.images
        self.rows += chunk.rows
        self.lines += chunk.lines

    def _duplicates(self) -> None:
        """Count every later copy of an example; list the earliest ones that fit the cap."""
        room = max(self.max_findings - len(self.findings), 0)
        total = 0
        # The `room` smallest lines, in a max-heap of (-line, first line): bounded by the cap,
        # however many copies there are.
        heap: list[tuple[int, int]] = []
        try:
            for line, first in self.keys.duplicates():
                total += 1
                if len(heap) < room:
                    heapq.heappush(heap, (-line, first))
                elif heap and line < -heap[0][0]:
                    heapq.heapreplace(heap, (-line, first))
        finally:
            self.keys.close()
        for neg_line, first in sorted(heap, reverse=True):
            self._keep(
                _finding(
                    "duplicate_example",
                    -neg_line,
                    None,
                    f"same example as line {first}: remove one copy",
                )
            )
        if total > len(heap):
            self.counts["duplicate_example"] += total - len(heap)

    def _keep(self, f: Finding) -> None:
        self.counts[f.code] += 1
        if len(self.findings) < self.max_findings:
            self.findings.append(f)

    def report(
        self, n_epochs: int | Literal["auto"], prices: dict[str, float] | None
    ) -> ValidationReport:
        s = self.settings
        info = model_info(s.model)
        if not info.known and s.open_weights is None:
            self._keep(
                _finding(
                    "unknown_model",
                    None,
                    None,
                    f"finetune-kit does not know {s.model!r} (the provider lists it): tokens "
                    "are counted with o200k_base and no context limit is checked",
                )
            )
        if self.rows < MIN_EXAMPLES:
            self._keep(
                _finding(
                    "too_few_examples",
                    None,
                    None,
                    f"{self.rows} example(s) (non-blank lines): the API requires at least {MIN_EXAMPLES} "
                    "(50-100 good ones usually show an improvement)",
                )
            )
        if s.fmt == "completion" and s.legacy_model:
            self._keep(
                _finding(
                    "legacy_format",
                    None,
                    None,
                    f"prompt/completion rows train the legacy {info.family}; current models "
                    "train on chat 'messages' and are usually the better choice",
                )
            )
        elif (s.fmt == "completion") != s.legacy_model and self.rows:
            self._keep(
                _finding(
                    "model_format_mismatch",
                    None,
                    None,
                    f"{info.family} trains on prompt/completion rows only: convert the file or "
                    "pick a chat model"
                    if s.legacy_model
                    else "prompt/completion rows only fit babbage-002 and davinci-002: convert "
                    "them to chat 'messages', or pick one of those models",
                )
            )
        self._duplicates()
        context = s.context
        tokens = self.tokens  # tokens of an example -> number of examples
        total = sum(t * n for t, n in tokens.items())
        capped = (
            sum(min(t, context) * n for t, n in tokens.items()) if context is not None else total
        )
        over = sum(n for t, n in tokens.items() if t > context) if context is not None else 0
        ordered = sorted(self.findings, key=lambda f: -1 if f.line is None else f.line)
        stats = DatasetStats(
            rows=self.rows,
            examples=self.examples,
            messages_per_example=Distribution.from_counts(self.messages),
            tokens_per_example=Distribution.from_counts(tokens),
            assistant_tokens_per_example=Distribution.from_counts(self.assistant),
            total_tokens=total,
            training_context=context,
            examples_over_context=over,
            examples_without_system=self.no_system,
            examples_without_user=self.no_user,
            images=self.images,
        )
        return ValidationReport(
            source=self.source,
            format=s.fmt,
            model=s.model,
            encoding=s.encoding,
            errors=tuple(f for f in ordered if f.severity == "error"),
            warnings=tuple(f for f in ordered if f.severity == "warning"),
            counts=dict(sorted(self.counts.items())),
            omitted=sum(self.counts.values()) - len(self.findings),
            stats=stats,
            estimate=estimate_cost(
                model=s.model,
                fmt=s.fmt,
                examples=self.examples,
                tokens_per_epoch=capped,
                n_epochs=n_epochs,
                prices=prices,
            ),
        )


def validate_lines(
    lines: Iterable[bytes],
    *,
    source: str,
    settings: Settings,
    validation_keys: dict[int, int] | None = None,
    n_epochs: int | Literal["auto"] = "auto",
    prices: dict[str, float] | None = None,
    max_findings: int = 10_000,
) -> ValidationReport:
    """Validate lines in this process.

    Added in 0.1.0.
    """
    merged = _Merged(settings, source, max_findings, validation_keys)
    worker = _LineWorker(settings)
    stream = iter(lines)
    first = True
    while True:  # in batches, so that per-batch results never hold the whole file twice
        try:
            chunk = worker.run(itertools.islice(stream, SERIAL_BATCH_LINES), first=first)
        except TokenizerFailedError as exc:
            line = merged.lines + exc.line
            raise DatasetError(
                f"{source}:{line}: the tokenizer failed on this line ({exc.reason}); "
                "please report it with the line's shape (not its text)",
                source=source,
                line=line,
            ) from None
        if not chunk.lines:
            break
        merged.add(chunk)
        first = False
    return merged.report(n_epochs, prices)


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


def not_text_report(
    source: str,
    *,
    settings: Settings,
    reason: str,
    n_epochs: int | Literal["auto"] = "auto",
    prices: dict[str, float] | None = None,
    max_findings: int = 10_000,
) -> ValidationReport:
    """The report on a file that is not JSONL text: that one finding, and nothing counted.

    Added in 0.1.0.
    """
    finding = _finding("not_jsonl_text", None, None, reason)
    empty = Distribution.of(())
    return ValidationReport(
        source=source,
        format="unknown",
        model=settings.model,
        encoding=settings.encoding,
        errors=(finding,) if max_findings > 0 else (),
        warnings=(),
        counts={finding.code: 1},
        omitted=0 if max_findings > 0 else 1,
        stats=DatasetStats(
            rows=0,
            examples=0,
            messages_per_example=empty,
            tokens_per_example=empty,
            assistant_tokens_per_example=empty,
            total_tokens=0,
            training_context=settings.context,
            examples_over_context=0,
            examples_without_system=0,
            examples_without_user=0,
            images=0,
        ),
        estimate=estimate_cost(
            model=settings.model,
            fmt="unknown",
            examples=0,
            tokens_per_epoch=0,
            n_epochs=n_epochs,
            prices=prices,
        ),
    )


def validate_path(
    path: Path,
    *,
    settings: Settings,
    workers: int,
    validation_keys: dict[int, int] | None = None,
    n_epochs: int | Literal["auto"] = "auto",
    prices: dict[str, float] | None = None,
    max_findings: int = 10_000,
    chunk_bytes: int = CHUNK_BYTES,
) -> ValidationReport:
    """Validate a file, in `workers` processes when it is large enough to pay off.

    Added in 0.1.0.
    """
    size = path.stat().st_size
    small = size < min(PARALLEL_MIN_BYTES, chunk_bytes * 2)
    # A gzip stream can't be cut at byte offsets: it is decompressed once, in this process.
    # An open-weights model's chat template counts in this process: its tokenizer (Rust) keeps
    # threads of its own, which forked workers must not inherit.
    # A process that has other threads (a notebook kernel, a web app) must not fork, and spawn
    # would run the user's unguarded __main__ again. A thread pool over chunks was measured
    # slower than one thread (the checks hold the GIL between short encodes): such a process
    # validates in this thread.
    context = None if workers <= 1 or small else _fork_context()
    if context is None or is_gzip(path) or settings.open_weights is not None:
        return validate_lines(
            iter_file_lines(path),
            source=str(path),
            settings=settings,
            validation_keys=validation_keys,
            n_epochs=n_epochs,
            prices=prices,
            max_findings=max_findings,
        )
    merged = _Merged(settings, str(path), max_findings, validation_keys)
    bounds = _chunk_bounds(path, size, chunk_bytes)
    # Load the tokenizer before forking so that every worker inherits it.
    TokenCounter(settings.encoding).max_token_bytes()
    for chunk in _run_chunks(path, bounds, settings, workers, context):
        merged.add(chunk)
    return merged.report(n_epochs, prices)


def _run_chunks(
    path: Path,
    bounds: list[tuple[int, int]],
    settings: Settings,
    workers: int,
    context: multiprocessing.context.BaseContext,
) -> Generator[ChunkResult, None, None]:
    """The chunks' results in file order; any failure of a worker ends the run with an error.

    A `ProcessPoolExecutor` notices a worker that dies (killed, out of memory, crashed): every
    pending result then fails with `BrokenProcessPool` instead of never arriving.
    """
    executor = ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(settings,),
    )
    if sys.version_info < (3, 11):  # pragma: no cover - 3.11+ forks every worker up front
        # Fork every worker now, before the executor starts its management thread.
        for _ in range(workers):
            executor._adjust_process_count()  # type: ignore[attr-defined] # noqa: SLF001
    failed = True
    try:
        # A deque, popped as each result is merged: a done future keeps its result, and a list
        # of them would keep every chunk's per-example arrays until the end (memory).
        futures: deque[Future[ChunkResult]] = deque(
            executor.submit(_work, (str(path), a, b)) for a, b in bounds
        )
        for start, end in bounds:
            future = futures.popleft()
            try:
                chunk = future.result()
            except BrokenProcessPool:
                raise DatasetError(
                    f"{path}: a validation worker process died while checking bytes "
                    f"{start:,}-{end:,} (out of memory or killed?); try again with workers=1",
                    source=str(path),
                ) from None
            except TokenizerFailedError as exc:
                raise DatasetError(
                    f"{path}: the tokenizer failed on a line in bytes {start:,}-{end:,} "
                    f"({exc.reason}); please report it with the line's shape (not its text)",
                    source=str(path),
                ) from None
            except Exception as exc:  # noqa: BLE001 - whatever a worker raised, end the run
                raise DatasetError(
                    f"{path}: a validation worker failed while checking bytes {start:,}-{end:,}:"
                    f" {type(exc).__name__}: {exc}",
                    source=str(path),
                ) from None
            yield chunk
        failed = False
    finally:
        if failed:  # stop the other workers now: nothing they would still find is wanted
            processes: dict[int, Any] = getattr(executor, "_processes", None) or {}
            for process in list(processes.values()):
                process.terminate()
        # Wait for the executor's own threads, so that the process is single-threaded again
        # (and a later validation may fork).
        executor.shutdown(wait=True, cancel_futures=True)


def default_workers() -> int:
    """The CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def _fork_context() -> multiprocessing.context.BaseContext | None:
    # Only fork a single-threaded process: forking with threads can deadlock, and "spawn" would
    # re-import the user's __main__ (a script without a main guard would run again).
    if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        return None
    return multiprocessing.get_context("fork")


def _chunk_bounds(path: Path, size: int, chunk_bytes: int) -> list[tuple[int, int]]:
    bounds: list[tuple[int, int]] = []
    start = 0
    with path.open("rb") as f:
        while start < size:
            f.seek(min(start + chunk_bytes, size))
            if f.tell() < size:
                f.readline()
            end = f.tell()
            bounds.append((start, end))
            start = end
    return bounds


_worker: _LineWorker | None = None


def _init_worker(settings: Settings) -> None:
    global _worker  # noqa: PLW0603 - one checker per worker process
    _worker = _LineWorker(settings)


def _work(job: tuple[str, int, int]) -> ChunkResult:
    path, start, end = job
    if _worker is None:  # pragma: no cover - the executor's initializer always runs first
        raise RuntimeError("worker not initialised")
    return _check_chunk(_worker, path, start, end)


def _check_chunk(worker: _LineWorker, path: str, start: int, end: int) -> ChunkResult:
    with Path(path).open("rb") as f:
        f.seek(start)
        data = f.read(end - start)
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    return worker.run(lines, first=start == 0)
