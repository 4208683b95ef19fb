"""The streaming validation engine: lines in, a `ValidationReport` out.

A file is read line by line (or, when it is large, cut into line-aligned chunks that other
processes check in parallel: `parallel.py`); each line is parsed, checked and counted once
(`lines.py`), and only compact per-example numbers are kept and added up (`merge.py`), so memory
stays flat however large the file is.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from finetune_kit.dataset import parallel
from finetune_kit.dataset.cost import estimate_cost
from finetune_kit.dataset.lines import (
    TEMPLATE_ENCODING,
    ChunkResult,
    LineWorker,
    Method,
    Settings,
    TokenizerFailedError,
    example_key,
    finding,
    settings_for,
    sniff_format,
)
from finetune_kit.dataset.merge import Merged
from finetune_kit.dataset.reading import (
    is_gzip,
    iter_file_chunks,
    iter_file_lines,
    open_data,
    sniff_file,
)
from finetune_kit.dataset.report import DatasetStats, Distribution, ValidationReport
from finetune_kit.dataset.tokens import TokenCounter
from finetune_kit.exceptions import DatasetError

__all__ = [
    "TEMPLATE_ENCODING",
    "ChunkResult",
    "Method",
    "Settings",
    "example_key",
    "is_gzip",
    "iter_file_chunks",
    "iter_file_lines",
    "not_text_report",
    "open_data",
    "settings_for",
    "sniff_file",
    "sniff_format",
    "validate_lines",
    "validate_path",
]

SNIFF_LINES = 1000
PARALLEL_MIN_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 4 * 1024 * 1024
SERIAL_BATCH_LINES = 20_000
_MIN_CHUNK_BYTES = 1024 * 1024


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
    """Validate lines in this process."""
    merged = Merged(settings, source, max_findings, validation_keys)
    worker = LineWorker(settings)
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


def not_text_report(
    source: str,
    *,
    settings: Settings,
    reason: str,
    n_epochs: int | Literal["auto"] = "auto",
    prices: dict[str, float] | None = None,
    max_findings: int = 10_000,
) -> ValidationReport:
    """The report on a file that is not JSONL text: that one finding, and nothing counted."""
    found = finding("not_jsonl_text", None, None, reason)
    empty = Distribution.of(())
    return ValidationReport(
        source=source,
        format="unknown",
        model=settings.model,
        encoding=settings.encoding,
        errors=(found,) if max_findings > 0 else (),
        warnings=(),
        counts={found.code: 1},
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
    """Validate a file, in `workers` processes when it is large enough to pay off."""
    size = path.stat().st_size
    small = size < min(PARALLEL_MIN_BYTES, chunk_bytes * 2)
    # A gzip stream can't be cut at byte offsets: it is decompressed once, in this process.
    # An open-weights model's chat template counts in this process: its tokenizer (Rust) keeps
    # threads of its own, which forked workers must not inherit.
    serial = workers <= 1 or small or is_gzip(path) or settings.open_weights is not None
    # A process that has other threads (a notebook kernel, a web app) must not fork: fresh
    # interpreters check chunks beside this thread, for files large enough to repay their
    # start-up (see `parallel.py`).
    context = None if serial else parallel.fork_context()
    spawned = not serial and context is None and size >= parallel.SPAWN_MIN_BYTES
    if serial or (context is None and not spawned):
        return validate_lines(
            iter_file_lines(path),
            source=str(path),
            settings=settings,
            validation_keys=validation_keys,
            n_epochs=n_epochs,
            prices=prices,
            max_findings=max_findings,
        )
    merged = Merged(settings, str(path), max_findings, validation_keys)
    bounds = parallel.chunk_bounds(path, size, _chunk_size(size, workers, chunk_bytes))
    if context is None:
        chunks = parallel.run_spawned(path, bounds, settings, workers)
    else:
        # Load the tokenizer before forking so that every worker inherits it.
        TokenCounter(settings.encoding).max_token_bytes()
        chunks = parallel.run_forked(path, bounds, settings, workers, context)
    for chunk in chunks:
        merged.add(chunk)
    return merged.report(n_epochs, prices)


def _chunk_size(size: int, workers: int, chunk_bytes: int) -> int:
    """Chunks of at most `chunk_bytes`, at least 8 per worker down to 1 MB each.

    Small chunks keep every worker busy to the end (the last chunk is the only one a worker
    may wait for); a chunk costs a few milliseconds of set-up, so not smaller than 1 MB.
    """
    return max(min(chunk_bytes, size // (workers * 8)), min(chunk_bytes, _MIN_CHUNK_BYTES))
