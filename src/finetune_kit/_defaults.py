"""The clock a call waits on when given none: the simulator's, for a simulator's client.

A `Simulator`'s virtual clock moves only when slept on: waiting on `time.sleep` for a file or a
job it simulates would wait forever. So every waiting call given no `sleep=` asks here, and gets
the simulator's clock for a simulator's client (`finetune_kit.testing.clock_of`), the real one
otherwise. `finetune_kit.platform` is never imported from here: a platform's client exists only
once it has been.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from finetune_kit.platform.clock import Clock

__all__ = ["asleep_for", "now_for", "sleep_for", "timer_for"]


def _clock(client: object) -> Clock | None:
    adapters = sys.modules.get("finetune_kit.platform.transports")
    if adapters is None:  # no simulator was ever made: not one of its clients
        return None
    clock: Clock | None = adapters.clock_of(client)
    return clock


def sleep_for(client: object) -> Callable[[float], None]:
    """`time.sleep`, or the simulator's `clock.sleep` for a simulator's client."""
    clock = _clock(client)
    return time.sleep if clock is None else clock.sleep


def asleep_for(client: object) -> Callable[[float], Awaitable[None]]:
    """`anyio.sleep`, or the simulator's `clock.asleep` for a simulator's client."""
    clock = _clock(client)
    return anyio.sleep if clock is None else clock.asleep


def now_for(client: object) -> Callable[[], float]:
    """`time.time`, or the simulator's `clock.now` for a simulator's client."""
    clock = _clock(client)
    return time.time if clock is None else clock.now


def timer_for(client: object) -> Callable[[], float]:
    """`time.perf_counter`, or the simulator's `clock.now` for a simulator's client."""
    clock = _clock(client)
    return time.perf_counter if clock is None else clock.now
