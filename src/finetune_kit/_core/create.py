"""Exactly-once job creation, as a generator of commands: free of I/O.

The flow looks for a job already created from the same inputs (by the fingerprint in its
metadata), creates one with the SDK's own retries off, and after an ambiguous failure (a
timeout, a dropped connection, a 5xx: the job may exist although the call failed) looks again
before trying again. Callers that create at the same instant (each looked, found nothing and
created) settle afterwards: the earliest created job wins, the others are cancelled before they
train, and every caller is handed the winner. However the network misbehaves and however many
callers race, one job trains.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from openai.types.fine_tuning import FineTuningJob

from finetune_kit._core.drive import Call, CallFailed, Sleep, Warn
from finetune_kit._core.fingerprint import FINGERPRINT_KEY

__all__ = [
    "NOT_STARTED",
    "CallFailed",
    "Cancel",
    "Create",
    "CreateFailed",
    "CreateFlow",
    "Find",
    "JobsPage",
    "ListJobs",
    "Sleep",
    "Warn",
    "create_flow",
    "once_flow",
    "reconcile_flow",
    "survey_flow",
    "winner",
]

T = TypeVar("T")

RETRYABLE = frozenset({"failed", "cancelled"})
"""A job that ended so is not reused: asking again means trying again. Any other status (open
set: paused, Azure's pending...) is the run we asked for."""

NOT_STARTED = frozenset({"validating_files", "queued", "pending", "created", "notRunning"})
"""Statuses of a job that has not started to train: a duplicate in one is cancelled, nothing lost.
(Azure's legacy API says `created`, `pending` and `notRunning`.)"""

LIST_LIMIT = 100
MAX_PAGES = 10
"""How many pages of `LIST_LIMIT` jobs a look goes through at most: only a provider that ignores
the metadata filter makes it page (its newest 1000 jobs are looked at)."""


@dataclass(frozen=True, slots=True)
class Find(Call):
    """Command: list what a create may have made, tagged `fingerprint` (newest first)."""

    fingerprint: str
    operation: str = "list"

    @property
    def metadata(self) -> dict[str, str]:
        """The metadata filter for `jobs.list`."""
        return {FINGERPRINT_KEY: self.fingerprint}


@dataclass(frozen=True, slots=True)
class ListJobs(Call):
    """Command: one page of `jobs.list(metadata=..., after=..., limit=...)`, newest first."""

    fingerprint: str
    after: str | None = None
    """Page older than this job id (None: from the newest)."""
    limit: int = LIST_LIMIT
    operation: str = "list"

    @property
    def metadata(self) -> dict[str, str]:
        """The metadata filter for `jobs.list` (a provider may ignore it)."""
        return {FINGERPRINT_KEY: self.fingerprint}

    def query(self) -> dict[str, Any]:
        """The keyword arguments of `jobs.list`."""
        kwargs: dict[str, Any] = {"metadata": self.metadata, "limit": self.limit}
        if self.after is not None:
            kwargs["after"] = self.after
        return kwargs


@dataclass(frozen=True, slots=True)
class JobsPage:
    """Result of `ListJobs`: the page's jobs (newest first) and whether more follow."""

    jobs: list[FineTuningJob]
    has_more: bool | None
    """None: the provider left it out (paging goes on while pages come)."""


@dataclass(frozen=True, slots=True)
class Cancel(Call):
    """Command: `jobs.cancel(job_id)` (a duplicate that has not started to train)."""

    job_id: str
    operation: str = "cancel"


@dataclass(frozen=True, slots=True)
class Create(Call):
    """Command: `jobs.create(**params)` with the SDK's retries off (or what `operation` makes)."""

    params: dict[str, Any]
    operation: str = "create"


CreateFailed = CallFailed
"""The result of a `Create` that raised (the same class as `CallFailed`)."""


CreateFlow = Generator[ListJobs | Create | Cancel | Sleep | Warn, Any, FineTuningJob]


def _matches(job: FineTuningJob, fingerprint: str) -> bool:
    # The fingerprint is checked here: a provider that ignores the metadata filter (or an
    # endpoint that only claims to speak the API) must not make us adopt someone else's job.
    return (job.metadata or {}).get(FINGERPRINT_KEY) == fingerprint


def winner(jobs: list[FineTuningJob]) -> FineTuningJob:
    """The job every caller agrees on: the earliest created of `jobs` (listed newest first).

    Ties of `created_at` (whole seconds) go by the listing's order, which is the order of
    creation: of two jobs created in the same second, the one listed last was created first.
    (Ids are opaque and random, so they can't tell which came first: a tie broken by id could
    make a job created later win, after the caller of the earlier one was already handed it.)
    """
    return min(enumerate(jobs), key=lambda pair: (pair[1].created_at, -pair[0]))[1]


def _give_up_or_sleep(
    outcome: CallFailed, tries: int, attempts: int, backoff: float
) -> Generator[Sleep, Any, None]:
    """Wait out a failed call (the classified policy), or raise once it can't be waited out."""
    c = outcome.classified
    if not c.transient or tries >= attempts:
        if c.translated is not None:
            raise c.translated from outcome.error
        raise outcome.error
    yield Sleep(c.retry_after or backoff * 2 ** (tries - 1))


def survey_flow(
    fingerprint: str,
    stop: frozenset[str] = frozenset(),
    *,
    attempts: int = 5,
    backoff: float = 2.0,
    max_pages: int = MAX_PAGES,
) -> Generator[ListJobs | Sleep, Any, list[FineTuningJob]]:
    """List the jobs (newest first) down to the first one in `stop`, at most `max_pages` pages.

    Every listed job is returned, whatever its fingerprint: with a provider that honours the
    metadata filter those are ours; with one that ignores it, the account's newest jobs (the
    caller checks the fingerprint). A failed page is retried per the classified policy.
    Sent back: a `JobsPage` (or a plain list: the last page) or a `CallFailed` for `ListJobs`,
    None for `Sleep`.
    """
    listed: list[FineTuningJob] = []
    after: str | None = None
    pages = tries = 0
    while True:
        outcome = yield ListJobs(fingerprint, after)
        if isinstance(outcome, CallFailed):
            tries += 1
            yield from _give_up_or_sleep(outcome, tries, attempts, backoff)
            continue
        page = outcome if isinstance(outcome, JobsPage) else JobsPage(list(outcome), has_more=False)
        tries = 0
        pages += 1
        for job in page.jobs:
            if job.id in stop:
                return listed
            listed.append(job)
        if not page.jobs or page.has_more is False or pages >= max_pages:
            return listed
        after = page.jobs[-1].id


def reconcile_flow(
    fingerprint: str,
    listed: list[FineTuningJob],
    stop: frozenset[str] = frozenset(),
    *,
    mine: FineTuningJob | None = None,
    attempts: int = 5,
    backoff: float = 2.0,
    max_pages: int = MAX_PAGES,
) -> Generator[ListJobs | Cancel | Sleep | Warn, Any, FineTuningJob | None]:
    """Settle on one job among those with this fingerprint; None when there is none alive.

    The winner is the earliest created job that is not failed or cancelled (`winner`). Every
    other one that has not started to train (`NOT_STARTED`) is cancelled, whoever created it
    (a caller that crashed right after creating leaves no duplicate behind); a duplicate that
    already trains is not cancelled, but warned about (`Warn`). When a cancel fails, the jobs
    are listed again (after a wait when the failure was transient): a 400 because another caller
    cancelled it first, or because it ended meanwhile, then simply shows. After `attempts` rounds
    the duplicates left are warned about and the winner returned.

    `mine` is the job this caller just created: when the listing lacks it (a provider whose
    lists lag), it counts as the newest. Sent back: as for `survey_flow`; the job or a
    `CallFailed` for `Cancel`; None for `Sleep` and `Warn`.
    """
    warned: set[str] = set()
    best: FineTuningJob | None = None
    left: list[FineTuningJob] = []
    for round_ in range(1, attempts + 1):
        jobs = [j for j in listed if _matches(j, fingerprint)]
        if mine is not None and all(j.id != mine.id for j in jobs):
            jobs.insert(0, mine)
        live = [j for j in jobs if j.status not in RETRYABLE]
        if not live:
            return None
        best = winner(live)
        losers = [j for j in live if j.id != best.id]
        for job in losers:
            if job.status not in NOT_STARTED and job.id not in warned:
                warned.add(job.id)
                yield Warn(
                    f"fine-tuning job {job.id} duplicates {best.id} (same inputs) and is already "
                    f"{job.status}, so it was not cancelled: cancel it if you don't want both"
                )
        left = [j for j in losers if j.status in NOT_STARTED]
        if not left:
            return best
        failure: CallFailed | None = None
        for job in left:
            outcome = yield Cancel(job.id)
            if isinstance(outcome, CallFailed):
                failure = outcome
        if failure is None:
            return best
        if round_ == attempts:
            break
        if failure.classified.transient:
            c = failure.classified
            yield Sleep(c.retry_after or backoff * 2 ** (round_ - 1))
        listed = yield from survey_flow(
            fingerprint, stop, attempts=attempts, backoff=backoff, max_pages=max_pages
        )
    assert best is not None  # noqa: S101 - the loop ran at least once with a winner
    ids = ", ".join(j.id for j in left)
    yield Warn(
        f"could not cancel the duplicate fine-tuning job(s) {ids} of {best.id} (same inputs): "
        "cancel them if you don't want them to train"
    )
    return best


def once_flow(
    params: dict[str, Any],
    find: Find,
    pick: Callable[[Any], T | None],
    *,
    look_first: bool = True,
    operation: str = "create",
    attempts: int = 5,
    backoff: float = 2.0,
) -> Generator[Find | Create | Sleep, Any, T]:
    """Carry out a non-idempotent create at most once.

    Look first (unless `look_first` is false), create, and after an ambiguous failure look
    again before any retry. `operation` names the create in a classified error. Sent back: what
    `find` lists (for `pick` to choose from; a `CallFailed` is raised as it is), the created
    object or a `CreateFailed` for `Create`, None for `Sleep`.
    """
    if look_first:
        found = pick(_listed((yield find)))
        if found is not None:
            return found
    for attempt in range(1, attempts + 1):
        outcome = yield Create(params, operation)
        if not isinstance(outcome, CallFailed):
            return outcome  # type: ignore[no-any-return]
        c = outcome.classified
        if c.ambiguous:
            found = pick(_listed((yield find)))
            if found is not None:
                return found
        if not c.transient or attempt == attempts:
            if c.translated is not None:
                raise c.translated from outcome.error
            raise outcome.error
        yield Sleep(c.retry_after or backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _listed(listed: Any) -> Any:
    """What a `Find` listed; the error itself when the listing failed (it is not retried)."""
    if isinstance(listed, CallFailed):
        raise listed.error
    return listed


def create_flow(
    params: dict[str, Any],
    fingerprint: str,
    *,
    attempts: int = 5,
    backoff: float = 2.0,
    max_pages: int = MAX_PAGES,
) -> CreateFlow:
    """Create the job described by `params` (whose metadata carries `fingerprint`) exactly once.

    Exactly once also for callers that run at the same instant, on any machines: each looks
    for the jobs with this fingerprint, creates one when none is alive, then lists them again
    and settles with `reconcile_flow`: the earliest created wins, the later ones are cancelled
    before they train, and every caller is handed the winner. The second listing only goes down
    to the jobs the first one saw (their fingerprints were checked then), so it stays one page
    even on a provider that ignores the metadata filter. After an ambiguous create failure the
    jobs are looked for (and settled) before any retry.

    Sent back: a `JobsPage` (a plain list counts as a last page) or `CallFailed` for
    `ListJobs`, a `FineTuningJob` or `CreateFailed` for `Create`, a `FineTuningJob` or
    `CallFailed` for `Cancel`, None for `Sleep` and `Warn`.
    """
    knobs: dict[str, Any] = {"attempts": attempts, "backoff": backoff, "max_pages": max_pages}
    listed = yield from survey_flow(fingerprint, **knobs)
    found = yield from reconcile_flow(fingerprint, listed, **knobs)
    if found is not None:
        return found
    seen = frozenset(j.id for j in listed)  # every later listing stops at these
    for attempt in range(1, attempts + 1):
        outcome = yield Create(params)
        if not isinstance(outcome, CallFailed):
            mine: FineTuningJob = outcome
            listed = yield from survey_flow(fingerprint, seen, **knobs)
            settled = yield from reconcile_flow(fingerprint, listed, seen, mine=mine, **knobs)
            if settled is not None:
                return settled
            # Ours ended at once (e.g. failed validation) and nothing else is alive: ours it is.
            return next((j for j in listed if j.id == mine.id), mine)
        c = outcome.classified
        if c.ambiguous:
            listed = yield from survey_flow(fingerprint, seen, **knobs)
            found = yield from reconcile_flow(fingerprint, listed, seen, **knobs)
            if found is not None:
                return found
        if not c.transient or attempt == attempts:
            if c.translated is not None:
                raise c.translated from outcome.error
            raise outcome.error
        yield Sleep(c.retry_after or backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover
