"""Waits said on stderr: what a command waits for (a model not served yet), as it waits.

The library announces each such wait on the `finetune_kit.waits` logger at INFO; while a
command runs, those lines go to stderr as `finetune-kit: waiting for ...`, so no command sits
silent for minutes.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

__all__ = ["LOGGER", "announce_waits"]

LOGGER = "finetune_kit.waits"
"""The logger the library announces its waits on."""


class _Stderr(logging.Handler):
    """One line per announcement, on whatever `sys.stderr` is at that moment."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(f"finetune-kit: {record.getMessage()}", file=sys.stderr, flush=True)
        except Exception:  # noqa: BLE001 - a log line must never end the command
            self.handleError(record)


@contextlib.contextmanager
def announce_waits() -> Iterator[None]:
    """Print the library's wait announcements on stderr while the block runs."""
    logger = logging.getLogger(LOGGER)
    handler = _Stderr(logging.INFO)
    level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
