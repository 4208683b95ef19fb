"""finetune-kit: reliable fine-tuning of hosted language models from scripts, apps and CI.

Every public name is imported on first use (PEP 562), so `import finetune_kit` costs almost
nothing and `from finetune_kit import Dataset` never loads the `openai` SDK: validating data
needs no HTTP client. Type checkers and IDEs see the names through the `TYPE_CHECKING` imports.
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES: dict[str, str] = {
    "AsyncFineTuneJob": "finetune_kit.jobs",
    "AsyncTunedModel": "finetune_kit.models",
    "BudgetExceededError": "finetune_kit.exceptions",
    "CompareInterrupted": "finetune_kit.compare",
    "Comparison": "finetune_kit.compare",
    "ConfigurationError": "finetune_kit.exceptions",
    "CostEstimate": "finetune_kit.dataset",
    "DailyJobLimitError": "finetune_kit.exceptions",
    "Dataset": "finetune_kit.dataset",
    "DatasetError": "finetune_kit.exceptions",
    "DatasetStats": "finetune_kit.dataset",
    "Distribution": "finetune_kit.dataset",
    "EncodingUnavailableError": "finetune_kit.exceptions",
    "FileNotReadyError": "finetune_kit.exceptions",
    "FileRejectedError": "finetune_kit.exceptions",
    "Finding": "finetune_kit.dataset",
    "FineTuneJob": "finetune_kit.jobs",
    "FineTuningUnavailableError": "finetune_kit.exceptions",
    "FinetuneKitError": "finetune_kit.exceptions",
    "IncompatibleEndpointError": "finetune_kit.exceptions",
    "JobCancelledError": "finetune_kit.exceptions",
    "JobError": "finetune_kit.exceptions",
    "JobEvent": "finetune_kit._core.events",
    "JobFailedError": "finetune_kit.exceptions",
    "MessageEvent": "finetune_kit._core.events",
    "MetricPoint": "finetune_kit._core.metrics",
    "MetricsEvent": "finetune_kit._core.events",
    "ModelInfo": "finetune_kit.dataset",
    "ModelNotFoundError": "finetune_kit.exceptions",
    "ModelRetirementWarning": "finetune_kit.exceptions",
    "ModerationError": "finetune_kit.exceptions",
    "PollPolicy": "finetune_kit._core.poll",
    "Progress": "finetune_kit.jobs",
    "ProviderError": "finetune_kit.exceptions",
    "RateLimitedError": "finetune_kit.exceptions",
    "RetiredModelError": "finetune_kit.exceptions",
    "TrainingFileRejectedError": "finetune_kit.exceptions",
    "TunedModel": "finetune_kit.models",
    "UnknownModelError": "finetune_kit.exceptions",
    "UploadOptions": "finetune_kit.files",
    "ValidationReport": "finetune_kit.dataset",
    "WaitTimeoutError": "finetune_kit.exceptions",
    "acompare": "finetune_kit.compare",
    "auto_epochs": "finetune_kit.dataset",
    "base_model": "finetune_kit.dataset",
    "bundled_dataset": "finetune_kit.dataset",
    "compare": "finetune_kit.compare",
    "count_tokens": "finetune_kit.dataset",
    "model_info": "finetune_kit.dataset",
}
"""Where each public name lives: imported from there on first use, then cached here."""


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is not None:
        value = getattr(import_module(home), name)
    elif name == "exceptions":
        value = import_module("finetune_kit.exceptions")
    elif name == "__version__":
        from importlib.metadata import version  # noqa: PLC0415

        return version("finetune-kit")
    else:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, "__version__"})


class _Package(ModuleType):
    """The package module: a public name is never replaced by a submodule of the same name.

    Importing `finetune_kit.compare` (the module) sets the package's `compare` attribute to it;
    here `finetune_kit.compare` stays the function, as `__all__` says.
    """

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, ModuleType) and name in _HOMES:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
