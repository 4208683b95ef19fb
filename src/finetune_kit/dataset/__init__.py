"""Datasets: load, validate, count tokens, estimate cost, split. Pure: no network.

Added in 0.1.0.
"""

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
