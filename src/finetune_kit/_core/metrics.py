"""The training curve: from a results file (plain or base64 CSV) or from metrics events."""

from __future__ import annotations

import base64
import binascii
import csv
import io
import math
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from finetune_kit._core.events import MetricsEvent

__all__ = ["MetricPoint", "from_events", "merge", "needs_events", "parse_results_csv"]


class MetricPoint(BaseModel):
    """One training step's metrics; each is None when the provider did not compute it.

    Accuracies are the mean token accuracy (`train_accuracy` in results files,
    `train_mean_token_accuracy` in events: both land in `train_accuracy`).

    Added in 0.1.0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: int
    train_loss: float | None = None
    train_accuracy: float | None = None
    valid_loss: float | None = None
    valid_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_accuracy: float | None = None


_COLUMNS = {
    "train_loss": "train_loss",
    "train_accuracy": "train_accuracy",
    "train_mean_token_accuracy": "train_accuracy",
    "valid_loss": "valid_loss",
    "valid_mean_token_accuracy": "valid_accuracy",
    "valid_accuracy": "valid_accuracy",
    "full_valid_loss": "full_valid_loss",
    "full_valid_mean_token_accuracy": "full_valid_accuracy",
    "full_valid_accuracy": "full_valid_accuracy",
}


def _float(text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) or math.isinf(value) else value


def _decode(content: bytes | str) -> str:
    text = content.decode("utf-8", errors="replace") if isinstance(content, bytes) else content
    if text.lstrip().lower().startswith("step"):
        return text
    try:  # some deployments return the CSV base64-encoded
        decoded = base64.b64decode(text.strip(), validate=False).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return text
    return decoded if decoded.lstrip().lower().startswith("step") else text


def parse_results_csv(content: bytes | str) -> list[MetricPoint]:
    """Parse a job's results file; rows without a usable step are skipped, NaN becomes None."""
    reader = csv.DictReader(io.StringIO(_decode(content)))
    points: list[MetricPoint] = []
    for row in reader:
        step = _float(row.get("step"))
        if step is None:
            continue
        values: dict[str, float | None] = {}
        for column, name in _COLUMNS.items():
            if column in row and values.get(name) is None:
                values[name] = _float(row[column])
        points.append(MetricPoint(step=int(step), **values))
    return points


def from_events(events: Iterable[MetricsEvent]) -> list[MetricPoint]:
    """The curve from metrics events (the last event of a step wins), in step order."""
    by_step: dict[int, MetricPoint] = {}
    for event in events:
        if event.step is None:
            continue
        by_step[event.step] = MetricPoint(
            step=event.step,
            train_loss=event.train_loss,
            train_accuracy=event.train_mean_token_accuracy,
            valid_loss=event.valid_loss,
            valid_accuracy=event.valid_mean_token_accuracy,
            full_valid_loss=event.full_valid_loss,
            full_valid_accuracy=event.full_valid_mean_token_accuracy,
        )
    return [by_step[s] for s in sorted(by_step)]


def needs_events(points: list[MetricPoint]) -> bool:
    """Whether a results file lacks what events carry: no full-validation metric at any step.

    Results files have no `full_valid_*` columns (only events and checkpoints report them).
    """
    return not any(p.full_valid_loss is not None for p in points)


def merge(points: list[MetricPoint], events: list[MetricPoint]) -> list[MetricPoint]:
    """The results file's points, with the fields it lacks filled in from the events' points."""
    by_step = {p.step: p for p in events}
    merged: list[MetricPoint] = []
    for point in points:
        extra = by_step.get(point.step)
        if extra is None:
            merged.append(point)
            continue
        fields = point.model_dump()
        for name, value in extra.model_dump().items():
            if fields.get(name) is None and value is not None:
                fields[name] = value
        merged.append(MetricPoint(**fields))
    return merged
