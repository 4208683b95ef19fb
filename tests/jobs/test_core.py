"""The pure core of jobs and uploads, driven by hand: flows, cursors, errors, params, metrics."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import math
from collections.abc import Callable, Generator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx2
import openai
import pytest
from openai.types import FileObject
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent

from finetune_kit._core.create import (
    CallFailed,
    Cancel,
    Create,
    CreateFlow,
    JobsPage,
    ListJobs,
    Sleep,
    Warn,
    create_flow,
    winner,
)
from finetune_kit._core.errors import Classified, classify, job_error, line_and_field, retry_after
from finetune_kit._core.events import (
    EventCursor,
    ListEvents,
    MessageEvent,
    MetricsEvent,
    metrics_from_message,
    to_job_event,
)
from finetune_kit._core.files import (
    Identity,
    PartPlan,
    find_match,
    identity_of_bytes,
    identity_of_path,
    plan_parts,
    remote_name,
)
from finetune_kit._core.fingerprint import FINGERPRINT_KEY, fingerprint
from finetune_kit._core.metrics import MetricPoint, from_events, parse_results_csv
from finetune_kit._core.params import ParamProblem, check_metadata, check_method, check_suffix
from finetune_kit._core.poll import Fetch, Fetched, PollPolicy, wait_flow
from finetune_kit._core.spec import check_budget, job_request
from finetune_kit.dataset.report import CostEstimate
from finetune_kit.exceptions import (
    BudgetExceededError,
    ConfigurationError,
    DailyJobLimitError,
    FileNotReadyError,
    FileRejectedError,
    FineTuningUnavailableError,
    JobCancelledError,
    JobFailedError,
    ModerationError,
    RateLimitedError,
    TrainingFileRejectedError,
    WaitTimeoutError,
)

T = TypeVar("T")

MODEL = "gpt-4o-mini-2024-07-18"
REQUEST = httpx2.Request("GET", "https://api.test/v1/fine_tuning/jobs/ftjob-1")
NOW = 1_793_491_200.0
"""2026-11-01T00:00:00Z, the `now` given to `classify` and `retry_after`."""

# --- builders ---------------------------------------------------------------------------------


def _response(status: int, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.Response(status, headers=headers or {}, request=REQUEST)


def _body(message: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"message": message, "type": "invalid_request_error", "param": param, "code": code}


def server_error(status: int = 500, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    """A 5xx (or 408/409) as the SDK raises it."""
    message = f"Error code: {status} - The server had an error"
    response = _response(status, headers)
    if status == 409:
        return openai.ConflictError(message, response=response, body=None)
    if status >= 500:
        return openai.InternalServerError(message, response=response, body=None)
    return openai.APIStatusError(message, response=response, body=None)


def timeout_error() -> openai.APITimeoutError:
    return openai.APITimeoutError(request=REQUEST)


def connection_error() -> openai.APIConnectionError:
    return openai.APIConnectionError(request=REQUEST)


def rate_limit(
    retry: str | None = "130",
    *,
    code: str = "rate_limit_exceeded",
    message: str = "Rate limit reached for requests.",
) -> openai.RateLimitError:
    headers = {} if retry is None else {"retry-after": retry}
    return openai.RateLimitError(
        message, response=_response(429, headers), body=_body(message, code)
    )


def daily_limit(retry: str = "21600") -> openai.RateLimitError:
    return rate_limit(
        retry,
        code="daily_rate_limit_exceeded",
        message="You have reached the maximum number of fine-tuning jobs you can create today.",
    )


def not_found() -> openai.NotFoundError:
    message = "Fine-tuning job ftjob-1 not found."
    return openai.NotFoundError(
        message, response=_response(404), body=_body(message, "fine_tune_not_found", "id")
    )


def permission_denied() -> openai.PermissionDeniedError:
    message = "You do not have access to fine-tuning."
    return openai.PermissionDeniedError(
        message, response=_response(403), body=_body(message, "permission_denied")
    )


def bad_request(message: str, code: str | None, param: str | None = None) -> openai.BadRequestError:
    return openai.BadRequestError(
        message, response=_response(400), body=_body(message, code, param)
    )


def job(
    status: str,
    *,
    job_id: str = "ftjob-1",
    error: dict[str, Any] | None = None,
    metadata: dict[str, str] | None = None,
) -> FineTuningJob:
    """A job snapshot; `construct` keeps statuses the SDK's enum lacks (paused, pending...)."""
    return FineTuningJob.construct(
        id=job_id,
        object="fine_tuning.job",
        created_at=1_793_491_200,
        status=status,
        model=MODEL,
        organization_id="org-1",
        training_file="file-1",
        validation_file=None,
        result_files=[],
        seed=1,
        fine_tuned_model=None,
        finished_at=None,
        trained_tokens=None,
        error=error,
        metadata=metadata,
    )


def event(n: int, *, kind: str = "message", data: Any = None) -> FineTuningJobEvent:
    """Event number `n` (a larger `n` is newer)."""
    return FineTuningJobEvent.model_validate(
        {
            "id": f"ftevent-{n:03d}",
            "object": "fine_tuning.job.event",
            "created_at": 1_793_491_200 + n,
            "level": "info",
            "message": f"event {n}",
            "type": kind,
            "data": data,
        }
    )


def finish(flow: Generator[Any, Any, T], value: Any) -> T:
    """Send `value`; the flow must return, and its return value is given back."""
    with pytest.raises(StopIteration) as info:
        flow.send(value)
    return cast("T", info.value.value)


def fetched(status: str, poll_after: float | None = None) -> Fetched:
    return Fetched(job(status), poll_after)


def failed(error: BaseException, operation: str = "retrieve") -> CallFailed:
    return CallFailed(error, classify(error, operation=operation, now=NOW))


def delays(policy: PollPolicy, outcomes: list[Fetched | CallFailed]) -> list[float]:
    """The delay of each Fetch a wait flow yields, fed `outcomes` one by one."""
    flow = wait_flow(policy)
    out = [next(flow).delay]
    out += [flow.send(outcome).delay for outcome in outcomes]
    return out


EXACT = PollPolicy(jitter=0.0)
"""The default policy without jitter: delays 5, 10, 20, 40, 60, 60..."""

# --- wait_flow: terminal statuses -------------------------------------------------------------


def test_wait_first_fetch_is_immediate_and_returns_on_succeeded() -> None:
    """The first poll has no delay; `succeeded` ends the flow with that very snapshot."""
    flow = wait_flow(EXACT)
    assert next(flow) == Fetch(0.0)
    assert flow.send(fetched("running")) == Fetch(5.0)
    final = job("succeeded")
    assert finish(flow, Fetched(final)) is final


def test_wait_plain_failure_raises_job_failed_error() -> None:
    """A failed job without a file or safety reason raises exactly JobFailedError with `.job`."""
    final = job(
        "failed", error={"code": "server_error", "message": "Internal error", "param": None}
    )
    flow = wait_flow(EXACT)
    next(flow)
    with pytest.raises(JobFailedError) as info:
        flow.send(Fetched(final))
    assert type(info.value) is JobFailedError
    assert info.value.job is final
    assert (info.value.code, info.value.error_message, info.value.param) == (
        "server_error",
        "Internal error",
        None,
    )
    assert str(info.value) == "fine-tuning job ftjob-1 failed: Internal error [server_error]"


def test_wait_failure_without_error_object() -> None:
    """A failed job whose `error` is null still raises JobFailedError, saying no details."""
    final = job("failed")
    flow = wait_flow(EXACT)
    next(flow)
    with pytest.raises(JobFailedError) as info:
        flow.send(Fetched(final))
    assert type(info.value) is JobFailedError
    assert info.value.job is final
    assert str(info.value) == "fine-tuning job ftjob-1 failed: no details given"


def test_wait_training_file_rejected_names_line_and_field() -> None:
    """A training-file failure raises TrainingFileRejectedError with line 7 and field `messages`."""
    message = 'Line 7, key "messages": a message is missing its role.'
    final = job(
        "failed",
        error={"code": "invalid_training_file", "message": message, "param": "training_file"},
    )
    flow = wait_flow(EXACT)
    next(flow)
    with pytest.raises(TrainingFileRejectedError) as info:
        flow.send(Fetched(final))
    err = info.value
    assert err.job is final
    assert (err.line, err.field) == (7, "messages")
    assert (err.code, err.param, err.error_message) == (
        "invalid_training_file",
        "training_file",
        message,
    )
    assert isinstance(err, JobFailedError)


def test_wait_validation_file_rejected_without_line() -> None:
    """A validation-file failure that names no line gives line and field None."""
    final = job(
        "failed",
        error={"code": "invalid_file", "message": "The file is empty.", "param": "validation_file"},
    )
    flow = wait_flow(EXACT)
    next(flow)
    with pytest.raises(TrainingFileRejectedError) as info:
        flow.send(Fetched(final))
    assert (info.value.line, info.value.field, info.value.param) == (None, None, "validation_file")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("moderation_failed", "The model did not pass the evaluation."),
        (None, "The job failed the safety evaluation of the tuned model."),
    ],
)
def test_wait_moderation_failure(code: str | None, message: str) -> None:
    """A moderation code, or a message about safety, raises ModerationError with `.job`."""
    final = job("failed", error={"code": code, "message": message, "param": None})
    flow = wait_flow(EXACT)
    next(flow)
    with pytest.raises(ModerationError) as info:
        flow.send(Fetched(final))
    assert type(info.value) is ModerationError
    assert info.value.job is final
    assert info.value.error_message == message


def test_wait_cancelled_raises_job_cancelled_error() -> None:
    """A cancelled job raises JobCancelledError carrying the snapshot."""
    final = job("cancelled")
    flow = wait_flow(EXACT)
    next(flow)
    with pytest.raises(JobCancelledError) as info:
        flow.send(Fetched(final))
    assert info.value.job is final
    assert str(info.value) == "fine-tuning job ftjob-1 was cancelled"


# --- wait_flow: delays ------------------------------------------------------------------------


def test_wait_unknown_statuses_are_not_terminal() -> None:
    """Statuses outside the SDK enum (Azure's `pending`, anything new) are waited through."""
    outcomes: list[Fetched | CallFailed] = [
        fetched(s) for s in ("pending", "weird", "validating_files", "queued", "running")
    ]
    assert delays(EXACT, outcomes) == [0.0, 5.0, 10.0, 20.0, 40.0, 60.0]


def test_wait_backoff_is_exact_without_jitter() -> None:
    """With `jitter=0` the polls back off 5, 10, 20, 40 then stay at the 60 s cap."""
    outcomes: list[Fetched | CallFailed] = [fetched("running")] * 8
    assert delays(EXACT, outcomes) == [0.0, 5.0, 10.0, 20.0, 40.0, 60.0, 60.0, 60.0, 60.0]


def test_backoff_of_a_custom_policy() -> None:
    """`initial` and `maximum` shape the exponential backoff: 1, 2, 4, 8, 8."""
    policy = PollPolicy(initial=1.0, maximum=8.0, jitter=0.0)
    assert [policy.backoff(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_backoff_jitter_stays_within_bounds() -> None:
    """Jitter adds between 0 and `jitter` seconds to the exact backoff."""
    policy = PollPolicy(jitter=1.0)
    for attempt, base in [(1, 5.0), (2, 10.0), (3, 20.0), (4, 40.0), (5, 60.0), (9, 60.0)]:
        for _ in range(20):
            assert base <= policy.backoff(attempt) <= base + 1.0


def test_wait_paused_polls_at_paused_interval() -> None:
    """A paused job is polled every `paused_interval` seconds (300 by default)."""
    assert delays(EXACT, [fetched("paused"), fetched("paused")]) == [0.0, 300.0, 300.0]
    custom = PollPolicy(jitter=0.0, paused_interval=120.0)
    assert delays(custom, [fetched("paused")]) == [0.0, 120.0]


def test_wait_paused_ignores_interval() -> None:
    """A paused job is polled at `paused_interval` even when a fixed interval is set."""
    policy = PollPolicy(interval=7.0, paused_interval=90.0)
    assert delays(policy, [fetched("running"), fetched("paused")]) == [0.0, 7.0, 90.0]


def test_wait_honours_poll_after_hint() -> None:
    """The server's `openai-poll-after-ms` hint replaces the backoff."""
    outcomes: list[Fetched | CallFailed] = [
        fetched("running", 2.5),
        fetched("running", 2.5),
        fetched("running"),
    ]
    assert delays(EXACT, outcomes) == [0.0, 2.5, 2.5, 20.0]


def test_wait_interval_wins_over_poll_after() -> None:
    """An explicit `interval` is used for every poll, whatever the server hints."""
    policy = PollPolicy(interval=30.0)
    outcomes: list[Fetched | CallFailed] = [fetched("running", 2.5)] * 3
    assert delays(policy, outcomes) == [0.0, 30.0, 30.0, 30.0]


# --- wait_flow: errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(server_error(500), 5.0, id="500"),
        pytest.param(server_error(502), 5.0, id="502"),
        pytest.param(server_error(503, {"retry-after": "12"}), 12.0, id="503-retry-after"),
        pytest.param(server_error(409), 5.0, id="409"),
        pytest.param(timeout_error(), 5.0, id="timeout"),
        pytest.param(connection_error(), 5.0, id="connection"),
        pytest.param(rate_limit("130"), 130.0, id="429-retry-after-130"),
        pytest.param(rate_limit(None), 5.0, id="429-no-retry-after"),
    ],
)
def test_wait_transient_error_is_waited_out(error: Exception, expected: float) -> None:
    """A transient poll failure waits `retry_after` (even over 120 s) or the backoff, then goes on."""
    flow = wait_flow(EXACT)
    next(flow)
    assert flow.send(failed(error)) == Fetch(expected)
    final = job("succeeded")
    assert finish(flow, Fetched(final)) is final


def test_wait_consecutive_errors_back_off() -> None:
    """Errors in a row back off by their own count; a good poll resets it."""
    outcomes: list[Fetched | CallFailed] = [
        failed(server_error()),
        failed(timeout_error()),
        failed(server_error()),
        fetched("running"),
        failed(server_error()),
    ]
    assert delays(EXACT, outcomes) == [0.0, 5.0, 10.0, 20.0, 5.0, 5.0]


def test_wait_more_than_max_errors_reraises_the_last() -> None:
    """`max_errors` failures in a row are tolerated; the next one is raised unchanged."""
    policy = PollPolicy(jitter=0.0, max_errors=3)
    errors = [server_error() for _ in range(4)]
    flow = wait_flow(policy)
    next(flow)
    assert [flow.send(failed(e)).delay for e in errors[:3]] == [5.0, 10.0, 20.0]
    with pytest.raises(openai.InternalServerError) as info:
        flow.send(failed(errors[3]))
    assert info.value is errors[3]


def test_wait_errors_counted_only_in_a_row() -> None:
    """A successful poll between failures resets the count: 3 + 3 errors pass `max_errors=3`."""
    policy = PollPolicy(jitter=0.0, max_errors=3)
    outcomes: list[Fetched | CallFailed] = [failed(server_error()) for _ in range(3)]
    outcomes += [fetched("running")]
    outcomes += [failed(server_error()) for _ in range(3)]
    flow = wait_flow(policy)
    next(flow)
    for outcome in outcomes:
        flow.send(outcome)
    final = job("succeeded")
    assert finish(flow, Fetched(final)) is final


def test_wait_too_many_rate_limits_raise_rate_limited_error() -> None:
    """Rate limits beyond `max_errors` raise RateLimitedError from the SDK's error."""
    policy = PollPolicy(jitter=0.0, max_errors=1)
    first, second = rate_limit("130"), rate_limit("130")
    flow = wait_flow(policy)
    next(flow)
    assert flow.send(failed(first)) == Fetch(130.0)
    with pytest.raises(RateLimitedError) as info:
        flow.send(failed(second))
    assert info.value.retry_after == 130.0
    assert info.value.__cause__ is second


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(not_found(), id="404"),
        pytest.param(
            openai.AuthenticationError(
                "bad key", response=_response(401), body=_body("bad key", "invalid_api_key")
            ),
            id="401",
        ),
        pytest.param(ValueError("a bug"), id="not-an-sdk-error"),
    ],
)
def test_wait_non_transient_error_raised_at_once(error: Exception) -> None:
    """A non-transient error (404, 401, a bug) is raised on the first failure, unchanged."""
    flow = wait_flow(EXACT)
    next(flow)
    with pytest.raises(type(error)) as info:
        flow.send(failed(error))
    assert info.value is error


def test_wait_timeout_is_exact() -> None:
    """The last delay is cut to the deadline; the next non-terminal poll raises WaitTimeoutError."""
    policy = PollPolicy(jitter=0.0, timeout=100.0)
    last = job("running", job_id="ftjob-last")
    flow = wait_flow(policy)
    got = [next(flow).delay]
    got += [flow.send(fetched("running")).delay for _ in range(5)]
    assert got == [0.0, 5.0, 10.0, 20.0, 40.0, 25.0]
    with pytest.raises(WaitTimeoutError) as info:
        flow.send(Fetched(last))
    assert info.value.waited == 100.0
    assert info.value.job is last
    assert isinstance(info.value, TimeoutError)


def test_wait_timeout_after_only_errors_has_no_job() -> None:
    """A deadline passed while every poll failed raises WaitTimeoutError with `.job` None."""
    policy = PollPolicy(jitter=0.0, timeout=12.0)
    flow = wait_flow(policy)
    got = [next(flow).delay]
    got += [flow.send(failed(server_error())).delay for _ in range(2)]
    assert got == [0.0, 5.0, 7.0]
    with pytest.raises(WaitTimeoutError) as info:
        flow.send(failed(server_error()))
    assert (info.value.waited, info.value.job) == (12.0, None)


def test_wait_retry_after_is_cut_to_the_deadline() -> None:
    """A `Retry-After` longer than the time left waits only until the deadline."""
    policy = PollPolicy(jitter=0.0, timeout=60.0)
    assert delays(policy, [fetched("running"), failed(rate_limit("130"))]) == [0.0, 5.0, 55.0]


def test_wait_succeeded_at_the_deadline_is_returned() -> None:
    """A job that succeeds on the poll made at the deadline is returned, not timed out."""
    policy = PollPolicy(jitter=0.0, timeout=5.0)
    flow = wait_flow(policy)
    next(flow)
    assert flow.send(fetched("running")) == Fetch(5.0)
    final = job("succeeded")
    assert finish(flow, Fetched(final)) is final


def test_wait_without_timeout_never_gives_up() -> None:
    """`timeout=None` keeps polling (here a thousand polls, 60 s apart)."""
    policy = PollPolicy(jitter=0.0, timeout=None)
    got = delays(policy, [fetched("running")] * 1000)
    assert got[-1] == 60.0
    assert sum(got) == 5 + 10 + 20 + 40 + 60 * 996


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": 0.0},
        {"maximum": -1.0},
        {"paused_interval": 0.0},
        {"interval": 0.0},
    ],
)
def test_poll_policy_refuses_non_positive_values(kwargs: dict[str, Any]) -> None:
    """Zero or negative delays are refused with ValueError."""
    with pytest.raises(ValueError, match="must be positive"):
        PollPolicy(**kwargs)


def test_poll_policy_of_wait_arguments() -> None:
    """`PollPolicy.of` maps `poll=` and `timeout=` (seconds or timedelta; -1 keeps the default)."""
    assert PollPolicy.of() == PollPolicy()
    assert PollPolicy.of().timeout == 86400.0
    assert PollPolicy.of(poll=timedelta(seconds=30), timeout=timedelta(hours=1)) == PollPolicy(
        interval=30.0, timeout=3600.0
    )
    assert PollPolicy.of(poll=10, timeout=None) == PollPolicy(interval=10.0, timeout=None)


# --- EventCursor ------------------------------------------------------------------------------


class EventServer:
    """A fake `list_events`: events newest first, `after` pages toward older ones."""

    def __init__(self, count: int) -> None:
        self.events = [event(n) for n in range(count, 0, -1)]
        self.requests: list[ListEvents] = []

    def add(self, count: int) -> None:
        newest = len(self.events)
        self.events = [event(n) for n in range(newest + count, newest, -1)] + self.events

    def page(self, command: ListEvents) -> tuple[list[FineTuningJobEvent], bool]:
        self.requests.append(command)
        start = 0
        if command.after is not None:
            start = [e.id for e in self.events].index(command.after) + 1
        page = self.events[start : start + command.limit]
        return page, start + command.limit < len(self.events)

    def drain(self, cursor: EventCursor) -> list[str]:
        """Run one drain; the ids given out, in order."""
        self.requests.clear()
        command: ListEvents | None = cursor.start()
        while command is not None:
            page, has_more = self.page(command)
            command = cursor.feed(page, has_more=has_more)
        return [e.id for e in cursor.take()]


def ids(*numbers: int) -> list[str]:
    return [f"ftevent-{n:03d}" for n in numbers]


def test_cursor_first_drain_reads_every_page_oldest_first() -> None:
    """The first drain pages through everything and gives the events oldest first."""
    server = EventServer(5)
    cursor = EventCursor(page_size=2)
    assert server.drain(cursor) == ids(1, 2, 3, 4, 5)
    assert server.requests == [
        ListEvents(after=None, limit=2),
        ListEvents(after="ftevent-004", limit=2),
        ListEvents(after="ftevent-002", limit=2),
    ]
    assert cursor.last_id == "ftevent-005"


def test_cursor_later_drain_stops_at_last_seen() -> None:
    """A later drain reads only down to the newest event already given out."""
    server = EventServer(5)
    cursor = EventCursor(page_size=2)
    server.drain(cursor)
    server.add(1)
    assert server.drain(cursor) == ids(6)
    assert server.requests == [ListEvents(after=None, limit=2)]
    assert cursor.last_id == "ftevent-006"


def test_cursor_drain_with_nothing_new() -> None:
    """A drain with nothing new gives nothing and keeps its place."""
    server = EventServer(3)
    cursor = EventCursor(page_size=2)
    server.drain(cursor)
    assert server.drain(cursor) == []
    assert server.requests == [ListEvents(after=None, limit=2)]
    assert cursor.last_id == "ftevent-003"


def test_cursor_more_new_events_than_a_page() -> None:
    """Five new events with pages of two: three pages read, all five given in order."""
    server = EventServer(4)
    cursor = EventCursor(page_size=2)
    server.drain(cursor)
    server.add(5)
    assert server.drain(cursor) == ids(5, 6, 7, 8, 9)
    assert server.requests == [
        ListEvents(after=None, limit=2),
        ListEvents(after="ftevent-008", limit=2),
        ListEvents(after="ftevent-006", limit=2),
    ]


def test_cursor_resumes_after_an_id() -> None:
    """A cursor made with `last_id` gives only the events newer than it."""
    server = EventServer(5)
    cursor = EventCursor(last_id="ftevent-003", page_size=2)
    assert server.drain(cursor) == ids(4, 5)
    assert server.requests == [
        ListEvents(after=None, limit=2),
        ListEvents(after="ftevent-004", limit=2),
    ]


def test_cursor_resume_from_the_newest_gives_nothing() -> None:
    """Resuming from the newest event gives nothing, after a single request."""
    server = EventServer(5)
    cursor = EventCursor(last_id="ftevent-005")
    assert server.drain(cursor) == []
    assert server.requests == [ListEvents(after=None, limit=100)]


def test_cursor_duplicates_across_pages_given_once() -> None:
    """An event repeated on two pages of a drain is given out once."""
    cursor = EventCursor(page_size=2)
    cursor.start()
    assert cursor.feed([event(5), event(4)], has_more=True) == ListEvents("ftevent-004", 2)
    assert cursor.feed([event(4), event(3)], has_more=False) is None
    assert [e.id for e in cursor.take()] == ids(3, 4, 5)


def test_cursor_never_gives_an_event_twice_across_drains() -> None:
    """An event seen in an earlier drain is not given again, even if the boundary moved."""
    cursor = EventCursor(page_size=10)
    cursor.start()
    cursor.feed([event(3), event(2), event(1)], has_more=False)
    assert [e.id for e in cursor.take()] == ids(1, 2, 3)
    # The provider no longer lists event 3 (the boundary): older, seen events come back.
    cursor.start()
    assert cursor.feed([event(4), event(2), event(1)], has_more=False) is None
    assert [e.id for e in cursor.take()] == ids(4)
    assert cursor.last_id == "ftevent-004"


def test_cursor_has_more_false_ends_the_drain() -> None:
    """A full page with `has_more=False` ends the drain; so does an empty page."""
    cursor = EventCursor(page_size=2)
    cursor.start()
    assert cursor.feed([event(2), event(1)], has_more=False) is None
    cursor.start()
    assert cursor.feed([], has_more=True) is None


def test_cursor_has_more_missing_keeps_paging() -> None:
    """A page without `has_more` (null) is followed like the SDK does: only False or empty stops."""
    cursor = EventCursor(page_size=2)
    cursor.start()
    assert cursor.feed([event(5), event(4)], has_more=None) == ListEvents("ftevent-004", 2)
    assert cursor.feed([], has_more=None) is None
    assert [e.id for e in cursor.take()] == ids(4, 5)


def test_cursor_take_types_events() -> None:
    """`take` gives typed events: metrics events become MetricsEvent."""
    cursor = EventCursor()
    cursor.start()
    page = [event(2, kind="metrics", data={"step": 1, "train_loss": 0.5}), event(1)]
    cursor.feed(page, has_more=False)
    taken = cursor.take()
    assert [type(e) for e in taken] == [MessageEvent, MetricsEvent]
    assert cursor.take() == []


# --- to_job_event -----------------------------------------------------------------------------


def test_to_job_event_message() -> None:
    """A plain event becomes a MessageEvent with its id, time, level and message."""
    typed = to_job_event(event(1))
    assert typed == MessageEvent(
        id="ftevent-001", created_at=1_793_491_201, level="info", message="event 1"
    )
    assert typed.type == "message"


def test_to_job_event_metrics() -> None:
    """A metrics event gets its numbers as fields, NaN and non-numbers as None, all data kept."""
    data = {
        "step": 3,
        "total_steps": 100,
        "train_loss": 0.52,
        "train_mean_token_accuracy": 0.9,
        "valid_loss": float("nan"),
        "full_valid_loss": True,
        "mean_reward": 0.7,
    }
    typed = to_job_event(event(9, kind="metrics", data=data))
    assert isinstance(typed, MetricsEvent)
    assert (typed.step, typed.total_steps, typed.train_loss, typed.train_mean_token_accuracy) == (
        3,
        100,
        0.52,
        0.9,
    )
    assert (typed.valid_loss, typed.full_valid_loss, typed.valid_mean_token_accuracy) == (
        None,
        None,
        None,
    )
    assert typed.data["mean_reward"] == 0.7
    assert set(typed.data) == set(data)


def test_to_job_event_step_without_type_is_metrics() -> None:
    """An event without `type` whose data has a step is a metrics event."""
    raw = FineTuningJobEvent.model_validate(
        {
            "id": "ft-event-x",
            "object": "fine_tuning.job.event",
            "created_at": 5,
            "level": "warn",
            "message": "Step 2/10",
            "data": {"step": 2.0, "train_loss": 1},
        }
    )
    typed = to_job_event(raw)
    assert isinstance(typed, MetricsEvent)
    assert (typed.step, typed.train_loss, typed.level) == (2, 1.0, "warn")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "Step 300/300: training loss=0.15, validation loss=0.27, full validation loss=0.40",
            {"step": 300, "total_steps": 300, "train_loss": 0.15, "valid_loss": 0.27,
             "full_valid_loss": 0.40},
        ),
        ("Step 2/10: training loss=1.96", {"step": 2, "total_steps": 10, "train_loss": 1.96}),
        ("step 7/70 : Training loss = 3e-1.", {"step": 7, "total_steps": 70, "train_loss": 0.3}),
        ("Step 1/5:", {"step": 1, "total_steps": 5}),
        ("Fine-tuning job started", None),
        ("Checkpoint created at step 80", None),
        ("Step one of many: training loss=0.2", None),
    ],
)  # fmt: skip
def test_metrics_from_message(message: str, expected: dict[str, float] | None) -> None:
    """The cookbook's "Step N/M: training loss=..." text, parsed exactly; anything else: None."""
    assert metrics_from_message(message) == expected


def test_to_job_event_reads_the_text_when_data_has_no_step() -> None:
    """A metrics event with empty data still gets step, total and losses, from its text."""
    typed = to_job_event(
        event(4, kind="metrics", data={}).model_copy(
            update={"message": "Step 4/8: training loss=0.50, validation loss=0.61"}
        )
    )
    assert isinstance(typed, MetricsEvent)
    assert (typed.step, typed.total_steps, typed.train_loss, typed.valid_loss) == (4, 8, 0.5, 0.61)
    assert typed.data == {}  # the provider's data, as it came


def test_to_job_event_message_with_empty_data() -> None:
    """Message events with `{}` or null data stay messages."""
    assert isinstance(to_job_event(event(1, data={})), MessageEvent)
    assert isinstance(to_job_event(event(1, data=None)), MessageEvent)


def test_cursor_peek_moves_past_only_what_was_handed_out() -> None:
    """`peek` gives the new events without moving; `advance` moves past one; what was not
    handed out comes again with the next drain."""
    cursor = EventCursor(page_size=10)
    cursor.start()
    cursor.feed([event(3), event(2), event(1)], has_more=False)
    fresh = cursor.peek()
    assert [e.id for e in fresh] == ids(1, 2, 3)
    cursor.advance(fresh[0])
    assert cursor.last_id == "ftevent-001"
    assert cursor.start() == ListEvents(after=None, limit=10)
    assert cursor.feed([event(4), event(3), event(2), event(1)], has_more=False) is None
    assert [e.id for e in cursor.peek()] == ids(2, 3, 4)


# --- create_flow ------------------------------------------------------------------------------

FP = "0123456789abcdef0123456789abcdef"
PARAMS: dict[str, Any] = {
    "model": MODEL,
    "training_file": "file-1",
    "metadata": {FINGERPRINT_KEY: FP},
}
T0 = 1_793_491_200


def mine(status: str, job_id: str = "ftjob-mine", created_at: int = T0) -> FineTuningJob:
    """A job with our fingerprint."""
    made = job(status, job_id=job_id, metadata={FINGERPRINT_KEY: FP})
    return made.model_copy(update={"created_at": created_at})


def alien(job_id: str, created_at: int = T0) -> FineTuningJob:
    """Someone else's job (another fingerprint), as a provider that ignores the filter lists."""
    made = job("queued", job_id=job_id, metadata={FINGERPRINT_KEY: "f" * 32})
    return made.model_copy(update={"created_at": created_at})


def create_failed(error: Exception) -> CallFailed:
    return CallFailed(error, classify(error, operation="create", now=NOW))


def call_failed(error: Exception, operation: str) -> CallFailed:
    return CallFailed(error, classify(error, operation=operation, now=NOW))


def cancelled(snapshot: FineTuningJob) -> FineTuningJob:
    return snapshot.model_copy(update={"status": "cancelled"})


def test_create_reuses_an_existing_job() -> None:
    """A job already created from the same inputs is returned without any Create."""
    flow = create_flow(PARAMS, FP)
    command = next(flow)
    assert command == ListJobs(FP)
    assert isinstance(command, ListJobs)
    assert (command.metadata, command.after, command.limit) == ({FINGERPRINT_KEY: FP}, None, 100)
    existing = mine("running")
    assert finish(flow, [existing]) is existing


@pytest.mark.parametrize("status", ["validating_files", "queued", "paused", "pending", "succeeded"])
def test_create_reuses_any_job_that_did_not_end_badly(status: str) -> None:
    """Any status but failed and cancelled (open set) is the run asked for."""
    flow = create_flow(PARAMS, FP)
    next(flow)
    existing = mine(status)
    assert finish(flow, [existing]) is existing


def test_create_does_not_reuse_failed_or_cancelled_jobs() -> None:
    """Failed and cancelled jobs are not reused: a new job is created, and settled on."""
    flow = create_flow(PARAMS, FP)
    next(flow)
    old = [mine("failed", "ftjob-a", T0 - 9), mine("cancelled", "ftjob-b", T0 - 8)]
    assert flow.send(old) == Create(PARAMS)
    created = mine("validating_files", "ftjob-new")
    assert flow.send(created) == ListJobs(FP)
    # The settling look stops at the first job the first look saw: ftjob-b, ftjob-a unsent.
    assert finish(flow, JobsPage([created, old[1]], has_more=True)) is created


def test_create_ignores_jobs_of_another_fingerprint() -> None:
    """A listed job without our fingerprint (a filter the provider ignored) is not adopted."""
    flow = create_flow(PARAMS, FP)
    next(flow)
    others = [alien("ftjob-other"), job("running", job_id="ftjob-none")]
    assert flow.send(others) == Create(PARAMS)


def test_create_earliest_live_job_wins_and_later_ones_are_cancelled() -> None:
    """Of several live matches, the earliest created is returned; a later one that has not
    started to train is cancelled (whoever created it); failed ones are left alone."""
    flow = create_flow(PARAMS, FP)
    next(flow)
    newest = mine("queued", "ftjob-new", T0 + 5)
    old = mine("running", "ftjob-old", T0)
    assert flow.send([mine("failed", "ftjob-x", T0 + 9), newest, old]) == Cancel("ftjob-new")
    assert finish(flow, cancelled(newest)) is old


def test_create_success_first_time() -> None:
    """Nothing found, one Create, one look to settle, and its job is returned."""
    flow = create_flow(PARAMS, FP)
    next(flow)
    assert flow.send([]) == Create(PARAMS)
    created = mine("validating_files")
    assert flow.send(created) == ListJobs(FP)
    assert finish(flow, [created]) == created


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(server_error(500), id="500"),
        pytest.param(timeout_error(), id="timeout"),
        pytest.param(connection_error(), id="disconnect"),
    ],
)
def test_create_ambiguous_failure_finds_the_job(error: Exception) -> None:
    """After an ambiguous failure the job is looked for, found and returned: one Create."""
    flow = create_flow(PARAMS, FP)
    commands: list[object] = [next(flow), flow.send([])]
    commands.append(flow.send(create_failed(error)))
    assert commands == [ListJobs(FP), Create(PARAMS), ListJobs(FP)]
    created = mine("validating_files")
    assert finish(flow, [created]) is created


def test_create_ambiguous_failure_not_found_sleeps_and_retries() -> None:
    """Ambiguous and not found: sleep (2 s, then 4 s) and create again."""
    flow = create_flow(PARAMS, FP)
    commands: list[object] = [next(flow), flow.send([])]
    commands.append(flow.send(create_failed(server_error())))
    commands.append(flow.send([]))
    commands.append(flow.send(None))
    commands.append(flow.send(create_failed(timeout_error())))
    commands.append(flow.send([]))
    commands.append(flow.send(None))
    created = mine("queued")
    commands.append(flow.send(created))
    assert commands == [
        ListJobs(FP),
        Create(PARAMS),
        ListJobs(FP),
        Sleep(2.0),
        Create(PARAMS),
        ListJobs(FP),
        Sleep(4.0),
        Create(PARAMS),
        ListJobs(FP),
    ]
    assert finish(flow, [created]) is created


def test_create_rate_limit_sleeps_retry_after_without_finding() -> None:
    """A plain 429 is not ambiguous: no look, sleep its Retry-After, create again."""
    flow = create_flow(PARAMS, FP)
    next(flow)
    flow.send([])
    assert flow.send(create_failed(rate_limit("7"))) == Sleep(7.0)
    assert flow.send(None) == Create(PARAMS)


def test_create_forbidden_raises_fine_tuning_unavailable() -> None:
    """A 403 on create raises FineTuningUnavailableError from the SDK error, with no retry."""
    error = permission_denied()
    flow = create_flow(PARAMS, FP)
    next(flow)
    flow.send([])
    with pytest.raises(FineTuningUnavailableError) as info:
        flow.send(create_failed(error))
    assert info.value.__cause__ is error
    assert (info.value.status_code, info.value.code) == (403, "permission_denied")
    assert "Azure OpenAI" in str(info.value)


def test_create_daily_limit_raises_with_retry_after() -> None:
    """The daily job limit raises DailyJobLimitError (retry_after 6 h) at once."""
    error = daily_limit("21600")
    flow = create_flow(PARAMS, FP)
    next(flow)
    flow.send([])
    with pytest.raises(DailyJobLimitError) as info:
        flow.send(create_failed(error))
    assert info.value.retry_after == 21600.0
    assert info.value.code == "daily_rate_limit_exceeded"
    assert info.value.__cause__ is error
    assert "retry in 6.0 h" in str(info.value)


def test_create_untranslated_client_error_reraised() -> None:
    """A 400 the library does not translate is raised unchanged, at once."""
    error = bad_request("Invalid value for 'model'.", "invalid_value", "model")
    flow = create_flow(PARAMS, FP)
    next(flow)
    flow.send([])
    with pytest.raises(openai.BadRequestError) as info:
        flow.send(create_failed(error))
    assert info.value is error


def test_create_attempts_exhausted_raises_the_last_error() -> None:
    """With `attempts=3` and every create failing, the third error is raised after its look."""
    errors = [server_error() for _ in range(3)]
    flow = create_flow(PARAMS, FP, attempts=3, backoff=1.0)
    commands: list[object] = [next(flow), flow.send([])]
    commands.append(flow.send(create_failed(errors[0])))
    commands.append(flow.send([]))
    commands.append(flow.send(None))
    commands.append(flow.send(create_failed(errors[1])))
    commands.append(flow.send([]))
    commands.append(flow.send(None))
    commands.append(flow.send(create_failed(errors[2])))
    assert commands == [
        ListJobs(FP),
        Create(PARAMS),
        ListJobs(FP),
        Sleep(1.0),
        Create(PARAMS),
        ListJobs(FP),
        Sleep(2.0),
        Create(PARAMS),
        ListJobs(FP),
    ]
    with pytest.raises(openai.InternalServerError) as info:
        flow.send([])
    assert info.value is errors[2]


def test_create_rate_limits_exhausted_raise_rate_limited_error() -> None:
    """Rate limits on every attempt end in RateLimitedError from the last SDK error."""
    errors = [rate_limit("3"), rate_limit("3")]
    flow = create_flow(PARAMS, FP, attempts=2)
    next(flow)
    flow.send([])
    assert flow.send(create_failed(errors[0])) == Sleep(3.0)
    assert flow.send(None) == Create(PARAMS)
    with pytest.raises(RateLimitedError) as info:
        flow.send(create_failed(errors[1]))
    assert info.value.__cause__ is errors[1]
    assert info.value.retry_after == 3.0


# --- concurrent creators: settling on one job -------------------------------------------------


def _created(status: str = "validating_files") -> tuple[CreateFlow, FineTuningJob]:
    """A flow that looked (nothing), created `ftjob-mine` and now asks to settle."""
    flow = create_flow(PARAMS, FP)
    next(flow)
    assert flow.send([]) == Create(PARAMS)
    created = mine(status)
    assert flow.send(created) == ListJobs(FP)
    return flow, created


def test_settle_ours_lost_same_second_is_cancelled_and_the_winner_adopted() -> None:
    """A rival created in the same second but listed after ours (newest first: created before
    it) wins: ours, not started, is cancelled, and the caller is handed the rival."""
    flow, created = _created()
    rival = mine("validating_files", "ftjob-rival")
    assert flow.send([created, rival]) == Cancel("ftjob-mine")
    assert finish(flow, cancelled(created)) is rival


def test_settle_ours_won_the_later_rival_is_cancelled() -> None:
    """A rival created after ours (listed before it) loses: it is cancelled, ours returned."""
    flow, created = _created()
    rival = mine("queued", "ftjob-rival")
    assert flow.send([rival, created]) == Cancel("ftjob-rival")
    assert finish(flow, cancelled(rival)) == created


def test_settle_created_at_decides_before_the_listing_order() -> None:
    """An earlier `created_at` wins even when a provider lists it first."""
    flow, created = _created()
    rival = mine("queued", "ftjob-rival", T0 - 1)
    assert flow.send([rival, created]) == Cancel("ftjob-mine")
    assert finish(flow, cancelled(created)) is rival


def test_settle_ignores_cancelled_and_other_fingerprints() -> None:
    """A rival already cancelled (by its own caller) and aliens are no contenders."""
    flow, created = _created()
    listed = [alien("ftjob-alien", T0 - 5), created, cancelled(mine("queued", "ftjob-rival"))]
    assert finish(flow, listed) == created


def test_settle_with_a_provider_that_ignores_the_filter_stops_at_what_was_seen() -> None:
    """The first look pages through everything listed (aliens too); the settling look stops at
    the first job the first one saw: one page, aliens never adopted nor cancelled."""
    flow = create_flow(PARAMS, FP)
    assert next(flow) == ListJobs(FP)
    first = [alien(f"ftjob-a{i}", T0 - i) for i in range(1, 4)]
    assert flow.send(JobsPage(first[:2], has_more=True)) == ListJobs(FP, after="ftjob-a2")
    assert flow.send(JobsPage(first[2:], has_more=False)) == Create(PARAMS)
    created = mine("validating_files")
    assert flow.send(created) == ListJobs(FP)
    rival = mine("validating_files", "ftjob-rival")
    settle = JobsPage([alien("ftjob-b"), created, rival, first[0]], has_more=True)
    assert flow.send(settle) == Cancel("ftjob-mine")
    assert finish(flow, cancelled(created)) is rival


def test_look_pages_at_most_max_pages() -> None:
    """A provider that ignores the filter makes the look page; it stops after `max_pages`."""
    flow = create_flow(PARAMS, FP, max_pages=2)
    next(flow)
    assert flow.send(JobsPage([alien("ftjob-a1")], has_more=True)) == ListJobs(FP, "ftjob-a1")
    assert flow.send(JobsPage([alien("ftjob-a2")], has_more=True)) == Create(PARAMS)


def test_look_pages_on_while_has_more_is_missing() -> None:
    """A provider that leaves `has_more` out: paging goes on until an empty page."""
    flow = create_flow(PARAMS, FP)
    next(flow)
    assert flow.send(JobsPage([alien("ftjob-a1")], has_more=None)) == ListJobs(FP, "ftjob-a1")
    assert flow.send(JobsPage([], has_more=None)) == Create(PARAMS)


def test_look_failure_is_retried_then_raised() -> None:
    """A failed page (500) is asked again after 2 s, 4 s...; after `attempts` it is raised."""
    errors = [server_error() for _ in range(3)]
    flow = create_flow(PARAMS, FP, attempts=3)
    next(flow)
    assert flow.send(call_failed(errors[0], "list")) == Sleep(2.0)
    assert flow.send(None) == ListJobs(FP)
    assert flow.send(call_failed(errors[1], "list")) == Sleep(4.0)
    assert flow.send(None) == ListJobs(FP)
    with pytest.raises(openai.InternalServerError) as info:
        flow.send(call_failed(errors[2], "list"))
    assert info.value is errors[2]


def test_look_failure_mid_paging_asks_the_same_page_again() -> None:
    """A failed second page is asked again (same `after`), not skipped."""
    flow = create_flow(PARAMS, FP)
    next(flow)
    assert flow.send(JobsPage([alien("ftjob-a1")], has_more=True)) == ListJobs(FP, "ftjob-a1")
    assert flow.send(call_failed(timeout_error(), "list")) == Sleep(2.0)
    assert flow.send(None) == ListJobs(FP, "ftjob-a1")


def test_look_client_error_is_raised_at_once() -> None:
    """A 400 on the look is no fault to wait out: raised unchanged."""
    error = bad_request("Invalid 'metadata'.", "invalid_value", "metadata")
    flow = create_flow(PARAMS, FP)
    next(flow)
    with pytest.raises(openai.BadRequestError) as info:
        flow.send(call_failed(error, "list"))
    assert info.value is error


def test_settle_cancel_failing_with_500_is_retried_after_a_new_look() -> None:
    """A cancel that fails (500): wait 2 s, look again, cancel again; then the winner."""
    flow, created = _created()
    rival = mine("queued", "ftjob-rival")
    assert flow.send([created, rival]) == Cancel("ftjob-mine")
    assert flow.send(call_failed(server_error(), "cancel")) == Sleep(2.0)
    assert flow.send(None) == ListJobs(FP)
    assert flow.send([created, rival]) == Cancel("ftjob-mine")
    assert finish(flow, cancelled(created)) is rival


def test_settle_cancel_refused_as_already_cancelled_looks_again_at_once() -> None:
    """A 400 on cancel (another caller cancelled it first): no wait, the new look shows it
    cancelled, and the winner is returned without another cancel."""
    flow, created = _created()
    rival = mine("queued", "ftjob-rival")
    assert flow.send([created, rival]) == Cancel("ftjob-mine")
    refused = bad_request("Job ftjob-mine is cancelled.", "invalid_job_state")
    assert flow.send(call_failed(refused, "cancel")) == ListJobs(FP)
    assert finish(flow, [cancelled(created), rival]) is rival


def test_settle_a_duplicate_already_training_is_warned_about_not_cancelled() -> None:
    """A losing duplicate that already trains is not cancelled, but never left silently."""
    flow, created = _created("running")
    rival = mine("queued", "ftjob-rival", T0 - 1)
    assert flow.send([created, rival]) == Warn(
        "fine-tuning job ftjob-mine duplicates ftjob-rival (same inputs) and is already "
        "running, so it was not cancelled: cancel it if you don't want both"
    )
    assert finish(flow, None) is rival


def test_settle_gives_up_cancelling_with_a_warning() -> None:
    """A cancel that fails every round: after `attempts` rounds a warning, and the winner."""
    flow = create_flow(PARAMS, FP, attempts=2)
    next(flow)
    flow.send([])
    created = mine("queued")
    flow.send(created)
    rival = mine("queued", "ftjob-rival")
    denied = call_failed(permission_denied(), "cancel")
    assert flow.send([created, rival]) == Cancel("ftjob-mine")
    assert flow.send(denied) == ListJobs(FP)
    assert flow.send([created, rival]) == Cancel("ftjob-mine")
    assert flow.send(denied) == Warn(
        "could not cancel the duplicate fine-tuning job(s) ftjob-mine of ftjob-rival (same "
        "inputs): cancel them if you don't want them to train"
    )
    assert finish(flow, None) is rival


def test_settle_ours_not_listed_yet_counts_as_the_newest() -> None:
    """A listing that lags (ours missing) puts ours last in line: an earlier rival wins..."""
    flow, created = _created()
    rival = mine("queued", "ftjob-rival")
    assert flow.send([rival]) == Cancel("ftjob-mine")
    assert finish(flow, cancelled(created)) is rival


def test_settle_ours_not_listed_and_alone_is_returned() -> None:
    """...and alone, ours is the one."""
    flow, created = _created()
    assert finish(flow, []) is created


def test_settle_ours_failed_at_once_is_returned() -> None:
    """Ours failed already and nothing else is alive: ours (failed) is returned, not retried."""
    flow, _ = _created()
    failed_now = mine("failed")
    assert finish(flow, [failed_now]) is failed_now


def test_winner_is_the_earliest_then_the_last_listed() -> None:
    """`winner`: lowest `created_at`; ties go to the one listed last (created first)."""
    a, b, c = mine("queued", "ftjob-a", T0), mine("queued", "ftjob-b", T0), mine("queued", "c")
    assert winner([a, b]) is b
    assert winner([b, a]) is a
    assert winner([c.model_copy(update={"created_at": T0 - 1}), a, b]).id == "c"


def settle(flow: CreateFlow, command: Any, answer: Callable[[Any], Any]) -> str:
    """Run `flow` to its end, `answer` answering each command; the id it returns."""
    try:
        while True:
            command = flow.send(answer(command))
    except StopIteration as stop:
        job_: FineTuningJob = stop.value
        return job_.id


def test_interleaved_creators_settle_on_one_job() -> None:
    """Three callers look (nothing), then all create, then settle one after the other against
    one consistent job list: exactly one job is left alive, and all three are handed it."""
    jobs: list[FineTuningJob] = []  # the provider's jobs, oldest first
    flows = [create_flow(PARAMS, FP) for _ in range(3)]
    commands: list[Any] = [next(f) for f in flows]

    def listing() -> list[FineTuningJob]:
        return list(reversed(jobs))

    def answer(command: Any) -> Any:
        if isinstance(command, ListJobs):
            return listing()
        if isinstance(command, Create):
            jobs.append(mine("validating_files", f"ftjob-{len(jobs)}"))
            return jobs[-1]
        assert isinstance(command, Cancel)
        index = next(i for i, j in enumerate(jobs) if j.id == command.job_id)
        jobs[index] = cancelled(jobs[index])
        return jobs[index]

    commands = [f.send(listing()) for f in flows]  # every look found nothing
    assert commands == [Create(PARAMS)] * 3
    commands = [f.send(answer(c)) for f, c in zip(flows, commands, strict=True)]  # all create
    handed = [settle(flow, command, answer) for flow, command in zip(flows, commands, strict=True)]
    assert handed == ["ftjob-0"] * 3
    assert [(j.id, j.status) for j in jobs] == [
        ("ftjob-0", "validating_files"),
        ("ftjob-1", "cancelled"),
        ("ftjob-2", "cancelled"),
    ]


# --- retry_after ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"retry-after-ms": "1500", "retry-after": "30"}, 1.5, id="ms-wins"),
        pytest.param({"retry-after-ms": "250"}, 0.25, id="ms"),
        pytest.param({"retry-after": "130"}, 130.0, id="seconds-over-120"),
        pytest.param({"retry-after": "2.5"}, 2.5, id="float-seconds"),
        pytest.param({"retry-after": "-4"}, 0.0, id="negative"),
        pytest.param({"retry-after-ms": "soon", "retry-after": "8"}, 8.0, id="bad-ms"),
        pytest.param(
            {"retry-after": email.utils.formatdate(NOW + 90, usegmt=True)}, 90.0, id="date"
        ),
        pytest.param(
            {"retry-after": email.utils.formatdate(NOW - 90, usegmt=True)}, 0.0, id="past"
        ),
        pytest.param({"retry-after": "whenever"}, None, id="garbage"),
        pytest.param({}, None, id="absent"),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    """`retry-after-ms`, then `retry-after` as seconds or an HTTP date relative to `now`."""
    error = openai.RateLimitError("slow down", response=_response(429, headers), body=None)
    assert retry_after(error, NOW) == expected


def test_retry_after_without_response() -> None:
    """Errors without a response (timeouts, plain exceptions) have no retry-after."""
    assert retry_after(timeout_error(), NOW) is None
    assert retry_after(ValueError("x"), NOW) is None


# --- line_and_field ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ('Line 7, key "messages": missing role', (7, "messages")),
        ("line 12: key 'tools' is not allowed", (12, "tools")),
        ("Invalid file format. Line 3 is not valid JSON.", (3, None)),
        ("Example 42 message contains an invalid token: <|fim_suffix|>", (42, None)),
        ("key `weight` must be 0 or 1", (None, "weight")),
        ("The file is empty.", (None, None)),
        ("", (None, None)),
        (None, (None, None)),
    ],
)
def test_line_and_field(message: str | None, expected: tuple[int | None, str | None]) -> None:
    """The line (or example) number and the quoted key a provider message names."""
    assert line_and_field(message) == expected


# --- classify ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "operation", "transient", "ambiguous", "wait"),
    [
        pytest.param(timeout_error(), "create", True, True, None, id="timeout"),
        pytest.param(connection_error(), "create", True, True, None, id="connection"),
        pytest.param(server_error(500), "create", True, True, None, id="500"),
        pytest.param(server_error(503, {"retry-after": "4"}), "create", True, True, 4.0, id="503"),
        pytest.param(server_error(408), "retrieve", True, True, None, id="408"),
        pytest.param(server_error(409), "retrieve", True, True, None, id="409"),
        pytest.param(not_found(), "retrieve", False, False, None, id="404"),
        pytest.param(permission_denied(), "retrieve", False, False, None, id="403-retrieve"),
        pytest.param(ValueError("bug"), "create", False, False, None, id="not-sdk"),
    ],
)
def test_classify_untranslated(
    error: Exception,
    operation: str,
    transient: bool,
    ambiguous: bool,
    wait: float | None,
) -> None:
    """Transport failures and 5xx/408/409 are transient and ambiguous; other errors are neither."""
    assert classify(error, operation=operation, now=NOW) == Classified(
        transient=transient, ambiguous=ambiguous, retry_after=wait, translated=None
    )


def test_classify_rate_limit() -> None:
    """A plain 429 is transient, not ambiguous, translated to RateLimitedError with retry_after."""
    c = classify(rate_limit("130"), operation="retrieve", now=NOW)
    assert (c.transient, c.ambiguous, c.retry_after) == (True, False, 130.0)
    assert type(c.translated) is RateLimitedError
    assert c.translated.retry_after == 130.0
    assert c.translated.status_code == 429
    assert c.translated.code == "rate_limit_exceeded"


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(daily_limit("21600"), id="code"),
        pytest.param(
            rate_limit("21600", code="", message="Too many fine-tuning jobs today."), id="today"
        ),
        pytest.param(
            rate_limit("21600", code="", message="Limit of 3 jobs per day reached."), id="per-day"
        ),
    ],
)
def test_classify_daily_limit(error: openai.RateLimitError) -> None:
    """The daily job limit is not transient: DailyJobLimitError with the wait in seconds."""
    c = classify(error, operation="create", now=NOW)
    assert (c.transient, c.ambiguous, c.retry_after) == (False, False, 21600.0)
    assert type(c.translated) is DailyJobLimitError
    assert c.translated.retry_after == 21600.0


def test_classify_forbidden_create() -> None:
    """A 403 on create means no fine-tuning here: FineTuningUnavailableError naming the remedy."""
    c = classify(permission_denied(), operation="create", now=NOW)
    assert (c.transient, c.ambiguous, c.retry_after) == (False, False, None)
    assert type(c.translated) is FineTuningUnavailableError
    assert c.translated.status_code == 403
    assert "AzureOpenAI" in str(c.translated)


def test_classify_file_not_ready() -> None:
    """A 400 about a file still processing is transient: FileNotReadyError."""
    error = bad_request("File file-1 is not ready.", "file_not_ready", "training_file")
    c = classify(error, operation="create", now=NOW)
    assert (c.transient, c.ambiguous) == (True, False)
    assert type(c.translated) is FileNotReadyError
    assert c.translated.code == "file_not_ready"


def test_classify_invalid_file() -> None:
    """A 400 rejecting a file is FileRejectedError with the line and field named."""
    error = bad_request('Line 7, key "messages" is missing.', "invalid_training_file")
    c = classify(error, operation="create", now=NOW)
    assert (c.transient, c.ambiguous) == (False, False)
    assert type(c.translated) is FileRejectedError
    assert (c.translated.line, c.translated.field, c.translated.status_code) == (7, "messages", 400)


def test_job_error_types() -> None:
    """`job_error` picks the typed error from the job's status and error."""
    assert type(job_error(job("cancelled"))) is JobCancelledError
    assert type(job_error(job("failed"))) is JobFailedError
    rejected = job_error(
        job("failed", error={"code": "invalid_n_examples", "message": "Example 3 is bad"})
    )
    assert type(rejected) is TrainingFileRejectedError
    assert (rejected.line, rejected.field) == (3, None)


# --- params -----------------------------------------------------------------------------------


def _hp(kind: str, name: str, value: Any) -> list[ParamProblem]:
    section: dict[str, Any] = {"hyperparameters": {name: value}}
    if kind == "reinforcement":
        section["grader"] = {"type": "string_check", "name": "g"}
    return check_method({"type": kind, kind: section})[1]


@pytest.mark.parametrize("kind", ["supervised", "dpo", "reinforcement"])
@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("n_epochs", 1, True),
        ("n_epochs", 50, True),
        ("n_epochs", 0, False),
        ("n_epochs", 51, False),
        ("n_epochs", 2.5, False),
        ("n_epochs", True, False),
        ("n_epochs", "3", False),
        ("n_epochs", "auto", True),
        ("batch_size", 1, True),
        ("batch_size", 256, True),
        ("batch_size", 0, False),
        ("batch_size", 257, False),
        ("learning_rate_multiplier", 0.0001, True),
        ("learning_rate_multiplier", 2, True),
        ("learning_rate_multiplier", 0, False),
        ("learning_rate_multiplier", -0.5, False),
        ("learning_rate_multiplier", "auto", True),
    ],
)
def test_common_hyperparameter_ranges(kind: str, name: str, value: Any, ok: bool) -> None:
    """Every method takes n_epochs 1–50, batch_size 1–256 and a learning rate above 0."""
    problems = _hp(kind, name, value)
    if ok:
        assert problems == []
    else:
        assert [p.param for p in problems] == [f"method.{kind}.hyperparameters.{name}"]


@pytest.mark.parametrize(
    ("value", "ok"),
    [(0.0001, True), (2, True), (2.0, True), (0, False), (2.0001, False), (-1, False)],
)
def test_dpo_beta_range(value: float, ok: bool) -> None:
    """DPO `beta` is in (0, 2]."""
    assert (_hp("dpo", "beta", value) == []) is ok


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("compute_multiplier", 0.00002, True),
        ("compute_multiplier", 10, True),
        ("compute_multiplier", 0.00001, False),
        ("compute_multiplier", 10.5, False),
        ("eval_interval", 1, True),
        ("eval_interval", 1000, True),
        ("eval_interval", 0, False),
        ("eval_interval", 1.5, False),
        ("eval_samples", 1, True),
        ("eval_samples", 0, False),
        ("reasoning_effort", "default", True),
        ("reasoning_effort", "low", True),
        ("reasoning_effort", "medium", True),
        ("reasoning_effort", "high", True),
        ("reasoning_effort", "extreme", False),
        ("reasoning_effort", "auto", False),
    ],
)
def test_reinforcement_ranges(name: str, value: Any, ok: bool) -> None:
    """RFT: compute_multiplier in (0.00001, 10], eval_interval/eval_samples ≥ 1, four efforts."""
    assert (_hp("reinforcement", name, value) == []) is ok


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("supervised", "beta"),
        ("supervised", "reasoning_effort"),
        ("dpo", "compute_multiplier"),
        ("supervised", "epochs"),
    ],
)
def test_unknown_hyperparameter(kind: str, name: str) -> None:
    """A hyperparameter the method does not have is refused, listing the ones it has."""
    problems = _hp(kind, name, 1)
    assert len(problems) == 1
    assert problems[0].param == f"method.{kind}.hyperparameters.{name}"
    assert problems[0].message.startswith(f"is not a {kind} hyperparameter (use ")


def test_unknown_hyperparameter_lists_allowed() -> None:
    """The refusal lists the method's hyperparameters, sorted."""
    problems = _hp("supervised", "beta", 0.1)
    assert problems == [
        ParamProblem(
            "method.supervised.hyperparameters.beta",
            "is not a supervised hyperparameter (use batch_size, learning_rate_multiplier, n_epochs)",
        )
    ]


def test_reinforcement_needs_a_grader() -> None:
    """RFT without a grader is refused."""
    method, problems = check_method("reinforcement")
    assert method == {"type": "reinforcement", "reinforcement": {"hyperparameters": {}}}
    assert problems == [
        ParamProblem("method.reinforcement.grader", "reinforcement fine-tuning needs a grader")
    ]


def test_check_method_normalises() -> None:
    """None and names become the API dict; top-level hyperparameters merge under the method's."""
    assert check_method(None) == ({"type": "supervised", "supervised": {"hyperparameters": {}}}, [])
    assert check_method("dpo") == ({"type": "dpo", "dpo": {"hyperparameters": {}}}, [])
    method, problems = check_method(
        {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
        {"n_epochs": 9, "batch_size": 4},
    )
    assert problems == []
    assert method == {
        "type": "supervised",
        "supervised": {"hyperparameters": {"n_epochs": 3, "batch_size": 4}},
    }


def test_check_method_unknown_method() -> None:
    """A method that does not exist is refused by name."""
    assert check_method("ppo") == (
        {"type": "supervised"},
        [
            ParamProblem(
                "method.type", "method must be one of supervised, dpo, reinforcement, not 'ppo'"
            )
        ],
    )


@pytest.mark.parametrize(
    ("suffix", "ok"),
    [(None, True), ("a", True), ("x" * 64, True), ("x" * 65, False), ("", False)],
)
def test_suffix_length(suffix: str | None, ok: bool) -> None:
    """A suffix is 1 to 64 characters."""
    assert (check_suffix(suffix) == []) is ok


def _pairs(n: int) -> dict[str, str]:
    return {f"k{i}": f"v{i}" for i in range(n)}


def test_metadata_pairs_with_reserved_slot() -> None:
    """With one pair reserved for the fingerprint, 15 pairs pass and 16 do not."""
    assert check_metadata(_pairs(15), reserved=1) == []
    assert check_metadata(_pairs(16), reserved=1) == [
        ParamProblem("metadata", "holds at most 15 pairs here, not 16")
    ]
    assert check_metadata(_pairs(16)) == []
    assert check_metadata(_pairs(17)) == [
        ParamProblem("metadata", "holds at most 16 pairs here, not 17")
    ]


def test_metadata_key_and_value_lengths() -> None:
    """Keys are at most 64 characters, values strings of at most 512."""
    assert check_metadata({"k" * 64: "v" * 512}) == []
    assert [p.message for p in check_metadata({"k" * 65: "v"})] == [
        "keys are strings of at most 64 characters"
    ]
    assert [p.message for p in check_metadata({"k": "v" * 513})] == [
        "values are strings of at most 512 characters"
    ]
    assert [p.message for p in check_metadata({"k": 5})] == [
        "values are strings of at most 512 characters"
    ]
    assert check_metadata(None) == []
    assert check_metadata(["k"]) == [
        ParamProblem("metadata", "must be an object of string keys and values")
    ]


# --- job_request and fingerprint --------------------------------------------------------------

TRAINING = "sha256:" + "a" * 64


def request(**overrides: Any) -> Any:
    kwargs: dict[str, Any] = {
        "model": MODEL,
        "training_identity": TRAINING,
        "validation_identity": None,
        "method": None,
        "hyperparameters": None,
        "suffix": None,
        "seed": None,
        "metadata": None,
        "integrations": None,
        "training_type": None,
        "extra_body": None,
    }
    kwargs.update(overrides)
    return job_request(**kwargs)


def test_job_request_lists_every_problem() -> None:
    """Every refused parameter is named in one ConfigurationError."""
    with pytest.raises(ConfigurationError) as info:
        request(hyperparameters={"n_epochs": 0}, suffix="x" * 65, metadata=_pairs(16))
    assert str(info.value) == (
        "the API would refuse this job: method.supervised.hyperparameters.n_epochs must be "
        "'auto' or an integer from 1 to 50, not 0; suffix must be 1 to 64 characters; "
        "metadata holds at most 15 pairs here, not 16"
    )


def test_job_request_accepts_15_metadata_pairs() -> None:
    """Fifteen user pairs fit; the fingerprint is the sixteenth."""
    req = request(metadata=_pairs(15))
    assert len(req.metadata) == 16
    assert req.metadata[FINGERPRINT_KEY] == req.fingerprint


def test_job_request_seed_must_be_an_integer() -> None:
    """A bool or float seed is refused."""
    with pytest.raises(ConfigurationError, match="seed must be an integer"):
        request(seed=True)
    with pytest.raises(ConfigurationError, match="seed must be an integer"):
        request(seed=1.5)


def test_job_request_params() -> None:
    """`params` leaves None values out and carries Azure's trainingType in extra_body."""
    req = request(suffix="elle", seed=7, training_type="GlobalStandard")
    assert req.params("file-t", None) == {
        "model": MODEL,
        "training_file": "file-t",
        "method": {"type": "supervised", "supervised": {"hyperparameters": {}}},
        "metadata": {FINGERPRINT_KEY: req.fingerprint},
        "suffix": "elle",
        "seed": 7,
        "extra_body": {"trainingType": "GlobalStandard"},
    }
    plain = request()
    assert plain.params("file-t", "file-v") == {
        "model": MODEL,
        "training_file": "file-t",
        "validation_file": "file-v",
        "method": {"type": "supervised", "supervised": {"hyperparameters": {}}},
        "metadata": {FINGERPRINT_KEY: plain.fingerprint},
    }


def test_job_request_fingerprint_is_stable() -> None:
    """The same arguments give the same fingerprint (pinned), a nonce a different one."""
    assert request().fingerprint == request().fingerprint == "43a3c6deb96b999902c65bd24510b9a1"
    assert request(nonce="1").fingerprint != request().fingerprint
    assert request(nonce="1").fingerprint == request(nonce="1").fingerprint


def test_job_request_same_run_same_fingerprint() -> None:
    """Spellings of the same run (method name or dict, top-level hyperparameters) agree."""
    nested = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}}
    assert request(method="supervised").fingerprint == request().fingerprint
    assert (
        request(hyperparameters={"n_epochs": 3}).fingerprint
        == request(method=nested).fingerprint
        == request(method="supervised", hyperparameters={"n_epochs": 3}).fingerprint
    )
    assert request(method=nested).fingerprint != request().fingerprint
    assert request(metadata={"team": "a"}).fingerprint == request().fingerprint


BASE: dict[str, Any] = {
    "training": "sha256:abc",
    "validation": "sha256:def",
    "model": MODEL,
    "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
    "suffix": "elle",
    "seed": 42,
    "extra": {"trainingType": "Standard"},
}


def test_fingerprint_pinned() -> None:
    """Fixed inputs give this 32-hex fingerprint in every process, on every machine."""
    assert fingerprint(**BASE) == "664527c2718f12507aafe9a93f7ea95c"


def test_fingerprint_ignores_key_order() -> None:
    """Dict key order does not change the fingerprint; an empty extra equals no extra."""
    reordered = {
        **BASE,
        "method": {"supervised": {"hyperparameters": {"n_epochs": 3}}, "type": "supervised"},
    }
    assert fingerprint(**reordered) == fingerprint(**BASE)
    assert fingerprint(**{**BASE, "extra": {}}) == fingerprint(**{**BASE, "extra": None})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("training", "sha256:abd"),
        ("training", "file:file-1"),
        ("validation", None),
        ("model", "gpt-4.1-mini-2025-04-14"),
        ("method", {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 4}}}),
        ("method", {"type": "dpo", "dpo": {"hyperparameters": {"n_epochs": 3}}}),
        ("suffix", None),
        ("suffix", "elle2"),
        ("seed", None),
        ("seed", 43),
        ("extra", {"trainingType": "GlobalStandard"}),
        ("extra", None),
    ],
)
def test_fingerprint_sensitive_to_each_input(key: str, value: Any) -> None:
    """Changing any one input changes the fingerprint."""
    changed = fingerprint(**{**BASE, key: value})
    assert changed != fingerprint(**BASE)
    assert len(changed) == 32
    int(changed, 16)


# --- check_budget -----------------------------------------------------------------------------


def estimate(cost: float | None) -> CostEstimate:
    return CostEstimate(
        model=MODEL,
        examples=10,
        tokens_per_epoch=1000,
        n_epochs=3,
        n_epochs_auto=False,
        billed_tokens=3000,
        usd_per_million=None if cost is None else 3.0,
        price_source=None if cost is None else "test",
        cost_usd=cost,
    )


def test_check_budget() -> None:
    """No budget or an estimate within it passes (equal included); over it raises."""
    check_budget(estimate(5.0), None)
    check_budget(estimate(None), None)
    check_budget(estimate(5.0), 5.0)
    check_budget(estimate(4.99), 5.0)
    with pytest.raises(BudgetExceededError) as info:
        check_budget(estimate(5.01), 5.0)
    assert (info.value.estimate_usd, info.value.max_cost) == (5.01, 5.0)
    assert isinstance(info.value, ConfigurationError)


def test_check_budget_unknown_price() -> None:
    """A budget with an unpriced model raises, with a NaN estimate."""
    with pytest.raises(BudgetExceededError, match="no known training price") as info:
        check_budget(estimate(None), 100.0)
    assert math.isnan(info.value.estimate_usd)
    assert info.value.max_cost == 100.0


# --- metrics ----------------------------------------------------------------------------------

LEGACY_CSV = (
    "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n"
    "1,1.52347,0.0,,\n"
    "2,1.2,0.5,1.1,0.625\n"
)
LEGACY_POINTS = [
    MetricPoint(step=1, train_loss=1.52347, train_accuracy=0.0),
    MetricPoint(step=2, train_loss=1.2, train_accuracy=0.5, valid_loss=1.1, valid_accuracy=0.625),
]


def test_parse_results_csv_plain() -> None:
    """The documented columns parse; empty cells are None."""
    assert parse_results_csv(LEGACY_CSV) == LEGACY_POINTS
    assert parse_results_csv(LEGACY_CSV.encode()) == LEGACY_POINTS


def test_parse_results_csv_base64() -> None:
    """A base64-encoded results file (bytes or text) parses the same."""
    encoded = base64.b64encode(LEGACY_CSV.encode())
    assert parse_results_csv(encoded) == LEGACY_POINTS
    assert parse_results_csv(encoded.decode() + "\n") == LEGACY_POINTS


def test_parse_results_csv_nan_and_inf() -> None:
    """NaN and infinite values become None."""
    text = "step,train_loss,valid_loss\n1,nan,inf\n2,0.5,NaN\n"
    assert parse_results_csv(text) == [
        MetricPoint(step=1),
        MetricPoint(step=2, train_loss=0.5),
    ]


def test_parse_results_csv_missing_columns() -> None:
    """Columns the file lacks, and short rows, give None."""
    assert parse_results_csv("step,train_loss\n1,0.5\n2\n") == [
        MetricPoint(step=1, train_loss=0.5),
        MetricPoint(step=2),
    ]


def test_parse_results_csv_event_naming() -> None:
    """Event-style names (`train_mean_token_accuracy`, `full_valid_*`) land in the same fields."""
    text = (
        "step,train_loss,train_mean_token_accuracy,valid_loss,valid_mean_token_accuracy,"
        "full_valid_loss,full_valid_mean_token_accuracy\n"
        "10,0.2,0.9,0.3,0.8,0.4,0.7\n"
    )
    assert parse_results_csv(text) == [
        MetricPoint(
            step=10,
            train_loss=0.2,
            train_accuracy=0.9,
            valid_loss=0.3,
            valid_accuracy=0.8,
            full_valid_loss=0.4,
            full_valid_accuracy=0.7,
        )
    ]


def test_parse_results_csv_skips_rows_without_step() -> None:
    """Blank lines and rows with an empty or non-numeric step are skipped; `3.0` is step 3."""
    text = "step,train_loss\n\n,0.9\nabc,0.8\n3.0,0.7\n \n"
    assert parse_results_csv(text) == [MetricPoint(step=3, train_loss=0.7)]


def test_parse_results_csv_empty() -> None:
    """An empty file, or only a header, gives no points."""
    assert parse_results_csv("") == []
    assert parse_results_csv(b"step,train_loss\n") == []


def metrics(n: int, step: int | None, loss: float, **extra: float) -> MetricsEvent:
    typed = to_job_event(event(n, kind="metrics", data={"step": step, "train_loss": loss, **extra}))
    assert isinstance(typed, MetricsEvent)
    return typed


def test_from_events() -> None:
    """Metrics events give the curve in step order; a step's last event wins; no step, no point."""
    events = [
        metrics(1, 2, 0.9, train_mean_token_accuracy=0.5),
        metrics(2, 1, 1.0),
        metrics(3, None, 0.1),
        metrics(4, 2, 0.8, valid_loss=0.7, full_valid_mean_token_accuracy=0.6),
    ]
    assert from_events(events) == [
        MetricPoint(step=1, train_loss=1.0),
        MetricPoint(step=2, train_loss=0.8, valid_loss=0.7, full_valid_accuracy=0.6),
    ]
    assert from_events([]) == []


# --- files ------------------------------------------------------------------------------------

ABC = Identity(
    sha256="ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    md5="900150983cd24fb0d6963f7d28e17f72",
    size=3,
)


def test_identities(tmp_path: Path) -> None:
    """Bytes and a file (read in small chunks) have the same sha256, md5 and size."""
    assert identity_of_bytes(b"abc") == ABC
    path = tmp_path / "abc.jsonl"
    path.write_bytes(b"abc")
    assert identity_of_path(path, chunk=2) == ABC
    assert ABC.tag == "ba7816bf8f01cfea4141"
    big = bytes(range(256)) * 100
    path.write_bytes(big)
    assert identity_of_path(path, chunk=1000) == identity_of_bytes(big)
    assert identity_of_bytes(big).md5 == hashlib.md5(big, usedforsecurity=False).hexdigest()


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("elle.jsonl", "elle.ftk-ba7816bf8f01cfea4141.jsonl"),
        ("elle", "elle.ftk-ba7816bf8f01cfea4141.jsonl"),
        ("elle.ftk-0123456789abcdef0123.jsonl", "elle.ftk-ba7816bf8f01cfea4141.jsonl"),
        ("data.txt", "data.txt.ftk-ba7816bf8f01cfea4141.jsonl"),
        ("", "training.ftk-ba7816bf8f01cfea4141.jsonl"),
        (".jsonl", "training.ftk-ba7816bf8f01cfea4141.jsonl"),
        ("x" * 100 + ".jsonl", "x" * 80 + ".ftk-ba7816bf8f01cfea4141.jsonl"),
    ],
)
def test_remote_name(stem: str, expected: str) -> None:
    """`<stem>.ftk-<20 hex of sha256>.jsonl`, never tagged twice, the stem cut to 80 characters."""
    assert remote_name(stem, ABC) == expected


def remote(
    filename: str, size: int = 3, status: str = "processed", file_id: str = "file-1"
) -> FileObject:
    return FileObject.construct(
        id=file_id,
        object="file",
        bytes=size,
        created_at=1,
        filename=filename,
        purpose="fine-tune",
        status=status,
    )


def test_find_match() -> None:
    """The first remote file with the same tag and size, not in error, is the match."""
    name = "elle.ftk-ba7816bf8f01cfea4141.jsonl"
    candidates = [
        remote("elle.jsonl", file_id="file-untagged"),
        remote(name, size=4, file_id="file-other-size"),
        remote(name, status="error", file_id="file-error"),
        remote("elle.ftk-0123456789abcdef0123.jsonl", file_id="file-other-tag"),
        remote("other.ftk-ba7816bf8f01cfea4141.jsonl", status="uploaded", file_id="file-ok"),
        remote(name, file_id="file-later"),
    ]
    found = find_match(candidates, ABC)
    assert found is candidates[4]
    assert find_match(candidates[:4], ABC) is None
    assert find_match([], ABC) is None


@pytest.mark.parametrize(
    ("size", "part_size", "expected"),
    [
        (
            4021,
            1000,
            [(0, 0, 1000), (1, 1000, 1000), (2, 2000, 1000), (3, 3000, 1000), (4, 4000, 21)],
        ),
        (3000, 1000, [(0, 0, 1000), (1, 1000, 1000), (2, 2000, 1000)]),
        (999, 1000, [(0, 0, 999)]),
        (1, 1, [(0, 0, 1)]),
        (0, 1000, []),
    ],
)
def test_plan_parts(size: int, part_size: int, expected: list[tuple[int, int, int]]) -> None:
    """Parts of `part_size` bytes cover the file in order; the last may be shorter."""
    assert plan_parts(size, part_size) == [PartPlan(*p) for p in expected]


def test_plan_parts_refuses_non_positive_part_size() -> None:
    """A part size of 0 is refused."""
    with pytest.raises(ValueError, match="part_size must be positive"):
        plan_parts(10, 0)
