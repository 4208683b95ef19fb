"""finetune-kit: reliable fine-tuning of hosted language models from scripts, apps and CI.

Added in 0.1.0.
"""

from finetune_kit import exceptions
from finetune_kit.dataset import (
    CostEstimate,
    Dataset,
    DatasetStats,
    Distribution,
    Finding,
    ModelInfo,
    ValidationReport,
    auto_epochs,
    base_model,
    count_tokens,
    model_info,
)
from finetune_kit.exceptions import (
    ConfigurationError,
    DatasetError,
    EncodingUnavailableError,
    FinetuneKitError,
)

__all__ = [
    "ConfigurationError",
    "CostEstimate",
    "Dataset",
    "DatasetError",
    "DatasetStats",
    "Distribution",
    "EncodingUnavailableError",
    "Finding",
    "FinetuneKitError",
    "ModelInfo",
    "ValidationReport",
    "auto_epochs",
    "base_model",
    "count_tokens",
    "exceptions",
    "model_info",
]


def __getattr__(name: str) -> str:
    if name != "__version__":
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    from importlib.metadata import version  # noqa: PLC0415

    return version("finetune-kit")
