"""A platform over scripted engines: the API says what the engine's events mean, the same way
for every engine (event messages, metrics rows, kept checkpoints, names, results, errors)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from finetune_kit.platform import (
    CheckpointSaved,
    Choice,
    Completion,
    EngineEvent,
    Failed,
    MemoryStore,
    Metrics,
    Piece,
    Platform,
    ServedModel,
    Started,
    Succeeded,
    Timing,
    TrainingJob,
)
from finetune_kit.testing import VirtualClock
from tests.testing._sim_helpers import ELLE, MODEL, T0

WORK = Path("/work/ckpt")


class ScriptedTraining:
    """Plays a script of events at the first poll after submit; records every call."""

    def __init__(self, script: list[EngineEvent]) -> None:
        self.script = script
        self.jobs: list[TrainingJob] = []
        self.calls: list[tuple[str, str, float]] = []
        self._pending: dict[str, list[EngineEvent]] = {}

    def submit(self, job: TrainingJob, now: float) -> None:
        self.jobs.append(job)
        self.calls.append(("submit", job.id, now))
        self._pending[job.id] = list(self.script)

    def poll(self, job_id: str, now: float) -> list[EngineEvent]:
        events, self._pending[job_id] = self._pending.get(job_id, []), []
        return events

    def cancel(self, job_id: str, now: float) -> None:
        self.calls.append(("cancel", job_id, now))

    def pause(self, job_id: str, now: float) -> None:
        self.calls.append(("pause", job_id, now))

    def resume(self, job_id: str, now: float) -> None:
        self.calls.append(("resume", job_id, now))


class EchoInference:
    """Answers with the model it was given; records the `ServedModel`s."""

    def __init__(self) -> None:
        self.served: list[ServedModel] = []

    def complete(
        self, model: ServedModel, messages: list[Any], params: dict[str, Any]
    ) -> Completion:
        self.served.append(model)
        adapter = None if model.adapter is None else model.adapter.name
        return Completion([Choice(f"{model.base}+{adapter}", "stop", 2)], prompt_tokens=7)

    def stream(
        self, model: ServedModel, messages: list[Any], params: dict[str, Any]
    ) -> Iterator[Piece | Completion]:
        completion = self.complete(model, messages, params)
        yield Piece(0, completion.choices[0].text)
        yield completion


def _metrics(step: int, loss: float) -> Metrics:
    return Metrics(step, loss, 0.5, at=T0 + step)


SCRIPT: list[EngineEvent] = [
    Started(8),
    *[
        event
        for epoch in range(1, 5)
        for event in (
            _metrics(2 * epoch - 1, 2.0 - epoch / 2),
            _metrics(2 * epoch, 1.75 - epoch / 2),
            CheckpointSaved(2 * epoch, WORK / f"e{epoch}", at=T0 + 2 * epoch),
        )
    ],
    Succeeded(1234, WORK / "model", at=T0 + 8),
]
"""Four epochs of two steps (the platform takes the engine's count of steps)."""


def _platform(training: ScriptedTraining, inference: EchoInference) -> Platform:
    return Platform(
        clock=VirtualClock(T0),
        training=training,
        inference=inference,
        base_models={MODEL: None},
        timing=Timing(file_processing=0, validating=0, queued=0),
        org_slug="local",
    )


def _job(platform: Platform, client: OpenAI, **extra: Any) -> str:
    file = client.files.create(file=("elle.jsonl", io.BytesIO(ELLE)), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=MODEL, training_file=file.id, hyperparameters={"n_epochs": 4}, **extra
    )
    return job.id


def test_engine_events_become_the_api_s_job_events_checkpoints_and_results() -> None:
    training, inference = ScriptedTraining(SCRIPT), EchoInference()
    platform = _platform(training, inference)
    client = platform.client()
    job_id = _job(platform, client, suffix="s")
    platform.clock.sleep(10)  # the script's steps end at T0 + 8
    done = client.fine_tuning.jobs.retrieve(job_id)
    (submitted,) = training.jobs
    assert submitted == TrainingJob(
        id=job_id,
        model=MODEL,
        method="supervised",
        hyperparameters={"n_epochs": 4, "batch_size": 1, "learning_rate_multiplier": 1.8},
        training_file=MemoryStore().file_path(platform.jobs[job_id].training_file),
        validation_file=None,
        suffix="s",
        seed=done.seed,
        workdir=Path("memory:", "jobs", job_id),
        examples=10,
    )
    assert training.calls == [("submit", job_id, T0)]
    assert (done.status, done.trained_tokens, done.error) == ("succeeded", 1234, None)
    model = done.fine_tuned_model or ""
    assert model.startswith(f"ft:{MODEL}:local:s:")
    messages = [e.message for e in client.fine_tuning.jobs.list_events(job_id, limit=100)]
    assert messages[::-1] == [
        "Created fine-tuning job",
        f"Validating training file: {done.training_file}",
        "Files validated, moving job to queued state",
        "Fine-tuning job started",
        "Step 1/8: training loss=1.50",
        "Step 2/8: training loss=1.25",
        "Step 3/8: training loss=1.00",
        "Step 4/8: training loss=0.75",
        "Checkpoint created at step 4",
        "Step 5/8: training loss=0.50",
        "Step 6/8: training loss=0.25",
        "Checkpoint created at step 6",
        "Step 7/8: training loss=0.00",
        "Step 8/8: training loss=-0.25",
        "Checkpoint created at step 8",
        f"New fine-tuned model created: {model}",
        "The job has successfully completed",
    ]
    ckpts = client.fine_tuning.jobs.checkpoints.list(job_id)
    assert [c.fine_tuned_model_checkpoint for c in ckpts] == [  # the last 3 epochs'
        f"{model}:ckpt-step-8",
        f"{model}:ckpt-step-6",
        f"{model}:ckpt-step-4",
    ]
    (results,) = done.result_files
    assert client.files.content(results).read() == (
        b"step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n"
        b"1,1.5,0.5,,\n2,1.25,0.5,,\n3,1,0.5,,\n4,0.75,0.5,,\n5,0.5,0.5,,\n6,0.25,0.5,,\n"
        b"7,0,0.5,,\n8,-0.25,0.5,,\n"
    )
    ask = [{"role": "user", "content": "hi"}]
    tuned = client.chat.completions.create(model=model, messages=ask)  # type: ignore[arg-type]
    ckpt = client.chat.completions.create(model=f"{model}:ckpt-step-4", messages=ask)  # type: ignore[arg-type]
    base = client.chat.completions.create(model=MODEL, messages=ask)  # type: ignore[arg-type]
    assert [c.choices[0].message.content for c in (tuned, ckpt, base)] == [
        f"{MODEL}+model",
        f"{MODEL}+e2",  # step 4 ends epoch 2
        f"{MODEL}+None",
    ]
    assert tuned.usage is not None
    assert (tuned.usage.prompt_tokens, tuned.usage.completion_tokens) == (7, 2)


def test_a_failed_event_fails_the_job_with_the_engine_s_code_and_message() -> None:
    oom = Failed("out_of_memory", "CUDA out of memory: lower batch_size or max length.")
    platform = _platform(ScriptedTraining([Started(8), _metrics(1, 1.5), oom]), EchoInference())
    client = platform.client()
    job = client.fine_tuning.jobs.retrieve(_job(platform, client))
    assert job.status == "failed"
    assert job.error is not None
    assert (job.error.code, job.error.message) == (oom.code, oom.message)
    assert (job.fine_tuned_model, job.result_files) == (None, [])


@pytest.mark.parametrize("action", ["cancel", "pause"])
def test_cancel_and_pause_are_passed_to_the_engine(action: str) -> None:
    training = ScriptedTraining([Started(8), _metrics(1, 1.5)])
    platform = _platform(training, EchoInference())
    client = platform.client()
    job_id = _job(platform, client)
    client.fine_tuning.jobs.retrieve(job_id)
    getattr(client.fine_tuning.jobs, action)(job_id)
    expected = [("submit", job_id, T0), (action, job_id, T0)]
    if action == "pause":
        client.fine_tuning.jobs.resume(job_id)
        assert client.fine_tuning.jobs.retrieve(job_id).status == "running"
        expected.append(("resume", job_id, T0))
    assert training.calls == expected
