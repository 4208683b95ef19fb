"""Local preparation of a job's data: validate once, identify the bytes, estimate the cost.

Reads local files only (no network): shared by the sync and async shells.

Added in 0.1.0.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from finetune_kit._core.files import identity_of_bytes, identity_of_path
from finetune_kit.dataset import Dataset, ValidationReport
from finetune_kit.dataset.catalog import Provider

__all__ = ["ModelNames", "Prepared", "is_file_id", "prepare"]

Source = Dataset | str | os.PathLike[str]


def is_file_id(source: object) -> bool:
    """Whether `source` names an uploaded file (`file-...`) rather than local data."""
    return isinstance(source, str) and source.startswith("file-") and not Path(source).exists()


@dataclass(frozen=True, slots=True)
class ModelNames:
    """How a model name was checked before the data: where it trains, what is served, when."""

    provider: Provider | None = None
    served: frozenset[str] | None = None
    """The ids the provider's model list gave (`None`: not asked)."""
    now: float | None = None


@dataclass(frozen=True, slots=True)
class Prepared:
    """Local data checked and identified (or a remote file id taken as is)."""

    source: Source
    identity: str
    """`sha256:<hex>` of the bytes, or `file:<id>`."""
    report: ValidationReport | None


def _fixed(value: float) -> Callable[[], float]:
    return lambda: value


def prepare(
    source: Source,
    *,
    model: str,
    method_type: str,
    n_epochs: int | Literal["auto"],
    prices: dict[str, float] | None,
    force: bool,
    names: ModelNames | None = None,
) -> Prepared:
    """Validate local data for `model` (raising `DatasetError` unless `force`) and identify it.

    `names`: how the model name was checked (provider, the names it serves, when), passed on
    to `Dataset.validate` so that it accepts what the caller accepted.
    """
    if is_file_id(source):
        return Prepared(source, f"file:{source}", None)
    dataset = source if isinstance(source, Dataset) else Dataset.from_jsonl(source)
    method: Any = method_type if method_type in ("supervised", "dpo", "reinforcement") else None
    checked = names or ModelNames()
    report = dataset.validate(
        model=model,
        method=method,
        n_epochs=n_epochs,
        prices=prices,
        provider=checked.provider,
        known_models=checked.served,
        now=None if checked.now is None else _fixed(checked.now),
    )
    if not force:
        report.raise_for_errors()
    if dataset.path is not None:
        identity = identity_of_path(dataset.path)
    else:
        identity = identity_of_bytes(b"".join(line + b"\n" for line in dataset._lines()))  # noqa: SLF001
    return Prepared(dataset, f"sha256:{identity.sha256}", report)
