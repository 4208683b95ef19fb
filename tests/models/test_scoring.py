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
    percentile,
    regex,
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
