"""The simulator's scripted faults: HTTP errors, transport failures, job faults and latency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from openai import OpenAI

from finetune_kit.testing import Fault, Simulator
from tests.testing._sim_helpers import (
    DURATION,
    ELLE,
    MODEL,
    RUN_START,
    VALIDATING,
    Client,
    Twin,
    all_items,
    aw,
    closing,
    elle_job,
    first_page,
    make_client,
    ready_file,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sync", "async"])
async def retrying_api(
    request: pytest.FixtureRequest, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Client]:
    """An SDK client with 2 retries whose back-off takes no (real) time."""
    flavour: Twin = request.param
    c = make_client(sim, flavour, max_retries=2)
    monkeypatch.setattr(c, "_calculate_retry_timeout", _no_wait)
    async for each in closing(c):
        yield each


def _no_wait(*args: Any, **kwargs: Any) -> float:
    return 0.0


def _retrying(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> OpenAI:
    c = sim.client(max_retries=2)
    monkeypatch.setattr(c, "_calculate_retry_timeout", _no_wait)
    return c


# --- server errors and the duplicate-job trap ------------------------------------------------


async def test_server_error_after_create_still_creates_one_job(api: Client, sim: Simulator) -> None:
    """`server_error(after=True)` fails `jobs.create` with a 500, yet the job exists: exactly one."""
    training = ready_file(sim, sim.client())
    fault = sim.faults.server_error("jobs.create", after=True)
    with pytest.raises(openai.InternalServerError) as err:
        await aw(api.fine_tuning.jobs.create(model=MODEL, training_file=training))
    assert err.value.status_code == 500
    assert err.value.type == "server_error"
    assert fault.hits == 1
    jobs = await all_items(api.fine_tuning.jobs.list())
    assert len(jobs) == 1
    assert jobs[0].status == "validating_files"
    assert sim.calls["jobs.create"] == 1


async def test_sdk_retries_create_a_duplicate_job(retrying_api: Client, sim: Simulator) -> None:
    """The duplicate-job trap: with SDK retries, a 500 after the work is done leaves TWO jobs."""
    # The SDK never sends an Idempotency-Key and retries POST /fine_tuning/jobs on 5xx: the first
    # attempt created a job and answered 500, the retry created a second one and succeeded.
    # Create jobs with `max_retries=0` and look for the first by metadata before retrying.
    training = ready_file(sim, sim.client())
    fault = sim.faults.server_error("jobs.create", after=True)
    job = await aw(retrying_api.fine_tuning.jobs.create(model=MODEL, training_file=training))
    jobs = await all_items(retrying_api.fine_tuning.jobs.list())
    assert len(jobs) == 2
    assert job.id == jobs[0].id  # the caller only knows about the second
    assert sim.calls["jobs.create"] == 2
    assert fault.hits == 1


def test_metadata_tag_finds_the_job_a_failed_create_made(sim: Simulator, client: OpenAI) -> None:
    """The remedy for the trap: tag the job in `metadata`, and list by it after a failed create."""
    training = ready_file(sim, client)
    sim.faults.server_error("jobs.create", after=True)
    with pytest.raises(openai.InternalServerError):
        client.fine_tuning.jobs.create(
            model=MODEL, training_file=training, metadata={"ftk_id": "run-1"}
        )
    found = client.fine_tuning.jobs.list(metadata={"ftk_id": "run-1"}).data
    assert len(found) == 1
    assert found[0].metadata == {"ftk_id": "run-1"}


def test_server_error_before_does_no_work(sim: Simulator, client: OpenAI) -> None:
    """Without `after`, a 503 is answered before the work: no job exists."""
    training = ready_file(sim, client)
    sim.faults.server_error("jobs.create", status=503)
    with pytest.raises(openai.InternalServerError) as err:
        client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    assert err.value.status_code == 503
    assert client.fine_tuning.jobs.list().data == []
    assert client.fine_tuning.jobs.create(model=MODEL, training_file=training).id


def test_sdk_retry_recovers_from_a_server_error(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retried 500 on a read succeeds on the second attempt (the SDK sends 2 requests)."""
    c = _retrying(sim, monkeypatch)
    sim.faults.server_error("files.list")
    assert c.files.list().data == []
    assert sim.calls["files.list"] == 2
    assert [entry[2] for entry in sim.log] == [500, 200]


# --- transport failures -----------------------------------------------------------------------


@pytest.mark.parametrize("after", [False, True])
def test_timeout(sim: Simulator, client: OpenAI, after: bool) -> None:
    """`timeout` raises `APITimeoutError`; with `after=True` the job was created all the same."""
    training = ready_file(sim, client)
    sim.faults.timeout("jobs.create", after=after)
    with pytest.raises(openai.APITimeoutError):
        client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    assert len(client.fine_tuning.jobs.list().data) == (1 if after else 0)


@pytest.mark.parametrize("after", [False, True])
def test_disconnect(sim: Simulator, client: OpenAI, after: bool) -> None:
    """`disconnect` raises `APIConnectionError` (not a timeout); with `after=True` the work is done."""
    training = ready_file(sim, client)
    sim.faults.disconnect("jobs.create", after=after)
    with pytest.raises(openai.APIConnectionError) as err:
        client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    assert not isinstance(err.value, openai.APITimeoutError)
    assert len(client.fine_tuning.jobs.list().data) == (1 if after else 0)


def test_timeout_retried_by_the_sdk(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """A timed-out upload is retried by the SDK: the second attempt stores the file (two in all if `after`)."""
    c = _retrying(sim, monkeypatch)
    sim.faults.timeout("files.create", after=True)
    c.files.create(file=("elle.jsonl", ELLE), purpose="fine-tune")
    assert sim.calls["files.create"] == 2
    assert len(c.files.list().data) == 2


# --- rate limits and refusals -----------------------------------------------------------------


def test_rate_limit_headers_and_body(sim: Simulator, client: OpenAI) -> None:
    """`rate_limit(retry_after=30)` answers 429 `rate_limit_exceeded` with `retry-after: 30`."""
    sim.faults.rate_limit("files.list", retry_after=30)
    with pytest.raises(openai.RateLimitError) as err:
        client.files.list()
    assert err.value.status_code == 429
    assert err.value.code == "rate_limit_exceeded"
    assert err.value.response.headers["retry-after"] == "30"
    assert err.value.request_id is not None


def test_rate_limit_without_retry_after(sim: Simulator, client: OpenAI) -> None:
    """`rate_limit(retry_after=None)` sends no `retry-after` header."""
    sim.faults.rate_limit("files.list", retry_after=None)
    with pytest.raises(openai.RateLimitError) as err:
        client.files.list()
    assert "retry-after" not in err.value.response.headers


def test_sdk_gives_up_on_retry_after_over_two_minutes(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `retry-after: 130` 429 is not retried by the SDK: one call, `RateLimitError`."""
    c = _retrying(sim, monkeypatch)
    job = elle_job(sim, c)
    sim.faults.rate_limit("jobs.retrieve", retry_after=130)
    with pytest.raises(openai.RateLimitError) as err:
        c.fine_tuning.jobs.retrieve(job.id)
    assert err.value.response.headers["retry-after"] == "130"
    assert sim.calls["jobs.retrieve"] == 1


def test_sdk_retries_a_short_rate_limit(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `retry-after: 1` 429 is retried by the SDK, and the retry succeeds."""
    c = _retrying(sim, monkeypatch)
    job = elle_job(sim, c)
    fault = sim.faults.rate_limit("jobs.retrieve", retry_after=1)
    assert c.fine_tuning.jobs.retrieve(job.id).id == job.id
    assert sim.calls["jobs.retrieve"] == 2
    assert fault.hits == 1


def test_daily_job_limit(sim: Simulator, client: OpenAI) -> None:
    """`daily_job_limit` refuses one create with 429 `daily_rate_limit_exceeded` and a 6 h retry-after."""
    training = ready_file(sim, client)
    sim.faults.daily_job_limit()
    with pytest.raises(openai.RateLimitError) as err:
        client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    assert err.value.code == "daily_rate_limit_exceeded"
    assert err.value.response.headers["retry-after"] == "21600"
    assert client.fine_tuning.jobs.list().data == []
    assert client.fine_tuning.jobs.create(model=MODEL, training_file=training).id


def test_permission_denied_every_time(sim: Simulator, client: OpenAI) -> None:
    """`permission_denied` answers 403 `permission_denied` to every create until cleared."""
    training = ready_file(sim, client)
    fault = sim.faults.permission_denied()
    for _ in range(3):
        with pytest.raises(openai.PermissionDeniedError) as err:
            client.fine_tuning.jobs.create(model=MODEL, training_file=training)
        assert err.value.code == "permission_denied"
        assert err.value.status_code == 403
    assert fault.hits == 3
    assert client.files.list().data  # other routes are untouched
    sim.faults.clear()
    assert client.fine_tuning.jobs.create(model=MODEL, training_file=training).id


# --- counting: times, skip, hits, "*" ----------------------------------------------------------


def _outcome(client: OpenAI) -> str:
    try:
        client.files.list()
    except openai.InternalServerError:
        return "500"
    return "ok"


def test_times_and_skip(sim: Simulator, client: OpenAI) -> None:
    """`skip=1, times=2`: the 1st call passes, the 2nd and 3rd fail, the 4th passes; `hits` counts 2."""
    fault = sim.faults.server_error("files.list", times=2, skip=1)
    outcomes = [_outcome(client) for _ in range(4)]
    assert outcomes == ["ok", "500", "500", "ok"]
    assert fault.hits == 2
    assert sim.calls["files.list"] == 4


def test_times_none_fails_forever(sim: Simulator, client: OpenAI) -> None:
    """`times=None` fails every matching call."""
    fault = sim.faults.server_error("files.list", times=None)
    for _ in range(5):
        with pytest.raises(openai.InternalServerError):
            client.files.list()
    assert fault.hits == 5


def test_wildcard_route(sim: Simulator, client: OpenAI) -> None:
    """A fault on `"*"` takes the next call of any route."""
    fault = sim.faults.rate_limit("*", times=2)
    with pytest.raises(openai.RateLimitError):
        client.files.list()
    with pytest.raises(openai.RateLimitError):
        client.models.list()
    assert client.files.list().data == []
    assert fault.hits == 2


def test_custom_fault_body(sim: Simulator, client: OpenAI) -> None:
    """`faults.add(Fault(...))` answers the given status, headers and body."""
    body = {
        "error": {
            "message": "Conflict!",
            "type": "invalid_request_error",
            "param": None,
            "code": "busy",
        }
    }
    fault = sim.faults.add(Fault("files.list", status=409, headers={"x-custom": "1"}, body=body))
    with pytest.raises(openai.ConflictError) as err:
        client.files.list()
    assert err.value.code == "busy"
    assert err.value.message.startswith("Error code: 409 - ")  # the rest differs by SDK major
    assert "Conflict!" in err.value.message
    assert err.value.response.headers["x-custom"] == "1"
    assert fault.hits == 1


def test_first_matching_fault_wins(sim: Simulator, client: OpenAI) -> None:
    """Faults are tried in order; an exhausted one lets the next take the call."""
    first = sim.faults.server_error("files.list")
    second = sim.faults.rate_limit("files.list")
    with pytest.raises(openai.InternalServerError):
        client.files.list()
    with pytest.raises(openai.RateLimitError):
        client.files.list()
    assert (first.hits, second.hits) == (1, 1)
    assert client.files.list().data == []


# --- job faults -------------------------------------------------------------------------------


def test_fail_next_job_moderation(sim: Simulator, client: OpenAI) -> None:
    """`fail_next_job("moderation")` trains to the end, then fails with `model_moderation_failed`."""
    sim.faults.fail_next_job("moderation")
    job = elle_job(sim, client)
    created = job.created_at
    sim.clock.sleep(DURATION - 1)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "running"
    sim.clock.sleep(1)
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed"
    assert failed.finished_at == created + DURATION
    assert failed.error is not None
    assert failed.error.code == "model_moderation_failed"
    assert failed.error.param is None
    assert failed.fine_tuned_model is None
    events = list(client.fine_tuning.jobs.list_events(job.id, limit=200))
    assert events[0].level == "error"
    assert events[0].message == f"The job failed: {failed.error.message}"
    assert sum(e.type == "metrics" for e in events) == 100
    assert client.fine_tuning.jobs.checkpoints.list(job.id).data == []
    assert elle_job(sim, client, run=True).status == "succeeded"  # only the next job


def test_fail_next_job_invalid_file(sim: Simulator, client: OpenAI) -> None:
    """`fail_next_job("invalid_file")` fails validation at +30 s with `invalid_training_file`."""
    sim.faults.fail_next_job("invalid_file")
    job = elle_job(sim, client)
    sim.clock.sleep(VALIDATING)
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed"
    assert failed.finished_at == job.created_at + VALIDATING
    assert failed.error is not None
    assert (failed.error.code, failed.error.param) == ("invalid_training_file", "training_file")


def test_fail_next_job_custom_code_and_message(sim: Simulator, client: OpenAI) -> None:
    """`fail_next_job("fail", code=..., message=...)` fails the job at its end with those."""
    sim.faults.fail_next_job("fail", code="quota_exceeded", message="Out of quota.")
    job = elle_job(sim, client, run=True)
    assert job.status == "failed"
    assert job.error is not None
    assert (job.error.code, job.error.message) == ("quota_exceeded", "Out of quota.")


def test_fail_next_job_stuck(sim: Simulator, client: OpenAI) -> None:
    """`fail_next_job("stuck")` leaves the job queued forever (30 days later, still queued); cancel works."""
    sim.faults.fail_next_job("stuck")
    job = elle_job(sim, client)
    sim.clock.sleep(RUN_START + 30 * 86_400)
    stuck = client.fine_tuning.jobs.retrieve(job.id)
    assert stuck.status == "queued"
    assert stuck.estimated_finish is None
    assert len(list(client.fine_tuning.jobs.list_events(job.id))) == 3
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"


def test_fail_next_job_times(sim: Simulator, client: OpenAI) -> None:
    """`fail_next_job(times=2)` fails the next two jobs, not the third."""
    sim.faults.fail_next_job("fail", times=2)
    statuses = [elle_job(sim, client, run=True).status for _ in range(3)]
    assert statuses == ["failed", "failed", "succeeded"]


# --- latency and clear -----------------------------------------------------------------------


async def test_latency_advances_the_virtual_clock(api: Client, sim: Simulator) -> None:
    """`latency(0.1)` makes every call take 0.1 s of virtual time (sync and async)."""
    sim.faults.latency(0.1)
    start = sim.clock.now()
    for _ in range(3):
        await first_page(api.files.list())
    assert sim.clock.now() == pytest.approx(start + 0.3)


def test_latency_per_route(sim: Simulator, client: OpenAI) -> None:
    """`latency(2, route="files.list")` slows that route only."""
    sim.faults.latency(2, route="files.list")
    start = sim.clock.now()
    client.models.list()
    assert sim.clock.now() == start
    client.files.list()
    assert sim.clock.now() == start + 2


def test_latency_jitter_is_seeded() -> None:
    """Latency jitter stays within bounds and is the same for the same seed."""

    def total(seed: int) -> list[float]:
        sim = Simulator(seed=seed)
        sim.faults.latency(1.0, jitter=0.5)
        c = sim.client(max_retries=0)
        times = []
        for _ in range(5):
            before = sim.clock.now()
            c.models.list()
            times.append(sim.clock.now() - before)
        return times

    first = total(4)
    assert first == total(4)
    assert all(0.5 <= t <= 1.5 for t in first)
    assert len(set(first)) > 1


def test_clear_removes_everything(sim: Simulator, client: OpenAI) -> None:
    """`faults.clear()` removes HTTP faults, job faults and latency."""
    sim.faults.server_error("files.list", times=None)
    sim.faults.fail_next_job("fail")
    sim.faults.latency(5)
    sim.faults.clear()
    start = sim.clock.now()
    assert client.files.list().data == []
    assert sim.clock.now() == start
    assert elle_job(sim, client, run=True).status == "succeeded"
