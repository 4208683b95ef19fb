"""What `sim serve` and `local serve` share: the port they take and the error when it can't be had."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from finetune_kit.exceptions import FinetuneKitError

__all__ = ["bound", "port_number"]

T = TypeVar("T")


def port_number(value: str) -> int:
    """`--port`: a number from 0 to 65535 (0 takes a free port)."""
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise FinetuneKitError(f"--port must be a number from 0 to 65535, not {value!r}")
    return port


def bound(make: Callable[[], T], host: str, port: int) -> T:
    """`make()` a server bound to `host:port`; a port that can't be had is one clear line."""
    try:
        return make()
    except OSError as exc:
        hint = " (try another --port, or --port 0)" if port else ""
        reason = exc.strerror or str(exc)
        raise FinetuneKitError(f"cannot listen on {host}:{port}: {reason}{hint}") from None
