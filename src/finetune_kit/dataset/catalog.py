"""What finetune-kit knows about fine-tunable base models: tokenizer, training context, price.

Model names are resolved to their base first, so every spelling a user meets works:

- OpenAI fine-tunes and checkpoints: `ft:gpt-4.1-mini-2025-04-14:acme:suffix:AbC123[:ckpt-step-N]`;
- Azure spellings: `gpt-35-turbo-0125`, and Azure fine-tunes `gpt-4o-mini-2024-07-18.ft-<hex>`.

The tokenizer follows the base model (o200k_base for gpt-4o, gpt-4.1 and the o-series;
cl100k_base for gpt-3.5, gpt-4 and the legacy completion models). tiktoken's own model map gets
`ft:gpt-4.1-*` wrong (it answers cl100k_base), so it is not used.

Prices are per 1M *training* tokens in USD (per training hour for reinforcement fine-tuning), only
where a source published them (`PRICES`, each with its URL and the date it was read); anything else
is `None`, never a guess. Pass your own with `prices={"gpt-4.1-mini-2025-04-14": 5.0}`.

Which names can be trained, and until when: `check_model_name` (unknown names get the closest
known ones; shut-down ones their date and what to train instead).
"""

from __future__ import annotations

import datetime as dt
import difflib
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Literal

from finetune_kit.exceptions import RetiredModelError, UnknownModelError

__all__ = [
    "ALIASES",
    "PRICES",
    "REPLACEMENTS",
    "SHUTDOWN_DATES",
    "TRAINABLE",
    "TRAINING_PRICES",
    "USER_PRICE",
    "WIND_DOWN",
    "ModelInfo",
    "ModelProblem",
    "Price",
    "PriceQuote",
    "Provider",
    "base_model",
    "check_model_name",
    "hourly_price",
    "model_info",
    "price_for",
    "require_trainable",
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

Provider = Literal["openai", "azure"]
"""Where a job trains: OpenAI's platform (and endpoints copying it), or Azure OpenAI."""

PriceUnit = Literal["1M training tokens", "training hour", "hosting hour"]


@dataclass(frozen=True, slots=True)
class Price:
    """One published price: what it prices, per what, and where and when it was read."""

    model: str
    """The model snapshot priced (`"*"`: every model of the provider)."""
    provider: Provider
    usd: float
    """USD per `unit`."""
    unit: PriceUnit
    """Per 1M training tokens (supervised, DPO), per hour of training (reinforcement), or per
    hour a deployment is hosted."""
    source: str
    """The URL of the page that states it."""
    read: str
    """When the page was read, `YYYY-MM-DD`."""
    note: str = ""
    """What the source says exactly, when the number is derived or has conditions."""


_PRICING_PAGE = "https://platform.openai.com/docs/pricing"
_PAGE_NOTE = (
    "the fine-tuning table of OpenAI's pricing page as published in 2025 (gpt-4o at $25/1M is "
    "also quoted by third-party 2026 summaries); late-2026 prices are unconfirmed: pass --price "
    "(prices= in Python) where it matters"
)

PRICES: tuple[Price, ...] = (
    Price(
        "gpt-4o-2024-08-06",
        "openai",
        25.0,
        "1M training tokens",
        _PRICING_PAGE,
        "2026-12-01",
        _PAGE_NOTE,
    ),
    Price(
        "gpt-4.1-2025-04-14",
        "openai",
        25.0,
        "1M training tokens",
        _PRICING_PAGE,
        "2026-12-01",
        _PAGE_NOTE,
    ),
    Price(
        "gpt-4.1-mini-2025-04-14",
        "openai",
        5.0,
        "1M training tokens",
        _PRICING_PAGE,
        "2026-12-01",
        _PAGE_NOTE,
    ),
    Price(
        "gpt-4.1-nano-2025-04-14",
        "openai",
        1.5,
        "1M training tokens",
        _PRICING_PAGE,
        "2026-12-01",
        _PAGE_NOTE,
    ),
    Price(
        "gpt-4o-mini-2024-07-18",
        "openai",
        3.0,
        "1M training tokens",
        "https://platform.openai.com/docs/guides/fine-tuning",
        "2026-12-01",
        "the guide's worked example: 100k tokens x 3 epochs cost about $0.90",
    ),
    Price(
        "gpt-3.5-turbo-0125",
        "openai",
        8.0,
        "1M training tokens",
        "https://platform.openai.com/docs/guides/fine-tuning",
        "2026-12-01",
        "the guide's worked example: 100k tokens x 3 epochs cost about $2.40",
    ),
    Price(
        "o4-mini-2025-04-16",
        "openai",
        100.0,
        "training hour",
        "https://help.openai.com/en/articles/11323177-billing-guide-for-the-reinforcement-fine-tuning-api",
        "2026-12-01",
        "wall-clock time in the core training loop, prorated to the second; grader model "
        "tokens are billed separately at API rates",
    ),
    Price(
        "*",
        "azure",
        0.0,
        "hosting hour",
        "https://learn.microsoft.com/.../fine-tune-test",
        "2026-12-01",
        "Developer deployments only (no SLA, deleted after 24 h); every other deployment of a "
        "fine-tuned model is billed by the hour, used or not",
    ),
)
"""Training and hosting prices a source states, each with its URL and the date it was read.

The gpt-4o and gpt-4.1 rows are the 2025 figures of OpenAI's pricing page (late-2026 prices are
unconfirmed). Left out, because no source we hold states them reliably: training prices of
gpt-4-0613, babbage-002 and davinci-002 on OpenAI; every Azure OpenAI training price (per token,
and per hour for reinforcement: they differ by region and by Standard / Global / Developer
training) and the hourly hosting fee of Standard and Global deployments. Estimates for those models say the price is unknown and take
one from the caller (`prices=` in Python, `--price` on the command line).
"""

_GUIDE = "OpenAI fine-tuning guide, worked cost example; read 2026-12-01"
_PAGE = "OpenAI pricing page, 2025 fine-tuning table; late-2026 unconfirmed"
TRAINING_PRICES: dict[str, tuple[float, str]] = {
    "gpt-4o-mini": (3.0, _GUIDE),
    "gpt-3.5-turbo": (8.0, _GUIDE),
    "gpt-4o": (25.0, _PAGE),
    "gpt-4.1": (25.0, _PAGE),
    "gpt-4.1-mini": (5.0, _PAGE),
    "gpt-4.1-nano": (1.5, _PAGE),
}
"""Published per-token training prices: family -> (USD per 1M training tokens, source).

The per-token rows of [`PRICES`][finetune_kit.dataset.catalog.PRICES], by family; late-2026
prices are unconfirmed, so check the provider's pricing page where it matters.
"""


def hourly_price(name: str) -> Price | None:
    """The published per-training-hour price of a model (reinforcement fine-tuning), if any.

    >>> hourly_price("o4-mini").usd
    100.0
    """
    snapshot = ALIASES.get(base_model(name).lower(), base_model(name).lower())
    for price in PRICES:
        if price.unit == "training hour" and price.model == snapshot:
            return price
    return None


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


USER_PRICE = "your price"
"""The `PriceQuote.source` of a price the caller gave.

Added in 0.1.0.
"""


@dataclass(frozen=True, slots=True)
class PriceQuote:
    """A training price and where it came from."""

    usd_per_million: float
    """USD per 1M training tokens."""
    source: str
    """Where the number comes from (`USER_PRICE`, "your price", for the caller's own)."""


def price_for(name: str, prices: dict[str, float] | None = None) -> PriceQuote | None:
    """Return the training price of a model, or `None` when no source gives one.

    User `prices` win; their keys may be full names, base names or families.
    """
    info = model_info(name)
    if prices:
        for key in (name, info.base, info.family):
            if key in prices:
                return PriceQuote(float(prices[key]), USER_PRICE)
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


# --- which names can be trained, and until when ------------------------------------------------

ALIASES: dict[str, str] = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "o4-mini": "o4-mini-2025-04-16",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
}
"""Aliases and the dated snapshot a job trains (and reports) for them.

Added in 0.1.0.
"""

TRAINABLE: tuple[str, ...] = (
    "gpt-4o-mini-2024-07-18",
    "gpt-4o-2024-08-06",
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano-2025-04-14",
    "o4-mini-2025-04-16",
    "gpt-3.5-turbo-0125",
    "gpt-3.5-turbo-1106",
    "gpt-3.5-turbo-0613",
    "gpt-4-0613",
    "babbage-002",
    "davinci-002",
)
"""Base snapshots that OpenAI or Azure OpenAI fine-tune, or did (see `SHUTDOWN_DATES`).

Azure spells gpt-3.5 `gpt-35-turbo-*` (resolved by `base_model`). Azure also trains gpt-5
(reinforcement, by invitation) and open-weight models (Ministral-3B, Qwen-32B, Llama-3.3-70B,
gpt-oss-20b) under names its model list gives: those are accepted when that list has them.

Added in 0.1.0.
"""

WIND_DOWN = "2027-01-06"
"""From this day OpenAI accepts no new fine-tuning jobs (reports quoting its deprecations page);
Azure OpenAI still trains.

Added in 0.1.0.
"""

REPLACEMENTS: dict[str, str] = {
    "gpt-4o-2024-08-06": "gpt-6-luna, which cannot be fine-tuned",
    "gpt-4o-mini-2024-07-18": "gpt-6-luna, which cannot be fine-tuned",
    "gpt-4.1-2025-04-14": "gpt-6-luna, which cannot be fine-tuned",
    "gpt-4.1-mini-2025-04-14": "gpt-6-luna, which cannot be fine-tuned",
    "gpt-4.1-nano-2025-04-14": "train gpt-4.1-mini-2025-04-14 instead",
    "gpt-3.5-turbo-0125": "train gpt-4o-mini-2024-07-18 instead",
    "gpt-4-0613": "train gpt-4.1-2025-04-14 instead",
    "o4-mini-2025-04-16": "no other OpenAI model takes reinforcement fine-tuning",
}
"""What to train once a base model is shut down: OpenAI's named successor (gpt-6-luna, notice of
2026-10-14) where there is one, else the closest model still trainable at the time.

Added in 0.1.0.
"""

_AZURE_TRAINS = frozenset(
    {
        "gpt-4o-mini-2024-07-18",
        "gpt-4o-2024-08-06",
        "gpt-4.1-2025-04-14",
        "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-nano-2025-04-14",
        "o4-mini-2025-04-16",
    }
)
"""Azure OpenAI's fine-tuning overview (dated 2026-10-06)."""


@dataclass(frozen=True, slots=True)
class ModelProblem:
    """Why a model name can't be trained: unknown (with close names) or shut down (with a date)."""

    kind: Literal["unknown", "retired"]
    model: str
    """The name as given."""
    message: str
    """One line that says what is wrong and what to do, in no language's syntax."""
    suggestions: tuple[str, ...] = ()
    """Close trainable names, best first (unknown names)."""
    shutdown_date: str | None = None
    """`YYYY-MM-DD` the model (or OpenAI's fine-tuning) shut down (retired names)."""
    replacement: str | None = None
    """What to train instead (retired names)."""


_UNADVERTISED = frozenset({"gpt-3.5-turbo-1106", "gpt-3.5-turbo-0613"})
"""Accepted, but never suggested: older gpt-3.5 snapshots whose shutdown date is not published."""


def _snapshot(name: str) -> str:
    base = base_model(name).lower()
    return ALIASES.get(base, base)


def _is_azure_name(name: str) -> bool:
    text = name.strip().lower()
    return ".ft-" in text or text.startswith(("gpt-35-", "ftchkpt-")) or "gpt-35-" in text


def _today(now: float) -> dt.date:
    return dt.datetime.fromtimestamp(now, tz=dt.timezone.utc).date()


def _retired(snapshot: str, today: dt.date, provider: Provider) -> tuple[str, str] | None:
    """(date, replacement) when `snapshot` can't be trained on `provider` any more."""
    if provider == "azure":  # Azure's own retirement schedule is not published here
        return None
    date = SHUTDOWN_DATES.get(snapshot)
    if date is not None and today >= dt.date.fromisoformat(date):
        return date, REPLACEMENTS.get(snapshot, "")
    if today >= dt.date.fromisoformat(WIND_DOWN):
        return WIND_DOWN, ""
    return None


def _retired_message(name: str, snapshot: str, date: str, replacement: str, today: dt.date) -> str:
    ago = (today - dt.date.fromisoformat(date)).days
    when = f"{ago} day{'s' if ago != 1 else ''} ago" if ago else "today"
    subject = name if snapshot == name.lower() else f"{name} (base model {snapshot})"
    if date == WIND_DOWN and SHUTDOWN_DATES.get(snapshot) != WIND_DOWN:
        text = f"{subject}: OpenAI accepts no new fine-tuning jobs since {date} ({when})"
    else:
        text = f"{subject} shut down on {date} ({when})"
        if replacement:
            text += (
                f"; replacement: {replacement}" if "gpt-6" in replacement else f": {replacement}"
            )
    if snapshot in _AZURE_TRAINS:
        text += f"; Azure OpenAI still trains {snapshot}"
    return text


def check_model_name(
    name: str,
    *,
    now: float,
    provider: Provider | None = None,
    known_remote: Collection[str] | None = None,
) -> ModelProblem | None:
    """Whether a job can train `name`: `None` when it can, else why not (pure: no I/O).

    Resolves aliases (`gpt-4o-mini`), dated snapshots, Azure spellings (`gpt-35-turbo-0125`),
    fine-tuned models to continue from (`ft:<base>:...`, checkpoints included; Azure's
    `<base>.ft-<hex>`) to their base, and checks it against the catalogue:

    - a name the catalogue lacks is *unknown*, with the closest trainable names
      (`"unknown model 'gpt-4o-mni': did you mean 'gpt-4o-mini'?"`);
    - a base shut down by `now` (OpenAI's published dates; from 2027-01-06 OpenAI takes no new
      jobs at all) is *retired*, with the date and what to train instead. Azure OpenAI's own
      schedule is not published, so nothing is retired for `provider="azure"` (also assumed
      for Azure spellings).

    A name in `known_remote` (the provider's own model list: Azure and other endpoints have
    names of their own) is accepted as it is. Azure checkpoints (`ftchkpt-...`) can't be
    resolved and are accepted.

    >>> check_model_name("gpt-4o-mni", now=1_795_000_000).message
    "unknown model 'gpt-4o-mni': did you mean 'gpt-4o-mini'?"

    Args:
        name: The model to train.
        now: The current time (Unix seconds).
        provider: Where the job trains (default: OpenAI, unless the name is spelled Azure's way).
        known_remote: Model ids the provider lists as served now.
    """
    text = name.strip()
    if known_remote is not None and (text in known_remote or base_model(text) in known_remote):
        return None
    if text.lower().startswith("ftchkpt-"):
        return None
    where: Provider = provider or ("azure" if _is_azure_name(text) else "openai")
    snapshot = _snapshot(text)
    today = _today(now)
    if snapshot not in TRAINABLE:
        names = [c for c in (*ALIASES, *TRAINABLE) if c not in _UNADVERTISED]
        current = [c for c in names if _retired(ALIASES.get(c, c), today, where) is None]
        typed = base_model(text).lower() if text.lower().startswith("ft:") else text.lower()
        close = tuple(difflib.get_close_matches(typed, current or names, n=3, cutoff=0.6))
        if close:
            message = f"unknown model {text!r}: did you mean {close[0]!r}?"
        else:
            shown = ", ".join(c for c in current or names if c not in ALIASES)
            message = (
                f"unknown model {text!r}: finetune-kit knows {shown} (a name of the provider's "
                "own is accepted where its model list is consulted)"
            )
        return ModelProblem("unknown", text, message, suggestions=close)
    retired = _retired(snapshot, today, where)
    if retired is None:
        return None
    date, replacement = retired
    return ModelProblem(
        "retired",
        text,
        _retired_message(text, snapshot, date, replacement, today),
        shutdown_date=date,
        replacement=replacement or None,
    )


_clock: Callable[[], float] = time.time
"""The clock `require_trainable` reads when given no `now` (tests pin it)."""


def require_trainable(
    name: str,
    *,
    now: float | None = None,
    provider: Provider | None = None,
    known_remote: Collection[str] | None = None,
) -> None:
    """Raise when `check_model_name` finds a problem with `name` (`now`: default the real time).

    Raises:
        UnknownModelError: Neither the catalogue nor `known_remote` knows the name.
        RetiredModelError: The model (or its base) has shut down.
    """
    when = _clock() if now is None else now
    problem = check_model_name(name, now=when, provider=provider, known_remote=known_remote)
    if problem is None:
        return
    if problem.kind == "unknown":
        raise UnknownModelError(problem.message, model=name, suggestions=problem.suggestions)
    raise RetiredModelError(
        problem.message,
        model=name,
        shutdown_date=problem.shutdown_date or "",
        replacement=problem.replacement,
    )
