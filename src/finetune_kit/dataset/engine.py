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
import threading
import zlib
from array import array
from collections import Counter
from collections.abc import Generator, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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
        self.counter = TokenCounter(settings.encoding)
        self.limit = model_info(settings.model).training_context

    def run(self, lines: Iterable[bytes], *, first: bool) -> ChunkResult:
        res = ChunkResult()
        findings = res.findings
        check = self.checker.check
        plan_tokens = self.counter.plan_upto
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
            plan = check(obj, n, findings)
            if plan is None:
                continue
            try:
                tokens, assistant, exact = plan_tokens(plan, limit)
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


def settings_for(model: str, fmt: Format) -> Settings:
    """Settings for checking `fmt` lines for `model`."""
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


@dataclass(slots=True)
class _Merged:
    settings: Settings
    source: str
    max_findings: int
    validation_keys: dict[int, int] | None
    lines: int = 0
    rows: int = 0
    tokens: array[int] = field(default_factory=lambda: array("q"))
    assistant: array[int] = field(default_factory=lambda: array("q"))
    messages: array[int] = field(default_factory=lambda: array("q"))
    no_system: int = 0
    no_user: int = 0
    images: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    # Duplicate detection in bounded memory: a set of 64-bit keys while reading, the keys and
    # lines of every example in compact arrays, and the first copy of each duplicate found by
    # one scan at the end (a dict of key -> line would cost ~100 MB per million examples).
    seen: set[int] = field(default_factory=set)
    keys: array[int] = field(default_factory=lambda: array("Q"))
    ex_lines: array[int] = field(default_factory=lambda: array("q"))
    dup_index: array[int] = field(default_factory=lambda: array("q"))

    def add(self, chunk: ChunkResult) -> None:
        offset = self.lines
        shifted = [
            f if not offset or f.line is None else f.model_copy(update={"line": f.line + offset})
            for f in chunk.findings
        ]
        extra: list[Finding] = []
        context = model_info(self.settings.model).training_context
        keep = extra.append
        seen = self.seen
        vkeys = self.validation_keys
        base = len(self.keys)
        for i, rel in enumerate(chunk.ex_line):
            line = rel + offset
            key = chunk.keys[i]
            if key in seen:
                self.dup_index.append(base + i)
            else:
                seen.add(key)
            self.ex_lines.append(line)
            if vkeys is not None and key in vkeys:
                keep(
                    _finding(
                        "train_validation_overlap",
                        line,
                        None,
                        f"also line {vkeys[key]} of the validation set: remove it "
                        "from one of them, or the validation loss is meaningless",
                    )
                )
            tokens = chunk.tokens[i]
            if context is not None and tokens > context:
                # Counting stops early on a very long example once it is over the context.
                size = f"at least {tokens:,}" if rel in chunk.partial else f"{tokens:,}"
                keep(
                    _finding(
                        "example_too_long",
                        line,
                        None,
                        f"{size} tokens, over the {context:,}-token training "
                        "context of this model: it will be truncated; shorten or "
                        "split it",
                    )
                )
        # Line order, whatever the chunking: the max_findings cap then keeps the same findings.
        for f in heapq.merge(shifted, extra, key=lambda f: f.line or 0):
            self._keep(f)
        self.keys.extend(chunk.keys)
        self.tokens.extend(chunk.tokens)
        self.assistant.extend(chunk.assistant)
        self.messages.extend(chunk.messages)
        self.no_system += chunk.no_system
        self.no_user += chunk.no_user
        self.images += chunk.images
        self.rows += chunk.rows
        self.lines += chunk.lines

    def _duplicates(self) -> None:
        self.seen = set()
        if not self.dup_index:
            return
        wanted = {self.keys[i] for i in self.dup_index}
        first: dict[int, int] = {}
        for i, key in enumerate(self.keys):
            if key in wanted and key not in first:
                first[key] = self.ex_lines[i]
        for i in self.dup_index:
            self._keep(
                _finding(
                    "duplicate_example",
                    self.ex_lines[i],
                    None,
                    f"same example as line {first[self.keys[i]]}: remove one copy",
                )
            )

    def _keep(self, f: Finding) -> None:
        self.counts[f.code] += 1
        if len(self.findings) < self.max_findings:
            self.findings.append(f)

    def report(
        self, n_epochs: int | Literal["auto"], prices: dict[str, float] | None
    ) -> ValidationReport:
        s = self.settings
        info = model_info(s.model)
        if not info.known:
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
        context = info.training_context
        tokens = self.tokens
        capped = sum(min(t, context) for t in tokens) if context is not None else sum(tokens)
        ordered = sorted(self.findings, key=lambda f: -1 if f.line is None else f.line)
        stats = DatasetStats(
            rows=self.rows,
            examples=len(tokens),
            messages_per_example=Distribution.of(self.messages),
            tokens_per_example=Distribution.of(tokens),
            assistant_tokens_per_example=Distribution.of(self.assistant),
            total_tokens=sum(tokens),
            training_context=context,
            examples_over_context=sum(t > context for t in tokens) if context is not None else 0,
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
                examples=len(tokens),
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
        for raw in f:
            yield raw[:-1] if raw.endswith(b"\n") else raw


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
            training_context=model_info(settings.model).training_context,
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
    context = _fork_context()
    small = size < min(PARALLEL_MIN_BYTES, chunk_bytes * 2)
    # A gzip stream can't be cut at byte offsets: it is decompressed once, in this process.
    if workers <= 1 or context is None or small or is_gzip(path):
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
        futures: list[Future[ChunkResult]] = [
            executor.submit(_work, (str(path), a, b)) for a, b in bounds
        ]
        for (start, end), future in zip(bounds, futures, strict=True):
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
    with Path(path).open("rb") as f:
        f.seek(start)
        data = f.read(end - start)
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    return _worker.run(lines, first=start == 0)
