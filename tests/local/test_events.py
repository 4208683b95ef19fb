"""What travels through the worker's queue: the platform's own event types, pickled as they are.

The training worker puts `(job id, event)` on a `multiprocessing` queue, which pickles; the
server hands the unpickled events to the platform unconverted. No torch needed.
"""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest

from finetune_kit import local
from finetune_kit.local import events
from finetune_kit.platform import engine as seam

EVENTS: list[seam.EngineEvent] = [
    seam.Started(30),
    seam.Started(30, estimated_finish=1_700_000_100.5, at=1_700_000_000.0),
    seam.Metrics(7, 1.25, 0.5),
    seam.Metrics(
        10,
        0.75,
        0.625,
        valid_loss=0.8,
        valid_mean_token_accuracy=0.6,
        full_valid_loss=0.9,
        full_valid_mean_token_accuracy=0.55,
        at=1_700_000_001.0,
    ),
    seam.CheckpointSaved(10, Path("/root/jobs/ftjob-1/checkpoints/step-10")),
    seam.Message("info", "no GPU: training on the CPU"),
    seam.Succeeded(1234, Path("/root/jobs/ftjob-1/model")),
    seam.Succeeded(None, Path("/root/jobs/ftjob-1/model")),
    seam.Failed("out_of_memory", "the device ran out of memory (batch_size=8, max_length=64)"),
    seam.Cancelled(),
    seam.Paused(at=1_700_000_002.0),
]


def test_every_event_type_is_in_the_pickled_list() -> None:
    kinds = {type(e) for e in EVENTS}
    assert kinds == {
        seam.Started,
        seam.Metrics,
        seam.CheckpointSaved,
        seam.Message,
        seam.Succeeded,
        seam.Failed,
        seam.Cancelled,
        seam.Paused,
    }


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("protocol", [pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL])
def test_each_platform_event_pickles_to_an_equal_event_of_its_type(
    event: seam.EngineEvent, protocol: int
) -> None:
    again = pickle.loads(pickle.dumps(("ftjob-1", event), protocol=protocol))  # noqa: S301
    assert again == ("ftjob-1", event)
    assert type(again[1]) is type(event)
    assert dataclasses.asdict(again[1]) == dataclasses.asdict(event)


def test_the_training_job_a_worker_is_given_pickles() -> None:
    job = seam.TrainingJob(
        id="ftjob-1",
        model="/models/tiny",
        method="dpo",
        hyperparameters={"n_epochs": 2, "batch_size": 1, "learning_rate_multiplier": 1.8},
        training_file=Path("/root/files/file-1"),
        validation_file=None,
        suffix="echo",
        seed=7,
        workdir=Path("/root/jobs/ftjob-1"),
        examples=10,
        options={"max_length": 64, "lora_targets": ("q_proj", "v_proj")},
    )
    assert pickle.loads(pickle.dumps((job, True))) == (job, True)  # noqa: S301


@pytest.mark.parametrize(
    "name",
    [
        "Cancelled",
        "CheckpointSaved",
        "EngineEvent",
        "Failed",
        "Message",
        "Metrics",
        "Paused",
        "Started",
        "Succeeded",
        "TrainingJob",
    ],
)
def test_the_local_backend_names_the_platform_types_not_copies(name: str) -> None:
    assert getattr(local, name) is getattr(seam, name)
    assert getattr(events, name) is getattr(seam, name)
