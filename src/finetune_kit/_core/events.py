"""Job events in order, each exactly once: typed events and a cursor over newest-first pages.

The API lists events newest first, and `after=<id>` pages toward *older* events. To get what is
new, `EventCursor` reads pages from the newest until it meets the last event it has already
given out (however many pages that takes), then hands the new ones over oldest first.

Added in 0.1.0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from openai.types.fine_tuning import FineTuningJobEvent
from pydantic import BaseModel, ConfigDict, Field

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


def to_job_event(event: FineTuningJobEvent) -> MessageEvent | MetricsEvent:
    """Type an SDK event: metrics events get their numbers as fields.

    Added in 0.1.0.
    """
    data = event.data if isinstance(event.data, dict) else None
    if event.type == "metrics" or (data and "step" in data):
        data = data or {}
        fields = {
            key: _number(data.get(key), int if key in ("step", "total_steps") else float)
            for key in _METRIC_KEYS
        }
        return MetricsEvent.model_validate({**_base(event), **fields, "data": dict(data)})
    return MessageEvent.model_validate(_base(event))


def _base(event: FineTuningJobEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "created_at": event.created_at,
        "level": str(event.level),
        "message": event.message,
    }


@dataclass(frozen=True, slots=True)
class ListEvents:
    """Command: list the job's events (`after`: page older than this id)."""

    after: str | None
    limit: int = PAGE_SIZE


@dataclass(slots=True)
class EventCursor:
    """Where an event stream stands; feeds on pages, gives out new events oldest first.

    Args:
        last_id: The newest event already given out (resume after it); None: from the start.

    Added in 0.1.0.
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

    def take(self) -> list[MessageEvent | MetricsEvent]:
        """The new events of the drain just finished, oldest first (each given out once)."""
        fresh = list(reversed(self._pending))
        self._pending = []
        if fresh:
            self.last_id = fresh[-1].id
        out = []
        for event in fresh:
            if event.id not in self.seen:
                self.seen.add(event.id)
                out.append(to_job_event(event))
        return out
