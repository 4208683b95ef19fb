"""How a training failure is reported: the cause, what to lower, and whether the worker goes on."""

from __future__ import annotations

import errno
from pathlib import Path
from types import SimpleNamespace

import pytest

from finetune_kit.local import EngineEvent, Failed, TrainingJob
from finetune_kit.local import worker as worker_module
from finetune_kit.local.worker import run_job, worker_survives


class OutOfMemoryError(RuntimeError):
    """Named like torch.cuda.OutOfMemoryError."""


def job(tmp_path: Path) -> TrainingJob:
    return TrainingJob(
        id="ftjob-x",
        model="tiny",
        method="supervised",
        hyperparameters={"n_epochs": 1, "batch_size": 8, "learning_rate_multiplier": 1.0},
        training_file=tmp_path / "train.jsonl",
        validation_file=None,
        suffix=None,
        seed=1,
        workdir=tmp_path / "work",
        examples=1,
        options={"max_length": 1024},
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
            Failed(
                "out_of_memory",
                "the device ran out of memory (batch_size=8, max_length=1024): lower batch_size "
                "or max_length, or raise gradient_accumulation_steps; checkpoints saved so far "
                "are kept",
            ),
        ),
        (
            RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried... out of memory"),
            Failed(
                "out_of_memory",
                "the device ran out of memory (batch_size=8, max_length=1024): lower batch_size "
                "or max_length, or raise gradient_accumulation_steps; checkpoints saved so far "
                "are kept",
            ),
        ),
        (
            OSError(errno.ENOSPC, "No space left on device"),
            Failed(
                "disk_full",
                "no space left on the device holding {workdir}: free some and resume; "
                "checkpoints saved so far are kept",
            ),
        ),
        (
            ValueError("bad things\nwith a second line"),
            Failed("training_error", "ValueError: bad things"),
        ),
    ],
)
def test_a_crash_is_reported_with_its_cause_and_the_worker_exits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException, expected: Failed
) -> None:
    def crash(self: object) -> None:
        raise error

    monkeypatch.setattr(worker_module._Run, "__init__", lambda self, *a, **k: None)
    monkeypatch.setattr(worker_module._Run, "run", crash)
    events: list[EngineEvent] = []
    the_job = job(tmp_path)
    keep_going = run_job(
        the_job, resume=False, control=SimpleNamespace(value=0), device="cpu", emit=events.append
    )
    assert events == [Failed(expected.code, expected.message.format(workdir=the_job.workdir))]
    assert keep_going is False
    assert worker_survives(events[0]) is False


@pytest.mark.parametrize(
    "code", ["invalid_file", "invalid_options", "invalid_model", "missing_dependency"]
)
def test_the_worker_survives_failures_before_training(code: str) -> None:
    assert worker_survives(Failed(code, "x")) is True
