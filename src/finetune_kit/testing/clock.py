"""Clocks for the simulator: virtual time for tests, scaled wall time for demos.

A clock gives `now()` in Unix seconds (float) and `sleep()` / `asleep()`. Pass `clock.sleep` to
code that would otherwise sleep for real, and a test of a 2-hour job takes milliseconds.

`Clock`, the protocol, is the platform's (`finetune_kit.platform.clock`).
"""

from __future__ import annotations

import threading
import time

import anyio
import anyio.lowlevel

from finetune_kit.platform.clock import Clock

__all__ = ["Clock", "ScaledClock", "VirtualClock"]

DEFAULT_START = 1_793_491_200.0
"""2026-11-01T00:00:00Z: where virtual time starts unless told otherwise."""


class VirtualClock:
    """Time that moves only when told to: `sleep()` and `advance()` move it, instantly.

    Thread-safe. Sleeping a negative or zero time does nothing.

    Example:
        ```python
        clock = VirtualClock()
        clock.sleep(3600)          # returns at once; an hour has passed
        ```

    Added in 0.1.0.
    """

    def __init__(self, start: float = DEFAULT_START) -> None:
        self._now = float(start)
        self._lock = threading.Lock()
        self.slept: float = 0.0
        """Total seconds passed through `sleep`/`asleep` (not `advance`)."""

    def now(self) -> float:
        """Current virtual time, Unix seconds."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`."""
        if seconds > 0:
            with self._lock:
                self._now += seconds

    def sleep(self, seconds: float) -> None:
        """Move time forward by `seconds` and return at once."""
        if seconds > 0:
            with self._lock:
                self._now += seconds
                self.slept += seconds

    async def asleep(self, seconds: float) -> None:
        """Move time forward by `seconds`; yields to the event loop once."""
        self.sleep(seconds)
        await anyio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        return f"<VirtualClock now={self._now:.1f}>"


class ScaledClock:
    """Wall time running `speed` times faster: with `speed=60`, a 5-minute job takes 5 seconds.

    Added in 0.1.0.
    """

    def __init__(self, speed: float = 60.0, start: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._origin_wall = time.monotonic()
        self._origin = time.time() if start is None else start

    def now(self) -> float:
        """Scaled current time, Unix seconds."""
        return self._origin + (time.monotonic() - self._origin_wall) * self.speed

    def sleep(self, seconds: float) -> None:
        """Sleep `seconds` of scaled time (`seconds / speed` of wall time)."""
        if seconds > 0:
            time.sleep(seconds / self.speed)

    async def asleep(self, seconds: float) -> None:
        """Sleep `seconds` of scaled time without blocking the event loop."""
        if seconds > 0:
            await anyio.sleep(seconds / self.speed)
