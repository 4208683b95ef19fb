"""Turning `FineTuneJob.create` arguments into a checked request and its fingerprint: pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from finetune_kit._core.fingerprint import FINGERPRINT_KEY, fingerprint
from finetune_kit._core.params import ParamProblem, check_metadata, check_method, check_suffix
from finetune_kit.dataset.report import CostEstimate
from finetune_kit.exceptions import BudgetExceededError, ConfigurationError

__all__ = ["JobRequest", "check_budget", "check_params", "job_request"]


@dataclass(frozen=True, slots=True)
class JobRequest:
    """What will be sent, minus the file ids (known after upload)."""

    model: str
    method: dict[str, Any]
    suffix: str | None
    seed: int | None
    metadata: dict[str, str]
    integrations: list[dict[str, Any]] | None
    extra_body: dict[str, Any]
    fingerprint: str

    def params(self, training_file: str, validation_file: str | None) -> dict[str, Any]:
        """The `jobs.create` keyword arguments (None values left out: `seed=None` would be sent)."""
        out: dict[str, Any] = {
            "model": self.model,
            "training_file": training_file,
            "method": self.method,
            "metadata": self.metadata,
        }
        optional = {
            "validation_file": validation_file,
            "suffix": self.suffix,
            "seed": self.seed,
            "integrations": self.integrations,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        if self.extra_body:
            out["extra_body"] = self.extra_body
        return out


def check_params(
    *, method: Any, hyperparameters: Any, suffix: str | None, seed: int | None, metadata: Any
) -> dict[str, Any]:
    """Check the job's parameters (all problems at once); return the normalised method.

    Raises:
        ConfigurationError: Listing each parameter the API would refuse, and why.
    """
    normalised, problems = check_method(method, hyperparameters)
    problems += check_suffix(suffix)
    problems += check_metadata(metadata, reserved=1)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        problems.append(ParamProblem("seed", f"must be an integer, not {seed!r}"))
    if problems:
        listed = "; ".join(f"{p.param} {p.message}" for p in problems)
        raise ConfigurationError(f"the API would refuse this job: {listed}")
    return normalised


def job_request(
    *,
    model: str,
    training_identity: str,
    validation_identity: str | None,
    method: Any,
    hyperparameters: Any,
    suffix: str | None,
    seed: int | None,
    metadata: dict[str, str] | None,
    integrations: list[dict[str, Any]] | None,
    training_type: str | None,
    extra_body: dict[str, Any] | None,
    nonce: str | None = None,
) -> JobRequest:
    """Check every argument (all problems at once) and fingerprint the run.

    Raises:
        ConfigurationError: Listing each parameter the API would refuse, and why.
    """
    normalised = check_params(
        method=method, hyperparameters=hyperparameters, suffix=suffix, seed=seed, metadata=metadata
    )
    extra = dict(extra_body or {})
    if training_type is not None:
        extra["trainingType"] = training_type
    fp = fingerprint(
        training=training_identity,
        validation=validation_identity,
        model=model,
        method=normalised,
        suffix=suffix,
        seed=seed,
        extra={**extra, "nonce": nonce} if nonce else extra,
    )
    return JobRequest(
        model=model,
        method=normalised,
        suffix=suffix,
        seed=seed,
        metadata={**(metadata or {}), FINGERPRINT_KEY: fp},
        integrations=integrations,
        extra_body=extra,
        fingerprint=fp,
    )


def check_budget(estimate: CostEstimate, max_cost: float | None) -> None:
    """Refuse a run whose estimate is over `max_cost` (or can't be priced when one is set)."""
    if max_cost is None:
        return
    if estimate.cost_usd is None and estimate.usd_per_hour is not None:
        raise BudgetExceededError(
            f"max_cost={max_cost:g} can't be held before the job runs: reinforcement "
            f"fine-tuning is billed per hour of training (${estimate.usd_per_hour:g}/h on "
            f"{estimate.model}) and the hours can't be known from the data; leave max_cost out "
            "and cancel the job if it runs too long",
            estimate_usd=float("nan"),
            max_cost=max_cost,
        )
    if estimate.cost_usd is None:
        raise BudgetExceededError(
            f"max_cost={max_cost:g} is set but {estimate.model} has no known training price: "
            "pass prices={...} (USD per 1M training tokens) so the budget can be checked",
            estimate_usd=float("nan"),
            max_cost=max_cost,
        )
    if estimate.cost_usd > max_cost:
        raise BudgetExceededError(
            f"the estimate is ${_usd(estimate.cost_usd)} ({estimate}), over max_cost="
            f"${_usd(max_cost)}: nothing was uploaded or created",
            estimate_usd=estimate.cost_usd,
            max_cost=max_cost,
        )


def _usd(value: float) -> str:
    """Dollars to the cent, or to two significant digits below a cent ($0.001)."""
    return f"{value:,.2f}" if value >= 0.01 or value == 0 else f"{value:.2g}"
