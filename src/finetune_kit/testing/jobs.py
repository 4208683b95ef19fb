"""Simulated training: a `TrainingEngine` that fakes a run on the simulator's clock.

Each step takes `Timing.step` simulated seconds and reports a loss that falls along a noisy
exponential curve (validation loss a little above it); each epoch ends with a checkpoint. The
noise comes from the job's own random generator, the one the platform draws the job's ids
from, so a seed gives the same run, ids and numbers alike. Nothing is trained.

`JobRecord` (the platform's record of a job, `finetune_kit.platform.jobs`) is re-exported here.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from finetune_kit.platform.engine import (
    CheckpointSaved,
    EngineEvent,
    Metrics,
    Started,
    Succeeded,
    TrainingJob,
)
from finetune_kit.platform.jobs import JobRecord
from finetune_kit.platform.records import Timing as PlatformTiming

__all__ = ["JobRecord", "SimulatedTrainingEngine", "Timing"]


@dataclass(slots=True)
class Timing(PlatformTiming):
    """How long things take, in simulated seconds.

    The defaults make the bundled 10-example dataset a job of about 5 minutes: with
    `ScaledClock(speed=60)` it runs in about 5 seconds.

    Added in 0.1.0.
    """

    step: float = 2.0
    """One training step."""


@dataclass(slots=True)
class _Run:
    """One simulated run: where it stands on the clock."""

    job: TrainingJob
    rng: random.Random
    steps_per_epoch: int
    total_steps: int
    origin: float
    steps_at_origin: int = 0
    steps_done: int = 0
    running: bool = True
    announce: bool = True
    finished: bool = False


class SimulatedTrainingEngine:
    """Fake training driven by the clock (`now` of each call): today's simulator, as an engine.

    Args:
        timing: Read for `step`, the simulated seconds of one training step.
        rng_of: The random generator of a job, by id (the platform's, for its ids).
    """

    def __init__(self, timing: Timing, rng_of: Callable[[str], random.Random]) -> None:
        self.timing = timing
        self._rng_of = rng_of
        self._runs: dict[str, _Run] = {}

    def submit(self, job: TrainingJob, now: float) -> None:
        """Start the run at `now`: `ceil(examples / batch_size)` steps an epoch."""
        per_epoch = math.ceil(max(job.examples, 1) / int(job.hyperparameters["batch_size"]))
        self._runs[job.id] = _Run(
            job=job,
            rng=self._rng_of(job.id),
            steps_per_epoch=per_epoch,
            total_steps=per_epoch * int(job.hyperparameters["n_epochs"]),
            origin=now,
        )

    def poll(self, job_id: str, now: float) -> list[EngineEvent]:
        """One step's events at a time (so the job's generator is drawn in the API's order)."""
        run = self._runs.get(job_id)
        if run is None or not run.running or run.finished:
            return []
        step = self.timing.step
        if run.announce:
            run.announce = False
            eta = run.origin + (run.total_steps - run.steps_at_origin) * step
            return [Started(run.total_steps, eta, at=run.origin)]
        due = run.steps_at_origin + int((now - run.origin) // step)
        if run.steps_done < min(due, run.total_steps):
            return self._step(run)
        if run.steps_done < run.total_steps:
            return []
        run.finished = True
        at = run.origin + (run.steps_done - run.steps_at_origin) * step
        return [Succeeded(None, run.job.workdir / "model", at=at)]

    def cancel(self, job_id: str, now: float) -> None:  # noqa: ARG002 - the Protocol's
        """Forget the run."""
        self._runs.pop(job_id, None)

    def pause(self, job_id: str, now: float) -> None:  # noqa: ARG002 - the Protocol's
        """Stop stepping (the platform has polled up to `now`)."""
        run = self._runs.get(job_id)
        if run is not None:
            run.running = False

    def resume(self, job_id: str, now: float) -> None:
        """Step again from `now`, where the run stopped."""
        run = self._runs.get(job_id)
        if run is not None:
            run.origin, run.steps_at_origin = now, run.steps_done
            run.running = run.announce = True

    def _step(self, run: _Run) -> list[EngineEvent]:
        run.steps_done += 1
        step, total = run.steps_done, run.total_steps
        at = run.origin + (step - run.steps_at_origin) * self.timing.step
        progress = step / total
        noise = run.rng.uniform(-0.04, 0.04)
        train_loss = round(1.9 * math.exp(-3.2 * progress) + 0.12 + noise, 4)
        valid_loss = full = None
        if run.job.validation_file is not None:
            valid_loss = round(train_loss + 0.06 + run.rng.uniform(-0.03, 0.05), 4)
        epoch_end = step % run.steps_per_epoch == 0
        if valid_loss is not None and epoch_end:
            full = round(valid_loss + 0.02, 4)
        events: list[EngineEvent] = [
            Metrics(
                step,
                train_loss,
                _accuracy(train_loss),
                valid_loss,
                None if valid_loss is None else _accuracy(valid_loss),
                full,
                None if full is None else _accuracy(full),
                at=at,
            )
        ]
        if epoch_end:
            events.append(CheckpointSaved(step, _checkpoint_dir(run.job.workdir, step), at=at))
        return events


def _accuracy(loss: float) -> float:
    return round(min(0.99, 1.0 - loss / 2.6), 4)


def _checkpoint_dir(workdir: Path, step: int) -> Path:
    return workdir / f"checkpoint-{step}"
