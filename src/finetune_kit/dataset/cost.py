"""The default-epochs heuristic and the training cost estimate: pure arithmetic."""

from __future__ import annotations

from typing import Literal

from finetune_kit.dataset.catalog import USER_PRICE, hourly_price, price_for
from finetune_kit.dataset.report import CostEstimate, Format

__all__ = ["auto_epochs", "estimate_cost"]

# The cookbook's published constants (Chat_finetuning_data_prep); the server's own rule is not
# published, so the result is labelled as the heuristic wherever it is shown.
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


def auto_epochs(n_examples: int) -> int:
    """Return the epochs `n_epochs="auto"` is expected to pick for `n_examples` examples.

    >>> auto_epochs(5), auto_epochs(10), auto_epochs(100), auto_epochs(20_000)
    (20, 10, 3, 1)

    Added in 0.1.0.
    """
    n = TARGET_EPOCHS
    if n_examples <= 0:
        return n
    if n_examples * n < MIN_TARGET_EXAMPLES:
        n = min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    elif n_examples * n > MAX_TARGET_EXAMPLES:
        n = max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return n


def estimate_cost(
    *,
    model: str,
    fmt: Format,
    examples: int,
    tokens_per_epoch: int,
    n_epochs: int | Literal["auto"] = "auto",
    prices: dict[str, float] | None = None,
) -> CostEstimate:
    """Build the cost estimate for a dataset already counted."""
    is_auto = n_epochs == "auto"
    epochs = auto_epochs(examples) if n_epochs == "auto" else int(n_epochs)
    billed = epochs * tokens_per_epoch
    quote = price_for(model, prices)
    source = quote.source if quote else None
    hourly = None
    if fmt == "reinforcement" and (quote is None or quote.source != USER_PRICE):
        # Billed per hour of training: a per-token price would be a guess presented as fact.
        quote = None
        per_hour = hourly_price(model)
        hourly = per_hour.usd if per_hour else None
        source = (
            per_hour.source
            if per_hour
            else "reinforcement fine-tuning is billed per hour of training, not per token"
        )
    return CostEstimate(
        model=model,
        examples=examples,
        tokens_per_epoch=tokens_per_epoch,
        n_epochs=epochs,
        n_epochs_auto=is_auto,
        billed_tokens=billed,
        usd_per_million=quote.usd_per_million if quote else None,
        price_source=source,
        cost_usd=round(quote.usd_per_million * billed / 1_000_000, 4) if quote else None,
        usd_per_hour=hourly,
    )
