"""`FineTuneJob` / `AsyncFineTuneJob` end to end on the simulator: one test body, sync and async."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import openai
import pytest

from finetune_kit import (
    AsyncTunedModel,
    BudgetExceededError,
    ConfigurationError,
    Dataset,
    DatasetError,
    JobCancelledError,
    JobFailedError,
    MessageEvent,
    MetricPoint,
    MetricsEvent,
    ModerationError,
    PollPolicy,
    RetiredModelError,
    TrainingFileRejectedError,
    TunedModel,
    UnknownModelError,
    WaitTimeoutError,
)
from finetune_kit._core.fingerprint import FINGERPRINT_KEY
from finetune_kit.testing import DEFAULT_SHUTDOWN_DATES, Simulator, Timing, VirtualClock
from finetune_kit.testing.clock import DEFAULT_START
from tests.jobs._helpers import (
    ELLE,
    ELLE_EVENTS,
    MODEL,
    ORG_SLUG,
    Event,
    Harness,
    HarnessFactory,
    no_sdk_sleep,
    record_ids,
)

pytestmark = pytest.mark.anyio

T0 = DEFAULT_START
CREATED = T0 + 2.5
"""When `create` sends the job: after the upload and the file's processing (1 s + 1.5 s polls)."""
RUNNING = 90
"""Seconds from creation to training: 30 s validating, 60 s queued."""
FP = re.compile(r"^[0-9a-f]{32}$")
BIG = {"n_epochs": 50}
"""With `Timing(step=0.1)`: 500 steps in 50 s, hundreds of events between two looks."""


@pytest.fixture
def sim() -> Simulator:
    return Simulator()


@pytest.fixture
def h(make: HarnessFactory, sim: Simulator) -> Harness:
    harness: Harness = make(sim)
    return harness


def _bad_dataset(tmp_path: Path) -> Path:
    """Elle with line 3 replaced by an example that has no assistant message (valid JSON)."""
    lines = ELLE.read_text(encoding="utf-8").splitlines()
    lines[2] = json.dumps({"messages": [{"role": "user", "content": "Tell me about Neon"}]})
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _check_tuned(h: Harness, model: TunedModel | AsyncTunedModel) -> None:
    assert isinstance(model, TunedModel if h.flavour == "sync" else AsyncTunedModel)


def _assert_same_events(events: list[Event], sim: Simulator, job_id: str) -> None:
    """`events` are exactly the simulator's, oldest first, typed, each once."""
    records = sim.jobs[job_id].events
    assert [e.id for e in events] == [r["id"] for r in records]
    for event, record in zip(events, records, strict=True):
        assert event.created_at == record["created_at"]
        assert event.message == record["message"]
        assert event.level == record["level"]
        if record["type"] == "metrics":
            assert isinstance(event, MetricsEvent)
            assert event.step == record["data"]["step"]
            assert event.total_steps == record["data"]["total_steps"]
            assert event.train_loss == record["data"]["train_loss"]
            assert event.train_mean_token_accuracy == record["data"]["train_mean_token_accuracy"]
            assert event.data == record["data"]
        else:
            assert isinstance(event, MessageEvent)


# --- create and wait -----------------------------------------------------------------------------


async def test_create_then_wait_returns_the_tuned_model(h: Harness, sim: Simulator) -> None:
    """A job created from the Elle file runs to the end and `wait` names its `ft:` model."""
    job = await h.create(suffix="elle")
    assert job.status == "validating_files"
    assert len(sim.jobs) == 1
    model = await job.wait()
    _check_tuned(h, model)
    assert re.fullmatch(rf"ft:{MODEL}:{ORG_SLUG}:elle:[0-9a-f]{{8}}", model.id)
    assert model.id == sim.jobs[job.id].fine_tuned_model
    assert model.job is not None
    assert model.job.status == "succeeded"
    assert job.status == "succeeded"
    assert job.snapshot.fine_tuned_model == model.id


async def test_wait_from_a_retrieved_job(h: Harness, sim: Simulator) -> None:
    """A job re-attached by id (after a restart) waits to the same model."""
    created = await h.create(suffix="elle")
    again = await h.retrieve(created.id)
    assert again.id == created.id
    model = await again.wait()
    assert model.id == sim.jobs[created.id].fine_tuned_model


async def test_create_twice_returns_the_same_job(
    make: HarnessFactory, h: Harness, sim: Simulator
) -> None:
    """The same inputs, even from another client, give the same job and the same uploaded file."""
    first = await h.create(suffix="elle", seed=42, metadata={"team": "ml"})
    second = await h.create(suffix="elle", seed=42, metadata={"team": "ml"})
    other_process = await make(sim).create(
        training=Dataset.from_jsonl(ELLE), suffix="elle", seed=42, metadata={"team": "ml"}
    )
    assert second.id == first.id
    assert other_process.id == first.id
    assert len(sim.jobs) == 1
    assert len(sim.files) == 1
    assert sim.calls["jobs.create"] == 1
    assert sim.calls["files.create"] == 1
    metadata = sim.jobs[first.id].metadata
    assert metadata is not None
    assert metadata.keys() == {"team", FINGERPRINT_KEY}
    assert metadata["team"] == "ml"
    assert FP.fullmatch(metadata[FINGERPRINT_KEY])
    listed = await h.list(metadata={FINGERPRINT_KEY: metadata[FINGERPRINT_KEY]})
    assert [j.id for j in listed] == [first.id]


async def test_new_starts_a_second_job(h: Harness, sim: Simulator) -> None:
    """`new=True` creates another job from the same inputs; without it the first is found again."""
    first = await h.create(suffix="elle")
    second = await h.create(suffix="elle", new=True)
    third = await h.create(suffix="elle")
    assert second.id != first.id
    assert third.id == first.id
    assert len(sim.jobs) == 2
    assert len(sim.files) == 1


@pytest.mark.parametrize(
    "change",
    [{"seed": 7}, {"suffix": "other"}, {"hyperparameters": {"n_epochs": 3}}],
    ids=["seed", "suffix", "epochs"],
)
async def test_different_inputs_give_a_different_job(
    h: Harness, sim: Simulator, change: dict[str, Any]
) -> None:
    """Changing the seed, the suffix or a hyperparameter is another run: another job, same file."""
    first = await h.create(suffix="elle", seed=1)
    second = await h.create(**{"suffix": "elle", "seed": 1, **change})
    assert second.id != first.id
    assert len(sim.jobs) == 2
    assert len(sim.files) == 1


# --- control -------------------------------------------------------------------------------------


async def test_cancel_pause_resume(h: Harness, sim: Simulator) -> None:
    """Pause a running job, resume it (it queues again), cancel it: `wait` then says cancelled."""
    job = await h.create()
    with pytest.raises(openai.BadRequestError) as refused:
        await job.pause()
    assert refused.value.code == "invalid_job_state"
    sim.clock.sleep(RUNNING + 10)
    assert (await job.refresh()).status == "running"
    assert (await job.pause()).status == "paused"
    assert sim.jobs[job.id].status == "paused"
    assert (await job.resume()).status == "queued"
    assert (await job.cancel()).status == "cancelled"
    assert sim.jobs[job.id].status == "cancelled"
    with pytest.raises(JobCancelledError) as err:
        await job.wait()
    assert err.value.job.id == job.id
    assert err.value.job.status == "cancelled"


async def test_wait_on_a_paused_job_polls_every_five_minutes(h: Harness, sim: Simulator) -> None:
    """A paused job is retrieved once per 300 s: 6 looks in a 1500 s wait, then a timeout."""
    job = await h.create()
    sim.clock.sleep(RUNNING + 10)
    await job.refresh()
    await job.pause()
    before, start = sim.calls["jobs.retrieve"], sim.clock.now()
    h.sleeps.delays.clear()
    with pytest.raises(WaitTimeoutError) as err:
        await job.wait(timeout=1500)
    assert sim.calls["jobs.retrieve"] - before == 6
    assert h.sleeps.delays == [300.0] * 5
    assert sim.clock.now() - start == 1500.0
    assert err.value.waited == 1500.0
    assert err.value.job is not None
    assert str(err.value.job.status) == "paused"  # not in the SDK's status Literal


# --- events ----------------------------------------------------------------------------------------


async def test_events_are_chronological_typed_and_once(h: Harness, sim: Simulator) -> None:
    """`events()` gives every event oldest first, typed, once; `since` resumes after an id."""
    job = await h.create()
    await job.wait()
    events = await job.events()
    assert len(events) == ELLE_EVENTS
    _assert_same_events(events, sim, job.id)
    metrics = [e for e in events if isinstance(e, MetricsEvent)]
    assert [m.step for m in metrics] == list(range(1, 101))
    assert {m.total_steps for m in metrics} == {100}
    assert events[0].message == "Created fine-tuning job"
    assert events[-1].message == "The job has successfully completed"
    ids = [e.id for e in events]
    assert [e.id for e in await job.events(since=ids[10])] == ids[11:]
    assert [e.id for e in await job.events(since=ids[-1])] == []


async def test_events_follow_ends_once_the_job_is_terminal(h: Harness, sim: Simulator) -> None:
    """Following from creation yields every event once and returns when the job has finished."""
    job = await h.create()
    events = await job.events(follow=True)
    _assert_same_events(events, sim, job.id)
    assert job.status == "succeeded"
    assert sim.jobs[job.id].status == "succeeded"


async def test_events_follow_since_resumes_after_the_id(h: Harness, sim: Simulator) -> None:
    """`events(follow=True, since=...)` yields only what came after that event, to the end."""
    job = await h.create()
    sim.clock.sleep(RUNNING + 20)
    seen = await job.events()
    rest = await job.events(follow=True, since=seen[-1].id)
    assert [e.id for e in seen + rest] == record_ids(sim, job.id)


async def test_follow_with_more_new_events_than_a_page(make: HarnessFactory) -> None:
    """Hundreds of events between two looks of `follow`: none missed, none twice."""
    sim = Simulator(timing=Timing(step=0.1))
    h = make(sim)
    job = await h.create(hyperparameters=BIG)
    h.sleeps.delays.clear()
    events = await job.events(follow=True, poll=120)
    # Looks at 0 s (2 events), 120 s (30 s of training: ~300 new events, 4 pages), 240 s (the
    # rest) and 360 s (nothing new: the end).
    assert h.sleeps.delays == [120.0, 120.0]  # once finished, the last look goes at once
    assert sim.calls["jobs.events"] == 9
    assert len(events) == 509
    _assert_same_events(events, sim, job.id)


async def test_events_since_across_a_big_jump_of_the_clock(make: HarnessFactory) -> None:
    """Looking again with `since` after 300 new events pages back to the last one seen: no gap."""
    sim = Simulator(timing=Timing(step=0.1))
    h = make(sim)
    job = await h.create(hyperparameters=BIG)
    first = await job.events()
    assert [e.message for e in first] == [
        "Created fine-tuning job",
        f"Validating training file: {sim.jobs[job.id].training_file}",
    ]
    sim.clock.sleep(120)
    second = await job.events(since=first[-1].id)
    assert len(second) > 250
    assert [e.id for e in first + second] == record_ids(sim, job.id)
    sim.clock.sleep(120)
    third = await job.events(since=second[-1].id)
    _assert_same_events(first + second + third, sim, job.id)
    assert len(first + second + third) == 509


async def test_wait_on_event_gets_every_event_once_in_order(make: HarnessFactory) -> None:
    """`wait(on_event=...)` hands over every event once, oldest first, even 400 per poll."""
    sim = Simulator(timing=Timing(step=0.1))
    h = make(sim)
    job = await h.create(hyperparameters=BIG)
    seen: list[Event] = []
    await job.wait(on_event=seen.append)
    assert len(seen) == 509
    _assert_same_events(seen, sim, job.id)


async def test_progress_does_not_take_events_from_wait(h: Harness, sim: Simulator) -> None:
    """`progress()` mid-run, then `wait(on_event=...)`: the handler still gets every event."""
    job = await h.create()
    sim.clock.sleep(RUNNING + 2 * 30 + 1)
    assert (await job.progress()).step == 30
    seen: list[Event] = []
    await job.wait(on_event=seen.append)
    _assert_same_events(seen, sim, job.id)


async def test_wait_again_after_a_timeout_continues_the_events(h: Harness, sim: Simulator) -> None:
    """A second `wait(on_event=...)` after a timeout picks up where the first stopped."""
    job = await h.create()
    first: list[Event] = []
    with pytest.raises(WaitTimeoutError):
        await job.wait(timeout=150, on_event=first.append)
    second: list[Event] = []
    await job.wait(on_event=second.append)
    assert first
    assert second
    _assert_same_events(first + second, sim, job.id)


# --- metrics, checkpoints, progress ----------------------------------------------------------------


@pytest.mark.parametrize("base64_results", [False, True], ids=["csv", "base64"])
async def test_metrics_equal_the_results_file(make: HarnessFactory, base64_results: bool) -> None:
    """After success, `metrics()` is the results CSV: Elle's 100 steps, exact values."""
    sim = Simulator(timing=Timing(base64_results=base64_results))
    h = make(sim)
    job = await h.create()
    await job.wait()
    points = await job.metrics()
    rows = sim.jobs[job.id].metrics_rows
    assert len(points) == 100
    assert points == [
        MetricPoint(
            step=int(r["step"] or 0), train_loss=r["train_loss"], train_accuracy=r["train_accuracy"]
        )
        for r in rows
    ]
    assert sim.calls["files.content"] == 1


async def test_metrics_fall_back_to_events_before_success(h: Harness, sim: Simulator) -> None:
    """Mid-run there is no results file: the curve so far comes from the metrics events."""
    job = await h.create()
    sim.clock.sleep(RUNNING + 2 * 40 + 1)
    await job.refresh()
    points = await job.metrics()
    rows = sim.jobs[job.id].metrics_rows
    assert [p.step for p in points] == list(range(1, 41))
    assert points == [
        MetricPoint(
            step=int(r["step"] or 0), train_loss=r["train_loss"], train_accuracy=r["train_accuracy"]
        )
        for r in rows
    ]
    assert sim.calls["files.content"] == 0


async def test_checkpoints_are_the_last_three_epochs(h: Harness, sim: Simulator) -> None:
    """A succeeded Elle job keeps checkpoints at steps 100, 90 and 80, newest first."""
    job = await h.create(suffix="elle")
    assert await job.checkpoints() == []
    model = await job.wait()
    checkpoints = await job.checkpoints()
    assert [c.step_number for c in checkpoints] == [100, 90, 80]
    assert [c.fine_tuned_model_checkpoint for c in checkpoints] == [
        f"{model.id}:ckpt-step-{n}" for n in (100, 90, 80)
    ]
    assert {c.fine_tuning_job_id for c in checkpoints} == {job.id}


async def test_progress_through_the_run(h: Harness, sim: Simulator) -> None:
    """`progress()`: no steps while validating, step 40/100 and the ETA mid-run, 100/100 at the end."""
    job = await h.create()
    early = await job.progress()
    assert (early.status, early.step, early.total_steps, early.estimated_finish) == (
        "validating_files",
        None,
        None,
        None,
    )
    assert early.fraction is None
    assert str(early) == "validating_files"
    sim.clock.sleep(RUNNING + 2 * 40 + 1)
    middle = await job.progress()
    assert (middle.status, middle.step, middle.total_steps) == ("running", 40, 100)
    assert middle.fraction == 0.4
    eta = int(CREATED + RUNNING + 2 * 100)
    assert sim.jobs[job.id].estimated_finish() == eta
    assert middle.estimated_finish == datetime.fromtimestamp(eta, tz=timezone.utc)
    assert str(middle) == "running step 40/100, ETA 00:04:52 UTC"
    await job.wait()
    done = await job.progress()
    assert (done.status, done.step, done.total_steps, done.estimated_finish) == (
        "succeeded",
        100,
        100,
        None,
    )
    assert str(done) == "succeeded step 100/100"


# --- jobs that end badly ---------------------------------------------------------------------------


async def test_wait_raises_training_file_rejected_with_the_line(h: Harness, sim: Simulator) -> None:
    """A job failing file validation raises `TrainingFileRejectedError` naming line and field."""
    message = (
        'The job failed due to an invalid training file. Invalid file format. Line 7, key "messages": '
        "each message needs a role"
    )
    sim.faults.fail_next_job("invalid_file", message=message)
    job = await h.create()
    with pytest.raises(TrainingFileRejectedError) as err:
        await job.wait()
    assert isinstance(err.value, JobFailedError)
    assert err.value.line == 7
    assert err.value.field == "messages"
    assert err.value.code == "invalid_training_file"
    assert err.value.param == "training_file"
    assert err.value.error_message == message
    assert err.value.job.status == "failed"
    assert err.value.job.id == job.id


async def test_invalid_file_forced_through_is_rejected_by_the_job(
    h: Harness, sim: Simulator, tmp_path: Path
) -> None:
    """Data with an error is refused locally; `force=True` uploads it and the job names line 3."""
    bad = _bad_dataset(tmp_path)
    with pytest.raises(DatasetError) as refused:
        await h.create(training=bad)
    assert refused.value.line == 3
    assert sim.calls == Counter()
    job = await h.create(training=bad, force=True)
    assert sim.calls["files.create"] == 1
    with pytest.raises(TrainingFileRejectedError) as err:
        await job.wait()
    assert err.value.line == 3
    assert err.value.field == "messages"
    assert err.value.code == "invalid_training_file"
    assert err.value.param == "training_file"


async def test_wait_raises_moderation_error(h: Harness, sim: Simulator) -> None:
    """A tuned model failing the safety evaluation raises `ModerationError`."""
    sim.faults.fail_next_job("moderation")
    job = await h.create()
    with pytest.raises(ModerationError) as err:
        await job.wait()
    assert err.value.code == "model_moderation_failed"
    assert err.value.job.status == "failed"


async def test_wait_raises_job_failed_error(h: Harness, sim: Simulator) -> None:
    """A job failing for another reason raises plain `JobFailedError` with the provider's code."""
    sim.faults.fail_next_job("fail")
    job = await h.create()
    with pytest.raises(JobFailedError) as err:
        await job.wait()
    assert type(err.value) is JobFailedError
    assert err.value.code == "server_error"
    assert err.value.error_message == "The job failed due to an internal error."


async def test_a_failed_run_is_tried_again(h: Harness, sim: Simulator) -> None:
    """After a job failed, the same inputs start a new job; asking once more finds that one."""
    sim.faults.fail_next_job("fail")
    failed = await h.create()
    with pytest.raises(JobFailedError):
        await failed.wait()
    retried = await h.create()
    again = await h.create()
    assert retried.id != failed.id
    assert again.id == retried.id
    assert len(sim.jobs) == 2
    assert (await retried.wait()).id == sim.jobs[retried.id].fine_tuned_model


async def test_wait_times_out_on_a_stuck_queue(h: Harness, sim: Simulator) -> None:
    """A job stuck in the queue makes `wait(timeout=600)` give up after exactly 600 s."""
    sim.faults.fail_next_job("stuck")
    job = await h.create()
    h.sleeps.delays.clear()
    with pytest.raises(WaitTimeoutError) as err:
        await job.wait(timeout=600)
    assert isinstance(err.value, TimeoutError)
    assert err.value.waited == 600.0
    assert sum(h.sleeps.delays) == pytest.approx(600.0, abs=1e-9)
    assert err.value.job is not None
    assert err.value.job.status == "queued"
    assert sim.jobs[job.id].status == "queued"


# --- how waiting paces itself ----------------------------------------------------------------------


async def test_wait_honours_poll_after_ms(make: HarnessFactory) -> None:
    """With `openai-poll-after-ms: 1500` and no jitter, polls are exactly 1.5 s apart."""
    sim = Simulator(poll_after_ms=1500)
    h = make(sim)
    job = await h.create()
    h.sleeps.delays.clear()
    before = sim.calls["jobs.retrieve"]
    await job.wait(policy=PollPolicy(jitter=0))
    # The job runs 290 s after creation: 194 delays of 1.5 s reach it (291 s).
    assert h.sleeps.delays == [1.5] * 194
    assert sim.calls["jobs.retrieve"] - before == 195


async def test_an_explicit_interval_wins_over_poll_after_ms(make: HarnessFactory) -> None:
    """`poll=10` polls every 10 s whatever the server's hint."""
    sim = Simulator(poll_after_ms=1500)
    h = make(sim)
    job = await h.create()
    h.sleeps.delays.clear()
    await job.wait(poll=10)
    assert h.sleeps.delays == [10.0] * 29


async def test_wait_honours_a_retry_after_of_130_s(
    h: Harness, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 429 with `Retry-After: 130` (which the SDK gives up on) is waited out for 130 s."""
    sdk_waits = no_sdk_sleep(monkeypatch)
    sim.faults.rate_limit("jobs.retrieve", retry_after=130)
    job = await h.create()
    h.sleeps.delays.clear()
    start = sim.clock.now()
    model = await job.wait(policy=PollPolicy(jitter=0))
    assert model.id == sim.jobs[job.id].fine_tuned_model
    assert h.sleeps.delays == [130.0, 5.0, 10.0, 20.0, 40.0, 60.0, 60.0]
    assert sim.clock.now() - start == 325.0
    assert sim.calls["jobs.retrieve"] == 8
    assert sdk_waits == []


async def test_a_short_retry_after_is_left_to_the_sdk(
    h: Harness, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 429 with `Retry-After: 2` is retried by the SDK after 2 s; `wait` never sees it."""
    sdk_waits = no_sdk_sleep(monkeypatch)
    sim.faults.rate_limit("jobs.retrieve", retry_after=2)
    job = await h.create()
    h.sleeps.delays.clear()
    await job.wait(policy=PollPolicy(jitter=0))
    assert sdk_waits == [2.0]
    assert h.sleeps.delays[:5] == [5.0, 10.0, 20.0, 40.0, 60.0]


# --- checks before anything is spent ---------------------------------------------------------------


def _sixteen_pairs() -> dict[str, str]:
    return {f"k{i}": "v" for i in range(16)}


@pytest.fixture
def gpt_4_1_mini_unpriced(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if no source stated gpt-4.1-mini's price (the "unpriced" case needs one such model)."""
    from finetune_kit.dataset import catalog

    monkeypatch.delitem(catalog.TRAINING_PRICES, "gpt-4.1-mini")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"hyperparameters": {"n_epochs": 0}},
            ConfigurationError,
            (
                "the API would refuse this job: method.supervised.hyperparameters.n_epochs must "
                "be 'auto' or an integer from 1 to 50, not 0"
            ),
        ),
        (
            {"hyperparameters": {"batch_size": 0}},
            ConfigurationError,
            (
                "the API would refuse this job: method.supervised.hyperparameters.batch_size must "
                "be 'auto' or an integer from 1 to 256, not 0"
            ),
        ),
        (
            {"suffix": "x" * 65},
            ConfigurationError,
            "the API would refuse this job: suffix must be 1 to 64 characters",
        ),
        (
            {"metadata": _sixteen_pairs()},
            ConfigurationError,
            "the API would refuse this job: metadata holds at most 15 pairs here, not 16",
        ),
        (
            {"max_cost": 0.001},
            BudgetExceededError,
            (
                "the estimate is $0.02 (786 tokens × 10 epochs (auto, cookbook heuristic) = 7,860 "
                "billed tokens ≈ $0.02 at $3/1M (OpenAI fine-tuning guide, worked cost example; "
                "read 2026-12-01)), over max_cost=$0.001: nothing was uploaded or created"
            ),
        ),
        (
            {"max_cost": 100.0, "model": "gpt-4.1-mini-2025-04-14"},
            BudgetExceededError,
            (
                "max_cost=100 is set but gpt-4.1-mini-2025-04-14 has no known training price: "
                "pass prices={...} (USD per 1M training tokens) so the budget can be checked"
            ),
        ),
    ],
    ids=["epochs", "batch-size", "suffix", "metadata", "budget", "unpriced"],
)
@pytest.mark.usefixtures("gpt_4_1_mini_unpriced")
async def test_refused_before_anything_is_spent(
    h: Harness, sim: Simulator, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Bad parameters and budgets are refused locally: no request, no file, no job."""
    with pytest.raises(error) as err:
        await h.create(**kwargs)
    assert type(err.value) is error
    assert str(err.value) == message
    assert sim.calls == Counter()
    assert sim.calls["files.create"] == 0
    assert len(sim.files) == 0
    assert len(sim.jobs) == 0


@pytest.mark.parametrize(
    ("model", "error", "message"),
    [
        (
            "gpt-4o-mni",
            UnknownModelError,
            "unknown model 'gpt-4o-mni': did you mean 'gpt-4o-mini'?",
        ),
        (
            "gpt-4.1-nano-2025-04-14",
            RetiredModelError,
            (
                "gpt-4.1-nano-2025-04-14 shut down on 2026-10-23 (9 days ago): train "
                "gpt-4.1-mini-2025-04-14 instead; Azure OpenAI still trains gpt-4.1-nano-2025-04-14"
            ),
        ),
    ],
    ids=["unknown", "retired"],
)
async def test_model_name_checked_before_any_upload(
    h: Harness, sim: Simulator, model: str, error: type[Exception], message: str
) -> None:
    """An unknown or shut-down model: the typed error, after one look at the provider's model
    list (which lists neither as served), before any file is uploaded or job created."""
    with pytest.raises(error) as err:
        await h.create(model=model)
    assert type(err.value) is error
    assert str(err.value) == message
    assert sim.calls == Counter({"models.list": 1})
    assert (len(sim.files), len(sim.jobs)) == (0, 0)


async def test_known_model_does_not_ask_the_model_list(h: Harness, sim: Simulator) -> None:
    """A name finetune-kit knows trainable is not looked up: no extra request."""
    await h.create()
    assert sim.calls["models.list"] == 0
    assert sim.calls["jobs.create"] == 1


@pytest.mark.parametrize("provider_lists_it", [True, False])
async def test_a_name_of_the_providers_own_is_accepted_when_its_list_has_it(
    make: HarnessFactory, provider_lists_it: bool
) -> None:
    """Azure and other endpoints name models their own way: the provider's list decides."""
    served = {"acme-llm-9000": None} if provider_lists_it else {}
    sim = Simulator(shutdown_dates={**DEFAULT_SHUTDOWN_DATES, **served})
    h: Harness = make(sim)
    if not provider_lists_it:
        with pytest.raises(UnknownModelError) as err:
            await h.create(model="acme-llm-9000")
        assert err.value.model == "acme-llm-9000"
        assert err.value.suggestions == ()
        assert (sim.calls["models.list"], sim.calls["files.create"], len(sim.jobs)) == (1, 0, 0)
        return
    job = await h.create(model="acme-llm-9000")
    assert job.snapshot.model == "acme-llm-9000"
    assert (sim.calls["models.list"], sim.calls["files.create"], len(sim.jobs)) == (1, 1, 1)


async def test_a_retired_name_is_checked_at_the_clients_time(make: HarnessFactory) -> None:
    """The check reads the client's clock (here a simulator's, on 2026-10-01): gpt-4.1-nano
    was trainable until 2026-10-23, and a `now=` after that refuses it."""
    before = datetime(2026, 10, 1, tzinfo=timezone.utc).timestamp()
    after = datetime(2026, 10, 23, tzinfo=timezone.utc).timestamp()
    sim = Simulator(clock=VirtualClock(start=before))
    h: Harness = make(sim)
    with pytest.raises(RetiredModelError) as err:
        await h.create(model="gpt-4.1-nano-2025-04-14", now=lambda: after)
    assert (err.value.shutdown_date, err.value.replacement) == (
        "2026-10-23",
        "train gpt-4.1-mini-2025-04-14 instead",
    )
    assert sim.calls["files.create"] == 0
    job = await h.create(model="gpt-4.1-nano-2025-04-14")
    assert job.snapshot.model == "gpt-4.1-nano-2025-04-14"
    assert sim.calls["models.list"] == 1  # only for the refused name


async def test_budget_error_carries_the_estimate(h: Harness, sim: Simulator) -> None:
    """`BudgetExceededError` holds the estimate ($0.0236 for Elle on gpt-4o-mini) and the budget."""
    with pytest.raises(BudgetExceededError) as err:
        await h.create(max_cost=0.001)
    assert err.value.estimate_usd == 0.0236
    assert err.value.max_cost == 0.001
    job = await h.create(max_cost=0.03)
    assert len(sim.jobs) == 1
    assert job.id in sim.jobs


async def test_training_from_an_uploaded_file_id(h: Harness, sim: Simulator) -> None:
    """A `file-...` id is used as is (no upload); it can't be priced, so `max_cost` is refused."""
    client = sim.client()
    file_id = client.files.create(file=("elle.jsonl", ELLE.read_bytes()), purpose="fine-tune").id
    client.close()
    with pytest.raises(ConfigurationError) as err:
        await h.create(training=file_id, max_cost=1.0)
    assert type(err.value) is ConfigurationError
    assert str(err.value) == (
        "max_cost needs the training data to estimate the cost: pass a Dataset or a path, "
        "not a file id"
    )
    assert len(sim.jobs) == 0
    job = await h.create(training=file_id)
    assert sim.jobs[job.id].training_file == file_id
    assert sim.calls["files.create"] == 1
    assert len(sim.files) == 1
    assert (await h.create(training=file_id)).id == job.id


async def test_fifteen_metadata_pairs_are_accepted(h: Harness, sim: Simulator) -> None:
    """15 metadata pairs plus the fingerprint are the API's 16: the job is created with them."""
    pairs = {f"k{i}": "v" for i in range(15)}
    job = await h.create(metadata=pairs)
    metadata = sim.jobs[job.id].metadata
    assert metadata is not None
    assert len(metadata) == 16
    assert {k: v for k, v in metadata.items() if k != FINGERPRINT_KEY} == pairs


# --- Azure -----------------------------------------------------------------------------------------


async def test_azure_client_end_to_end(make: HarnessFactory, sim: Simulator) -> None:
    """An Azure client creates with `trainingType`, sees `pending`, and gets a `.ft-` model."""
    h = make(sim, "azure")
    job = await h.create(training_type="GlobalStandard")
    assert sim.jobs[job.id].extra == {"trainingType": "GlobalStandard"}
    assert sim.jobs[job.id].flavor == "azure"
    assert job.status == "pending"
    again = await h.create(training_type="GlobalStandard")
    assert again.id == job.id
    assert len(sim.jobs) == 1
    model = await job.wait()
    _check_tuned(h, model)
    assert re.fullmatch(rf"{re.escape(MODEL)}\.ft-[0-9a-f]{{32}}", model.id)
    events = await job.events()
    _assert_same_events(events, sim, job.id)


async def test_azure_v1_base_url_end_to_end(make: HarnessFactory, sim: Simulator) -> None:
    """`OpenAI(base_url=<resource>/openai/v1/)` reaches Azure's surface and gets a `.ft-` model."""
    h = make(sim, "azure-v1")
    job = await h.create(training_type="Standard", suffix="elle")
    assert sim.jobs[job.id].extra == {"trainingType": "Standard"}
    assert sim.jobs[job.id].flavor == "azure"
    model = await job.wait()
    assert re.fullmatch(rf"{re.escape(MODEL)}\.ft-[0-9a-f]{{32}}", model.id)


async def test_training_type_is_part_of_the_run(make: HarnessFactory, sim: Simulator) -> None:
    """Another `trainingType` is another run: another job."""
    h = make(sim, "azure")
    first = await h.create(training_type="Standard")
    second = await h.create(training_type="GlobalStandard")
    assert first.id != second.id
    assert len(sim.jobs) == 2
