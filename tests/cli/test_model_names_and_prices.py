"""Model names checked before anything is spent, and prices said in the command line's words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune_kit.cli.context import Context
from finetune_kit.cli.main import bundled_dataset
from finetune_kit.testing import DEFAULT_SHUTDOWN_DATES, Simulator
from tests.cli.conftest import MODEL, Cli

ELLE = str(bundled_dataset())
PYTHON_WORDS = ("prices={", "prices=", "max_cost=", "method=", "validate()")


def _rft_file(tmp_path: Path) -> str:
    path = tmp_path / "rft.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": f"What is {i} + {i}?"}], "answer": str(2 * i)}
        for i in range(10)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _speaks_cli(result_text: str) -> None:
    for word in PYTHON_WORDS:
        assert word not in result_text, word


@pytest.mark.parametrize("command", ["validate", "estimate", "tune"])
def test_an_unknown_model_is_a_usage_error_with_did_you_mean(cli: Cli, command: str) -> None:
    """`gpt-4o-mni` starts like a known name: exit 2, one line naming the closest one, and
    nothing uploaded (the simulator lists no such model either)."""
    result = cli(command, ELLE, "--model", "gpt-4o-mni")
    assert result.code == 2
    assert result.err == (
        "finetune-kit: error: unknown model 'gpt-4o-mni': did you mean 'gpt-4o-mini'?\n"
    )
    assert result.out == ""
    assert cli.sim.calls["files.create"] == 0
    assert cli.sim.calls["models.list"] == (1 if command == "tune" else 0)


@pytest.mark.parametrize("command", ["validate", "tune"])
def test_a_shut_down_model_is_a_usage_error_naming_date_and_replacement(
    cli: Cli, command: str
) -> None:
    """On the simulator's 2026-11-01, gpt-4.1-nano has been shut down for 9 days."""
    result = cli(command, ELLE, "--model", "gpt-4.1-nano-2025-04-14")
    assert result.code == 2
    assert result.err == (
        "finetune-kit: error: gpt-4.1-nano-2025-04-14 shut down on 2026-10-23 (9 days ago): "
        "train gpt-4.1-mini-2025-04-14 instead; Azure OpenAI still trains "
        "gpt-4.1-nano-2025-04-14\n"
    )
    assert cli.sim.calls["files.create"] == 0


def test_azure_has_no_published_shutdown_dates(cli: Cli) -> None:
    """`--provider azure`: Azure OpenAI still trains gpt-4.1-nano, so validation proceeds."""
    result = cli("validate", ELLE, "--model", "gpt-4.1-nano-2025-04-14", "--provider", "azure")
    assert result.code == 0, result.err
    assert "OK: 0 error(s), 0 warning(s)" in result.out


def test_tune_accepts_a_name_the_providers_model_list_has(cli: Cli) -> None:
    """A model of the endpoint's own (not in finetune-kit's catalogue) trains once listed."""
    sim = Simulator(shutdown_dates={**DEFAULT_SHUTDOWN_DATES, "acme-llm-9000": None})
    cli.sim, cli.ctx = sim, Context.on_simulator(sim)
    result = cli("tune", ELLE, "--model", "acme-llm-9000", "--detach")
    assert result.code == 0, result.err
    assert "[unknown_model] finetune-kit does not know 'acme-llm-9000' (the provider lists it)" in (
        result.out
    )
    assert (sim.calls["models.list"], sim.calls["files.create"], len(sim.jobs)) == (2, 1, 1)


@pytest.mark.parametrize(
    ("model", "line"),
    [
        ("gpt-4o-2024-08-06", "≈ $0.04 at $25/1M"),
        ("gpt-4.1", "≈ $0.04 at $25/1M"),
        ("gpt-4.1-mini-2025-04-14", "≈ $0.01 at $5/1M"),
    ],
)
def test_estimate_of_every_trainable_gpt_model_has_a_price(cli: Cli, model: str, line: str) -> None:
    """gpt-4o and the gpt-4.1 family are priced from OpenAI's pricing page, source named."""
    result = cli("estimate", ELLE, "--model", model, "--n-epochs", "2")
    assert result.code == 0, result.err
    assert result.out == (
        f"786 tokens × 2 epochs = 1,572 billed tokens {line} (OpenAI pricing page, 2025 "
        "fine-tuning table; late-2026 unconfirmed)\n"
    )


def test_estimate_without_a_published_price_says_the_flag(cli: Cli) -> None:
    """No published price (gpt-4-0613, still trained on Azure): the estimate says so and names
    --price, never Python's prices=."""
    result = cli(
        "estimate", ELLE, "--model", "gpt-4-0613", "--provider", "azure", "--n-epochs", "2"
    )
    assert result.code == 0, result.err
    assert result.out == (
        "855 tokens × 2 epochs = 1,710 billed tokens; price of gpt-4-0613 unknown (no published "
        "price in the table)\n"
        "To estimate the cost, give the price of gpt-4-0613: --price USD (per 1M training tokens)\n"
    )
    _speaks_cli(result.out + result.err)


def test_validate_without_a_published_price_says_the_flag(cli: Cli) -> None:
    """`validate` prints the same hint after its report."""
    result = cli("validate", ELLE, "--model", "gpt-4-0613", "--provider", "azure")
    assert result.code == 0, result.err
    assert result.out.endswith(
        "To estimate the cost, give the price of gpt-4-0613: --price USD (per 1M training tokens)\n"
    )
    _speaks_cli(result.out)


def test_estimate_of_reinforcement_says_it_is_billed_per_hour(cli: Cli, tmp_path: Path) -> None:
    """o4-mini reinforcement fine-tuning: $100 per training hour (OpenAI's billing guide)."""
    result = cli("estimate", _rft_file(tmp_path), "--model", "o4-mini", "--provider", "azure")
    assert result.code == 0, result.err
    assert result.out.endswith(
        "; billed per hour of training instead ($100/h, https://help.openai.com/en/articles/"
        "11323177-billing-guide-for-the-reinforcement-fine-tuning-api), and the hours can't be "
        "known before the job runs\n"
    )
    _speaks_cli(result.out)


def test_max_cost_without_a_price_names_the_flag(cli: Cli) -> None:
    """`tune --max-cost` on a model with no published price: exit 2, --price named."""
    result = cli("tune", ELLE, "--model", "gpt-4-0613", "--provider", "azure", "--max-cost", "100")
    assert result.code == 2
    assert result.err == (
        "finetune-kit: error: --max-cost 100.00 can't be checked: gpt-4-0613 has no "
        "published training price; give it with --price USD (per 1M training tokens). Nothing "
        "was uploaded or created.\n"
    )
    assert cli.sim.calls["files.create"] == 0
    priced = cli(
        "tune",
        ELLE,
        "--model",
        "gpt-4.1-mini-2025-04-14",
        "--max-cost",
        "100",
        "--price",
        "5",
        "--detach",
    )
    assert priced.code == 0, priced.err


def test_max_cost_of_reinforcement_explains_hourly_billing(cli: Cli, tmp_path: Path) -> None:
    """Billed per training hour: the budget can't be held before the job runs; said in flags."""
    result = cli(
        "tune",
        _rft_file(tmp_path),
        "--model",
        "o4-mini-2025-04-16",
        "--provider",
        "azure",
        "--max-cost",
        "50",
    )
    assert result.code == 2
    assert result.err == (
        "finetune-kit: error: --max-cost 50.00 can't be held before the job runs: reinforcement "
        "fine-tuning is billed per hour of training ($100/h on o4-mini-2025-04-16), and the "
        "hours can't be known from the data; run without --max-cost and stop the job with "
        "`finetune-kit jobs cancel JOB` if it runs too long. Nothing was uploaded or created.\n"
    )
    _speaks_cli(result.err)


def test_max_cost_over_the_estimate_names_the_flag(cli: Cli) -> None:
    """Over budget: the estimate and --max-cost, exit 2, nothing uploaded."""
    result = cli("tune", ELLE, "--model", MODEL, "--max-cost", "0.001")
    assert result.code == 2
    assert result.err.startswith("finetune-kit: error: the estimate is $0.02 (786 tokens × 10 ")
    assert result.err.endswith(", over --max-cost 0.001: nothing was uploaded or created\n")
    _speaks_cli(result.err)
    assert cli.sim.calls["files.create"] == 0


def _tuned(cli: Cli) -> str:
    job = cli.tune("--suffix", "elle")
    assert cli("watch", job).code == 0
    return next(iter(cli.sim.jobs.values())).fine_tuned_model or ""


def test_compare_price_shows_the_cost_of_the_priced_model(cli: Cli) -> None:
    """`compare --price MODEL=IN,OUT` prices that model's calls; the other shows no cost."""
    tuned = _tuned(cli)
    result = cli("compare", MODEL, tuned, "--prompts", ELLE, "--price", f"{MODEL}=1000,2000")
    assert result.code == 0, result.err
    base = next(line for line in result.out.splitlines() if line.startswith(f"| {MODEL} |"))
    other = next(line for line in result.out.splitlines() if line.startswith(f"| {tuned} |"))
    prompt, completion = (float(x) for x in base.split(" | ")[-3:-1])
    expected = (prompt * 1000 + completion * 2000) / 1_000_000
    assert base.endswith(f" | ${expected:.5f} |")
    assert other.endswith(" | - |")


@pytest.mark.parametrize("value", ["gpt-4o-mini", "gpt-4o-mini=1", "=1,2", "m=a,b", "m=-1,2"])
def test_compare_bad_price_is_one_line(cli: Cli, value: str) -> None:
    """A malformed --price: exit 2 and the expected shape."""
    result = cli("compare", MODEL, MODEL, "--prompts", ELLE, "--price", value)
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "--price" in result.err
    assert cli.sim.calls["chat.completions.create"] == 0
