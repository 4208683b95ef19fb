"""Exactly-once job creation, as a generator of commands: free of I/O.

The flow looks for a job already created from the same inputs (by the fingerprint in its
metadata), creates one with the SDK's own retries off, and after an ambiguous failure (a
timeout, a dropped connection, a 5xx: the job may exist although the call failed) looks again
before trying again. However the network misbehaves, at most one job comes out.

Added in 0.1.0.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from openai.types.fine_tuning import FineTuningJob

from finetune_kit._core.errors import Classified
from finetune_kit._core.fingerprint import FINGERPRINT_KEY

__all__ = ["Create", "CreateFailed", "CreateFlow", "Find", "Sleep", "create_flow", "once_flow"]

T = TypeVar("T")

RETRYABLE = frozenset({"failed", "cancelled"})
"""A job that ended so is not reused: asking again means trying again. Any other status (open
set: paused, Azure's pending...) is the run we asked for."""


@dataclass(frozen=True, slots=True)
class Find:
    """Command: list the jobs whose metadata holds this fingerprint (newest first)."""

    fingerprint: str

    @property
    def metadata(self) -> dict[str, str]:
        """The metadata filter for `jobs.list`."""
        return {FINGERPRINT_KEY: self.fingerprint}


@dataclass(frozen=True, slots=True)
class Create:
    """Command: `jobs.create(**params)` with the SDK's retries off."""

    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Sleep:
    """Command: wait `seconds` before going on."""

    seconds: float


@dataclass(frozen=True, slots=True)
class CreateFailed:
    """Result of `Create`: it raised `error`, classified."""

    error: BaseException
    classified: Classified


CreateFlow = Generator[Find | Create | Sleep, Any, FineTuningJob]


def _reusable(jobs: list[FineTuningJob], fingerprint: str) -> FineTuningJob | None:
    # The fingerprint is checked here too: a provider that ignores the metadata filter (or an
    # endpoint that only claims to speak the API) must not make us adopt someone else's job.
    for job in jobs:
        if (job.metadata or {}).get(FINGERPRINT_KEY) == fingerprint and job.status not in RETRYABLE:
            return job
    return None


def once_flow(
    params: dict[str, Any],
    find: Find,
    pick: Callable[[Any], T | None],
    *,
    look_first: bool = True,
    attempts: int = 5,
    backoff: float = 2.0,
) -> Generator[Find | Create | Sleep, Any, T]:
    """Carry out a non-idempotent create at most once.

    Look first (unless `look_first` is false), create, and after an ambiguous failure look
    again before any retry. Sent back: what `find` lists (for `pick` to choose from), the created object or a
    `CreateFailed` for `Create`, None for `Sleep`.
    """
    if look_first:
        found = pick((yield find))
        if found is not None:
            return found
    for attempt in range(1, attempts + 1):
        outcome = yield Create(params)
        if not isinstance(outcome, CreateFailed):
            return outcome  # type: ignore[no-any-return]
        c = outcome.classified
        if c.ambiguous:
            found = pick((yield find))
            if found is not None:
                return found
        if not c.transient or attempt == attempts:
            if c.translated is not None:
                raise c.translated from outcome.error
            raise outcome.error
        yield Sleep(c.retry_after or backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover


def create_flow(
    params: dict[str, Any], fingerprint: str, *, attempts: int = 5, backoff: float = 2.0
) -> CreateFlow:
    """Create the job described by `params` (whose metadata carries `fingerprint`) exactly once.

    Sent back: a list of `FineTuningJob` for `Find`, a `FineTuningJob` or `CreateFailed` for
    `Create`, None for `Sleep`.
    """
    return (
        yield from once_flow(
            params,
            Find(fingerprint),
            lambda jobs: _reusable(jobs, fingerprint),
            attempts=attempts,
            backoff=backoff,
        )
    )
