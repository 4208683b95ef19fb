"""Job events in order, each exactly once: typed events and a cursor over newest-first pages.

The API lists events newest first, and `after=<id>` pages toward *older* events. To get what is
new, `EventCursor` reads pages from the newest until it meets the last event it has already
given out (however many pages that takes), then hands the new ones over oldest first. It moves
past an event only once that event was handed out: what a failing callback did not get yet
comes with the next drain.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from openai.types.fine_tuning import FineTuningJobEvent
from pydantic import BaseModel, ConfigDict, Field

from finetune_kit._core.drive import Call

__all__ = ["EventCursor", "JobEvent", "ListEvents", "MessageEvent", "MetricsEvent", "to_job_event"]

PAGE_SIZE = 100


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    """The provider's event id (opaque: don't parse it)."""
    created_at: int
    """Unix seconds."""
    level: str
    """`info`, `warn` or `error`."""
    message: str
    """The provider's text, e.g. `Step 10/100: training loss=0.52`."""


class MessageEvent(_Event):
    """A plain event: a status change, a checkpoint, the new model's name...

    Added in 0.1.0.
    """

    type: Literal["message"] = "message"


class MetricsEvent(_Event):
    """A training-step event with its metrics; each metric is present only when computed.

    Added in 0.1.0.
    """

    type: Literal["metrics"] = "metrics"
    step: int | None = None
    total_steps: int | None = None
    train_loss: float | None = None
    train_mean_token_accuracy: float | None = None
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_mean_token_accuracy: float | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    """Every key of the provider's `data`, including ones not named above (DPO, RFT)."""


JobEvent = Annotated[MessageEvent | MetricsEvent, Field(discriminator="type")]
"""A job event: `MessageEvent` or `MetricsEvent` (match on `.type` or the class)."""

_METRIC_KEYS = (
    "step",
    "total_steps",
    "train_loss",
    "train_mean_token_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
)


def _number(value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if math.isnan(value):
        return None
    return int(value) if kind is int else float(value)


_STEP = re.compile(r"^\s*Step (\d+)/(\d+)\s*:(.*)$", re.IGNORECASE)
_FROM_TEXT = (
    ("full_valid_loss", re.compile(r"full validation loss\s*=\s*([0-9.eE+-]+)", re.IGNORECASE)),
    ("valid_loss", re.compile(r"(?<!full )validation loss\s*=\s*([0-9.eE+-]+)", re.IGNORECASE)),
    ("train_loss", re.compile(r"training loss\s*=\s*([0-9.eE+-]+)", re.IGNORECASE)),
)


def metrics_from_message(message: str) -> dict[str, Any] | None:
    """`Step 10/100: training loss=0.52, validation loss=0.61` as metrics, or None.

    For providers (or older API versions) whose metrics events carry no `data`: the step, the
    total and the losses the text states.
    """
    match = _STEP.match(message)
    if match is None:
        return None
    data: dict[str, Any] = {"step": int(match[1]), "total_steps": int(match[2])}
    for key, pattern in _FROM_TEXT:
        found = pattern.search(match[3])
        if found:
            try:
                data[key] = float(found[1].rstrip(".,"))
            except ValueError:
                continue
    return data


def to_job_event(event: FineTuningJobEvent) -> MessageEvent | MetricsEvent:
    """Type an SDK event: metrics events get their numbers as fields.

    A metrics event without numbers in its `data` gets them from its text (`Step n/N: training
    loss=...`) when the text states them.
    """
    raw = event.data if isinstance(event.data, dict) else None
    numbers = raw
    if not (raw and "step" in raw):
        parsed = metrics_from_message(event.message)
        if parsed is not None:
            numbers = {**(raw or {}), **parsed}
    if event.type == "metrics" or (numbers and "step" in numbers):
        numbers = numbers or {}
        fields = {
            key: _number(numbers.get(key), int if key in ("step", "total_steps") else float)
            for key in _METRIC_KEYS
        }
        return MetricsEvent.model_validate({**_base(event), **fields, "data": dict(raw or {})})
    return MessageEvent.model_validate(_base(event))


def _base(event: FineTuningJobEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "created_at": event.created_at,
        "level": str(event.level),
        "message": event.message,
    }


@dataclass(frozen=True, slots=True)
class ListEvents(Call):
    """Command: list the job's events (`after`: page older than this id)."""

    after: str | None
    limit: int = PAGE_SIZE
    operation: str = "events"

    def query(self) -> dict[str, Any]:
        """The keyword arguments of `jobs.list_events` (after the job id)."""
        kwargs: dict[str, Any] = {"limit": self.limit}
        if self.after is not None:
            kwargs["after"] = self.after
        return kwargs


@dataclass(slots=True)
class EventCursor:
    """Where an event stream stands; feeds on pages, gives out new events oldest first.

    Args:
        last_id: The newest event already given out (resume after it); None: from the start.
    """

    last_id: str | None = None
    page_size: int = PAGE_SIZE
    seen: set[str] = field(default_factory=set)
    _pending: list[FineTuningJobEvent] = field(default_factory=list)
    _boundary_found: bool = False

    def start(self) -> ListEvents:
        """The first request of a drain."""
        self._pending = []
        self._boundary_found = False
        return ListEvents(after=None, limit=self.page_size)

    def feed(self, page: list[FineTuningJobEvent], *, has_more: bool | None) -> ListEvents | None:
        """Take one page (newest first); return the next request, or None when the drain is done."""
        for event in page:
            if event.id == self.last_id:
                self._boundary_found = True
                return None
            if event.id not in self.seen:
                self._pending.append(event)
        if not page or has_more is False:  # a provider that leaves has_more out: keep paging
            return None
        return ListEvents(after=page[-1].id, limit=self.page_size)

    def peek(self) -> list[MessageEvent | MetricsEvent]:
        """The new events of the drain just finished, oldest first, without moving past them.

        Move past each with `advance` once it is handed out: what is not handed out (a
        callback raised, a consumer stopped) comes again with the next drain.
        """
        fresh = list(reversed(self._pending))
        self._pending = []
        out: list[MessageEvent | MetricsEvent] = []
        ids = set(self.seen)
        for event in fresh:
            if event.id not in ids:  # an event repeated across pages comes once
                ids.add(event.id)
                out.append(to_job_event(event))
        return out

    def advance(self, event: MessageEvent | MetricsEvent) -> None:
        """`event` (from `peek`, oldest first) was handed out: the next drain resumes after it."""
        self.seen.add(event.id)
        self.last_id = event.id

    def take(self) -> list[MessageEvent | MetricsEvent]:
        """The new events of the drain just finished, oldest first (each given out once)."""
        out = self.peek()
        for event in out:
            self.advance(event)
        return out
