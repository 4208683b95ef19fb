"""How a job moves: `validating_files → queued → running → succeeded | failed | cancelled`.

With `running ⇄ paused` (resume goes back through `queued`). A job advances lazily: whenever the
platform is asked about it, it catches up with the clock, emitting every event it would have
emitted on the way, each with the time it happened. Validation and queueing are the platform's;
`running` is the engine's, whose events (`finetune_kit.platform.engine`) become the API's events,
metrics rows, checkpoints and results here, the same for every engine.

An engine with its own queue (a class attribute `queues = True`, as the local engine has) is
handed the job when the platform's queueing ends, but the job stays `queued` until the engine
reports `Started`: only then is it `running`, with its "Fine-tuning job started" event. Without
that attribute (the simulated engine) a job is `running` the moment it is handed over.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from finetune_kit.dataset.cost import auto_epochs
from finetune_kit.platform.engine import (
    Cancelled,
    CheckpointSaved,
    EngineEvent,
    Failed,
    Message,
    Metrics,
    Paused,
    Started,
    Succeeded,
    TrainingEngine,
    TrainingJob,
)
from finetune_kit.platform.jobs import TERMINAL, JobRecord

if TYPE_CHECKING:
    from finetune_kit.platform.records import Timing

__all__ = [
    "AUTO_LEARNING_RATE_MULTIPLIER",
    "JobHost",
    "advance",
    "auto_hyperparameters",
    "resolve_hyperparameters",
]

KEPT_EPOCHS = 3
"""Checkpoints of the last this many epochs are kept (as OpenAI does)."""


class JobHost(Protocol):
    """What a job needs from the platform that holds it."""

    @property
    def timing(self) -> Timing:
        """How long the platform's phases take."""
        ...

    @property
    def training(self) -> TrainingEngine:
        """The engine that trains."""
        ...

    def validate_job(self, job: JobRecord) -> tuple[int, int] | dict[str, Any]:
        """(examples, billed tokens per epoch), or the error that fails the job."""
        ...

    def training_job(self, job: JobRecord) -> TrainingJob:
        """What the engine is asked to train for `job` (hyperparameters resolved)."""
        ...

    def write_results(self, job: JobRecord, content: bytes, at: float) -> str:
        """Store the results CSV, made at `at`; return the file id."""
        ...

    def model_name(self, job: JobRecord) -> str:
        """Name the fine-tuned model."""
        ...


AUTO_LEARNING_RATE_MULTIPLIER = 1.8
"""`learning_rate_multiplier` when `"auto"` (what OpenAI reports for small jobs)."""


def auto_hyperparameters(
    n_examples: int,
    requested: Mapping[str, Any] | None = None,
    *,
    method: str = "supervised",
) -> dict[str, int | float]:
    """The hyperparameters a job of `n_examples` training examples runs with, `"auto"` resolved.

    `n_epochs` from `finetune_kit.auto_epochs` (OpenAI's heuristic: 3 epochs, more for small
    files, fewer for large ones), `batch_size` 1% of the examples (between 1 and 256),
    `learning_rate_multiplier` 1.8; DPO's `beta` 0.1. Numbers given in `requested` are kept
    (`n_epochs` and `batch_size` as integers); anything else (`"auto"`, absent) is resolved.
    Every engine trains with these numbers, and the job reports them: the simulator and the
    local backend alike.

    >>> auto_hyperparameters(10)
    {'n_epochs': 10, 'batch_size': 1, 'learning_rate_multiplier': 1.8}
    >>> auto_hyperparameters(5000, {"n_epochs": 2}, method="dpo")
    {'n_epochs': 2, 'batch_size': 50, 'learning_rate_multiplier': 1.8, 'beta': 0.1}
    """
    req = dict(requested or {})
    n = max(n_examples, 1)

    def given(name: str) -> int | float | None:
        value = req.get(name)
        return None if isinstance(value, bool) or not isinstance(value, (int, float)) else value

    epochs, batch, lr = given("n_epochs"), given("batch_size"), given("learning_rate_multiplier")
    out: dict[str, int | float] = {
        "n_epochs": int(epochs) if epochs is not None else auto_epochs(n),
        "batch_size": int(batch) if batch is not None else max(1, min(256, n // 100)),
        "learning_rate_multiplier": (
            float(lr) if lr is not None else AUTO_LEARNING_RATE_MULTIPLIER
        ),
    }
    if method == "dpo":
        beta = given("beta")
        out["beta"] = float(beta) if beta is not None else 0.1
    return out


def resolve_hyperparameters(job: JobRecord) -> None:
    """Turn `"auto"` into numbers, as the API does, from the examples validation counted."""
    hp = auto_hyperparameters(job.n_examples, job.requested_hyperparameters())
    job.n_epochs = int(hp["n_epochs"])
    job.batch_size = int(hp["batch_size"])
    job.learning_rate_multiplier = float(hp["learning_rate_multiplier"])


def advance(job: JobRecord, now: float, host: JobHost) -> None:
    """Catch `job` up with `now`, emitting what happened on the way."""
    while job.status not in TERMINAL:
        if job.status == "validating_files":
            if now < job.phase_until:
                return
            at = job.phase_until
            outcome = host.validate_job(job)
            if isinstance(outcome, dict):
                job.fail(at, outcome)
                return
            job.n_examples, job.tokens_per_epoch = outcome
            job.event(at, "Files validated, moving job to queued state")
            job.status = "queued"
            job.phase_until = at + host.timing.queued
        elif job.status == "queued":
            if job.awaiting_start:  # in the engine's own queue: running once it says Started
                _drain(job, now, host)
                return
            if now < job.phase_until or (job.fault is not None and job.fault.kind == "stuck"):
                return
            at = job.phase_until
            queues = bool(getattr(host.training, "queues", False))
            if queues:
                job.awaiting_start = True
            else:
                job.status = "running"
                job.event(at, "Fine-tuning job started")
            if job.submitted:
                host.training.resume(job.id, at)
            else:
                resolve_hyperparameters(job)
                job.submitted = True
                host.training.submit(host.training_job(job), at)
        else:  # running or paused: what the engine did meanwhile
            _drain(job, now, host)
            return


def _drain(job: JobRecord, now: float, host: JobHost) -> None:
    while job.status not in TERMINAL:
        events = host.training.poll(job.id, now)
        if not events:
            return
        for event in events:
            if job.status in TERMINAL:
                return
            _apply(job, event, now if event.at is None else event.at, host)


def _apply(job: JobRecord, event: EngineEvent, at: float, host: JobHost) -> None:
    if isinstance(event, Started):
        if job.awaiting_start:
            job.awaiting_start = False
            job.status = "running"
            job.event(at, "Fine-tuning job started")
        job.total_steps = event.total_steps
        job.eta = event.estimated_finish
    elif isinstance(event, Metrics):
        _metrics(job, event, at, host.timing.metrics_every)
    elif isinstance(event, CheckpointSaved):
        _checkpoint(job, event, at)
    elif isinstance(event, Message):
        job.event(at, event.text, level=event.level)
    elif isinstance(event, Succeeded):
        _succeed(job, event, at, host)
    elif isinstance(event, Failed):
        job.fail(at, {"code": event.code, "message": event.message, "param": None})
    elif isinstance(event, Cancelled):
        job.cancel(at)
    elif isinstance(event, Paused):
        if job.status == "running":
            job.pause(at)
        elif job.awaiting_start:  # the run a resume was asked of stopped only now: ask again
            host.training.resume(job.id, at)


def _metrics(job: JobRecord, event: Metrics, at: float, every: int) -> None:
    step, total = event.step, job.total_steps
    job.steps_done = step
    data: dict[str, Any] = {
        "step": step,
        "total_steps": total,
        "train_loss": event.train_loss,
        "train_mean_token_accuracy": event.train_mean_token_accuracy,
    }
    optional = {
        "valid_loss": event.valid_loss,
        "valid_mean_token_accuracy": event.valid_mean_token_accuracy,
        "full_valid_loss": event.full_valid_loss,
        "full_valid_mean_token_accuracy": event.full_valid_mean_token_accuracy,
    }
    data.update({k: v for k, v in optional.items() if v is not None})
    job.last_metrics = data
    job.metrics_rows.append(
        {
            "step": step,
            "train_loss": event.train_loss,
            "train_accuracy": event.train_mean_token_accuracy,
            "valid_loss": event.valid_loss,
            "valid_mean_token_accuracy": event.valid_mean_token_accuracy,
        }
    )
    if step % every == 0 or step == total:
        parts = [f"training loss={event.train_loss:.2f}"]
        if event.valid_loss is not None:
            parts.append(f"validation loss={event.valid_loss:.2f}")
        if event.full_valid_loss is not None:
            parts.append(f"full validation loss={event.full_valid_loss:.2f}")
        job.event(at, f"Step {step}/{total}: {', '.join(parts)}", kind="metrics", data=data)


def _checkpoint(job: JobRecord, event: CheckpointSaved, at: float) -> None:
    """Keep the checkpoints of the last `KEPT_EPOCHS` epochs (named once the model is)."""
    per_epoch = max(1, job.total_steps // max(job.n_epochs, 1))
    if event.step <= job.total_steps - KEPT_EPOCHS * per_epoch:
        return
    data = job.last_metrics if job.last_metrics.get("step") == event.step else {}
    job.checkpoint_paths[event.step] = event.path
    job.checkpoints.append(
        {
            "id": f"ftckpt_{job.rng.getrandbits(96):024x}",
            "object": "fine_tuning.job.checkpoint",
            "created_at": int(at),
            "fine_tuning_job_id": job.id,
            "step_number": event.step,
            "metrics": {
                k: float(v)
                for k, v in data.items()
                if k != "total_steps" and isinstance(v, (int, float))
            },
            "fine_tuned_model_checkpoint": "",  # named when the model is
        }
    )
    job.event(at, f"Checkpoint created at step {event.step}")


def _succeed(job: JobRecord, event: Succeeded, at: float, host: JobHost) -> None:
    fault = job.fault
    if fault is not None and fault.kind == "moderation":
        job.fail(
            at,
            {
                "code": fault.code or "model_moderation_failed",
                "message": fault.message
                or "The fine-tuned model did not pass our safety evaluations "
                "(refusals_v3). Review the training data for harmful content.",
                "param": None,
            },
        )
        return
    if fault is not None and fault.kind == "fail":
        job.fail(
            at,
            {
                "code": fault.code or "server_error",
                "message": fault.message or "The job failed due to an internal error.",
                "param": None,
            },
        )
        return
    job.fine_tuned_model = host.model_name(job)
    job.model_path = event.model_path
    for ckpt in job.checkpoints:
        ckpt["fine_tuned_model_checkpoint"] = (
            f"{job.fine_tuned_model}:ckpt-step-{ckpt['step_number']}"
            if job.flavor == "openai"
            else f"ftchkpt-{job.rng.getrandbits(128):032x}"
        )
    csv = job.results_csv(base64_encoded=host.timing.base64_results)
    job.result_files = [host.write_results(job, csv, at)]
    job.trained_tokens = (
        event.trained_tokens
        if event.trained_tokens is not None
        else job.tokens_per_epoch * job.n_epochs
    )
    job.status = "succeeded"
    job.finished_at = int(at)
    job.event(at, f"New fine-tuned model created: {job.fine_tuned_model}")
    job.event(at, "The job has successfully completed")
