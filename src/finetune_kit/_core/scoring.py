"""Scoring model outputs: graders and aggregates with 95% confidence intervals. Pure.

Groundwork of `compare`: a grader turns (output, item) into a `Grade`; pass rates get a Wilson
score interval (made for proportions: it never collapses to a point at 0% or 100%), mean scores
in [0, 1] the same interval of their mean, a difference of two rates Newcombe's interval, and
anything else a seeded percentile bootstrap.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Z95",
    "Aimd",
    "Grade",
    "Grader",
    "Interval",
    "bootstrap_mean",
    "contains",
    "exact",
    "is_json",
    "json_schema",
    "mean_interval",
    "percentile",
    "rate_difference",
    "regex",
    "wilson",
]

Z95 = 1.959964
"""The standard normal quantile of a two-sided 95% interval."""


@dataclass(frozen=True, slots=True)
class Grade:
    """One grader's verdict on one output."""

    passed: bool
    score: float
    """1.0 for a pass, 0.0 for a fail, or anything in between for graded scores."""
    reason: str = ""


Grader = Callable[[str, Mapping[str, Any]], Grade]
"""`grader(output, item) -> Grade`; `item` holds the prompt and, when known, `reference`."""


def _reference(item: Mapping[str, Any]) -> str | None:
    ref = item.get("reference")
    return ref if isinstance(ref, str) else None


def exact(*, strip: bool = True, case: bool = True) -> Grader:
    """Pass when the output equals the item's `reference`."""

    def grade(output: str, item: Mapping[str, Any]) -> Grade:
        ref = _reference(item)
        if ref is None:
            return Grade(passed=False, score=0.0, reason="no reference to compare with")
        a, b = (output.strip(), ref.strip()) if strip else (output, ref)
        if not case:
            a, b = a.lower(), b.lower()
        ok = a == b
        return Grade(passed=ok, score=float(ok), reason="" if ok else "differs from the reference")

    return grade


def contains(text: str | None = None, *, case: bool = False) -> Grader:
    """Pass when the output contains `text` (default: the item's `reference`)."""

    def grade(output: str, item: Mapping[str, Any]) -> Grade:
        needle = text if text is not None else _reference(item)
        if needle is None:
            return Grade(passed=False, score=0.0, reason="nothing to look for")
        hay, pin = (output, needle) if case else (output.lower(), needle.lower())
        ok = pin in hay
        return Grade(
            passed=ok, score=float(ok), reason="" if ok else f"does not contain {needle[:40]!r}"
        )

    return grade


def regex(pattern: str, *, flags: int = 0) -> Grader:
    """Pass when the output matches `pattern` anywhere."""
    compiled = re.compile(pattern, flags)

    def grade(output: str, item: Mapping[str, Any]) -> Grade:  # noqa: ARG001 - the Grader shape
        ok = compiled.search(output) is not None
        return Grade(
            passed=ok, score=float(ok), reason="" if ok else f"no match for /{pattern[:40]}/"
        )

    return grade


def is_json(*, required_keys: Sequence[str] = ()) -> Grader:
    """Pass when the output is a JSON object holding `required_keys`."""

    def grade(output: str, item: Mapping[str, Any]) -> Grade:  # noqa: ARG001 - the Grader shape
        try:
            value = json.loads(output)
        except ValueError:
            return Grade(passed=False, score=0.0, reason="not valid JSON")
        if required_keys:
            if not isinstance(value, dict):
                return Grade(passed=False, score=0.0, reason="not a JSON object")
            missing = [k for k in required_keys if k not in value]
            if missing:
                return Grade(passed=False, score=0.0, reason=f"missing keys: {', '.join(missing)}")
        return Grade(passed=True, score=1.0)

    return grade


@dataclass(frozen=True, slots=True)
class Interval:
    """An estimate with its 95% confidence interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.1%} [{self.low:.1%}, {self.high:.1%}]"


def bootstrap_mean(values: Sequence[float], *, resamples: int = 2000, seed: int = 0) -> Interval:
    """The mean of `values` with a 95% percentile-bootstrap interval (seeded: reproducible)."""
    n = len(values)
    if n == 0:
        return Interval(0.0, 0.0, 0.0)
    mean = sum(values) / n
    rng = random.Random(seed)  # noqa: S311 - resampling, not secrets
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    return Interval(mean, percentile(means, 2.5), percentile(means, 97.5))


def wilson(successes: float, n: int, *, z: float = Z95) -> Interval:
    """A proportion with its Wilson score interval (95% by default).

    Made for proportions: unlike a bootstrap or the normal approximation it never collapses
    to a point at the edges. 0 of 10 is 0% [0%, 27.8%]; 10 of 10 is 100% [72.2%, 100%].
    `successes` may be fractional (a mean score in [0, 1] times `n`).

    Raises:
        ValueError: `n` is not positive, or `successes` is not within [0, n].
    """
    if n <= 0:
        raise ValueError(f"a proportion needs at least one trial, not {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within [0, {n}], not {successes}")
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # At the edges the bound is the estimate itself (rounding must not put it an ulp away).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(p, low, high)


def mean_interval(scores: Sequence[float]) -> Interval:
    """The mean score with a 95% interval; `Interval(0, 0, 0)` for no scores.

    Scores within [0, 1] (pass/fail, a judge's 1 / 0.5 / 0) get the Wilson interval of their
    mean: a score in [0, 1] varies at most as much as a pass/fail with the same mean, so the
    interval is, if anything, wide. Other scores get `bootstrap_mean`.
    """
    if not scores:
        return Interval(0.0, 0.0, 0.0)
    if all(0.0 <= s <= 1.0 for s in scores):
        return wilson(min(float(len(scores)), math.fsum(scores)), len(scores))
    return bootstrap_mean(scores)


def rate_difference(first: Interval, second: Interval) -> Interval:
    """`first.value - second.value` with Newcombe's 95% interval, from each rate's Wilson interval.

    Newcombe's hybrid score method (1998, method 10): it treats the two rates as independent,
    which for two models graded on the same items (that tend to pass and fail together) makes
    it wide rather than narrow. 9 of 10 against 2 of 10 is +70 points [+26.6, +86.5].
    """
    d = first.value - second.value
    low = d - math.hypot(first.value - first.low, second.high - second.value)
    high = d + math.hypot(first.high - first.value, second.value - second.low)
    return Interval(d, max(-1.0, low), min(1.0, high))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation, like numpy's default."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(slots=True)
class Aimd:
    """Adaptive concurrency (additive increase, multiplicative decrease), within [1, maximum].

    Halve the calls allowed at once on a rate limit; add one back after as many successes in a
    row as are allowed.
    """

    maximum: int
    limit: int = 0
    _streak: int = 0

    def __post_init__(self) -> None:
        self.maximum = max(1, self.maximum)
        self.limit = self.limit or self.maximum

    def on_success(self) -> None:
        """A call went through."""
        self._streak += 1
        if self._streak >= self.limit and self.limit < self.maximum:
            self.limit += 1
            self._streak = 0

    def on_rate_limit(self) -> None:
        """A call was rate-limited."""
        self.limit = max(1, self.limit // 2)
        self._streak = 0


def json_schema(schema: Mapping[str, Any]) -> Grader:
    """Pass when the output is JSON valid against `schema` (needs the `jsonschema` package)."""
    try:
        import jsonschema  # type: ignore[import-untyped]  # noqa: PLC0415 - optional
    except ImportError:
        from finetune_kit.exceptions import ConfigurationError  # noqa: PLC0415

        raise ConfigurationError(
            "the json_schema grader needs jsonschema: pip install jsonschema"
        ) from None
    validator = jsonschema.Draft202012Validator(dict(schema))

    def grade(output: str, item: Mapping[str, Any]) -> Grade:  # noqa: ARG001 - the Grader shape
        try:
            value = json.loads(output)
        except ValueError:
            return Grade(passed=False, score=0.0, reason="not valid JSON")
        error = next(iter(validator.iter_errors(value)), None)
        if error is not None:
            return Grade(passed=False, score=0.0, reason=f"schema: {error.message[:200]}")
        return Grade(passed=True, score=1.0)

    return grade
