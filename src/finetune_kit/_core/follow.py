"""Following a job: its events, its progress and its end, as flows for `drive` / `adrive`.

`JobEvents` is what a job's shell knows of the events (where `wait(on_event=...)` and
`progress()` stand, the latest metrics); its flows yield `Retrieve`, `ListEvents` (through
`EventCursor`) and `HandOut`, plus `Sleep`, and are written once for `FineTuneJob` and
`AsyncFineTuneJob`. `Following` is `events(follow=...)`: one look at a time (each a flow), so
the shell hands the events out as they come, between looks. Free of I/O and of clocks.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent

from finetune_kit._core.drive import Call, CallFailed, Sleep, Warn
from finetune_kit._core.events import EventCursor, ListEvents, MessageEvent, MetricsEvent
from finetune_kit._core.metrics import MetricPoint, from_events, merge, needs_events
from finetune_kit._core.poll import TERMINAL, Fetched, PollPolicy, wait_flow

__all__ = [
    "Event",
    "EventHandler",
    "EventsPage",
    "Following",
    "HandOut",
    "JobCall",
    "JobEvents",
    "JobFlow",
    "JobResult",
    "Progress",
    "Retrieve",
    "Seconds",
    "curve",
    "drain_flow",
    "every_event",
    "needs_no_events",
    "poll_after",
    "progress_of",
]

Event = MessageEvent | MetricsEvent
EventHandler = Callable[[Event], object]
Seconds = float | timedelta
T = TypeVar("T")
X = TypeVar("X")


@dataclass(frozen=True, slots=True)
class Retrieve(Call):
    """Command: retrieve the job, with its response headers (sent back: `Fetched`)."""

    operation: str = "retrieve"


@dataclass(frozen=True, slots=True)
class EventsPage:
    """Result of `ListEvents`: the page's events (newest first) and whether more follow."""

    events: list[FineTuningJobEvent]
    has_more: bool | None


@dataclass(frozen=True, slots=True)
class HandOut(Call):
    """Command: call `to(event)`, the caller's `on_event` (sent back: None)."""

    event: Event
    to: Callable[[Event], object]
    operation: str = "retrieve"


JobCall = Retrieve | ListEvents | HandOut
JobResult = Fetched | EventsPage | None
JobFlow = Generator[JobCall | Sleep | Warn, JobResult | CallFailed, T]
"""A flow over one job (`drive(flow, job._perform, ...)`), returning `T`."""


def _as(kind: type[X], got: object) -> X:
    if not isinstance(got, kind):  # pragma: no cover - a shell that answers the wrong thing
        raise TypeError(f"expected {kind.__name__}, got {type(got).__name__}")
    return got


def drain_flow(cursor: EventCursor, operation: str = "events") -> JobFlow[list[Event] | CallFailed]:
    """The events new to `cursor`, oldest first; the `CallFailed` of a page that failed.

    The cursor is not moved past them: `cursor.advance` each once handed out. `operation` names
    the listing in a classified error.
    """
    command: ListEvents | None = cursor.start()
    while command is not None:
        page = yield replace(command, operation=operation)
        if isinstance(page, CallFailed):
            return page
        got = _as(EventsPage, page)
        command = cursor.feed(got.events, has_more=got.has_more)
    return cursor.peek()


def every_event() -> JobFlow[list[Event]]:
    """Every event of the job, oldest first (a listing's error raised as it is)."""
    events = yield from drain_flow(EventCursor())
    if isinstance(events, CallFailed):
        raise events.error
    return events


@dataclass(slots=True)
class JobEvents:
    """What a job's shell knows of its events, and the flows that read them."""

    handed: EventCursor = field(default_factory=EventCursor)
    """What `wait(on_event=...)` has handed out."""
    progress_cursor: EventCursor = field(default_factory=EventCursor)
    """What `progress()` has read: it reads on its own, taking nothing from `wait`."""
    last_metrics: MetricsEvent | None = None
    """The latest metrics event any drain of this job met."""

    def drain(
        self, cursor: EventCursor, operation: str = "events"
    ) -> JobFlow[list[Event] | CallFailed]:
        """`drain_flow`, noting the latest metrics event."""
        new = yield from drain_flow(cursor, operation)
        if not isinstance(new, CallFailed):
            for event in new:
                if isinstance(event, MetricsEvent):
                    self.last_metrics = event
        return new

    def catch_up(self) -> JobFlow[MetricsEvent | None]:
        """`progress()`: read what is new; return the latest metrics event (errors raised)."""
        new = yield from self.drain(self.progress_cursor)
        if isinstance(new, CallFailed):
            raise new.error
        for event in new:
            self.progress_cursor.advance(event)
        return self.last_metrics

    def wait(
        self, policy: PollPolicy, on_event: Callable[[Event], object] | None
    ) -> JobFlow[FineTuningJob]:
        """`wait_flow`, carried out: each look retrieves the job (and hands out the events).

        With `on_event`, each look hands it each new event once, in order; a failure of the
        listing or of `on_event` is a failed look, as a failed retrieve is.
        """
        flow = wait_flow(policy)
        try:
            command = next(flow)
            while True:
                if command.delay:
                    yield Sleep(command.delay)
                command = flow.send((yield from self._look(on_event)))
        except StopIteration as stop:
            job: FineTuningJob = stop.value
            return job
        finally:
            flow.close()

    def _look(self, on_event: Callable[[Event], object] | None) -> JobFlow[Fetched | CallFailed]:
        got = yield Retrieve()
        if isinstance(got, CallFailed):
            return got
        if on_event is not None:
            new = yield from self.drain(self.handed, "retrieve")
            if isinstance(new, CallFailed):
                return new
            for event in new:
                # Past an event once handed out: if on_event raises, the rest of the page
                # comes with the next wait().
                self.handed.advance(event)
                done = yield HandOut(event, on_event)
                if isinstance(done, CallFailed):
                    return done
        return _as(Fetched, got)


@dataclass(slots=True)
class Following:
    """`events(follow=..., since=..., poll=...)`: where it stands between looks.

    Each look (`look()`, a flow) waits as the last one asked, retrieves the job when following,
    and returns the new events; the shell hands them out (`cursor.advance` each) and asks for
    the next look, until `look()` says None. A failed look is tried again as `wait` would
    (when following), or raised.
    """

    job: JobEvents
    cursor: EventCursor
    policy: PollPolicy
    follow: bool
    looks: int = 0
    status: str | None = None
    """The job's status at the last look (None: no look yet)."""
    done: bool = False

    def look(self) -> JobFlow[list[Event]] | None:
        """The next look, or None once the events are all handed out."""
        return None if self.done else self._look()

    def _look(self) -> JobFlow[list[Event]]:
        if self.looks and self.status not in TERMINAL:  # finished: the last look goes at once
            paused = self.status == "paused"
            yield Sleep(self.policy.paused_interval if paused else self.policy.backoff(self.looks))
        errors = 0
        while True:
            if self.follow:
                got = yield Retrieve("events")
                if isinstance(got, CallFailed):
                    yield from self._ride_out(got, errors := errors + 1)
                    continue
                self.status = str(_as(Fetched, got).job.status)
            new = yield from self.job.drain(self.cursor)
            if isinstance(new, CallFailed):
                yield from self._ride_out(new, errors := errors + 1)
                continue
            break
        if not self.follow or (self.status in TERMINAL and not new):
            self.done = True
        self.looks += 1
        return new

    def _ride_out(self, failed: CallFailed, errors: int) -> JobFlow[None]:
        """Wait before looking again after `failed`; raise what can't be waited out."""
        c = failed.classified
        if not self.follow or not c.transient or errors > self.policy.max_errors:
            if c.translated is not None:
                raise c.translated from failed.error
            raise failed.error
        yield Sleep(c.retry_after or self.policy.backoff(errors))


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a job is.

    Added in 0.1.0.
    """

    status: str
    step: int | None
    total_steps: int | None
    estimated_finish: datetime | None
    """When the provider expects the job to finish (only while it runs)."""

    @property
    def fraction(self) -> float | None:
        """Steps done as a fraction, when known."""
        if self.step is None or not self.total_steps:
            return None
        return self.step / self.total_steps

    def __str__(self) -> str:
        steps = f" step {self.step}/{self.total_steps}" if self.step is not None else ""
        eta = f", ETA {self.estimated_finish:%H:%M:%S} UTC" if self.estimated_finish else ""
        return f"{self.status}{steps}{eta}"


def progress_of(snapshot: FineTuningJob, last: MetricsEvent | None) -> Progress:
    """The `Progress` of a job: its status and ETA, and the step of its latest metrics event."""
    finish = snapshot.estimated_finish
    return Progress(
        status=str(snapshot.status),
        step=last.step if last else None,
        total_steps=last.total_steps if last else None,
        estimated_finish=datetime.fromtimestamp(finish, tz=timezone.utc) if finish else None,
    )


def poll_after(headers: Any) -> float | None:
    """The server's `openai-poll-after-ms` hint, in seconds (None: absent or unreadable)."""
    value = headers.get("openai-poll-after-ms") if headers is not None else None
    try:
        return float(value) / 1000 if value else None
    except ValueError:
        return None


def needs_no_events(points: list[MetricPoint], snapshot: FineTuningJob) -> bool:
    """Whether the results file's curve is the whole curve (no events needed)."""
    return bool(points) and not (snapshot.validation_file and needs_events(points))


def curve(points: list[MetricPoint], events: list[Event]) -> list[MetricPoint]:
    """The results file's curve with the events' metrics merged in by step (or the events')."""
    from_log = from_events(e for e in events if isinstance(e, MetricsEvent))
    return merge(points, from_log) if points else from_log
