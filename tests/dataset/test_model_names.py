"""Which model names can be trained, and until when: `check_model_name` and `Dataset.validate`."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from finetune_kit import BudgetExceededError, Dataset, RetiredModelError, UnknownModelError
from finetune_kit._core.spec import check_budget
from finetune_kit.dataset.catalog import PRICES, ModelProblem, check_model_name, hourly_price
from finetune_kit.dataset.cost import estimate_cost
from tests.conftest import ELLE

TODAY = datetime(2026, 12, 1, tzinfo=timezone.utc).timestamp()


def _at(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize(
    "name",
    [
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
        "gpt-4o-2024-08-06",
        "gpt-4.1",
        "gpt-4.1-mini-2025-04-14",
        " gpt-4o-mini-2024-07-18 ",
        "ft:gpt-4o-mini-2024-07-18:acme::AbC123",
        "ft:gpt-4.1-mini-2025-04-14:acme:suffix:AbC123:ckpt-step-40",
        "gpt-4o-mini-2024-07-18.ft-0123456789abcdef",
        "gpt-35-turbo-0125",
        "ftchkpt-0123456789abcdef",
        "babbage-002",
    ],
)
def test_trainable_names_pass(name: str) -> None:
    """Aliases, snapshots, fine-tunes and checkpoints (by their base), Azure spellings."""
    assert check_model_name(name, now=TODAY) is None


@pytest.mark.parametrize(
    ("name", "message", "suggestions"),
    [
        (
            "gpt-4o-mni",
            "unknown model 'gpt-4o-mni': did you mean 'gpt-4o-mini'?",
            ("gpt-4o-mini", "gpt-4.1-mini", "gpt-4o"),
        ),
        (
            "gpt-4o-mini-2025-01-01",
            "unknown model 'gpt-4o-mini-2025-01-01': did you mean 'gpt-4o-mini-2024-07-18'?",
            ("gpt-4o-mini-2024-07-18", "gpt-4.1-mini-2025-04-14", "gpt-4o-2024-08-06"),
        ),
        (
            "ft:gpt-4o-mni-2024-07-18:acme::AbC123",
            (
                "unknown model 'ft:gpt-4o-mni-2024-07-18:acme::AbC123': did you mean "
                "'gpt-4o-mini-2024-07-18'?"
            ),
            ("gpt-4o-mini-2024-07-18", "gpt-4.1-mini-2025-04-14", "gpt-4o-2024-08-06"),
        ),
        (
            "acme-llm-9000",
            (
                "unknown model 'acme-llm-9000': finetune-kit knows gpt-4o-mini-2024-07-18, "
                "gpt-4o-2024-08-06, gpt-4.1-2025-04-14, gpt-4.1-mini-2025-04-14, babbage-002, "
                "davinci-002 (a name of the provider's own is accepted where its model list is "
                "consulted)"
            ),
            (),
        ),
    ],
    ids=["typo", "unknown-snapshot", "ft-with-unknown-base", "nothing-close"],
)
def test_unknown_names_get_the_closest_trainable_ones(
    name: str, message: str, suggestions: tuple[str, ...]
) -> None:
    """Close names come from what can be trained on that day (no shut-down gpt-4.1-nano)."""
    assert check_model_name(name, now=TODAY) == ModelProblem(
        "unknown", name.strip(), message, suggestions=suggestions
    )


@pytest.mark.parametrize(
    ("name", "day", "message", "date", "replacement"),
    [
        (
            "gpt-4.1-nano-2025-04-14",
            "2026-12-01",
            (
                "gpt-4.1-nano-2025-04-14 shut down on 2026-10-23 (39 days ago): train "
                "gpt-4.1-mini-2025-04-14 instead; Azure OpenAI still trains gpt-4.1-nano-2025-04-14"
            ),
            "2026-10-23",
            "train gpt-4.1-mini-2025-04-14 instead",
        ),
        (
            "o4-mini",
            "2026-10-23",
            (
                "o4-mini (base model o4-mini-2025-04-16) shut down on 2026-10-23 (today): no other "
                "OpenAI model takes reinforcement fine-tuning; Azure OpenAI still trains "
                "o4-mini-2025-04-16"
            ),
            "2026-10-23",
            "no other OpenAI model takes reinforcement fine-tuning",
        ),
        (
            "ft:gpt-3.5-turbo-0125:acme::AbC123",
            "2026-12-01",
            (
                "ft:gpt-3.5-turbo-0125:acme::AbC123 (base model gpt-3.5-turbo-0125) shut down on "
                "2026-10-23 (39 days ago): train gpt-4o-mini-2024-07-18 instead"
            ),
            "2026-10-23",
            "train gpt-4o-mini-2024-07-18 instead",
        ),
        (
            "gpt-4o-mini-2024-07-18",
            "2027-01-08",
            (
                "gpt-4o-mini-2024-07-18: OpenAI accepts no new fine-tuning jobs since 2027-01-06 "
                "(2 days ago); Azure OpenAI still trains gpt-4o-mini-2024-07-18"
            ),
            "2027-01-06",
            None,
        ),
        (
            "gpt-4o-mini-2024-07-18",
            "2027-01-14",
            (
                "gpt-4o-mini-2024-07-18 shut down on 2027-01-14 (today); replacement: gpt-6-luna, "
                "which cannot be fine-tuned; Azure OpenAI still trains gpt-4o-mini-2024-07-18"
            ),
            "2027-01-14",
            "gpt-6-luna, which cannot be fine-tuned",
        ),
    ],
    ids=["nano", "o4-mini-alias-on-the-day", "ft-of-retired-base", "wind-down", "4o-mini-shutdown"],
)
def test_retired_names_say_the_date_and_what_to_train_instead(
    name: str, day: str, message: str, date: str, replacement: str | None
) -> None:
    """OpenAI's published dates (and its 2027-01-06 wind-down), with the successor."""
    assert check_model_name(name, now=_at(day)) == ModelProblem(
        "retired", name, message, shutdown_date=date, replacement=replacement
    )


def test_the_day_before_a_shutdown_still_trains() -> None:
    """2026-10-22 is the last day gpt-4.1-nano trains; 2027-01-05 the last for gpt-4o-mini."""
    assert check_model_name("gpt-4.1-nano-2025-04-14", now=_at("2026-10-22T23:59:59")) is None
    assert check_model_name("gpt-4o-mini", now=_at("2027-01-05T23:59:59")) is None


@pytest.mark.parametrize("name", ["gpt-4.1-nano-2025-04-14", "o4-mini-2025-04-16", "gpt-4o-mini"])
def test_azure_publishes_no_shutdown_here(name: str) -> None:
    """On Azure OpenAI (given, or spelled Azure's way) nothing is retired by OpenAI's dates."""
    assert check_model_name(name, now=_at("2027-02-01"), provider="azure") is None
    assert check_model_name("gpt-35-turbo-0125", now=_at("2027-02-01")) is None


def test_the_providers_list_decides_for_names_of_its_own() -> None:
    """A name the provider lists is accepted as is, even one finetune-kit has as shut down."""
    listed = {"my-deployment-base", "gpt-4.1-nano-2025-04-14"}
    assert check_model_name("my-deployment-base", now=TODAY, known_remote=listed) is None
    assert check_model_name("gpt-4.1-nano-2025-04-14", now=TODAY, known_remote=listed) is None
    problem = check_model_name("gpt-4o-mni", now=TODAY, known_remote=listed)
    assert problem is not None
    assert problem.kind == "unknown"


def test_validate_raises_the_typed_errors_before_reading() -> None:
    """`Dataset.validate(model=...)`: unknown and shut-down names raise, with their details."""
    with pytest.raises(UnknownModelError) as unknown:
        Dataset.from_jsonl(ELLE).validate(model="gpt-4o-mni")
    assert str(unknown.value) == "unknown model 'gpt-4o-mni': did you mean 'gpt-4o-mini'?"
    assert (unknown.value.model, unknown.value.suggestions[0]) == ("gpt-4o-mni", "gpt-4o-mini")
    with pytest.raises(RetiredModelError) as retired:
        Dataset.from_jsonl(ELLE).validate(model="gpt-4.1-nano-2025-04-14", now=lambda: TODAY)
    assert (retired.value.shutdown_date, retired.value.replacement) == (
        "2026-10-23",
        "train gpt-4.1-mini-2025-04-14 instead",
    )
    before = _at("2026-10-01")
    report = Dataset.from_jsonl(ELLE).validate(model="gpt-4.1-nano-2025-04-14", now=lambda: before)
    assert report.ok


def test_every_price_names_its_source_and_date() -> None:
    """Each row: a URL and the day it was read; RFT on o4-mini is $100 per training hour."""
    for price in PRICES:
        assert price.source.startswith("https://"), price
        assert datetime.fromisoformat(price.read).year == 2026, price
    rate = hourly_price("o4-mini")
    assert rate is not None
    assert (rate.usd, rate.unit) == (100.0, "training hour")
    assert hourly_price("gpt-4o-mini") is None


def test_a_budget_is_refused_for_hourly_billing_in_the_librarys_words() -> None:
    """`max_cost=` with reinforcement fine-tuning: billed per hour, so it can't be held."""
    estimate = estimate_cost(
        model="o4-mini-2025-04-16", fmt="reinforcement", examples=10, tokens_per_epoch=500
    )
    with pytest.raises(BudgetExceededError) as err:
        check_budget(estimate, 50.0)
    assert str(err.value) == (
        "max_cost=50 can't be held before the job runs: reinforcement fine-tuning is billed per "
        "hour of training ($100/h on o4-mini-2025-04-16) and the hours can't be known from the "
        "data; leave max_cost out and cancel the job if it runs too long"
    )


def test_the_per_token_table_and_the_family_prices_agree() -> None:
    """Every per-token OpenAI row of PRICES is what estimates use for its family (and back)."""
    from finetune_kit.dataset.catalog import TRAINING_PRICES, model_info

    rows = {
        model_info(p.model).family: p.usd
        for p in PRICES
        if p.unit == "1M training tokens" and p.provider == "openai"
    }
    assert rows == {family: usd for family, (usd, _source) in TRAINING_PRICES.items()}
    assert rows == {
        "gpt-4o-mini": 3.0,
        "gpt-3.5-turbo": 8.0,
        "gpt-4o": 25.0,
        "gpt-4.1": 25.0,
        "gpt-4.1-mini": 5.0,
        "gpt-4.1-nano": 1.5,
    }
