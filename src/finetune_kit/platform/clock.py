"""What the platform needs from a clock, and the wall clock a real platform runs on.

The simulator's clocks (`VirtualClock`, `ScaledClock`) are in `finetune_kit.testing.clock`.
"""

from __future__ import annotations

import time
from typing import Protocol

import anyio

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """What the platform needs from a clock.

    Added in 0.1.0.
    """

    def now(self) -> float:
        """Current time, Unix seconds."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let `seconds` pass."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Let `seconds` pass, without blocking the event loop."""
        ...


class SystemClock:
    """Wall time: `time.time`, `time.sleep`, `anyio.sleep`.

    Added in 0.1.0.
    """

    def now(self) -> float:
        """Current time, Unix seconds."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        if seconds > 0:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        """Sleep for real without blocking the event loop."""
        if seconds > 0:
            await anyio.sleep(seconds)
