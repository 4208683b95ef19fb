"""The local knobs of a training job, their defaults, and the `"auto"` hyperparameters.

`"auto"` hyperparameters are resolved by the platform, as for every engine (`resolve_auto`).
Learning rate = `learning_rate_multiplier` x a base rate: `LORA_BASE_LEARNING_RATE` (2e-4)
with LoRA, `FULL_BASE_LEARNING_RATE` (2e-5) for full fine-tuning, or the `learning_rate`
option when given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from finetune_kit.exceptions import ConfigurationError
from finetune_kit.platform.lifecycle import auto_hyperparameters

__all__ = [
    "FULL_BASE_LEARNING_RATE",
    "LORA_BASE_LEARNING_RATE",
    "TrainOptions",
    "resolve_auto",
]

LORA_BASE_LEARNING_RATE = 2e-4
"""The learning rate of a LoRA job at `learning_rate_multiplier=1`."""
FULL_BASE_LEARNING_RATE = 2e-5
"""The learning rate of a full fine-tuning job at `learning_rate_multiplier=1`."""

Precision = Literal["auto", "fp32", "bf16", "fp16"]


@dataclass(frozen=True, slots=True)
class TrainOptions:
    """Local knobs (the `options` of a `TrainingJob`); every one has a default.

    Attributes:
        lora_rank: LoRA's rank `r`.
        lora_alpha: LoRA's alpha (scaling = alpha / rank).
        lora_dropout: Dropout on LoRA's input.
        lora_targets: The modules LoRA adapts: `"all-linear"` or a list of module names.
        full_fine_tuning: Train every weight instead of a LoRA adapter.
        max_length: Examples longer than this many tokens are cut (the end is dropped).
        gradient_accumulation_steps: Micro-batches per optimizer step (a step still sees
            `batch_size` examples per micro-batch).
        precision: `"auto"` (bf16 on a GPU that has it, else fp32), `"fp32"`, `"bf16"`, `"fp16"`.
        learning_rate: The base learning rate (None: 2e-4 with LoRA, 2e-5 full).
        eval_steps: Measure the valid loss every this many steps (on one validation batch).
        warmup_ratio: Share of the steps spent warming the learning rate up.
    """

    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: str | tuple[str, ...] = "all-linear"
    full_fine_tuning: bool = False
    max_length: int = 2048
    gradient_accumulation_steps: int = 1
    precision: Precision = "auto"
    learning_rate: float | None = None
    eval_steps: int = 1
    warmup_ratio: float = 0.0

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> TrainOptions:
        """Read `options`, refusing unknown names and wrong types with a clear error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigurationError(
                f"unknown local training option(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        values: dict[str, Any] = {}
        for name, value in options.items():
            values[name] = _check(name, value)
        return cls(**values)

    def base_learning_rate(self) -> float:
        """The learning rate at multiplier 1."""
        if self.learning_rate is not None:
            return self.learning_rate
        return FULL_BASE_LEARNING_RATE if self.full_fine_tuning else LORA_BASE_LEARNING_RATE


_POSITIVE_INTS = {
    "lora_rank",
    "lora_alpha",
    "max_length",
    "gradient_accumulation_steps",
    "eval_steps",
}


def _check(name: str, value: Any) -> Any:
    if name in _POSITIVE_INTS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigurationError(
                f"local option {name} must be a positive integer, not {value!r}"
            )
        return value
    if name == "full_fine_tuning":
        if not isinstance(value, bool):
            raise ConfigurationError(f"local option {name} must be true or false, not {value!r}")
        return value
    if name == "precision":
        if value not in ("auto", "fp32", "bf16", "fp16"):
            raise ConfigurationError(
                f"local option precision must be auto, fp32, bf16 or fp16, not {value!r}"
            )
        return value
    if name == "lora_targets":
        if isinstance(value, str):
            return value
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigurationError(
            f"local option lora_targets must be 'all-linear' or a list of module names, not {value!r}"
        )
    # the floats: lora_dropout, learning_rate, warmup_ratio
    if value is None and name == "learning_rate":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"local option {name} must be a number, not {value!r}")
    number = float(value)
    if name == "learning_rate" and number <= 0:
        raise ConfigurationError(f"local option learning_rate must be positive, not {value!r}")
    if name in ("lora_dropout", "warmup_ratio") and not 0 <= number < 1:
        raise ConfigurationError(f"local option {name} must be in [0, 1), not {value!r}")
    return number


def resolve_auto(
    n_examples: int,
    requested: Mapping[str, Any] | None = None,
    *,
    method: Literal["supervised", "dpo"] = "supervised",
) -> dict[str, int | float]:
    """The numbers a local job of `n_examples` training rows trains with, `"auto"` resolved.

    The platform's own resolution (`finetune_kit.platform.lifecycle.auto_hyperparameters`),
    the one the job reports in its `hyperparameters` and the simulator uses: `n_epochs` from
    OpenAI's heuristic (`finetune_kit.auto_epochs`), `batch_size` 1% of the examples (1 to
    256), `learning_rate_multiplier` 1.8 (times the base rate: 2e-4 with LoRA, 2e-5 full),
    DPO's `beta` 0.1. Numbers given in `requested` are kept.

    >>> resolve_auto(10)
    {'n_epochs': 10, 'batch_size': 1, 'learning_rate_multiplier': 1.8}
    >>> resolve_auto(5000, {"n_epochs": 2}, method="dpo")
    {'n_epochs': 2, 'batch_size': 50, 'learning_rate_multiplier': 1.8, 'beta': 0.1}

    Added in 0.1.0.
    """
    return auto_hyperparameters(n_examples, requested, method=method)
