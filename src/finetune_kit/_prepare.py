"""Local preparation of a job's data, the shell: open it, check it (`_core.prepare`), identify it.

The reading lives here (the path looked at, the file opened and hashed), so that
`finetune_kit._core.prepare` stays pure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from finetune_kit._core.files import Identity, identity_of_bytes, identity_of_path
from finetune_kit._core.prepare import ModelNames, Prepared, Source, checked, prepared, remote
from finetune_kit.dataset import Dataset

__all__ = ["is_file_id", "prepare"]


def is_file_id(source: object) -> bool:
    """Whether `source` names an uploaded file (`file-...`) rather than local data."""
    return isinstance(source, str) and source.startswith("file-") and not Path(source).exists()


def _identity(dataset: Dataset) -> Identity:
    """The identity of the bytes `dataset` uploads: its file's, or its rows' as JSONL."""
    if dataset.path is not None:
        return identity_of_path(dataset.path)
    return identity_of_bytes(b"".join(line + b"\n" for line in dataset._lines()))  # noqa: SLF001


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

    An uploaded file's id (`file-...`) is taken as it is. `names`: how the model name was
    checked, passed on to `Dataset.validate` (see `_core.prepare.checked`).
    """
    if is_file_id(source):
        return remote(str(source))
    dataset = source if isinstance(source, Dataset) else Dataset.from_jsonl(source)
    report = checked(
        dataset,
        model=model,
        method_type=method_type,
        n_epochs=n_epochs,
        prices=prices,
        force=force,
        names=names,
    )
    return prepared(dataset, report, _identity(dataset))
