"""Local preparation of a job's data, the pure part: check it once, name what was checked.

No I/O: the shell (`finetune_kit._prepare`) opens the data, hands over a `Dataset` (the reader
of its rows) and the identity of its bytes, and takes a `Prepared` back. Shared by the sync and
async shells.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from finetune_kit._core.files import Identity
from finetune_kit.dataset import Dataset, ValidationReport
from finetune_kit.dataset.catalog import Provider

__all__ = ["ModelNames", "Prepared", "Source", "checked", "prepared", "remote"]

Source = Dataset | str | os.PathLike[str]
"""Training data: a `Dataset`, a JSONL path, or the id of an uploaded file (`file-...`)."""


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


def checked(
    dataset: Dataset,
    *,
    model: str,
    method_type: str,
    n_epochs: int | Literal["auto"],
    prices: dict[str, float] | None,
    force: bool,
    names: ModelNames | None = None,
) -> ValidationReport:
    """Validate `dataset` for `model`; raise its `DatasetError` unless `force`.

    `names`: how the model name was checked (provider, the names it serves, when), passed on
    to `Dataset.validate` so that it accepts what the caller accepted.
    """
    method: Any = method_type if method_type in ("supervised", "dpo", "reinforcement") else None
    names = names or ModelNames()
    report = dataset.validate(
        model=model,
        method=method,
        n_epochs=n_epochs,
        prices=prices,
        provider=names.provider,
        known_models=names.served,
        now=None if names.now is None else _fixed(names.now),
    )
    if not force:
        report.raise_for_errors()
    return report


def prepared(dataset: Dataset, report: ValidationReport, identity: Identity) -> Prepared:
    """Data checked (`report`) whose bytes are `identity`."""
    return Prepared(dataset, f"sha256:{identity.sha256}", report)


def remote(file_id: str) -> Prepared:
    """An uploaded file, taken as it is (nothing local to check)."""
    return Prepared(file_id, f"file:{file_id}", None)
