"""What the local engines are given and what they report: plain, picklable dataclasses.

The training engine is given a `TrainingJob` and reports `EngineEvent`s; the platform decides
what the API says about them (event ids, timestamps, messages, the results CSV, checkpoint
names). The inference engine is given a `ServedModel` and `ChatParams` and answers `Choice`s.

Nothing here imports torch: these types travel between the server and the worker process.

Added in 0.2.0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

__all__ = [
    "Cancelled",
    "ChatParams",
    "CheckpointSaved",
    "Choice",
    "EngineEvent",
    "Failed",
    "Message",
    "Metrics",
    "Paused",
    "ServedModel",
    "Started",
    "Succeeded",
    "TrainingJob",
]


@dataclass(frozen=True, slots=True)
class TrainingJob:
    """One job for the training engine, its hyperparameters resolved (no `"auto"` left).

    Attributes:
        id: The job id (`ftjob-...`).
        model: The base model: a Hugging Face hub id or a local folder.
        method: `"supervised"` or `"dpo"`.
        hyperparameters: `n_epochs`, `batch_size`, `learning_rate_multiplier` and, for DPO,
            `beta`; numbers (see `resolve_auto`).
        training_file: The training JSONL on disk.
        validation_file: The validation JSONL on disk, or None.
        suffix: The model name suffix, or None.
        seed: The seed of the run (data order, LoRA initialisation, dropout).
        workdir: The job's folder: `checkpoints/step-N` and `model` are written there.
        options: Local knobs, see `finetune_kit.local.options.TrainOptions`.
    """

    id: str
    model: str
    method: Literal["supervised", "dpo"]
    hyperparameters: dict[str, int | float]
    training_file: Path
    validation_file: Path | None
    suffix: str | None
    seed: int
    workdir: Path
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Started:
    """Training began (or resumed): `total_steps` optimizer steps in all."""

    total_steps: int


@dataclass(frozen=True, slots=True)
class Metrics:
    """The metrics of one optimizer step (`step` counts from 1).

    `valid_*` are measured on one batch of the validation file (every `eval_steps` steps),
    `full_valid_*` on the whole validation file at the end of each epoch. For DPO, the
    accuracies are the trainer's mean token accuracy of the chosen answers.
    """

    step: int
    train_loss: float
    train_mean_token_accuracy: float
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_mean_token_accuracy: float | None = None


@dataclass(frozen=True, slots=True)
class CheckpointSaved:
    """A checkpoint of step `step` was written to `path` (a folder the trainer can resume from)."""

    step: int
    path: Path


@dataclass(frozen=True, slots=True)
class Message:
    """A line for the job's events (`level`: `"info"`, `"warn"` or `"error"`)."""

    level: Literal["info", "warn", "error"]
    text: str


@dataclass(frozen=True, slots=True)
class Succeeded:
    """Training finished: the model (an adapter, or a whole model) is in `model_path`."""

    trained_tokens: int
    model_path: Path


@dataclass(frozen=True, slots=True)
class Failed:
    """Training failed.

    `code` is one of `invalid_file` (a row the engine cannot use: the message names the file,
    line and field), `invalid_model` (the base model can't be loaded), `invalid_options`,
    `missing_dependency` (the `local` extra is not installed), `out_of_memory`, `disk_full`,
    `worker_died` or `training_error`.
    Checkpoints written before the failure stay on disk.
    """

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Cancelled:
    """Training stopped after a cancel; no model was written."""


@dataclass(frozen=True, slots=True)
class Paused:
    """Training stopped after a pause; the latest checkpoint is where `resume` continues."""


EngineEvent: TypeAlias = (
    Started | Metrics | CheckpointSaved | Message | Succeeded | Failed | Cancelled | Paused
)
"""Everything `TrainingEngine.poll` returns."""

TERMINAL_EVENTS = (Succeeded, Failed, Cancelled, Paused)
"""The events after which the engine no longer runs the job (until `resume`)."""


@dataclass(frozen=True, slots=True)
class ServedModel:
    """A model the inference engine answers with.

    Attributes:
        name: The name clients ask for (`ft:...` or a base model's name).
        base_path_or_id: The base model (hub id or folder), or a whole fine-tuned model's folder.
        adapter: A PEFT adapter folder applied on top of the base, or None.
    """

    name: str
    base_path_or_id: str
    adapter: Path | None = None


@dataclass(frozen=True, slots=True)
class ChatParams:
    """The sampling parameters of a chat completion.

    `temperature=0` is greedy decoding; `seed` makes sampling reproducible; `stop` strings end
    a choice early (the stop string itself is not returned).
    """

    n: int = 1
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    """One answer: its text, why it ended (`stop` or `length`) and its token counts."""

    text: str
    finish_reason: Literal["stop", "length"]
    prompt_tokens: int
    completion_tokens: int
