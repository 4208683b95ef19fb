"""A fine-tuning job as the API sees it: its state, events, checkpoints, results and wire shape.

How it moves from state to state is `finetune_kit.platform.lifecycle`; what trains it, an engine
(`finetune_kit.platform.engine`).
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune_kit.platform.faults import JobFault
from finetune_kit.platform.records import Flavor

__all__ = ["TERMINAL", "JobRecord"]

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(slots=True)
class JobRecord:
    """One job and everything it has produced so far."""

    id: str
    created_at: int
    model: str
    training_file: str
    validation_file: str | None
    method: dict[str, Any]
    suffix: str | None
    seed: int
    metadata: dict[str, str] | None
    integrations: list[dict[str, Any]] | None
    organization_id: str
    flavor: Flavor
    rng: random.Random
    """Draws the job's ids (events, checkpoints, model name): a seed, the same ids."""
    fault: JobFault | None = None
    status: str = "validating_files"
    phase_until: float = 0.0
    error: dict[str, Any] | None = None
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    result_files: list[str] = field(default_factory=list)
    trained_tokens: int | None = None
    # counted by validation
    n_examples: int = 0
    tokens_per_epoch: int = 0
    # resolved when training starts
    n_epochs: int = 0
    batch_size: int = 0
    learning_rate_multiplier: float = 0.0
    # what the engine reported
    submitted: bool = False
    awaiting_start: bool = False
    """Handed to an engine that queues (`queues = True`), which has not reported `Started`."""
    total_steps: int = 0
    steps_done: int = 0
    eta: float | None = None
    model_path: Path | None = None
    checkpoint_paths: dict[int, Path] = field(default_factory=dict)
    last_metrics: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    metrics_rows: list[dict[str, float | None]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    """Unknown create parameters (e.g. Azure's `trainingType`), echoed back."""

    @property
    def method_type(self) -> str:
        """`supervised`, `dpo` or `reinforcement`."""
        return str(self.method.get("type", "supervised"))

    def requested_hyperparameters(self) -> dict[str, Any]:
        """The hyperparameters as requested (method first, then the deprecated top level)."""
        section = self.method.get(self.method_type) or {}
        hp = section.get("hyperparameters") or {}
        return dict(hp)

    def resolved_hyperparameters(self) -> dict[str, Any]:
        """The hyperparameters: numbers once training started, else as requested or `auto`."""
        req = self.requested_hyperparameters()
        out: dict[str, Any] = {
            "batch_size": req.get("batch_size", "auto"),
            "learning_rate_multiplier": req.get("learning_rate_multiplier", "auto"),
            "n_epochs": req.get("n_epochs", "auto"),
        }
        if self.n_epochs:
            out = {
                "batch_size": self.batch_size,
                "learning_rate_multiplier": self.learning_rate_multiplier,
                "n_epochs": self.n_epochs,
            }
        extra = {k: v for k, v in req.items() if k not in out}
        return {**out, **extra}

    # --- events and transitions -----------------------------------------------------------

    def event(
        self,
        at: float,
        message: str,
        *,
        level: str = "info",
        kind: str = "message",
        data: Any = None,
    ) -> None:
        """Record an event at time `at`."""
        self.events.append(
            {
                "id": f"ftevent-{self.rng.getrandbits(96):024x}",
                "object": "fine_tuning.job.event",
                "created_at": int(at),
                "level": level,
                "message": message,
                "type": kind,
                "data": data if data is not None else {},
            }
        )

    def start(self, now: float, validating: float) -> None:
        """Begin validation (called at creation), for `validating` seconds."""
        self.phase_until = now + validating
        self.event(now, "Created fine-tuning job")
        self.event(now, f"Validating training file: {self.training_file}")

    def estimated_finish(self) -> int | None:
        """When the job should finish: only while it is running (null otherwise, as the API)."""
        if self.status != "running" or self.eta is None:
            return None
        return int(self.eta)

    def pause(self, now: float) -> None:
        """Record a pause (the caller has brought the job up to `now`)."""
        self.status = "paused"
        self.event(now, f"Fine-tuning job paused at step {self.steps_done}/{self.total_steps}")

    def resume(self, now: float, queued: float) -> None:
        """Resume a paused job: back to `queued` for `queued` seconds."""
        self.status = "queued"
        self.phase_until = now + queued
        self.event(now, "Fine-tuning job resumed")

    def cancel(self, now: float) -> None:
        """Cancel a job that is not finished."""
        self.status = "cancelled"
        self.finished_at = int(now)
        self.event(now, "Fine-tuning job cancelled")

    def fail(self, at: float, error: dict[str, Any]) -> None:
        """Fail the job with `error` (`code`, `message`, `param`)."""
        self.status = "failed"
        self.error = error
        self.finished_at = int(at)
        self.event(at, f"The job failed: {error['message']}", level="error")

    def results_csv(self, *, base64_encoded: bool = False) -> bytes:
        """The results file: one row per step (base64-encoded when asked)."""
        cols = ["step", "train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy"]
        lines = [",".join(cols)]
        lines += [
            ",".join("" if row.get(c) is None else f"{row[c]:g}" for c in cols)
            for row in self.metrics_rows
        ]
        raw = ("\n".join(lines) + "\n").encode()
        return base64.b64encode(raw) if base64_encoded else raw

    # --- the wire ------------------------------------------------------------------------

    def to_api(self) -> dict[str, Any]:
        """The `FineTuningJob` JSON."""
        status = self.status
        if self.flavor == "azure" and status in ("validating_files", "queued"):
            status = "pending"
        hp = self.resolved_hyperparameters()
        method = {
            "type": self.method_type,
            self.method_type: {
                **{
                    k: v
                    for k, v in (self.method.get(self.method_type) or {}).items()
                    if k != "hyperparameters"
                },
                "hyperparameters": hp,
            },
        }
        body: dict[str, Any] = {
            "id": self.id,
            "object": "fine_tuning.job",
            "created_at": self.created_at,
            "error": self.error,
            "fine_tuned_model": self.fine_tuned_model,
            "finished_at": self.finished_at,
            "hyperparameters": {
                "batch_size": hp["batch_size"],
                "learning_rate_multiplier": hp["learning_rate_multiplier"],
                "n_epochs": hp["n_epochs"],
            },
            "model": self.model,
            "organization_id": self.organization_id,
            "result_files": self.result_files,
            "seed": self.seed,
            "status": status,
            "trained_tokens": self.trained_tokens,
            "training_file": self.training_file,
            "validation_file": self.validation_file,
            "estimated_finish": self.estimated_finish(),
            "integrations": self.integrations,
            "metadata": self.metadata,
            "method": method,
        }
        body.update(self.extra)
        return body
