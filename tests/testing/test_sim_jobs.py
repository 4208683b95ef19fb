"""The simulator's fine-tuning jobs: lifecycle, timings, events, metrics, checkpoints, results."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from typing import Any

import openai
import pytest
from openai import OpenAI
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent

from finetune_kit import Dataset
from finetune_kit.testing import DEFAULT_SHUTDOWN_DATES, Simulator, Timing, VirtualClock
from finetune_kit.testing.platform import WIND_DOWN
from tests.testing._sim_helpers import (
    DURATION,
    ELLE,
    ELLE_TOKENS,
    MODEL,
    ORG_SLUG,
    RUN_START,
    STEP,
    STEPS,
    T0,
    VALIDATING,
    Client,
    all_items,
    aw,
    elle_job,
    ready_file,
    sleep_until,
    tuned_model,
    upload,
)

pytestmark = pytest.mark.anyio

HEX8 = r"[A-Za-z0-9]{8}"
CREATED = T0 + 2
"""When `elle_job` creates its job: right after the 2 s file processing."""


def _events(client: OpenAI, job_id: str) -> list[FineTuningJobEvent]:
    """Every event of a job, oldest first."""
    return list(reversed(list(client.fine_tuning.jobs.list_events(job_id, limit=100))))


def _metrics(events: list[FineTuningJobEvent]) -> list[dict[str, Any]]:
    return [dict(e.data) for e in events if e.type == "metrics" and isinstance(e.data, dict)]


def _hp(job: FineTuningJob) -> tuple[Any, Any, Any]:
    hp = job.hyperparameters
    return (hp.batch_size, hp.learning_rate_multiplier, hp.n_epochs)


# --- the lifecycle ----------------------------------------------------------------------------


async def test_lifecycle_statuses_at_exact_times(api: Client, sim: Simulator) -> None:
    """A job validates for 30 s, queues for 60 s, runs 100 steps of 2 s and succeeds at +290 s."""
    f = await aw(api.files.create(file=("elle.jsonl", ELLE), purpose="fine-tune"))
    sim.clock.sleep(2)
    job = await aw(api.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=f.id))
    assert job.created_at == CREATED
    assert job.model == MODEL
    assert job.status == "validating_files"
    assert job.object == "fine_tuning.job"
    assert job.organization_id == "org-finetune-kit-sim"

    timeline = [
        (VALIDATING - 1, "validating_files"),
        (VALIDATING, "queued"),
        (RUN_START - 1, "queued"),
        (RUN_START, "running"),
        (DURATION - 1, "running"),
        (DURATION, "succeeded"),
        (DURATION + 10_000, "succeeded"),
    ]
    for offset, expected in timeline:
        sleep_until(sim, CREATED + offset)
        got = await aw(api.fine_tuning.jobs.retrieve(job.id))
        assert (offset, got.status) == (offset, expected)

    assert got.finished_at == CREATED + DURATION
    assert got.trained_tokens == ELLE_TOKENS * 10 == 7860
    assert got.error is None
    assert got.fine_tuned_model is not None
    assert len(await all_items(api.fine_tuning.jobs.list_events(job.id, limit=50))) == 109


def test_steps_advance_every_two_seconds(sim: Simulator, client: OpenAI) -> None:
    """While running, one metrics event appears per 2 s step, stamped with the step's time."""
    job = elle_job(sim, client)
    sleep_until(sim, CREATED + RUN_START + 11)  # 5 full steps, half of the 6th
    metrics = _metrics(_events(client, job.id))
    assert [m["step"] for m in metrics] == [1, 2, 3, 4, 5]
    assert {m["total_steps"] for m in metrics} == {STEPS}
    stamps = [e.created_at for e in _events(client, job.id) if e.type == "metrics"]
    assert stamps == [CREATED + RUN_START + STEP * k for k in range(1, 6)]


def test_events_in_order_with_exact_messages(sim: Simulator, client: OpenAI) -> None:
    """A finished job's 109 events: created, validating, validated, started, 100 steps, 3 checkpoints, done."""
    job = elle_job(sim, client, suffix="elle", run=True)
    model = job.fine_tuned_model
    events = _events(client, job.id)

    expected: list[str] = [
        "Created fine-tuning job",
        f"Validating training file: {job.training_file}",
        "Files validated, moving job to queued state",
        "Fine-tuning job started",
    ]
    metrics = _metrics(events)
    for data in metrics:
        step = data["step"]
        expected.append(f"Step {step}/100: training loss={data['train_loss']:.2f}")
        if step in (80, 90, 100):
            expected.append(f"Checkpoint created at step {step}")
    expected += [f"New fine-tuned model created: {model}", "The job has successfully completed"]

    assert [e.message for e in events] == expected
    assert len(events) == 109
    assert [m["step"] for m in metrics] == list(range(1, 101))
    assert sum(e.type == "metrics" for e in events) == 100
    assert sum(e.type == "message" for e in events) == 9
    assert {e.level for e in events} == {"info"}
    assert {e.object for e in events} == {"fine_tuning.job.event"}
    assert len({e.id for e in events}) == 109
    assert [e.created_at for e in events[:4]] == [CREATED, CREATED, CREATED + 30, CREATED + 90]
    assert events[-1].created_at == CREATED + DURATION
    assert [e.created_at for e in events] == sorted(e.created_at for e in events)


def test_events_page_newest_first(sim: Simulator, client: OpenAI) -> None:
    """`list_events` pages newest first: default 20, `limit`, `has_more`, `after` toward older."""
    job = elle_job(sim, client, suffix="elle", run=True)
    first = client.fine_tuning.jobs.list_events(job.id, limit=3)
    assert [e.message for e in first.data] == [
        "The job has successfully completed",
        f"New fine-tuned model created: {job.fine_tuned_model}",
        "Checkpoint created at step 100",
    ]
    assert first.has_more is True
    second = client.fine_tuning.jobs.list_events(job.id, limit=1, after=first.data[-1].id)
    assert [e.message for e in second.data] == [f"Step 100/100: training loss={_loss(second)}"]
    assert len(client.fine_tuning.jobs.list_events(job.id).data) == 20
    oldest = client.fine_tuning.jobs.list_events(
        job.id, limit=2, after=_events(client, job.id)[2].id
    )
    assert [e.message for e in oldest.data] == [
        f"Validating training file: {job.training_file}",
        "Created fine-tuning job",
    ]
    assert oldest.has_more is False


def _loss(page: Any) -> str:
    return f"{page.data[0].data['train_loss']:.2f}"


def test_metrics_keys_without_validation_file(sim: Simulator, client: OpenAI) -> None:
    """Without a validation file, metrics carry step, total_steps, train_loss and train_mean_token_accuracy only."""
    job = elle_job(sim, client, run=True)
    metrics = _metrics(_events(client, job.id))
    assert {frozenset(m) for m in metrics} == {
        frozenset({"step", "total_steps", "train_loss", "train_mean_token_accuracy"})
    }
    for m in metrics:
        assert 0 < m["train_loss"] < 3
        assert 0 <= m["train_mean_token_accuracy"] <= 1
    early = sum(m["train_loss"] for m in metrics[:10]) / 10
    late = sum(m["train_loss"] for m in metrics[-10:]) / 10
    assert late < early  # the loss goes down


def test_metrics_keys_with_validation_file(sim: Simulator, client: OpenAI) -> None:
    """With a validation file, every step has valid_*, and full_valid_* appears at each epoch end only."""
    training = ready_file(sim, client)
    validation = ready_file(sim, client, filename="valid.jsonl")
    job = client.fine_tuning.jobs.create(
        model=MODEL, training_file=training, validation_file=validation
    )
    sim.clock.sleep(DURATION)
    job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.validation_file == validation
    assert job.trained_tokens == 7860  # validation tokens are not billed
    events = _events(client, job.id)
    metrics = _metrics(events)
    base = {
        "step",
        "total_steps",
        "train_loss",
        "train_mean_token_accuracy",
        "valid_loss",
        "valid_mean_token_accuracy",
    }
    full = base | {"full_valid_loss", "full_valid_mean_token_accuracy"}
    for m in metrics:
        assert set(m) == (full if m["step"] % 10 == 0 else base), m["step"]
    step_10 = next(e for e in events if e.type == "metrics" and e.data["step"] == 10)  # type: ignore[index]
    d = step_10.data
    assert step_10.message == (
        f"Step 10/100: training loss={d['train_loss']:.2f}, "  # type: ignore[index]
        f"validation loss={d['valid_loss']:.2f}, "  # type: ignore[index]
        f"full validation loss={d['full_valid_loss']:.2f}"  # type: ignore[index]
    )
    step_11 = next(e for e in events if e.type == "metrics" and e.data["step"] == 11)  # type: ignore[index]
    assert step_11.message == (
        f"Step 11/100: training loss={step_11.data['train_loss']:.2f}, "  # type: ignore[index]
        f"validation loss={step_11.data['valid_loss']:.2f}"  # type: ignore[index]
    )


def test_metrics_every_n_steps() -> None:
    """`Timing(metrics_every=30)` emits a metrics event every 30 steps and on the last one."""
    sim = Simulator(timing=Timing(metrics_every=30))
    c = sim.client(max_retries=0)
    job = elle_job(sim, c, run=True)
    assert [m["step"] for m in _metrics(_events(c, job.id))] == [30, 60, 90, 100]
    csv_text = c.files.content(job.result_files[0]).text
    assert len(csv_text.splitlines()) == 101  # the results file still has every step


# --- checkpoints, model name, tokens ---------------------------------------------------------


def test_checkpoints_last_three_epochs_newest_first(sim: Simulator, client: OpenAI) -> None:
    """Only the last 3 epochs keep a checkpoint, listed newest first, named `<model>:ckpt-step-N`."""
    job = elle_job(sim, client, suffix="elle")
    sleep_until(sim, CREATED + RUN_START + 85 * STEP)
    assert client.fine_tuning.jobs.checkpoints.list(job.id).data == []  # not before success
    sleep_until(sim, CREATED + DURATION)
    job = client.fine_tuning.jobs.retrieve(job.id)
    page = client.fine_tuning.jobs.checkpoints.list(job.id)
    assert page.has_more is False
    ckpts = page.data
    assert [c.step_number for c in ckpts] == [100, 90, 80]
    assert [c.fine_tuned_model_checkpoint for c in ckpts] == [
        f"{job.fine_tuned_model}:ckpt-step-{n}" for n in (100, 90, 80)
    ]
    assert [c.created_at for c in ckpts] == [CREATED + RUN_START + STEP * n for n in (100, 90, 80)]
    assert {c.fine_tuning_job_id for c in ckpts} == {job.id}
    assert {c.object for c in ckpts} == {"fine_tuning.job.checkpoint"}
    assert all(c.id.startswith("ftckpt_") for c in ckpts)
    assert len({c.id for c in ckpts}) == 3
    metrics = {m["step"]: m for m in _metrics(_events(client, job.id))}
    for c in ckpts:
        assert c.metrics.step == c.step_number
        assert c.metrics.train_loss == metrics[c.step_number]["train_loss"]
        assert c.metrics.valid_loss is None
        assert c.metrics.full_valid_loss is None
    limited = client.fine_tuning.jobs.checkpoints.list(job.id, limit=2)
    assert [c.step_number for c in limited.data] == [100, 90]
    assert limited.has_more is True


def test_model_name_with_suffix(sim: Simulator, client: OpenAI) -> None:
    """The tuned model is `ft:gpt-4o-mini-2024-07-18:finetune-kit-sim:<suffix>:<8 chars>`."""
    name = tuned_model(sim, client, suffix="elle")
    assert re.fullmatch(rf"ft:{MODEL}:{ORG_SLUG}:elle:{HEX8}", name), name


def test_model_name_without_suffix_is_empty_field(sim: Simulator, client: OpenAI) -> None:
    """Without a suffix the field is empty: `ft:<base>:<org>::<8 chars>`."""
    name = tuned_model(sim, client, suffix=None)
    assert re.fullmatch(rf"ft:{MODEL}:{ORG_SLUG}::{HEX8}", name), name


def test_trained_tokens_null_until_success(sim: Simulator, client: OpenAI) -> None:
    """`trained_tokens` and `fine_tuned_model` stay null while running, then bill 786 x 10 tokens."""
    job = elle_job(sim, client)
    sleep_until(sim, CREATED + DURATION - 1)
    running = client.fine_tuning.jobs.retrieve(job.id)
    assert (running.trained_tokens, running.fine_tuned_model, running.result_files) == (
        None,
        None,
        [],
    )
    sim.clock.sleep(1)
    assert client.fine_tuning.jobs.retrieve(job.id).trained_tokens == 7860


# --- results file -----------------------------------------------------------------------------


def _expected_rows(metrics: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {
            "step": str(m["step"]),
            "train_loss": f"{m['train_loss']:g}",
            "train_accuracy": f"{m['train_mean_token_accuracy']:g}",
            "valid_loss": "",
            "valid_mean_token_accuracy": "",
        }
        for m in metrics
    ]


def test_results_csv(sim: Simulator, client: OpenAI) -> None:
    """The results file is a `fine-tune-results` CSV with one row per step matching the metrics events."""
    job = elle_job(sim, client, run=True)
    assert len(job.result_files) == 1
    info = client.files.retrieve(job.result_files[0])
    assert info.purpose == "fine-tune-results"
    assert info.status == "processed"
    text = client.files.content(job.result_files[0]).text
    assert text.startswith("step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows == _expected_rows(_metrics(_events(client, job.id)))
    assert len(rows) == 100


def test_results_csv_exists_when_the_job_finishes(sim: Simulator, client: OpenAI) -> None:
    """The results file is created when the job finishes, even if nobody looks until a day later."""
    job = elle_job(sim, client)
    sim.clock.sleep(DURATION + 86_400)
    job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.finished_at == CREATED + DURATION
    assert client.files.retrieve(job.result_files[0]).created_at <= job.finished_at


def test_results_csv_base64() -> None:
    """With `Timing(base64_results=True)` the results file is the same CSV, base64-encoded."""
    plain_sim, b64_sim = Simulator(seed=3), Simulator(seed=3, timing=Timing(base64_results=True))
    texts = []
    for s in (plain_sim, b64_sim):
        c = s.client(max_retries=0)
        job = elle_job(s, c, run=True)
        texts.append(c.files.content(job.result_files[0]).read())
    plain, encoded = texts
    assert plain.startswith(b"step,")
    assert not encoded.startswith(b"step")
    assert base64.b64decode(encoded, validate=True) == plain


# --- hyperparameters and estimated finish -----------------------------------------------------


def test_estimated_finish_only_while_running(sim: Simulator, client: OpenAI) -> None:
    """`estimated_finish` is null while validating and queued, the finish time while running, null after."""
    job = elle_job(sim, client)
    assert job.estimated_finish is None
    for offset, expected in (
        (VALIDATING + 1, None),
        (RUN_START, CREATED + DURATION),
        (RUN_START + 101, CREATED + DURATION),
        (DURATION, None),
    ):
        sleep_until(sim, CREATED + offset)
        assert client.fine_tuning.jobs.retrieve(job.id).estimated_finish == expected, offset


def test_hyperparameters_resolved_once_running(sim: Simulator, client: OpenAI) -> None:
    """`auto` hyperparameters stay `auto` until training starts, then read batch 1, lr 1.8, 10 epochs."""
    job = elle_job(sim, client)
    assert _hp(job) == ("auto", "auto", "auto")
    sleep_until(sim, CREATED + RUN_START - 1)
    assert _hp(client.fine_tuning.jobs.retrieve(job.id)) == ("auto", "auto", "auto")
    sleep_until(sim, CREATED + RUN_START)
    running = client.fine_tuning.jobs.retrieve(job.id)
    assert _hp(running) == (1, 1.8, 10)
    assert running.method is not None
    assert running.method.type == "supervised"
    assert running.method.supervised is not None
    hp = running.method.supervised.hyperparameters
    assert hp is not None
    assert (hp.batch_size, hp.learning_rate_multiplier, hp.n_epochs) == (1, 1.8, 10)


@pytest.mark.parametrize("legacy", [False, True])
def test_explicit_n_epochs_respected(sim: Simulator, client: OpenAI, legacy: bool) -> None:
    """`n_epochs=3` (via `method` or the deprecated top-level field) gives 30 steps and bills 3 epochs."""
    training = ready_file(sim, client)
    if legacy:
        job = client.fine_tuning.jobs.create(
            model=MODEL, training_file=training, hyperparameters={"n_epochs": 3}
        )
    else:
        job = client.fine_tuning.jobs.create(
            model=MODEL,
            training_file=training,
            method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
        )
    assert _hp(job) == ("auto", "auto", 3)
    sleep_until(sim, CREATED + RUN_START)
    assert _hp(client.fine_tuning.jobs.retrieve(job.id)) == (1, 1.8, 3)
    sleep_until(sim, CREATED + RUN_START + 30 * STEP)
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    assert done.trained_tokens == ELLE_TOKENS * 3
    assert [m["total_steps"] for m in _metrics(_events(client, job.id))] == [30] * 30
    ckpts = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in ckpts] == [30, 20, 10]


def test_explicit_batch_size_and_learning_rate(sim: Simulator, client: OpenAI) -> None:
    """`batch_size=2, learning_rate_multiplier=0.5, n_epochs=2`: 5 steps per epoch, 10 in all."""
    training = ready_file(sim, client)
    job = client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=training,
        method={
            "type": "supervised",
            "supervised": {
                "hyperparameters": {
                    "batch_size": 2,
                    "learning_rate_multiplier": 0.5,
                    "n_epochs": 2,
                }
            },
        },
    )
    sleep_until(sim, CREATED + RUN_START + 10 * STEP)
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    assert _hp(done) == (2, 0.5, 2)
    assert [m["step"] for m in _metrics(_events(client, job.id))] == list(range(1, 11))
    assert [c.step_number for c in client.fine_tuning.jobs.checkpoints.list(job.id).data] == [10, 5]


# --- pause, resume, cancel --------------------------------------------------------------------


def test_pause_and_resume(sim: Simulator, client: OpenAI) -> None:
    """Pausing stops steps and events; resuming queues 60 s, then training continues from the same step."""
    job = elle_job(sim, client)
    sleep_until(sim, CREATED + RUN_START + 5 * STEP + 1)
    paused = client.fine_tuning.jobs.pause(job.id)
    assert str(paused.status) == "paused"  # not in the SDK's Literal: an open enum
    assert paused.estimated_finish is None
    before = _events(client, job.id)
    assert before[-1].message == "Fine-tuning job paused at step 5/100"
    assert len(before) == 4 + 5 + 1

    sim.clock.sleep(1000)
    assert str(client.fine_tuning.jobs.retrieve(job.id).status) == "paused"
    assert len(_events(client, job.id)) == len(before)

    resumed_at = sim.clock.now()
    resumed = client.fine_tuning.jobs.resume(job.id)
    assert resumed.status == "queued"
    sleep_until(sim, resumed_at + 59)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "queued"
    sleep_until(sim, resumed_at + 60 + 5 * STEP)
    again = client.fine_tuning.jobs.retrieve(job.id)
    assert again.status == "running"
    assert again.estimated_finish == int(resumed_at + 60 + 95 * STEP)
    steps = [m["step"] for m in _metrics(_events(client, job.id))]
    assert steps == list(range(1, 11))  # continued from step 6, not from 1

    sleep_until(sim, resumed_at + 60 + 95 * STEP)
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    assert done.finished_at == int(resumed_at + 60 + 95 * STEP)
    assert done.trained_tokens == 7860
    events = _events(client, job.id)
    assert len(events) == 109 + 3
    assert [m["step"] for m in _metrics(events)] == list(range(1, 101))
    messages = [e.message for e in events]
    assert messages.count("Fine-tuning job started") == 2
    assert messages.index("Fine-tuning job resumed") == 10


def test_estimated_finish_null_while_requeued(sim: Simulator, client: OpenAI) -> None:
    """After a resume, the queued job has no `estimated_finish` (the spec: null unless running)."""
    job = elle_job(sim, client)
    sleep_until(sim, CREATED + RUN_START + 10)
    client.fine_tuning.jobs.pause(job.id)
    resumed = client.fine_tuning.jobs.resume(job.id)
    assert resumed.status == "queued"
    assert resumed.estimated_finish is None
    sim.clock.sleep(30)
    assert client.fine_tuning.jobs.retrieve(job.id).estimated_finish is None
    sim.clock.sleep(30)
    running = client.fine_tuning.jobs.retrieve(job.id)
    assert running.status == "running"
    assert running.estimated_finish == int(sim.clock.now()) + 95 * STEP


@pytest.mark.parametrize(
    ("offset", "status"),
    [(0, "validating_files"), (VALIDATING + 1, "queued"), (DURATION, "succeeded")],
)
def test_pause_only_running(sim: Simulator, client: OpenAI, offset: int, status: str) -> None:
    """Pausing a job that is not running is a 400 `invalid_job_state`."""
    job = elle_job(sim, client)
    sleep_until(sim, CREATED + offset)
    with pytest.raises(openai.BadRequestError) as err:
        client.fine_tuning.jobs.pause(job.id)
    assert err.value.code == "invalid_job_state"
    assert client.fine_tuning.jobs.retrieve(job.id).status == status


def test_pause_twice_and_resume_running_refused(sim: Simulator, client: OpenAI) -> None:
    """A paused job can't be paused again, and a running job can't be resumed."""
    job = elle_job(sim, client)
    sleep_until(sim, CREATED + RUN_START + 1)
    with pytest.raises(openai.BadRequestError) as resume_err:
        client.fine_tuning.jobs.resume(job.id)
    assert resume_err.value.code == "invalid_job_state"
    client.fine_tuning.jobs.pause(job.id)
    with pytest.raises(openai.BadRequestError) as pause_err:
        client.fine_tuning.jobs.pause(job.id)
    assert pause_err.value.code == "invalid_job_state"


@pytest.mark.parametrize(
    ("offset", "pause"),
    [(0, False), (VALIDATING + 5, False), (RUN_START + 21, False), (RUN_START + 21, True)],
    ids=["validating", "queued", "running", "paused"],
)
def test_cancel_any_non_terminal(sim: Simulator, client: OpenAI, offset: int, pause: bool) -> None:
    """A job can be cancelled in any non-terminal state; then it stays cancelled, with no more events."""
    job = elle_job(sim, client)
    sleep_until(sim, CREATED + offset)
    if pause:
        client.fine_tuning.jobs.pause(job.id)
    cancelled = client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled"
    assert cancelled.finished_at == CREATED + offset
    events = _events(client, job.id)
    assert events[-1].message == "Fine-tuning job cancelled"
    sim.clock.sleep(10_000)
    later = client.fine_tuning.jobs.retrieve(job.id)
    assert later.status == "cancelled"
    assert (later.fine_tuned_model, later.trained_tokens, later.result_files) == (None, None, [])
    assert len(_events(client, job.id)) == len(events)
    assert client.fine_tuning.jobs.checkpoints.list(job.id).data == []


def test_cancel_twice_or_finished_refused(sim: Simulator, client: OpenAI) -> None:
    """Cancelling a cancelled or succeeded job is a 400 `invalid_job_state`."""
    job = elle_job(sim, client)
    client.fine_tuning.jobs.cancel(job.id)
    with pytest.raises(openai.BadRequestError) as err:
        client.fine_tuning.jobs.cancel(job.id)
    assert err.value.code == "invalid_job_state"
    done = elle_job(sim, client, run=True)
    with pytest.raises(openai.BadRequestError) as err2:
        client.fine_tuning.jobs.cancel(done.id)
    assert err2.value.code == "invalid_job_state"


def test_unknown_job_404(client: OpenAI) -> None:
    """Retrieving, cancelling or listing events of an unknown job is a 404 `fine_tune_not_found`."""
    for call in (
        client.fine_tuning.jobs.retrieve,
        client.fine_tuning.jobs.cancel,
        client.fine_tuning.jobs.list_events,
    ):
        with pytest.raises(openai.NotFoundError) as err:
            call("ftjob-nope")
        assert err.value.code == "fine_tune_not_found"


# --- validation failure and create errors -----------------------------------------------------


def _with_bad_row() -> bytes:
    lines = ELLE.splitlines()
    lines[3] = b'{"messages": [{"role": "user", "content": "Tell me about Lithium"}]}'
    return b"\n".join(lines) + b"\n"


def test_invalid_row_fails_at_end_of_validation(sim: Simulator, client: OpenAI) -> None:
    """A file with an invalid row fails the job at +30 s with `invalid_training_file`, naming line 4."""
    training = ready_file(sim, client, _with_bad_row(), filename="bad.jsonl")
    assert client.files.retrieve(training).status == "processed"  # JSON is fine: the job finds it
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    sleep_until(sim, CREATED + VALIDATING - 1)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "validating_files"
    sleep_until(sim, CREATED + VALIDATING)
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed"
    assert failed.finished_at == CREATED + VALIDATING
    assert failed.error is not None
    assert failed.error.code == "invalid_training_file"
    assert failed.error.param == "training_file"
    assert "Line 4" in failed.error.message
    assert (failed.fine_tuned_model, failed.trained_tokens, failed.result_files) == (None, None, [])
    last = _events(client, job.id)[-1]
    assert last.level == "error"
    assert last.message == f"The job failed: {failed.error.message}"
    assert last.created_at == CREATED + VALIDATING
    sim.clock.sleep(10_000)
    assert len(_events(client, job.id)) == 3


def test_invalid_validation_file(sim: Simulator, client: OpenAI) -> None:
    """An invalid validation file fails the job with `invalid_validation_file` on `validation_file`."""
    training = ready_file(sim, client)
    validation = ready_file(sim, client, _with_bad_row(), filename="valid.jsonl")
    job = client.fine_tuning.jobs.create(
        model=MODEL, training_file=training, validation_file=validation
    )
    sim.clock.sleep(VALIDATING)
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed"
    assert failed.error is not None
    assert (failed.error.code, failed.error.param) == ("invalid_validation_file", "validation_file")
    assert "Line 4" in failed.error.message


def test_too_few_examples_fails_validation(sim: Simulator, client: OpenAI) -> None:
    """A training file of 9 examples fails validation with `invalid_training_file` (10 needed)."""
    nine = b"\n".join(ELLE.splitlines()[:9]) + b"\n"
    training = ready_file(sim, client, nine, filename="nine.jsonl")
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    sim.clock.sleep(VALIDATING)
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.code == "invalid_training_file"
    assert "at least 10" in failed.error.message


def test_dpo_job_with_chat_file_fails_validation(sim: Simulator, client: OpenAI) -> None:
    """A DPO job given chat (SFT) rows fails validation at line 1: the file is not DPO data."""
    training = ready_file(sim, client)
    job = client.fine_tuning.jobs.create(
        model="gpt-4.1-mini-2025-04-14", training_file=training, method=_method("dpo", {})
    )
    sim.clock.sleep(VALIDATING)
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed"
    assert failed.error is not None
    assert (failed.error.code, failed.error.param) == ("invalid_training_file", "training_file")
    assert "Line 1" in failed.error.message


def _dpo_rows() -> list[dict[str, Any]]:
    return [
        {
            "input": {"messages": [{"role": "user", "content": f"What is {i} + {i}?"}]},
            "preferred_output": [{"role": "assistant", "content": f"{2 * i}"}],
            "non_preferred_output": [{"role": "assistant", "content": f"{2 * i + 1}"}],
        }
        for i in range(10)
    ]


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def test_dpo_job_runs(sim: Simulator, client: OpenAI) -> None:
    """A DPO job (beta 0.1, 2 epochs) succeeds, echoes its method and bills 2 epochs of tokens."""
    rows = _dpo_rows()
    model = "gpt-4.1-mini-2025-04-14"
    training = ready_file(sim, client, _jsonl(rows), filename="dpo.jsonl")
    job = client.fine_tuning.jobs.create(
        model=model, training_file=training, method=_method("dpo", {"beta": 0.1, "n_epochs": 2})
    )
    sim.clock.sleep(RUN_START + 20 * STEP)
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    assert done.method is not None
    assert done.method.type == "dpo"
    assert done.method.dpo is not None
    hp = done.method.dpo.hyperparameters
    assert hp is not None
    assert (hp.beta, hp.n_epochs, hp.batch_size, hp.learning_rate_multiplier) == (0.1, 2, 1, 1.8)
    report = Dataset(records=rows).validate(model=model, method="dpo")
    assert done.trained_tokens == report.estimate.tokens_per_epoch * 2
    assert done.fine_tuned_model is not None
    assert re.fullmatch(rf"ft:{model}:{ORG_SLUG}::{HEX8}", done.fine_tuned_model)


def test_rft_job_runs() -> None:
    """A reinforcement job on o4-mini with a grader succeeds and echoes its grader."""
    sim = _rft_sim()
    client = sim.client(max_retries=0)
    rows = [
        {"messages": [{"role": "user", "content": f"What is {i} + {i}?"}], "answer": str(2 * i)}
        for i in range(10)
    ]
    training = ready_file(sim, client, _jsonl(rows), filename="rft.jsonl")
    job = client.fine_tuning.jobs.create(
        model=O4_MINI,
        training_file=training,
        method=_method("reinforcement", {"n_epochs": 1}, grader=GRADER),
    )
    sim.clock.sleep(RUN_START + 10 * STEP)
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    assert done.method is not None
    assert done.method.reinforcement is not None
    assert done.method.reinforcement.grader.type == "string_check"
    assert done.fine_tuned_model is not None
    assert done.fine_tuned_model.startswith(f"ft:{O4_MINI}:{ORG_SLUG}::")


def _method(kind: str, hyperparameters: dict[str, Any], **extra: Any) -> Any:
    return {"type": kind, kind: {"hyperparameters": hyperparameters, **extra}}


O4_MINI = "o4-mini-2025-04-16"


def _rft_sim() -> Simulator:
    """A simulator where o4-mini (the RFT base model, shut down on 2026-10-23) is still up."""
    return Simulator(shutdown_dates={**DEFAULT_SHUTDOWN_DATES, O4_MINI: None})


GRADER = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "eq",
}


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        (
            {"method": _method("supervised", {"n_epochs": 0})},
            "method.supervised.hyperparameters.n_epochs",
        ),
        (
            {"method": _method("supervised", {"n_epochs": 51})},
            "method.supervised.hyperparameters.n_epochs",
        ),
        (
            {"method": _method("supervised", {"batch_size": 0})},
            "method.supervised.hyperparameters.batch_size",
        ),
        (
            {"method": _method("supervised", {"batch_size": 257})},
            "method.supervised.hyperparameters.batch_size",
        ),
        (
            {"method": _method("supervised", {"learning_rate_multiplier": 0})},
            "method.supervised.hyperparameters.learning_rate_multiplier",
        ),
        ({"method": _method("dpo", {"beta": 0})}, "method.dpo.hyperparameters.beta"),
        ({"method": _method("dpo", {"beta": 2.5})}, "method.dpo.hyperparameters.beta"),
        ({"method": _method("dpo", {"n_epochs": 51})}, "method.dpo.hyperparameters.n_epochs"),
        (
            {"method": _method("reinforcement", {"n_epochs": 0}, grader=GRADER)},
            "method.reinforcement.hyperparameters.n_epochs",
        ),
        (
            {"method": _method("reinforcement", {"compute_multiplier": 11}, grader=GRADER)},
            "method.reinforcement.hyperparameters.compute_multiplier",
        ),
        (
            {"method": _method("reinforcement", {"reasoning_effort": "max"}, grader=GRADER)},
            "method.reinforcement.hyperparameters.reasoning_effort",
        ),
        ({"hyperparameters": {"n_epochs": 0}}, "method.supervised.hyperparameters.n_epochs"),
        ({"suffix": "x" * 65}, "suffix"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"metadata": {"k" * 65: "v"}}, "metadata"),
        ({"metadata": {"k": "v" * 513}}, "metadata"),
    ],
    ids=[
        "n_epochs-0",
        "n_epochs-51",
        "batch_size-0",
        "batch_size-257",
        "lr-0",
        "dpo-beta-0",
        "dpo-beta-2.5",
        "dpo-n_epochs-51",
        "rft-n_epochs-0",
        "rft-compute_multiplier-11",
        "rft-reasoning_effort",
        "legacy-n_epochs-0",
        "suffix-65",
        "metadata-17-pairs",
        "metadata-long-key",
        "metadata-long-value",
    ],
)
def test_create_rejects_bad_parameters(kwargs: dict[str, Any], param: str) -> None:
    """Out-of-range parameters are a 400 `invalid_value` naming the parameter; no job is created."""
    sim = _rft_sim()
    client = sim.client(max_retries=0)
    training = ready_file(sim, client)
    method = kwargs.get("method") or {}
    model = O4_MINI if method.get("type") == "reinforcement" else MODEL
    with pytest.raises(openai.BadRequestError) as err:
        client.fine_tuning.jobs.create(model=model, training_file=training, **kwargs)
    assert (err.value.code, err.value.param) == ("invalid_value", param)
    assert client.fine_tuning.jobs.list().data == []


@pytest.mark.parametrize(
    "hyperparameters",
    [
        {"n_epochs": 1, "batch_size": 1, "learning_rate_multiplier": 0.01},
        {"n_epochs": 50, "batch_size": 256},
        {"beta": 2, "n_epochs": "auto"},
        {"beta": 0.01},
    ],
)
def test_create_accepts_range_bounds(
    sim: Simulator, client: OpenAI, hyperparameters: dict[str, Any]
) -> None:
    """The bounds themselves are accepted (n_epochs 1-50, batch_size 1-256, DPO beta up to 2)."""
    training = ready_file(sim, client)
    kind = "dpo" if "beta" in hyperparameters else "supervised"
    job = client.fine_tuning.jobs.create(
        model=MODEL, training_file=training, method=_method(kind, hyperparameters)
    )
    assert job.status == "validating_files"


def test_rft_without_grader() -> None:
    """A reinforcement job without a grader is a 400 `missing_required_parameter` on the grader."""
    sim = _rft_sim()
    client = sim.client(max_retries=0)
    training = ready_file(sim, client)
    with pytest.raises(openai.BadRequestError) as err:
        client.fine_tuning.jobs.create(
            model=O4_MINI,
            training_file=training,
            method=_method("reinforcement", {}),
        )
    assert (err.value.code, err.value.param) == (
        "missing_required_parameter",
        "method.reinforcement.grader",
    )


def test_unknown_model(sim: Simulator, client: OpenAI) -> None:
    """An unknown model is a 400 `model_not_available` on `model`."""
    training = ready_file(sim, client)
    with pytest.raises(openai.BadRequestError) as err:
        client.fine_tuning.jobs.create(model="gpt-9-ultra", training_file=training)
    assert (err.value.code, err.value.param) == ("model_not_available", "model")


def test_a_job_created_right_after_its_upload_is_accepted(sim: Simulator, client: OpenAI) -> None:
    """As the API: a file still processing is taken; the job validates it, then trains to the end."""
    f = upload(client)
    assert f.status == "uploaded"
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=f.id)
    assert (job.status, job.created_at) == ("validating_files", T0)
    sim.clock.sleep(VALIDATING)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "queued"
    sim.clock.sleep(DURATION - VALIDATING)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "succeeded"
    assert [e.message for e in _events(client, job.id)][:3] == [
        "Created fine-tuning job",
        f"Validating training file: {f.id}",
        "Files validated, moving job to queued state",
    ]


def test_validation_waits_for_a_file_still_processing() -> None:
    """A file that takes longer to process than validation: the job validates once it is done."""
    sim = Simulator(timing=Timing(file_processing=100.0))
    client = sim.client(max_retries=0)
    f = upload(client)
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=f.id)
    sim.clock.sleep(99)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "validating_files"
    sim.clock.sleep(1)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "queued"
    validated = [e for e in _events(client, job.id) if e.message.startswith("Files validated")]
    assert [e.created_at for e in validated] == [T0 + 100]


@pytest.mark.parametrize(
    ("filename", "content", "details"),
    [
        ("elle.txt", ELLE, "Invalid file format for fine-tune: the file must be a .jsonl file."),
        (
            "broken.jsonl",
            ELLE.rstrip() + b"\n{oops\n",
            "Invalid file format. Line 11 is not valid JSON.",
        ),
    ],
)
def test_a_file_that_fails_processing_fails_the_job(
    sim: Simulator, client: OpenAI, filename: str, content: bytes, details: str
) -> None:
    """Accepted while processing; processing fails: the job fails in validation, the API's way."""
    f = upload(client, content, filename=filename)
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=f.id)
    sim.clock.sleep(VALIDATING)
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed"
    assert failed.finished_at == T0 + VALIDATING
    assert failed.error is not None
    assert failed.error.model_dump() == {
        "code": "invalid_training_file",
        "message": f"The job failed due to an invalid training file. {details}",
        "param": "training_file",
    }
    assert _events(client, job.id)[-1].message == f"The job failed: {failed.error.message}"


def test_file_not_ready_fault(sim: Simulator, client: OpenAI) -> None:
    """`faults.file_not_ready()`: a file still processing is a 400 naming it; 2 s later it's fine."""
    fault = sim.faults.file_not_ready()
    f = upload(client)
    for _ in range(2):
        with pytest.raises(openai.BadRequestError) as err:
            client.fine_tuning.jobs.create(model=MODEL, training_file=f.id)
        assert (err.value.code, err.value.param) == ("file_not_ready", "training_file")
        assert err.value.body == {
            "message": f"File {f.id} is not ready: it is still being processed. Try again when its status "
            "is 'processed'.",
            "type": "invalid_request_error",
            "param": "training_file",
            "code": "file_not_ready",
        }
    sim.clock.sleep(2)
    assert client.fine_tuning.jobs.create(model=MODEL, training_file=f.id).status == (
        "validating_files"
    )
    assert (fault.hits, len(sim.jobs)) == (2, 1)


def test_file_not_ready_fault_times(sim: Simulator, client: OpenAI) -> None:
    """`times=1` refuses once: the retry right after is accepted, as by the API."""
    sim.faults.file_not_ready(times=1)
    f = upload(client)
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.create(model=MODEL, training_file=f.id)
    assert client.fine_tuning.jobs.create(model=MODEL, training_file=f.id).status == (
        "validating_files"
    )


def test_validation_file_not_ready(sim: Simulator, client: OpenAI) -> None:
    """With the fault, a validation file still processing is a 400 on `validation_file`."""
    sim.faults.file_not_ready()
    training = ready_file(sim, client)
    validation = upload(client, filename="valid.jsonl")
    with pytest.raises(openai.BadRequestError) as err:
        client.fine_tuning.jobs.create(
            model=MODEL, training_file=training, validation_file=validation.id
        )
    assert (err.value.code, err.value.param) == ("file_not_ready", "validation_file")


def test_unknown_and_deleted_file(sim: Simulator, client: OpenAI) -> None:
    """An unknown or deleted training file is a 400 `invalid_file` on `training_file`."""
    training = ready_file(sim, client)
    client.files.delete(training)
    for file_id in ("file-doesnotexist", training):
        with pytest.raises(openai.BadRequestError) as err:
            client.fine_tuning.jobs.create(model=MODEL, training_file=file_id)
        assert (err.value.code, err.value.param) == ("invalid_file", "training_file")


def test_wrong_purpose(sim: Simulator, client: OpenAI) -> None:
    """A file uploaded for `batch` can't train: 400 `invalid_file` on `training_file`."""
    batch_file = ready_file(sim, client, purpose="batch")
    with pytest.raises(openai.BadRequestError) as err:
        client.fine_tuning.jobs.create(model=MODEL, training_file=batch_file)
    assert (err.value.code, err.value.param) == ("invalid_file", "training_file")


# --- the platform: wind-down, shutdowns, continued fine-tuning -------------------------------


def test_wind_down_refuses_openai_jobs(sim: Simulator, client: OpenAI) -> None:
    """From 2027-01-06 OpenAI refuses new jobs with a 403; the second before, it still accepts them."""
    training = ready_file(sim, client)
    sleep_until(sim, WIND_DOWN - 1)
    assert client.fine_tuning.jobs.create(model=MODEL, training_file=training).status == (
        "validating_files"
    )
    sim.clock.sleep(1)
    with pytest.raises(openai.PermissionDeniedError) as err:
        client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    assert err.value.status_code == 403
    assert err.value.code == "permission_denied"
    assert len(client.fine_tuning.jobs.list().data) == 1


def test_wind_down_spares_azure(sim: Simulator) -> None:
    """After the OpenAI wind-down, Azure (classic and v1 surfaces) still creates jobs."""
    sleep_until(sim, WIND_DOWN + 3600)
    for c in (
        sim.azure_client(max_retries=0),
        sim.client(base_url="https://res.openai.azure.com/openai/v1/"),
    ):
        training = ready_file(sim, c)
        job = c.fine_tuning.jobs.create(model=MODEL, training_file=training)
        assert str(job.status) == "pending"  # Azure's status, outside the SDK's Literal


@pytest.mark.parametrize(
    "model", ["gpt-3.5-turbo-0125", "gpt-4.1-nano-2025-04-14", "gpt-3.5-turbo"]
)
def test_shut_down_base_model(sim: Simulator, client: OpenAI, model: str) -> None:
    """Base models shut down on 2026-10-23 can't be fine-tuned on 2026-11-01: 400 `model_not_available`."""
    training = ready_file(sim, client)
    with pytest.raises(openai.BadRequestError) as err:
        client.fine_tuning.jobs.create(model=model, training_file=training)
    assert (err.value.code, err.value.param) == ("model_not_available", "model")


def test_shutdown_date_reached() -> None:
    """A base model can be tuned the day before its shutdown date, not on the date itself."""
    sim = Simulator(clock=VirtualClock(start=T0), shutdown_dates={MODEL: "2026-11-02"})
    client = sim.client(max_retries=0)
    training = ready_file(sim, client)
    assert (
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training).model == MODEL
    )
    sleep_until(sim, T0 + 86_400)
    with pytest.raises(openai.BadRequestError) as err:
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training)
    assert err.value.code == "model_not_available"


def test_continued_fine_tuning(sim: Simulator, client: OpenAI) -> None:
    """A tuned `ft:` model (or one of its checkpoints) can be fine-tuned again; it names a new model."""
    first = tuned_model(sim, client, suffix="v1")
    for start in (first, f"{first}:ckpt-step-90"):
        training = ready_file(sim, client)
        job = client.fine_tuning.jobs.create(model=start, training_file=training, suffix="v2")
        assert job.status == "validating_files"
        sim.clock.sleep(DURATION)
        done = client.fine_tuning.jobs.retrieve(job.id)
        assert done.status == "succeeded"
        assert done.fine_tuned_model is not None
        assert done.fine_tuned_model != first
        assert re.fullmatch(rf"ft:{MODEL}:{ORG_SLUG}:v2:{HEX8}", done.fine_tuned_model)
        assert done.trained_tokens == 7860


def test_continued_fine_tuning_from_unknown_or_deleted_model(
    sim: Simulator, client: OpenAI
) -> None:
    """Continuing from an `ft:` model that doesn't exist, or was deleted, is `model_not_available`."""
    tuned = tuned_model(sim, client)
    training = ready_file(sim, client)
    client.models.delete(tuned)
    for model in (tuned, f"ft:{MODEL}:{ORG_SLUG}:nope:AbCd1234"):
        with pytest.raises(openai.BadRequestError) as err:
            client.fine_tuning.jobs.create(model=model, training_file=training)
        assert (err.value.code, err.value.param) == ("model_not_available", "model")


def test_continued_fine_tuning_from_a_checkpoint_not_kept(sim: Simulator, client: OpenAI) -> None:
    """Only steps 80, 90 and 100 were kept: continuing from `...:ckpt-step-70` is `model_not_available`."""
    tuned = tuned_model(sim, client)
    training = ready_file(sim, client)
    with pytest.raises(openai.BadRequestError) as err:
        client.fine_tuning.jobs.create(model=f"{tuned}:ckpt-step-70", training_file=training)
    assert (err.value.code, err.value.param) == ("model_not_available", "model")


# --- listing and determinism ------------------------------------------------------------------


def test_jobs_list_newest_first_and_metadata_filter(sim: Simulator, client: OpenAI) -> None:
    """`jobs.list` is newest first, pages with `after`, and filters on `metadata`."""
    training = ready_file(sim, client)
    ids = []
    for i in range(3):
        job = client.fine_tuning.jobs.create(
            model=MODEL, training_file=training, metadata={"team": "a" if i < 2 else "b"}
        )
        ids.append(job.id)
        sim.clock.sleep(1)
    page = client.fine_tuning.jobs.list(limit=2)
    assert [j.id for j in page.data] == [ids[2], ids[1]]
    assert page.has_more is True
    assert [j.id for j in client.fine_tuning.jobs.list()] == ids[::-1]
    assert [j.id for j in client.fine_tuning.jobs.list(metadata={"team": "a"})] == [ids[1], ids[0]]
    assert client.fine_tuning.jobs.list(metadata={"team": "c"}).data == []


def test_jobs_list_same_second_keeps_creation_order(sim: Simulator, client: OpenAI) -> None:
    """Jobs created within the same second are still listed newest first, by creation order."""
    training = ready_file(sim, client)
    ids = [client.fine_tuning.jobs.create(model=MODEL, training_file=training).id for _ in range(5)]
    assert [j.id for j in client.fine_tuning.jobs.list()] == ids[::-1]


def _run(seed: int) -> list[Any]:
    sim = Simulator(seed=seed)
    client = sim.client(max_retries=0)
    job = elle_job(sim, client, suffix="det", run=True)
    events = _events(client, job.id)
    ckpts = client.fine_tuning.jobs.checkpoints.list(job.id).data
    return [
        job.id,
        job.training_file,
        job.seed,
        job.fine_tuned_model,
        job.result_files,
        [(e.id, e.created_at, e.message, e.data) for e in events],
        [(c.id, c.fine_tuned_model_checkpoint) for c in ckpts],
    ]


def test_same_seed_same_run() -> None:
    """Two simulators with the same seed give identical ids, events, metrics and model names."""
    assert _run(7) == _run(7)


def test_different_seed_different_run() -> None:
    """A different seed changes every id and the metrics noise, but not the timeline."""
    a, b = _run(7), _run(8)
    for i in (0, 1, 2, 3, 4):
        assert a[i] != b[i], i
    events_a, events_b = a[5], b[5]
    assert [e[0] for e in events_a] != [e[0] for e in events_b]
    assert [e[1] for e in events_a] == [e[1] for e in events_b]
    assert [e[3] for e in events_a] != [e[3] for e in events_b]


def _job_id_after_polls(polls: int) -> str:
    sim = Simulator(seed=1)
    client = sim.client(max_retries=0)
    f = upload(client)
    for _ in range(polls):
        client.files.retrieve(f.id)
    sim.clock.sleep(2)
    return client.fine_tuning.jobs.create(model=MODEL, training_file=f.id).id


def test_polling_does_not_change_later_ids() -> None:
    """Read-only polls don't consume the seeded id stream: a job's id doesn't depend on how often a file was polled."""
    assert _job_id_after_polls(0) == _job_id_after_polls(3)


def test_explicit_seed_echoed(sim: Simulator, client: OpenAI) -> None:
    """An explicit `seed` is echoed; without one the server picks one."""
    training = ready_file(sim, client)
    assert client.fine_tuning.jobs.create(model=MODEL, training_file=training, seed=42).seed == 42
    assert isinstance(client.fine_tuning.jobs.create(model=MODEL, training_file=training).seed, int)


async def test_async_create_errors(sim: Simulator) -> None:
    """The async client sees the same create errors as the sync one (`file_not_ready`)."""
    sim.faults.file_not_ready()
    async with sim.async_client(max_retries=0) as c:
        f = await c.files.create(file=("elle.jsonl", ELLE), purpose="fine-tune")
        with pytest.raises(openai.BadRequestError) as err:
            await c.fine_tuning.jobs.create(model=MODEL, training_file=f.id)
        assert err.value.code == "file_not_ready"
