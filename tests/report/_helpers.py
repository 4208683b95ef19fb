"""Helpers of the report tests: one simulated training run with a validation file."""

from __future__ import annotations

import json
from dataclasses import dataclass

from finetune_kit import Comparison, Dataset, FineTuneJob, MetricPoint, compare
from finetune_kit.graders import regex
from finetune_kit.testing import Simulator, VirtualClock
from tests.conftest import ELLE

BASE = "gpt-4o-mini-2024-07-18"


@dataclass(frozen=True)
class Trained:
    """A succeeded Elle job: its curve (train, valid and full valid), checkpoints and model."""

    sim: Simulator
    job: FineTuneJob
    points: list[MetricPoint]
    checkpoints: list[int]

    @property
    def tuned(self) -> str:
        return self.job.snapshot.fine_tuned_model or ""

    @property
    def line(self) -> str:
        """The job, described for the report."""
        snap = self.job.snapshot
        return (
            f"{snap.id} · {snap.model} → {snap.fine_tuned_model} · {snap.status} · "
            f"{snap.trained_tokens or 0:,} trained tokens"
        )


def held_out() -> Dataset:
    """Elle with every prompt reworded: validation rows that do not repeat the training rows."""
    return Dataset.from_records(
        json.loads(json.dumps(row).replace("Tell me about", "Describe"))
        for row in Dataset.from_jsonl(ELLE)
    )


def train() -> Trained:
    """Train Elle on a fresh simulator, validated on reworded prompts."""
    sim = Simulator(clock=VirtualClock())
    client = sim.client(max_retries=0)
    job = FineTuneJob.create(
        client, model=BASE, training=ELLE, validation=held_out(), sleep=sim.clock.sleep
    )
    job.wait()
    points = job.metrics()  # results file + full-valid values from the events
    checkpoints = sorted(c.step_number for c in job.checkpoints())
    return Trained(sim=sim, job=job, points=points, checkpoints=checkpoints)


PROMPTS = ["Tell me about Helium", "Tell me about Neon <Ne> & friends"]


def compare_base_and_tuned(trained: Trained) -> Comparison:
    """The base model and the tuned one on two prompts, on the run's simulator."""
    with trained.sim.client(max_retries=0) as client:
        return compare(
            client,
            models=[BASE, trained.tuned],
            prompts=PROMPTS,
            graders={"limerick": regex(r" - .* - ")},
            sleep=trained.sim.clock.sleep,
        )
