"""Datasets: load, validate, count tokens, estimate cost, split. Pure: no network.

Each name is imported on first use (PEP 562): `from finetune_kit.dataset import
bundled_dataset` loads neither pydantic nor the tokenizer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finetune_kit import _lazy

if TYPE_CHECKING:
    from finetune_kit.dataset.bundled import bundled_dataset
    from finetune_kit.dataset.catalog import ModelInfo, base_model, model_info
    from finetune_kit.dataset.codes import CODES
    from finetune_kit.dataset.cost import auto_epochs
    from finetune_kit.dataset.dataset import Dataset
    from finetune_kit.dataset.encodings import get_encoding
    from finetune_kit.dataset.report import (
        CostEstimate,
        DatasetStats,
        Distribution,
        Finding,
        ValidationReport,
    )
    from finetune_kit.dataset.tokens import count_tokens

__all__ = [
    "CODES",
    "CostEstimate",
    "Dataset",
    "DatasetStats",
    "Distribution",
    "Finding",
    "ModelInfo",
    "ValidationReport",
    "auto_epochs",
    "base_model",
    "bundled_dataset",
    "count_tokens",
    "get_encoding",
    "model_info",
]

_HOMES: dict[str, str] = {
    "CODES": "codes",
    "CostEstimate": "report",
    "Dataset": "dataset",
    "DatasetStats": "report",
    "Distribution": "report",
    "Finding": "report",
    "ModelInfo": "catalog",
    "ValidationReport": "report",
    "auto_epochs": "cost",
    "base_model": "catalog",
    "bundled_dataset": "bundled",
    "count_tokens": "tokens",
    "get_encoding": "encodings",
    "model_info": "catalog",
}
"""The submodule each public name lives in: imported from there on first use."""


def __getattr__(name: str) -> Any:
    return _lazy.attribute(globals(), __name__, _HOMES, name)


def __dir__() -> list[str]:
    return _lazy.names(globals(), __all__)
