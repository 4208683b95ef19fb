"""finetune-kit: reliable fine-tuning of hosted language models from scripts, apps and CI.

Added in 0.1.0.
"""

from finetune_kit import exceptions
from finetune_kit._core.events import JobEvent, MessageEvent, MetricsEvent
from finetune_kit._core.metrics import MetricPoint
from finetune_kit._core.poll import PollPolicy
from finetune_kit.compare import CompareInterrupted, Comparison, acompare, compare
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
    bundled_dataset,
    count_tokens,
    model_info,
)
from finetune_kit.exceptions import (
    BudgetExceededError,
    ConfigurationError,
    DailyJobLimitError,
    DatasetError,
    EncodingUnavailableError,
    FileNotReadyError,
    FileRejectedError,
    FinetuneKitError,
    FineTuningUnavailableError,
    IncompatibleEndpointError,
    JobCancelledError,
    JobError,
    JobFailedError,
    ModelNotFoundError,
    ModelRetirementWarning,
    ModerationError,
    ProviderError,
    RateLimitedError,
    RetiredModelError,
    TrainingFileRejectedError,
    UnknownModelError,
    WaitTimeoutError,
)
from finetune_kit.files import UploadOptions
from finetune_kit.jobs import AsyncFineTuneJob, FineTuneJob, Progress
from finetune_kit.models import AsyncTunedModel, TunedModel

__all__ = [
    "AsyncFineTuneJob",
    "AsyncTunedModel",
    "BudgetExceededError",
    "CompareInterrupted",
    "Comparison",
    "ConfigurationError",
    "CostEstimate",
    "DailyJobLimitError",
    "Dataset",
    "DatasetError",
    "DatasetStats",
    "Distribution",
    "EncodingUnavailableError",
    "FileNotReadyError",
    "FileRejectedError",
    "Finding",
    "FineTuneJob",
    "FineTuningUnavailableError",
    "FinetuneKitError",
    "IncompatibleEndpointError",
    "JobCancelledError",
    "JobError",
    "JobEvent",
    "JobFailedError",
    "MessageEvent",
    "MetricPoint",
    "MetricsEvent",
    "ModelInfo",
    "ModelNotFoundError",
    "ModelRetirementWarning",
    "ModerationError",
    "PollPolicy",
    "Progress",
    "ProviderError",
    "RateLimitedError",
    "RetiredModelError",
    "TrainingFileRejectedError",
    "TunedModel",
    "UnknownModelError",
    "UploadOptions",
    "ValidationReport",
    "WaitTimeoutError",
    "acompare",
    "auto_epochs",
    "base_model",
    "bundled_dataset",
    "compare",
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
