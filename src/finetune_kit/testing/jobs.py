"""Simulated fine-tuning jobs: the state machine, events, metrics, checkpoints and results.

A job moves `validating_files → queued → running → succeeded | failed | cancelled`, with
`running ⇄ paused` (resume goes back through `queued`). It advances lazily: whenever the
simulator is asked about it, it catches up with the clock, emitting every event it would have
emitted on the way, each with the time it happened.

Added in 0.1.0.
"""

from __future__ import annotations

import base64
import math
import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from finetune_kit.dataset.cost import auto_epochs
from finetune_kit.testing.faults import JobFault
from finetune_kit.testing.records import Flavor, Timing

__all__ = ["TERMINAL", "JobHost", "JobRecord"]

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


class JobHost(Protocol):
    """What a job needs from the simulator that holds it."""

    def validate_job(self, job: JobRecord) -> tuple[int, int] | dict[str, Any]:
        """(examples, billed tokens per epoch), or the error that fails the job."""
        ...

    def write_results(self, job: JobRecord, content: bytes, at: float) -> str:
        """Store the results CSV, made at `at`; return the file id."""
        ...

    def model_name(self, job: JobRecord) -> str:
        """Name the fine-tuned model."""
        ...


@dataclass(slots=True)
class JobRecord:
    """One simulated job and everything it has produced so far."""

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
    timing: Timing
    rng: random.Random
    fault: JobFault | None = None
    status: str = "validating_files"
    phase_until: float = 0.0
    error: dict[str, Any] | None = None
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    result_files: list[str] = field(default_factory=list)
    trained_tokens: int | None = None
    # resolved on validation
    n_examples: int = 0
    tokens_per_epoch: int = 0
    n_epochs: int = 0
    batch_size: int = 0
    learning_rate_multiplier: float = 0.0
    steps_per_epoch: int = 0
    total_steps: int = 0
    steps_done: int = 0
    step_origin: float = 0.0
    steps_at_origin: int = 0
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
        if self.total_steps:
            out = {
                "batch_size": self.batch_size,
                "learning_rate_multiplier": self.learning_rate_multiplier,
                "n_epochs": self.n_epochs,
            }
        extra = {k: v for k, v in req.items() if k not in out}
        return {**out, **extra}

    # --- the state machine ----------------------------------------------------------------

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

    def start(self, now: float) -> None:
        """Begin validation (called at creation)."""
        self.phase_until = now + self.timing.validating
        self.event(now, "Created fine-tuning job")
        self.event(now, f"Validating training file: {self.training_file}")

    def advance(self, now: float, host: JobHost) -> None:
        """Catch up with `now`, emitting what happened on the way."""
        while self.status not in TERMINAL and self.status != "paused":
            if self.status == "validating_files":
                if now < self.phase_until:
                    return
                at = self.phase_until
                outcome = host.validate_job(self)
                if isinstance(outcome, dict):
                    self._fail(at, outcome)
                    return
                self.n_examples, self.tokens_per_epoch = outcome
                self.event(at, "Files validated, moving job to queued state")
                self.status = "queued"
                self.phase_until = at + self.timing.queued
            elif self.status == "queued":
                if now < self.phase_until or (
                    self.fault is not None and self.fault.kind == "stuck"
                ):
                    return
                at = self.phase_until
                if not self.total_steps:
                    self._resolve()
                self.status = "running"
                self.step_origin = at
                self.steps_at_origin = self.steps_done
                self.event(at, "Fine-tuning job started")
            elif self.status == "running":
                due = self.steps_at_origin + int((now - self.step_origin) // self.timing.step)
                while self.steps_done < min(due, self.total_steps):
                    self._step()
                if self.steps_done < self.total_steps:
                    return
                self._finish(host)
                return

    def estimated_finish(self) -> int | None:
        """When the job should finish: only while it is running (null otherwise, as the API)."""
        if self.status != "running" or not self.total_steps:
            return None
        return int(self.step_origin + (self.total_steps - self.steps_at_origin) * self.timing.step)

    def pause(self, now: float) -> None:
        """Pause a running job (the caller has advanced it to `now`)."""
        self.status = "paused"
        self.event(now, f"Fine-tuning job paused at step {self.steps_done}/{self.total_steps}")

    def resume(self, now: float) -> None:
        """Resume a paused job: back to `queued`."""
        self.status = "queued"
        self.phase_until = now + self.timing.queued
        self.event(now, "Fine-tuning job resumed")

    def cancel(self, now: float) -> None:
        """Cancel a job that is not finished."""
        self.status = "cancelled"
        self.finished_at = int(now)
        self.event(now, "Fine-tuning job cancelled")

    def _resolve(self) -> None:
        req = self.requested_hyperparameters()
        n = max(self.n_examples, 1)
        self.n_epochs = (
            int(req["n_epochs"]) if isinstance(req.get("n_epochs"), int) else auto_epochs(n)
        )
        self.batch_size = (
            int(req["batch_size"])
            if isinstance(req.get("batch_size"), int)
            else max(1, min(256, n // 100))
        )
        lr = req.get("learning_rate_multiplier")
        self.learning_rate_multiplier = float(lr) if isinstance(lr, (int, float)) else 1.8
        self.steps_per_epoch = math.ceil(n / self.batch_size)
        self.total_steps = self.steps_per_epoch * self.n_epochs

    def _step(self) -> None:
        self.steps_done += 1
        step, total = self.steps_done, self.total_steps
        at = self.step_origin + (step - self.steps_at_origin) * self.timing.step
        progress = step / total
        noise = self.rng.uniform(-0.04, 0.04)
        train_loss = round(1.9 * math.exp(-3.2 * progress) + 0.12 + noise, 4)
        data: dict[str, Any] = {
            "step": step,
            "total_steps": total,
            "train_loss": train_loss,
            "train_mean_token_accuracy": round(min(0.99, 1.0 - train_loss / 2.6), 4),
        }
        if self.validation_file:
            valid_loss = round(train_loss + 0.06 + self.rng.uniform(-0.03, 0.05), 4)
            data["valid_loss"] = valid_loss
            data["valid_mean_token_accuracy"] = round(min(0.99, 1.0 - valid_loss / 2.6), 4)
        epoch_end = step % self.steps_per_epoch == 0
        if self.validation_file and epoch_end:
            full = round(float(data["valid_loss"]) + 0.02, 4)
            data["full_valid_loss"] = full
            data["full_valid_mean_token_accuracy"] = round(min(0.99, 1.0 - full / 2.6), 4)
        self.metrics_rows.append(
            {
                "step": step,
                "train_loss": train_loss,
                "train_accuracy": data["train_mean_token_accuracy"],
                "valid_loss": data.get("valid_loss"),
                "valid_mean_token_accuracy": data.get("valid_mean_token_accuracy"),
            }
        )
        if step % self.timing.metrics_every == 0 or step == total:
            parts = [f"training loss={train_loss:.2f}"]
            if "valid_loss" in data:
                parts.append(f"validation loss={data['valid_loss']:.2f}")
            if "full_valid_loss" in data:
                parts.append(f"full validation loss={data['full_valid_loss']:.2f}")
            self.event(at, f"Step {step}/{total}: {', '.join(parts)}", kind="metrics", data=data)
        if epoch_end:
            epoch = step // self.steps_per_epoch
            if epoch > self.n_epochs - 3:  # only the last 3 epochs' checkpoints are kept
                self.checkpoints.append(
                    {
                        "id": f"ftckpt_{self.rng.getrandbits(96):024x}",
                        "object": "fine_tuning.job.checkpoint",
                        "created_at": int(at),
                        "fine_tuning_job_id": self.id,
                        "step_number": step,
                        "metrics": {
                            k: float(v)
                            for k, v in data.items()
                            if k != "total_steps" and isinstance(v, (int, float))
                        },
                        "fine_tuned_model_checkpoint": "",  # named when the model is
                    }
                )
                self.event(at, f"Checkpoint created at step {step}")

    def _finish(self, host: JobHost) -> None:
        at = self.step_origin + (self.steps_done - self.steps_at_origin) * self.timing.step
        if self.fault is not None and self.fault.kind == "moderation":
            self._fail(
                at,
                {
                    "code": self.fault.code or "model_moderation_failed",
                    "message": self.fault.message
                    or "The fine-tuned model did not pass our safety evaluations "
                    "(refusals_v3). Review the training data for harmful content.",
                    "param": None,
                },
            )
            return
        if self.fault is not None and self.fault.kind == "fail":
            self._fail(
                at,
                {
                    "code": self.fault.code or "server_error",
                    "message": self.fault.message or "The job failed due to an internal error.",
                    "param": None,
                },
            )
            return
        self.fine_tuned_model = host.model_name(self)
        for ckpt in self.checkpoints:
            ckpt["fine_tuned_model_checkpoint"] = (
                f"{self.fine_tuned_model}:ckpt-step-{ckpt['step_number']}"
                if self.flavor == "openai"
                else f"ftchkpt-{self.rng.getrandbits(128):032x}"
            )
        self.result_files = [host.write_results(self, self.results_csv(), at)]
        self.trained_tokens = self.tokens_per_epoch * self.n_epochs
        self.status = "succeeded"
        self.finished_at = int(at)
        self.event(at, f"New fine-tuned model created: {self.fine_tuned_model}")
        self.event(at, "The job has successfully completed")

    def _fail(self, at: float, error: dict[str, Any]) -> None:
        self.status = "failed"
        self.error = error
        self.finished_at = int(at)
        self.event(at, f"The job failed: {error['message']}", level="error")

    def results_csv(self) -> bytes:
        """The results file: one row per step (base64-encoded when the timing says so)."""
        cols = ["step", "train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy"]
        lines = [",".join(cols)]
        lines += [
            ",".join("" if row.get(c) is None else f"{row[c]:g}" for c in cols)
            for row in self.metrics_rows
        ]
        raw = ("\n".join(lines) + "\n").encode()
        return base64.b64encode(raw) if self.timing.base64_results else raw

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
