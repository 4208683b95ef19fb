"""The concurrency gates of `compare` (threads) and `acompare` (tasks): adaptive limits.

At most `aimd.limit` calls at once: each 429 halves the limit, each success grows it back by
one (`finetune_kit._core.scoring.Aimd`). A call holds a slot only while it is made: a call
waiting out a 429 holds none.
"""

from __future__ import annotations

import threading

import anyio

from finetune_kit._core.scoring import Aimd


class _Stopped(Exception):  # noqa: N818 - internal signal, not an error
    """The run was stopped (Ctrl-C, the deadline, or another worker's bug): leave quietly."""


class _Gate:
    """Threads: at most `aimd.limit` calls at once; rate limits shrink the limit."""

    def __init__(self, maximum: int) -> None:
        self.aimd = Aimd(maximum)
        self._cond = threading.Condition()
        self._active = 0
        self._stopped = False

    def __enter__(self) -> None:
        with self._cond:
            while self._active >= self.aimd.limit and not self._stopped:
                self._cond.wait()
            if self._stopped:
                raise _Stopped
            self._active += 1

    def stop(self) -> None:
        """Refuse new calls from now on; wake the tasks waiting for a slot."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def settle(self, timeout: float) -> None:
        """Wait until no call is in flight, `timeout` seconds at most."""
        with self._cond:
            self._cond.wait_for(lambda: self._active == 0, timeout)

    def __exit__(self, *_exc: object) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def outcome(self, *, rate_limited: bool) -> None:
        with self._cond:
            if rate_limited:
                self.aimd.on_rate_limit()
            else:
                self.aimd.on_success()
            self._cond.notify_all()


class _AsyncGate:
    """Tasks: the same adaptive limit as `_Gate`.

    A slot set free wakes one task in line, and a limit grown one per new slot: `notify_all`
    woke every task in line on every call, thousands of them, each to find the slot taken again
    (most of `acompare`'s CPU at 3,000 calls).
    """

    def __init__(self, maximum: int) -> None:
        self.aimd = Aimd(maximum)
        self._cond = anyio.Condition()
        self._active = 0

    async def __aenter__(self) -> None:
        async with self._cond:
            while self._active >= self.aimd.limit:
                await self._cond.wait()
            self._active += 1

    async def __aexit__(self, *_exc: object) -> None:
        async with self._cond:
            self._active -= 1
            if self._active < self.aimd.limit:
                self._cond.notify()

    async def outcome(self, *, rate_limited: bool) -> None:
        async with self._cond:
            before = self.aimd.limit
            if rate_limited:
                self.aimd.on_rate_limit()
            else:
                self.aimd.on_success()
            if self.aimd.limit > before:
                self._cond.notify(self.aimd.limit - before)
