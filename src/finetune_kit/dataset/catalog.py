"""What finetune-kit knows about fine-tunable base models: tokenizer, training context, price.

Model names are resolved to their base first, so every spelling a user meets works:

- OpenAI fine-tunes and checkpoints: `ft:gpt-4.1-mini-2025-04-14:acme:suffix:AbC123[:ckpt-step-N]`;
- Azure spellings: `gpt-35-turbo-0125`, and Azure fine-tunes `gpt-4o-mini-2024-07-18.ft-<hex>`.

The tokenizer follows the base model (o200k_base for gpt-4o, gpt-4.1 and the o-series;
cl100k_base for gpt-3.5, gpt-4 and the legacy completion models). tiktoken's own model map gets
`ft:gpt-4.1-*` wrong (it answers cl100k_base), so it is not used.

Prices are per 1M *training* tokens in USD, only where a source published them; anything else is
`None`, never a guess. Pass your own with `prices={"gpt-4.1-mini-2025-04-14": 5.0}`.

Added in 0.1.0.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "SHUTDOWN_DATES",
    "TRAINING_PRICES",
    "ModelInfo",
    "PriceQuote",
    "base_model",
    "model_info",
    "price_for",
]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What finetune-kit knows about one base model.

    Added in 0.1.0.
    """

    name: str
    """The model name as given."""
    base: str
    """The base model it resolves to (the `ft:` and Azure parts removed)."""
    family: str
    """The catalogue entry it matched, e.g. `"gpt-4o-mini"`, or `"unknown"`."""
    encoding: str
    """The tiktoken encoding of the base model."""
    training_context: int | None
    """Tokens per training example before the provider truncates it; `None` when unpublished."""
    context_confirmed: bool
    """Whether `training_context` comes from a published table (else it is an assumption)."""
    known: bool
    """Whether the model matched the catalogue (unknown models get o200k_base and no limit)."""


# (prefix of the base name, family, encoding, training context, context published?)
# Longest prefixes first: the first match wins.
_CATALOG: tuple[tuple[str, str, str, int | None, bool], ...] = (
    ("gpt-4o-mini", "gpt-4o-mini", "o200k_base", 65536, True),
    ("gpt-4o", "gpt-4o", "o200k_base", 65536, True),
    ("gpt-4.1-nano", "gpt-4.1-nano", "o200k_base", 65536, False),
    ("gpt-4.1-mini", "gpt-4.1-mini", "o200k_base", 65536, False),
    ("gpt-4.1", "gpt-4.1", "o200k_base", 65536, False),
    ("gpt-5", "gpt-5", "o200k_base", None, False),
    ("gpt-6", "gpt-6", "o200k_base", None, False),
    ("o4-mini", "o4-mini", "o200k_base", None, False),
    ("o3", "o3", "o200k_base", None, False),
    ("o1", "o1", "o200k_base", None, False),
    ("gpt-3.5-turbo-0613", "gpt-3.5-turbo", "cl100k_base", 4096, True),
    ("gpt-3.5-turbo", "gpt-3.5-turbo", "cl100k_base", 16385, True),
    ("gpt-4-", "gpt-4", "cl100k_base", None, False),
    ("gpt-4", "gpt-4", "cl100k_base", None, False),
    ("babbage-002", "babbage-002", "cl100k_base", None, False),
    ("davinci-002", "davinci-002", "cl100k_base", None, False),
)

TRAINING_PRICES: dict[str, tuple[float, str]] = {
    "gpt-4o-mini": (3.0, "OpenAI fine-tuning guide, worked cost example (2024)"),
    "gpt-3.5-turbo": (8.0, "OpenAI fine-tuning guide, worked cost example (2024)"),
}
"""Published training prices: family -> (USD per 1M training tokens, source).

Only prices a primary source states are listed; late-2026 prices are unconfirmed, so check the
provider's pricing page and override with `prices=` where it matters.
"""


def base_model(name: str) -> str:
    """Return the base model a (possibly fine-tuned, possibly Azure-spelled) name resolves to.

    >>> base_model("ft:gpt-4.1-mini-2025-04-14:acme::AbC123:ckpt-step-40")
    'gpt-4.1-mini-2025-04-14'
    >>> base_model("gpt-35-turbo-0125")
    'gpt-3.5-turbo-0125'
    >>> base_model("gpt-4o-mini-2024-07-18.ft-0123456789abcdef")
    'gpt-4o-mini-2024-07-18'

    Added in 0.1.0.
    """
    base = name.strip()
    while base.startswith("ft:"):
        # ft:<base>:<org>:<suffix>:<id>[:ckpt-step-N]; the base itself may be an ft: name only
        # in theory, so peel one level at a time.
        base = base[3:].split(":", 1)[0]
    if ".ft-" in base:
        base = base.split(".ft-", 1)[0]
    if base.startswith("gpt-35-"):
        base = "gpt-3.5-" + base[len("gpt-35-") :]
    return base


def model_info(name: str) -> ModelInfo:
    """Look a model up in the catalogue (after resolving it to its base).

    Unknown models resolve to `o200k_base` with no context limit and `known=False`.

    Added in 0.1.0.
    """
    base = base_model(name)
    lowered = base.lower()
    for prefix, family, encoding, context, confirmed in _CATALOG:
        if lowered.startswith(prefix):
            return ModelInfo(
                name, base, family, encoding, context, context_confirmed=confirmed, known=True
            )
    return ModelInfo(
        name, base, "unknown", "o200k_base", None, context_confirmed=False, known=False
    )


@dataclass(frozen=True, slots=True)
class PriceQuote:
    """A training price and where it came from.

    Added in 0.1.0.
    """

    usd_per_million: float
    """USD per 1M training tokens."""
    source: str
    """Where the number comes from (`"prices= argument"` for user overrides)."""


def price_for(name: str, prices: dict[str, float] | None = None) -> PriceQuote | None:
    """Return the training price of a model, or `None` when no source gives one.

    User `prices` win; their keys may be full names, base names or families.

    Added in 0.1.0.
    """
    info = model_info(name)
    if prices:
        for key in (name, info.base, info.family):
            if key in prices:
                return PriceQuote(float(prices[key]), "prices= argument")
    published = TRAINING_PRICES.get(info.family)
    if published is None:
        return None
    return PriceQuote(published[0], published[1])


SHUTDOWN_DATES: dict[str, str | None] = {
    "gpt-4o-2024-08-06": "2027-01-14",
    "gpt-4o-2024-11-20": "2027-01-14",
    "gpt-4o-mini-2024-07-18": "2027-01-14",
    "gpt-4.1-2025-04-14": "2027-01-14",
    "gpt-4.1-mini-2025-04-14": "2027-01-14",
    "gpt-4.1-nano-2025-04-14": "2026-10-23",
    "o4-mini-2025-04-16": "2026-10-23",
    "gpt-3.5-turbo-0125": "2026-10-23",
    "gpt-4-0613": "2026-10-23",
    "babbage-002": None,
    "davinci-002": None,
}
"""Base models and their shutdown dates, as published (OpenAI's deprecations page and reports
quoting it; the 2026-10-23 dates are third-party reports). Fine-tuned models share their base's
date. """
