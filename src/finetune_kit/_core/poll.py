"""Waiting for a job, as a generator of commands: the policy, free of I/O and of clocks.

`wait_flow` yields `Fetch(delay)` ("sleep `delay`, then retrieve the job") and is sent back what
happened: `Fetched(job, poll_after)` or the `CallFailed(error, classified)` of
`finetune_kit._core.drive` (its one failure type). The sync and async shells only carry out the
commands, so both wait exactly alike, and tests drive the flow with `.send()` alone.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import timedelta

from openai.types.fine_tuning import FineTuningJob

from finetune_kit._core.drive import CallFailed
from finetune_kit._core.errors import job_error
from finetune_kit.exceptions import ConfigurationError, WaitTimeoutError

__all__ = [
    "DEFAULT_TIMEOUT",
    "TERMINAL",
    "Fetch",
    "Fetched",
    "PollPolicy",
    "WaitFlow",
    "wait_flow",
]

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
STABLE = frozenset({"paused"})
"""Not terminal, but nothing happens until someone acts: poll slowly."""
DEFAULT_TIMEOUT = 24 * 3600.0
"""Seconds `wait()` waits for a job by default (a day)."""


def _seconds(value: float | timedelta | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How to wait for a job: backoff, caps and patience.

    Polls start `initial` seconds apart and back off exponentially to `maximum`, plus up to
    `jitter` random seconds (`backoff`; `rng` seeds the jitter). The server's `openai-poll-after-ms` hint replaces
    the backoff when present, unless `interval` is set (an explicit interval always wins). A
    paused job is polled every `paused_interval` seconds. Transient errors (timeouts, dropped
    connections, 5xx, rate limits, including a `Retry-After` over 120 s, which the SDK gives up
    on) are waited out, up to `max_errors` in a row.

    Added in 0.1.0.
    """

    initial: float = 5.0
    maximum: float = 60.0
    jitter: float = 1.0
    """Random seconds added to each backoff delay (0 for exact delays)."""
    interval: float | None = None
    """A fixed interval instead of the backoff and the server's hint."""
    paused_interval: float = 300.0
    timeout: float | None = DEFAULT_TIMEOUT
    """Give up (WaitTimeoutError) after this many seconds; None waits for ever."""
    max_errors: int = 10
    """Consecutive failed polls tolerated before the last error is raised."""
    rng: random.Random | None = field(default=None, compare=False, repr=False)
    """Where the jitter comes from: `random.Random(seed)` makes the delays repeatable; None
    (the default) draws from the `random` module."""

    def __post_init__(self) -> None:
        for name in ("initial", "maximum", "paused_interval"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"PollPolicy.{name} must be positive")
        if self.interval is not None and self.interval <= 0:
            raise ConfigurationError("PollPolicy.interval must be positive")
        if self.max_errors < 0:
            raise ConfigurationError("PollPolicy.max_errors must be 0 or more")

    @classmethod
    def of(
        cls,
        *,
        poll: float | timedelta | None = None,
        timeout: float | timedelta | None = DEFAULT_TIMEOUT,
    ) -> PollPolicy:
        """Build from the `poll=` / `timeout=` arguments of `wait()`.

        `poll`: a fixed interval (None: the backoff); `timeout`: seconds or a `timedelta`
        (default `DEFAULT_TIMEOUT`, a day; None: no limit). A `timeout` of -1.0, which meant
        "the default" before, still does, with a `DeprecationWarning`: leave it out instead.
        """
        if isinstance(timeout, float) and timeout == -1.0:
            warnings.warn(
                "PollPolicy.of(timeout=-1.0) is deprecated: leave timeout out for the default",
                DeprecationWarning,
                stacklevel=2,
            )
            timeout = DEFAULT_TIMEOUT
        return cls(interval=_seconds(poll), timeout=_seconds(timeout))

    def backoff(self, attempt: int) -> float:
        """The delay before poll number `attempt` + 1 (attempt counts from 1).

        `interval` when set; else `min(maximum, initial * 2 ** (attempt - 1))` plus a random
        `[0, jitter)` seconds from `rng`: within `[base, base + jitter]` whatever the seed.
        """
        if self.interval is not None:
            return self.interval
        base = min(self.maximum, self.initial * 2.0 ** min(attempt - 1, 1000))
        if not self.jitter:
            return base
        draw = self.rng.random() if self.rng is not None else random.random()  # noqa: S311 - jitter, not a secret
        return base + self.jitter * draw


@dataclass(frozen=True, slots=True)
class Fetch:
    """Command: sleep `delay` seconds, then retrieve the job (with its response headers)."""

    delay: float


@dataclass(frozen=True, slots=True)
class Fetched:
    """Result: the job, and the server's `openai-poll-after-ms` hint in seconds (if any)."""

    job: FineTuningJob
    poll_after: float | None = None


@dataclass(slots=True)
class _State:
    waited: float = 0.0
    polls: int = 0
    errors: int = 0
    last: FineTuningJob | None = None
    delays: list[float] = field(default_factory=list)


WaitFlow = Generator[Fetch, Fetched | CallFailed, FineTuningJob]


def wait_flow(policy: PollPolicy) -> WaitFlow:
    """Wait for a job to finish; return its final snapshot (status `succeeded`).

    Raises:
        JobFailedError: The job failed (a subclass says why when the provider did).
        JobCancelledError: The job was cancelled.
        WaitTimeoutError: `policy.timeout` passed first.
        Exception: A non-transient error from a poll, or the last of `max_errors` in a row.
    """
    st = _State()
    outcome = yield Fetch(0.0)
    while True:
        if isinstance(outcome, CallFailed):
            c = outcome.classified
            st.errors += 1
            if not c.transient or st.errors > policy.max_errors:
                if c.translated is not None:
                    raise c.translated from outcome.error
                raise outcome.error
            delay = c.retry_after or policy.backoff(st.errors)
        else:
            st.errors = 0
            st.polls += 1
            job = st.last = outcome.job
            if job.status == "succeeded":
                return job
            if job.status in TERMINAL:
                raise job_error(job)
            if job.status in STABLE:
                delay = policy.paused_interval
            elif outcome.poll_after is not None and policy.interval is None:
                delay = outcome.poll_after
            else:
                delay = policy.backoff(st.polls)
        if policy.timeout is not None:
            remaining = policy.timeout - st.waited
            if remaining <= 0:
                where = f" (last status: {st.last.status})" if st.last is not None else ""
                raise WaitTimeoutError(
                    f"gave up waiting after {st.waited:,.0f} s{where}; the job goes on: "
                    "wait again, or FineTuneJob.retrieve(client, job_id) later",
                    job=st.last,
                    waited=st.waited,
                )
            delay = min(delay, remaining)
        st.waited += delay
        outcome = yield Fetch(delay)
