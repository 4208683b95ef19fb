"""The seam between the platform and what trains and answers: two Protocols and their values.

The platform (`finetune_kit.platform`) is the fine-tuning API as a state machine: stores, job
states, routes, wire shapes, the server. It knows nothing of how training or answering happens;
an engine does that and reports, in the values below, what happened. The platform decides what
the API says about it: event ids and messages, timestamps, ordering, the results CSV, which
checkpoints are kept and their names (`ft:...:ckpt-step-N`), the tuned model's name. So every
engine gives the same wire shapes.

The contract:

Training. When a job leaves `queued` the first time, the platform calls `submit(job, now)`
with a `TrainingJob` (hyperparameters resolved, no `"auto"`); an engine that queues jobs itself
says so with a class attribute `queues = True`, and the job then stays `queued` until its
`Started` (see `finetune_kit.platform.lifecycle`). It then calls
`poll(job_id, now)` whenever the job is looked at, again and again until it returns an empty
list, and applies each event in order; an engine may return one event or many per call. A job
starts with `Started` (again after each `resume`), reports `Metrics` per step and
`CheckpointSaved` at each epoch end (the platform keeps the last three epochs'), and ends with
exactly one of `Succeeded`, `Failed` or `Cancelled`. `cancel`, `pause` and `resume` are
requests: the platform has already changed the job's status when it calls them; an engine stops
at its next step (`pause` through the latest checkpoint), and may confirm with `Cancelled` /
`Paused` (ignored when the platform already recorded that state). After `cancel` the platform
stops polling the job. Nothing an engine raises may escape `poll`: failures are `Failed` events.

`now` is the platform's clock at the moment the call stands for. When the platform catches up
lazily (the simulator), that moment may be earlier than the wall clock: a job queued until
12:01 and looked at 12:05 is submitted with `now` = 12:01. A real engine may ignore `now`; the
simulated one runs its fake training on it. An event's `at` is when it happened on that clock
(None: the platform stamps it with the `now` of the poll that returned it).

Answering. For a chat completion the platform resolves the requested name to a `ServedModel`
(a base model, or a base plus the adapter a job or checkpoint produced), checks that it may
answer (readiness, shutdown dates, Azure deployments), then calls `complete` (or `stream` for
`stream: true`) with the request's messages and parameters (`n`, `max_tokens` /
`max_completion_tokens`, `stop`, `temperature`, ...: the request body less `model`, `messages`
and `stream`). The output options arrive checked (`finetune_kit.platform.formats`):
`response_format` is None (text) or the JSON format asked for, `logprobs` a bool and
`top_logprobs` 0 to 20. An engine honours them (answers in that JSON, `Choice.logprobs` and
`Piece.logprobs` filled) or refuses the request with a 400 `ApiError` that names the option;
it never ignores one. The platform writes the `ChatCompletion` (id, created, usage totals) and
its server-sent events from what the engine returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

__all__ = [
    "Cancelled",
    "CheckpointSaved",
    "Choice",
    "Completion",
    "EngineEvent",
    "Failed",
    "InferenceEngine",
    "Message",
    "Method",
    "Metrics",
    "Paused",
    "Piece",
    "ServedModel",
    "Started",
    "Succeeded",
    "TrainingEngine",
    "TrainingJob",
]

Method = Literal["supervised", "dpo", "reinforcement"]


@dataclass(frozen=True, slots=True)
class TrainingJob:
    """What an engine is asked to train.

    Added in 0.1.0.
    """

    id: str
    """The API's job id (`ftjob-...`): the key of every later call."""
    model: str
    """The base model, as the API names it (a served model's name, not a hub id)."""
    method: Method
    hyperparameters: dict[str, Any]
    """Resolved numbers: `n_epochs`, `batch_size`, `learning_rate_multiplier` (a multiple of the
    engine's documented base rate), and `beta` for `dpo`; the method's other requested
    hyperparameters as given (e.g. reinforcement's `reasoning_effort`)."""
    training_file: Path
    """Where the training JSONL lies (validated by the platform). An in-memory store has no
    files on disk: its paths name the file but hold nothing (see `Store.file_path`)."""
    validation_file: Path | None
    suffix: str | None
    seed: int
    workdir: Path
    """A folder of this job's own for checkpoints and adapters (made by the engine if needed)."""
    examples: int
    """Training examples, as validation counted them."""
    options: dict[str, Any] = field(default_factory=dict)
    """Engine-specific knobs (LoRA rank, max length, precision, ...), as the platform was told."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineEvent:
    """Something that happened to a job. `at`: when, on the platform's clock (None: now)."""

    at: float | None = None


@dataclass(frozen=True, slots=True)
class Started(EngineEvent):
    """Training (re)started: `total_steps` in all, done by `estimated_finish` if known."""

    total_steps: int
    estimated_finish: float | None = None


@dataclass(frozen=True, slots=True)
class Metrics(EngineEvent):
    """One optimizer step's numbers (every step: the results CSV has a row per step).

    `full_valid_*` only at epoch ends, over the whole validation file.
    """

    step: int
    train_loss: float
    train_mean_token_accuracy: float
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_mean_token_accuracy: float | None = None


@dataclass(frozen=True, slots=True)
class CheckpointSaved(EngineEvent):
    """A checkpoint of the model after `step`, at `path` (an adapter folder, or full weights)."""

    step: int
    path: Path


@dataclass(frozen=True, slots=True)
class Message(EngineEvent):
    """A line for the job's events (`level`: `info`, `warn` or `error`)."""

    level: str
    text: str


@dataclass(frozen=True, slots=True)
class Succeeded(EngineEvent):
    """Training finished: the tuned model (adapter or weights) is at `model_path`.

    `trained_tokens`: the tokens trained on, all epochs; None lets the platform bill what
    validation counted (tokens per epoch times epochs), as the simulated engine does.
    """

    trained_tokens: int | None
    model_path: Path


@dataclass(frozen=True, slots=True)
class Failed(EngineEvent):
    """Training failed: `code` and `message` go into the job's `error` as they are.

    Name the cause and what to change (e.g. out of memory: lower `batch_size` or max length).
    """

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Cancelled(EngineEvent):
    """The job stopped because it was cancelled."""


@dataclass(frozen=True, slots=True)
class Paused(EngineEvent):
    """The job stopped after a pause request (its latest checkpoint is saved)."""


class TrainingEngine(Protocol):
    """What trains. See the module docstring for the contract.

    Added in 0.1.0.
    """

    def submit(self, job: TrainingJob, now: float) -> None:
        """Start (or queue) training `job`; return at once."""
        ...

    def poll(self, job_id: str, now: float) -> list[EngineEvent]:
        """What happened since the last poll, in order ([] when nothing new)."""
        ...

    def cancel(self, job_id: str, now: float) -> None:
        """Stop the job at its next step; it won't be resumed."""
        ...

    def pause(self, job_id: str, now: float) -> None:
        """Stop the job at its next step, keeping what `resume` needs."""
        ...

    def resume(self, job_id: str, now: float) -> None:
        """Continue a paused job from where it stopped."""
        ...


@dataclass(frozen=True, slots=True)
class ServedModel:
    """A model the platform serves.

    `name` as the API knows it, answered by `base` (plus `adapter`, the folder a job or
    checkpoint produced, for a tuned model).

    Added in 0.1.0.
    """

    name: str
    base: str
    adapter: Path | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    """One answer: its text, why it ended (`stop` or `length`), its length in tokens.

    `logprobs`: when the request asked for them, the API's `logprobs.content` entries, one per
    token (`token`, `logprob`, `bytes`, `top_logprobs`); None otherwise.
    """

    text: str
    finish_reason: Literal["stop", "length"] = "stop"
    completion_tokens: int = 0
    logprobs: tuple[dict[str, Any], ...] | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    """The answers to one chat request (`n` choices) and the prompt's length in tokens."""

    choices: list[Choice]
    prompt_tokens: int


@dataclass(frozen=True, slots=True)
class Piece:
    """A streamed piece of choice `index`'s text (a token, or a few that make one character).

    `logprobs`: the piece's `logprobs.content` entries when the request asked for them.
    """

    index: int
    text: str
    logprobs: tuple[dict[str, Any], ...] | None = None


class InferenceEngine(Protocol):
    """What answers chat completions. See the module docstring for the contract.

    Added in 0.1.0.
    """

    def complete(
        self, model: ServedModel, messages: list[Any], params: dict[str, Any]
    ) -> Completion:
        """Answer `messages` (`params["n"]` choices, 1 if absent)."""
        ...

    def stream(
        self, model: ServedModel, messages: list[Any], params: dict[str, Any]
    ) -> Iterator[Piece | Completion]:
        """Answer piece by piece: `Piece`s as they come, then the whole `Completion`."""
        ...
