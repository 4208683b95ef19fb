"""What an estimate costs, and whether `--max-cost` allows it, said in the command line's words.

The library's own messages name its arguments (`prices=`, `max_cost=`); the commands name their
flags (`--price`, `--max-cost`) instead, so they render the estimate themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the heavy modules are loaded when a command runs
    from finetune_kit.dataset.report import CostEstimate


__all__ = ["budget_refusal", "price_hint"]


def price_hint(estimate: CostEstimate) -> str | None:
    """How to price an estimate with no cost (`None` when it has one, or is billed per hour)."""
    if estimate.cost_usd is not None or estimate.usd_per_hour is not None:
        return None
    return (
        f"To estimate the cost, give the price of {estimate.model}: --price USD "
        "(per 1M training tokens)"
    )


def _usd(value: float) -> str:
    return f"{value:,.2f}" if value >= 0.01 or value == 0 else f"{value:.2g}"


def budget_refusal(estimate: CostEstimate, max_cost: float | None) -> str | None:
    """Why `--max-cost` refuses this run, or `None` when it allows it (or is not set)."""
    if max_cost is None:
        return None
    budget = f"--max-cost {_usd(max_cost)}"
    if estimate.cost_usd is None and estimate.usd_per_hour is not None:
        return (
            f"{budget} can't be held before the job runs: reinforcement fine-tuning is billed "
            f"per hour of training (${estimate.usd_per_hour:g}/h on {estimate.model}), and the "
            "hours can't be known from the data; run without --max-cost and stop the job with "
            "`finetune-kit jobs cancel JOB` if it runs too long. Nothing was uploaded or created."
        )
    if estimate.cost_usd is None:
        return (
            f"{budget} can't be checked: {estimate.model} has no published training price; "
            "give it with --price USD (per 1M training tokens). Nothing was uploaded or created."
        )
    if estimate.cost_usd > max_cost:
        return (
            f"the estimate is ${_usd(estimate.cost_usd)} ({estimate}), over {budget}: nothing "
            "was uploaded or created"
        )
    return None
