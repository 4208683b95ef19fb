"""What the local engines are given and what they report.

The training engine is given the platform's `TrainingJob` and reports the platform's
`EngineEvent`s (`finetune_kit.platform.engine`): the same types travel from the worker process
through its queue to the server, and on to the platform, unconverted (they are plain, picklable
dataclasses). They are re-exported here. Two differences from what the platform hands an engine:
a local `TrainingJob`'s `model` is where the base model is (a Hugging Face hub id or a folder),
not the name it is served as, and its `options` are the local knobs
(`finetune_kit.local.options.TrainOptions`).

The inference engine is given a `ServedModel` (here: where the base model is, and the adapter)
and `ChatParams`, and answers `Choice`s.

Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

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
    TrainingJob,
)

__all__ = [
    "TERMINAL_EVENTS",
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
