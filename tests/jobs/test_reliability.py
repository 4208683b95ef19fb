"""Reliability: faults × operations, the duplicate-job trap, typed errors, secrets, wire shapes."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import openai
import pytest
import respx
from openai import AsyncOpenAI, OpenAI

from finetune_kit import (
    DailyJobLimitError,
    FinetuneKitError,
    FineTuningUnavailableError,
    JobFailedError,
    PollPolicy,
    RateLimitedError,
    TrainingFileRejectedError,
    WaitTimeoutError,
)
from finetune_kit._core.fingerprint import FINGERPRINT_KEY
from finetune_kit.testing import Faults, Simulator, Timing
from tests.jobs._helpers import (
    ELLE,
    MODEL,
    Event,
    Harness,
    HarnessFactory,
    Job,
    Twin,
    no_sdk_sleep,
    record_ids,
)

pytestmark = pytest.mark.anyio

SECRET = "sk-secret-XYZ"
OPENAI_V1 = "https://api.openai.com/v1"


@pytest.fixture
def sdk_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The SDK's own retry delays, made instant (what it wanted is recorded)."""
    return no_sdk_sleep(monkeypatch)


# --- the matrix -----------------------------------------------------------------------------------

FaultMaker = Callable[[Faults, str, int, int], object]
"""(faults, route, times, skip) -> the fault added."""

FAULTS: dict[str, FaultMaker] = {
    "500": lambda f, route, n, skip: f.server_error(route, times=n, skip=skip),
    "500-after": lambda f, route, n, skip: f.server_error(route, after=True, times=n, skip=skip),
    "timeout": lambda f, route, n, skip: f.timeout(route, times=n, skip=skip),
    "timeout-after": lambda f, route, n, skip: f.timeout(route, after=True, times=n, skip=skip),
    "disconnect": lambda f, route, n, skip: f.disconnect(route, times=n, skip=skip),
    "disconnect-after": lambda f, route, n, skip: f.disconnect(
        route, after=True, times=n, skip=skip
    ),
    "429-ra2": lambda f, route, n, skip: f.rate_limit(route, retry_after=2, times=n, skip=skip),
    "429-ra130": lambda f, route, n, skip: f.rate_limit(route, retry_after=130, times=n, skip=skip),
}

OPERATIONS = [
    ("upload", "files.list"),
    ("upload", "files.create"),
    ("upload", "files.retrieve"),
    ("create", "jobs.list"),
    ("create", "jobs.create"),
    ("wait", "jobs.retrieve"),
    ("wait", "jobs.events"),
    ("events", "jobs.events"),
]
"""(operation, route its fault is on). `upload` runs inside `create`; `wait` passes `on_event`
(so its event drains meet `jobs.events` faults); `events` follows from creation to the end.
Both look at 0 s and 300 s: the second look finds 107 new events, two pages."""

SDK_GIVES_UP = {
    ("upload", "files.list"),
    ("upload", "files.create"),
    ("upload", "files.retrieve"),
    ("create", "jobs.list"),
    ("events", "jobs.events"),
}
"""Calls finetune-kit leaves to the SDK's retries: a `Retry-After` over 120 s raises at once."""


class Run:
    """One scenario: create, wait with `on_event`, follow events; faults go in before one step."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.job: Job | None = None
        self.on_event: list[Event] = []
        self.followed: list[Event] = []

    async def create(self) -> None:
        self.job = await self.h.create(suffix="elle")

    async def wait(self) -> None:
        assert self.job is not None
        await self.job.wait(on_event=self.on_event.append, poll=300)

    async def follow(self) -> None:
        assert self.job is not None
        since = self.followed[-1].id if self.followed else None
        await self.job.events(follow=True, since=since, poll=300, sink=self.followed)


def _typed(exc: BaseException) -> bool:
    return isinstance(exc, (openai.APIError, FinetuneKitError))


def _matrix() -> list[Any]:
    """Every fault once on every operation, sync and async; then each three times in a row
    (beyond the SDK's 2 retries), where it can make a difference: `after` only where the request
    does something (POST), and the calls finetune-kit leaves to the SDK (same code for both
    flavours) only sync."""
    cases = [
        pytest.param(flavour, op, route, fault, 1, id=f"{flavour}-{op}:{route}-{fault}-once")
        for flavour in ("sync", "async")
        for op, route in OPERATIONS
        for fault in FAULTS
    ]
    cases.extend(
        pytest.param(flavour, op, route, fault, 3, id=f"{flavour}-{op}:{route}-{fault}-thrice")
        for op, route in OPERATIONS
        for fault in FAULTS
        if not fault.endswith("-after") or route in ("files.create", "jobs.create")
        for flavour in (("sync",) if (op, route) in SDK_GIVES_UP else ("sync", "async"))
    )
    return cases


@pytest.mark.parametrize(("flavour", "operation", "route", "fault", "times"), _matrix())
async def test_fault_matrix(  # noqa: PLR0917 - the matrix's axes
    make: HarnessFactory,
    sdk_waits: list[float],
    operation: str,
    route: str,
    fault: str,
    times: int,
) -> None:
    """Each operation succeeds or raises a typed error; one job at most; events exact and once."""
    # A metrics event every 10 steps keeps runs cheap; event faults need every step (107 new
    # events at the second look: two pages).
    sim = Simulator(timing=Timing(metrics_every=1 if route == "jobs.events" else 10))
    run = Run(make(sim))
    steps = {"upload": run.create, "create": run.create, "wait": run.wait, "events": run.follow}
    if operation not in ("upload", "create"):
        await run.create()
    # Event faults land on the second page of the second look (`after=<id>`), mid-drain.
    FAULTS[fault](sim.faults, route, times, 2 if route == "jobs.events" else 0)
    error: BaseException | None = None
    try:
        await steps[operation]()
    except Exception as exc:  # noqa: BLE001 - checked just below
        error = exc
    assert len(sim.jobs) <= 1
    if error is not None:
        assert _typed(error), f"untyped {type(error).__name__}: {error}"
    # What must succeed: a single fault is within the SDK's retries (2) or finetune-kit's own;
    # a Retry-After over 120 s is waited out where finetune-kit polls (create, wait).
    gives_up = fault == "429-ra130" and (operation, route) in SDK_GIVES_UP
    if times == 1 and not gives_up:
        assert error is None, f"{type(error).__name__}: {error}"
    if operation in ("create", "wait") and route != "jobs.list":
        assert error is None, f"{type(error).__name__}: {error}"
    # Whatever happened, carrying on (the fault spent) ends with exactly one job, and every event
    # reaches both consumers exactly once, in order.
    sim.faults.clear()
    if run.job is None or (error is not None and operation in ("upload", "create")):
        await run.create()
    assert run.job is not None
    if operation == "events":
        await run.follow()
    await run.wait()
    await run.follow()
    assert len(sim.jobs) == 1
    assert run.job.id in sim.jobs
    assert sim.jobs[run.job.id].status == "succeeded"
    ids = record_ids(sim, run.job.id)
    assert [e.id for e in run.on_event] == ids
    assert [e.id for e in run.followed] == ids


# --- the duplicate-job trap -------------------------------------------------------------------------


async def test_duplicate_job_trap_is_avoided(make: HarnessFactory, sdk_waits: list[float]) -> None:
    """A 500 after the job was made: `create` finds it (one job); the plain SDK makes two."""
    sim = Simulator()
    h = make(sim)
    sim.faults.server_error("jobs.create", after=True)
    job = await h.create(suffix="elle")
    assert len(sim.jobs) == 1
    assert job.id in sim.jobs
    assert sim.calls["jobs.create"] == 1
    assert sim.calls["jobs.list"] == 2
    assert (await job.wait()).id == sim.jobs[job.id].fine_tuned_model

    plain_sim = Simulator()
    plain = plain_sim.client(max_retries=2)
    file_id = plain.files.create(file=("elle.jsonl", ELLE.read_bytes()), purpose="fine-tune").id
    plain_sim.clock.sleep(2)
    plain_sim.faults.server_error("jobs.create", after=True)
    plain.fine_tuning.jobs.create(model=MODEL, training_file=file_id)
    plain.close()
    assert plain_sim.calls["jobs.create"] == 2
    assert len(plain_sim.jobs) == 2


@pytest.mark.parametrize("fault", ["timeout-after", "disconnect-after", "500-after"])
async def test_an_ambiguous_failure_after_the_work_is_looked_up(
    make: HarnessFactory, sdk_waits: list[float], fault: str
) -> None:
    """A create that worked but failed on the way back is found by the look-up: no second POST."""
    sim = Simulator()
    h = make(sim)
    FAULTS[fault](sim.faults, "jobs.create", 1, 0)
    job = await h.create()
    assert len(sim.jobs) == 1
    assert job.id in sim.jobs
    assert sim.calls["jobs.create"] == 1
    assert sim.calls["jobs.list"] == 2
    assert h.sleeps.delays == [1.0, 1.5]


async def test_create_retries_server_errors_before_the_work(
    make: HarnessFactory, sdk_waits: list[float]
) -> None:
    """Three 500s before the work: looked up after each, retried after 2, 4 and 8 s; one job."""
    sim = Simulator()
    h = make(sim)
    sim.faults.server_error("jobs.create", times=3)
    await h.create()
    assert len(sim.jobs) == 1
    assert sim.calls["jobs.create"] == 4
    assert sim.calls["jobs.list"] == 5  # the first look, one after each 500, one to settle
    assert h.sleeps.delays[-3:] == [2.0, 4.0, 8.0]


@pytest.mark.parametrize("fault", ["500-after", "timeout-after", "disconnect-after"])
async def test_upload_after_an_ambiguous_failure_stores_one_copy(
    make: HarnessFactory, sdk_waits: list[float], fault: str
) -> None:
    """An upload stored but failed on the way back is not stored again: one copy of the data."""
    sim = Simulator()
    h = make(sim)
    FAULTS[fault](sim.faults, "files.create", 1, 0)
    job = await h.create()
    assert len(sim.jobs) == 1
    uploads = [f for f in sim.files.values() if f.purpose == "fine-tune"]
    assert [f.id for f in uploads] == [sim.jobs[job.id].training_file]


# --- typed errors ------------------------------------------------------------------------------------


async def test_permission_denied_means_fine_tuning_unavailable(
    make: HarnessFactory, sdk_waits: list[float]
) -> None:
    """A 403 on create is `FineTuningUnavailableError`, naming Azure, from the SDK error; not retried."""
    sim = Simulator()
    h = make(sim)
    sim.faults.permission_denied()
    with pytest.raises(FineTuningUnavailableError) as err:
        await h.create()
    assert "Azure" in str(err.value)
    assert "openai.azure.com/openai/v1/" in str(err.value)
    assert err.value.status_code == 403
    assert err.value.code == "permission_denied"
    assert isinstance(err.value.__cause__, openai.PermissionDeniedError)
    assert sim.calls["jobs.create"] == 1
    assert len(sim.jobs) == 0


async def test_daily_job_limit(make: HarnessFactory, sdk_waits: list[float]) -> None:
    """The daily job limit is `DailyJobLimitError` with `retry_after` 21600 s; not retried."""
    sim = Simulator()
    h = make(sim)
    sim.faults.daily_job_limit()
    with pytest.raises(DailyJobLimitError) as err:
        await h.create()
    assert err.value.retry_after == 21600.0
    assert err.value.code == "daily_rate_limit_exceeded"
    assert str(err.value) == (
        "the daily limit of fine-tuning jobs is reached; retry in 6.0 h (the job was not created)"
    )
    assert isinstance(err.value.__cause__, openai.RateLimitError)
    assert sim.calls["jobs.create"] == 1
    assert len(sim.jobs) == 0


async def test_rate_limited_create_gives_up_with_a_typed_error(
    make: HarnessFactory, sdk_waits: list[float]
) -> None:
    """429s on every create: 5 attempts 2 s apart, then `RateLimitedError` from the SDK error."""
    sim = Simulator()
    h = make(sim)
    sim.faults.rate_limit("jobs.create", retry_after=2, times=None)
    with pytest.raises(RateLimitedError) as err:
        await h.create()
    assert type(err.value) is RateLimitedError
    assert err.value.retry_after == 2.0
    assert isinstance(err.value.__cause__, openai.RateLimitError)
    assert sim.calls["jobs.create"] == 5
    assert h.sleeps.delays[-4:] == [2.0, 2.0, 2.0, 2.0]
    assert len(sim.jobs) == 0


async def test_wait_gives_up_after_max_errors(make: HarnessFactory, sdk_waits: list[float]) -> None:
    """Polls failing for good: `wait` raises the SDK's error after 10 tolerated failures."""
    sim = Simulator()
    h = make(sim)
    job = await h.create()
    sim.faults.server_error("jobs.retrieve", times=None)
    with pytest.raises(openai.InternalServerError):
        await job.wait(policy=PollPolicy(jitter=0, max_errors=10))
    assert sim.calls["jobs.retrieve"] == 11 * 3


async def test_wait_rate_limited_for_good_raises_rate_limited_error(
    make: HarnessFactory, sdk_waits: list[float]
) -> None:
    """Polls rate limited for good (Retry-After 130): `RateLimitedError` after waiting each out."""
    sim = Simulator()
    h = make(sim)
    job = await h.create()
    h.sleeps.delays.clear()
    sim.faults.rate_limit("jobs.retrieve", retry_after=130, times=None)
    with pytest.raises(RateLimitedError) as err:
        await job.wait(policy=PollPolicy(jitter=0, max_errors=3, timeout=None))
    assert err.value.retry_after == 130.0
    assert isinstance(err.value.__cause__, openai.RateLimitError)
    assert h.sleeps.delays == [130.0, 130.0, 130.0]
    assert sim.calls["jobs.retrieve"] == 4


async def test_api_key_never_leaks(
    make: HarnessFactory, sdk_waits: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    """The API key is in no error message, no repr and no log record, whatever goes wrong."""
    caplog.set_level(logging.DEBUG)
    sim = Simulator()
    h = make(sim, api_key=SECRET)
    texts: list[str] = []

    def keep(exc: BaseException) -> None:
        for e in (exc, exc.__cause__, exc.__context__):
            if e is not None:
                texts.extend([str(e), repr(e)])

    sim.faults.permission_denied(times=1)
    with pytest.raises(FineTuningUnavailableError) as unavailable:
        await h.create()
    keep(unavailable.value)
    sim.faults.daily_job_limit()
    with pytest.raises(DailyJobLimitError) as daily:
        await h.create()
    keep(daily.value)
    sim.faults.timeout("jobs.list", times=5)  # every one of the look's 5 attempts
    with pytest.raises(openai.APITimeoutError) as timeout:
        await h.create()
    keep(timeout.value)
    with pytest.raises(openai.NotFoundError) as missing:
        await h.retrieve("ftjob-missing")
    keep(missing.value)
    sim.faults.fail_next_job("invalid_file")
    job = await h.create()
    texts.append(repr(job.inner))
    with pytest.raises(TrainingFileRejectedError) as rejected:
        await job.wait()
    keep(rejected.value)
    texts.append(repr(rejected.value.job))
    good = await h.create(suffix="ok")
    sim.faults.fail_next_job("stuck")
    stuck = await h.create(suffix="stuck")
    with pytest.raises(WaitTimeoutError) as waited:
        await stuck.wait(timeout=60)
    keep(waited.value)
    model = await good.wait()
    texts += [repr(good.inner), repr(model), str(model), repr(good.snapshot)]
    texts += [r.getMessage() for r in caplog.records]
    texts += [repr(r.args) for r in caplog.records]
    texts.append(caplog.text)
    assert len(caplog.records) > 50
    assert [t for t in texts if SECRET in t] == []


async def test_failed_job_errors_keep_their_details(make: HarnessFactory) -> None:
    """A failed job's error holds the job, the provider's code and a hint; no SDK cause needed."""
    sim = Simulator()
    h = make(sim)
    sim.faults.fail_next_job("fail", code="internal_error", message="boom")
    job = await h.create()
    with pytest.raises(JobFailedError) as err:
        await job.wait()
    assert err.value.code == "internal_error"
    assert err.value.error_message == "boom"
    assert str(err.value) == f"fine-tuning job {job.id} failed: boom [internal_error]"
    assert err.value.hint == (
        "check the job's events (job.events()) for what happened before it failed"
    )


# --- wire shapes (respx) -----------------------------------------------------------------------------


@pytest.fixture
async def wire(flavour: Twin) -> AsyncIterator[tuple[Simulator, respx.MockRouter, Harness]]:
    """A simulator mounted on respx at api.openai.com, and a harness whose client builds its own."""
    sim = Simulator()
    with sim.mock(base_url=OPENAI_V1) as router:
        client: OpenAI | AsyncOpenAI = (
            OpenAI(api_key="sk-test", max_retries=2)
            if flavour == "sync"
            else AsyncOpenAI(api_key="sk-test", max_retries=2)
        )
        h = Harness(sim, client)
        yield sim, router, h
        await h.aclose()


def _requests(router: respx.MockRouter, method: str, path: str) -> list[httpx.Request]:
    return [
        call.request
        for call in router.calls
        if call.request.method == method and call.request.url.path == f"/v1/{path}"
    ]


def _body(request: httpx.Request) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(request.content)
    return body


async def test_create_request_body(wire: tuple[Simulator, respx.MockRouter, Harness]) -> None:
    """The create POST carries the fingerprint in metadata and the method; no seed key when None."""
    sim, router, h = wire
    job = await h.create(hyperparameters={"n_epochs": 3}, suffix="elle")
    (post,) = _requests(router, "POST", "fine_tuning/jobs")
    body = _body(post)
    fingerprint = body["metadata"][FINGERPRINT_KEY]
    assert body == {
        "model": MODEL,
        "training_file": sim.jobs[job.id].training_file,
        "metadata": {FINGERPRINT_KEY: fingerprint},
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
        "suffix": "elle",
    }
    assert "seed" not in body
    assert sim.jobs[job.id].metadata == {FINGERPRINT_KEY: fingerprint}


async def test_create_request_with_seed_and_training_type(
    wire: tuple[Simulator, respx.MockRouter, Harness],
) -> None:
    """`seed` and Azure's `trainingType` are sent when given."""
    sim, router, h = wire
    job = await h.create(seed=5, training_type="GlobalStandard")
    (post,) = _requests(router, "POST", "fine_tuning/jobs")
    body = _body(post)
    assert body["seed"] == 5
    assert body["trainingType"] == "GlobalStandard"
    assert sim.jobs[job.id].extra == {"trainingType": "GlobalStandard"}


async def test_look_up_by_fingerprint(wire: tuple[Simulator, respx.MockRouter, Harness]) -> None:
    """Jobs are listed with `metadata[ftk_fingerprint]=<the fingerprint>`: to look before
    creating, and to settle with concurrent creators after."""
    _, router, h = wire
    await h.create()
    (post,) = _requests(router, "POST", "fine_tuning/jobs")
    fingerprint = _body(post)["metadata"][FINGERPRINT_KEY]
    lookups = _requests(router, "GET", "fine_tuning/jobs")
    assert [sorted(lookup.url.params.multi_items()) for lookup in lookups] == [
        [("limit", "100"), (f"metadata[{FINGERPRINT_KEY}]", fingerprint)]
    ] * 2
    paths = [(c.request.method, c.request.url.path) for c in router.calls]
    jobs = [p for p in paths if p[1] == "/v1/fine_tuning/jobs"]
    assert [m for m, _ in jobs] == ["GET", "POST", "GET"]


async def test_create_is_sent_once_per_attempt(
    wire: tuple[Simulator, respx.MockRouter, Harness], sdk_waits: list[float]
) -> None:
    """With SDK retries off, each create attempt is one POST (retry count 0), a look-up between."""
    sim, router, h = wire
    sim.faults.server_error("jobs.create", times=2)
    await h.create()
    posts = _requests(router, "POST", "fine_tuning/jobs")
    assert [p.headers["x-stainless-retry-count"] for p in posts] == ["0", "0", "0"]
    job_calls = [
        c.request.method for c in router.calls if c.request.url.path == "/v1/fine_tuning/jobs"
    ]
    assert job_calls == ["GET", "POST", "GET", "POST", "GET", "POST", "GET"]
    assert len(sim.jobs) == 1
    assert sdk_waits == []


async def test_events_requests_page_with_after(
    wire: tuple[Simulator, respx.MockRouter, Harness],
) -> None:
    """`events()` asks for pages of 100, the next one `after` the oldest event of the last."""
    sim, router, h = wire
    job = await h.create()
    await job.wait()
    before = len(_requests(router, "GET", f"fine_tuning/jobs/{job.id}/events"))
    events = await job.events()
    assert len(events) == 109
    pages = _requests(router, "GET", f"fine_tuning/jobs/{job.id}/events")[before:]
    ids = record_ids(sim, job.id)
    assert [sorted(p.url.params.multi_items()) for p in pages] == [
        [("limit", "100")],
        [("after", ids[9]), ("limit", "100")],
    ]
