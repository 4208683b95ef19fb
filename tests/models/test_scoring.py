"""Graders and aggregates for comparing models: exact verdicts, reproducible intervals."""

from __future__ import annotations

import pytest

from finetune_kit._core.scoring import (
    Grade,
    Interval,
    bootstrap_mean,
    contains,
    exact,
    is_json,
    mean_interval,
    percentile,
    rate_difference,
    regex,
    wilson,
)


@pytest.mark.parametrize(
    ("grader", "output", "item", "expected"),
    [
        (exact(), " Paris ", {"reference": "Paris"}, Grade(True, 1.0)),
        (exact(), "paris", {"reference": "Paris"}, Grade(False, 0.0, "differs from the reference")),
        (exact(case=False), "paris", {"reference": "Paris"}, Grade(True, 1.0)),
        (exact(), "Paris", {}, Grade(False, 0.0, "no reference to compare with")),
        (contains("limerick"), "A LIMERICK about gold", {}, Grade(True, 1.0)),
        (contains(), "It is Paris.", {"reference": "paris"}, Grade(True, 1.0)),
        (contains("neon"), "Argon", {}, Grade(False, 0.0, "does not contain 'neon'")),
        (regex(r"\d{4}"), "born in 1879", {}, Grade(True, 1.0)),
        (regex(r"^\d+$"), "12a", {}, Grade(False, 0.0, "no match for /^\\d+$/")),
        (is_json(required_keys=["name"]), '{"name": "He"}', {}, Grade(True, 1.0)),
        (
            is_json(required_keys=["name", "z"]),
            '{"name": "He"}',
            {},
            Grade(False, 0.0, "missing keys: z"),
        ),
        (is_json(), "not json", {}, Grade(False, 0.0, "not valid JSON")),
        (is_json(required_keys=["a"]), "[1]", {}, Grade(False, 0.0, "not a JSON object")),
    ],
)
def test_graders(grader, output: str, item: dict[str, str], expected: Grade) -> None:  # type: ignore[no-untyped-def]
    """Each built-in grader gives the exact verdict, score and reason."""
    assert grader(output, item) == expected


def test_percentile_interpolates_like_numpy() -> None:
    """Percentiles interpolate linearly between ranks (numpy's default)."""
    values = [10.0, 20.0, 30.0, 40.0]
    assert [percentile(values, q) for q in (0, 50, 95, 100)] == [10.0, 25.0, 38.5, 40.0]
    assert percentile([], 50) == 0.0


def test_bootstrap_is_reproducible_and_brackets_the_mean() -> None:
    """The same seed gives the same interval; the interval contains the mean."""
    passes = [1.0] * 70 + [0.0] * 30
    first = bootstrap_mean(passes, seed=1)
    assert first == bootstrap_mean(passes, seed=1)
    assert first.value == 0.7
    assert first.low < 0.7 < first.high
    assert first.low >= 0.6
    assert first.high <= 0.8
    assert str(Interval(0.7, 0.61, 0.79)) == "70.0% [61.0%, 79.0%]"


def test_bootstrap_of_nothing_is_zero() -> None:
    """No values: a zero interval rather than a division by zero."""
    assert bootstrap_mean([]) == Interval(0.0, 0.0, 0.0)


def test_json_schema_grader() -> None:
    """JSON valid against the schema passes; the first schema error is the reason."""
    from finetune_kit.graders import json_schema

    grader = json_schema(
        {"type": "object", "required": ["element"], "properties": {"element": {"type": "string"}}}
    )
    assert grader('{"element": "He"}', {}) == Grade(True, 1.0)
    assert grader('{"element": 2}', {}) == Grade(False, 0.0, "schema: 2 is not of type 'string'")
    assert grader("nope", {}) == Grade(False, 0.0, "not valid JSON")


@pytest.mark.parametrize(
    ("passed", "n", "expected"),
    [
        (0, 10, (0.0, 0.0, 0.2775)),  # a bootstrap said [0%, 0%]
        (10, 10, (1.0, 0.7225, 1.0)),  # a bootstrap said [100%, 100%]
        (5, 10, (0.5, 0.2366, 0.7634)),
        (9, 10, (0.9, 0.5958, 0.9821)),
        (2, 10, (0.2, 0.0567, 0.5098)),
        (0, 1, (0.0, 0.0, 0.7935)),
        (1, 1, (1.0, 0.2065, 1.0)),
        (35, 100, (0.35, 0.2636, 0.4475)),
    ],
)
def test_wilson_interval_exact(passed: int, n: int, expected: tuple[float, float, float]) -> None:
    """Pass rates get the Wilson score interval (95%, z = 1.959964), never a point at the edges."""
    got = wilson(passed, n)
    assert (got.value, got.low, got.high) == pytest.approx(expected, abs=5e-5)


def test_wilson_needs_trials_within_range() -> None:
    """No trials, or more passes than trials, is a `ValueError` naming the numbers."""
    with pytest.raises(ValueError, match="at least one trial, not 0"):
        wilson(0, 0)
    with pytest.raises(ValueError, match=r"within \[0, 10\], not 11"):
        wilson(11, 10)


def test_mean_interval_of_scores() -> None:
    """Scores in [0, 1] (a judge's 1 / 0.5 / 0) get the Wilson interval of their mean; others a
    seeded bootstrap; none a zero interval."""
    judged = mean_interval([1.0, 1.0, 0.5, 0.0])  # mean 0.625 = 2.5 of 4
    assert (judged.value, judged.low, judged.high) == pytest.approx(
        (0.625, 0.2194, 0.9081), abs=5e-5
    )
    assert mean_interval([1.0] * 10) == wilson(10, 10)
    assert mean_interval([2.0, 4.0]) == bootstrap_mean([2.0, 4.0])
    assert mean_interval([]) == Interval(0.0, 0.0, 0.0)


def test_rate_difference_newcombe() -> None:
    """The difference of two rates with Newcombe's hybrid score interval (method 10)."""
    d = rate_difference(wilson(9, 10), wilson(2, 10))
    assert (d.value, d.low, d.high) == pytest.approx((0.7, 0.2658, 0.8652), abs=5e-5)
    edge = rate_difference(wilson(10, 10), wilson(0, 10))
    assert (edge.value, edge.low, edge.high) == pytest.approx((1.0, 0.6075, 1.0), abs=5e-5)
    even = rate_difference(wilson(5, 10), wilson(5, 10))
    assert (even.value, even.low, even.high) == pytest.approx((0.0, -0.3725, 0.3725), abs=5e-5)
