"""What `compare` returns: each answer, each item's row, each model's aggregates, the whole.

Also `CompareInterrupted`, what Ctrl-C raises with what had finished.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from finetune_kit._core.scoring import (
    Grader,
    Interval,
    mean_interval,
    percentile,
    rate_difference,
    wilson,
)
from finetune_kit.exceptions import ConfigurationError
from finetune_kit.report import summary

__all__ = [
    "DEFAULT_DEADLINE",
    "INTERRUPTED",
    "Answer",
    "CompareInterrupted",
    "Comparison",
    "ModelSummary",
    "Row",
]

DEFAULT_DEADLINE = 3600.0
"""Seconds a live `compare` may take by default; what has no answer by then is marked failed."""
INTERRUPTED = "interrupted: no answer before the run was stopped (Ctrl-C)"
"""The error of an answer that had not arrived when a run was interrupted."""


class Answer(BaseModel):
    """One model's answer to one item.

    Added in 0.1.0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    output: str
    latency: float
    """Seconds from request to response."""
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    grades: dict[str, bool]
    """Grader -> passed."""
    scores: dict[str, float] = {}
    """Grader -> score (1 pass / 0 fail; a judge gives 1 win, 0.5 tie, 0 loss)."""
    reasons: dict[str, str] = {}
    """Grader -> its reason, when it gave one (a judge's explanation, what failed...)."""
    error: str | None = None
    """Why there is no answer (the item is kept, never dropped)."""


class Row(BaseModel):
    """One item: its prompt, reference and every model's answer.

    Added in 0.1.0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    prompt: str
    reference: str | None
    answers: dict[str, Answer]


class ModelSummary(BaseModel):
    """One model's aggregates.

    Added in 0.1.0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    items: int
    errors: int
    """Items without an answer (each keeps its error)."""
    pass_rates: dict[str, tuple[float, float, float] | None]
    """Grader -> (rate, 95% low, 95% high), over the items answered and graded, with the Wilson
    score interval (0 of 10 is (0.0, 0.0, 0.2775...)); None when none was (every call failed):
    "n/a" in the reports, `null` in JSON, never 0%."""
    mean_scores: dict[str, tuple[float, float, float] | None] = {}
    """Grader -> (mean score, 95% low, 95% high): for a judge, the win rate (ties count half).
    Scores within [0, 1] get the Wilson interval of their mean, others a seeded bootstrap;
    None when no answer was graded."""
    latency_p50: float
    """Over the items answered; 0 when none was."""
    latency_p95: float
    prompt_tokens_per_item: float
    """Over the items answered; 0 when none was."""
    completion_tokens_per_item: float
    cost_per_item: float | None

    @property
    def answered(self) -> int:
        """Items with an answer."""
        return self.items - self.errors


class Comparison(BaseModel):
    """The outcome of [`compare`][finetune_kit.compare.compare].

    Added in 0.1.0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: list[str]
    rows: list[Row]
    summaries: dict[str, ModelSummary]

    def __str__(self) -> str:
        """The Markdown report, as `to_markdown()` makes it: `print(comparison)` shows it."""
        return self.to_markdown()

    @property
    def graders(self) -> list[str]:
        """The graders' names, sorted."""
        return sorted({g for s in self.summaries.values() for g in s.pass_rates})

    def _grader(self, grader: str | None, method: str) -> str:
        names = self.graders
        if grader is None:
            if len(names) == 1:
                return names[0]
            if not names:
                raise ConfigurationError(f"{method}: nothing was graded (pass graders= to compare)")
            raise ConfigurationError(
                f"{method} needs a grader's name: one of {', '.join(map(repr, names))}"
            )
        if grader not in names:
            known = ", ".join(map(repr, names)) or "none"
            raise ConfigurationError(f"{method}: no grader named {grader!r} (graders: {known})")
        return grader

    def best(self, grader: str | None = None) -> str:
        """The model with the highest pass rate for `grader` (a model without one ranks last).

        Ties go to the model listed first. `grader` may be left out when there is only one.

        Raises:
            ConfigurationError: No grader of that name; or it was left out and there are
                several (the error names them) or none.
        """
        name = self._grader(grader, "best()")

        def rate(model: str) -> float:
            value = self.summaries[model].pass_rates.get(name)
            return -1.0 if value is None else value[0]

        return max(self.models, key=rate)

    def _passes(self, model: str, grader: str) -> Interval | None:
        """The pass rate of `model` for `grader` with its Wilson interval; None if none graded."""
        graded = [
            a.grades.get(grader, False)
            for row in self.rows
            if (a := row.answers.get(model)) is not None and a.error is None and a.grades
        ]
        return wilson(sum(graded), len(graded)) if graded else None

    def verdict(self, grader: str | None = None) -> str:
        """One line that says what the comparison found for `grader`.

        The two models with the highest pass rates, the difference in percentage points and its
        95% interval (Newcombe's, from each rate's Wilson interval). When the interval is above
        zero the leader wins; otherwise there is no clear winner (more items would tell):

        - `ft:...:demo:abc wins on exact: 90% vs 20% for gpt-4o-mini (+70 points, 95% CI +27
          to +87)`
        - `no clear winner on exact: ft:... 60% vs 50% for gpt-4o-mini (+10 points, 95% CI -29
          to +45)`

        Models without a graded answer are left out. `grader` may be left out when there is
        only one.

        Raises:
            ConfigurationError: As for `best`.
        """
        name = self._grader(grader, "verdict()")
        ranked = sorted(
            ((m, r) for m in self.models if (r := self._passes(m, name)) is not None),
            key=lambda pair: -pair[1].value,  # stable: ties keep the models' order
        )
        if not ranked:
            return f"no verdict on {name}: no model's answers were graded"
        if len(ranked) == 1:
            ((model, rate),) = ranked
            return (
                f"only {model} was graded on {name}: {rate.value:.0%} "
                f"(95% CI {rate.low:.0%} to {rate.high:.0%})"
            )
        (first, a), (second, b) = ranked[:2]
        d = rate_difference(a, b)
        head = f"{first} wins on {name}:" if d.low > 0 else f"no clear winner on {name}: {first}"
        return (
            f"{head} {a.value:.0%} vs {b.value:.0%} for {second} "
            f"({_points(d.value)} points, 95% CI {_points(d.low)} to {_points(d.high)})"
        )

    @property
    def failed_models(self) -> list[str]:
        """The models none of whose calls were answered: every item has an error.

        Such a model has no pass rates (None); the command line exits 1 naming it. Empty when
        every model answered at least once.
        """
        return [
            m
            for m in self.models
            if (s := self.summaries.get(m)) is not None and s.items > 0 and s.answered == 0
        ]

    def first_error(self, model: str) -> str | None:
        """The error of `model`'s first failed item, if any."""
        return next((e for row in self.rows if (e := row.answers[model].error) is not None), None)

    def to_json(self, *, indent: int | None = 2) -> str:
        """The whole comparison as JSON."""
        return self.model_dump_json(indent=indent)

    def to_html(
        self, path: str | os.PathLike[str] | None = None, *, title: str = "finetune-kit comparison"
    ) -> str:
        """A self-contained HTML page: the aggregates on top, every item side by side below.

        Written to `path` when given; returned either way.
        """
        from finetune_kit.report.html import to_html  # noqa: PLC0415

        return to_html(self, path, title=title)

    def to_dataframe(self) -> Any:
        """One row per item and model, as a pandas DataFrame (pandas is needed for this only).

        Raises:
            ConfigurationError: pandas is not installed.
        """
        try:
            import pandas as pd  # noqa: PLC0415 - optional
        except ImportError:
            raise ConfigurationError("to_dataframe() needs pandas: pip install pandas") from None
        records = [
            {
                "item": row.index,
                "prompt": row.prompt,
                "reference": row.reference,
                "model": model,
                **a.model_dump(exclude={"grades"}),
                **{f"pass_{k}": v for k, v in a.grades.items()},
            }
            for row in self.rows
            for model, a in row.answers.items()
        ]
        return pd.DataFrame.from_records(records)

    def to_markdown(self, *, items: int = 20) -> str:
        """A summary table, each grader's verdict, then the first `items` items side by side.

        Pass rates read `90% [60%, 98%]` (the 95% Wilson interval); "n/a" for a model with no
        graded answer. `str(comparison)` is this, with the default `items`.
        """
        graders = self.graders
        head = summary.head(graders)
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += [
            "| " + " | ".join(summary.row(model, self.summaries[model], graders)) + " |"
            for model in self.models
        ]
        if graders:
            lines += ["", *[f"- {self.verdict(g)}" for g in graders]]
        lines += [
            "",
            "| # | prompt | " + " | ".join(self.models) + " |",
            "|" + "---|" * (len(self.models) + 2),
        ]
        for row in self.rows[:items]:
            cells = [_cell(row.answers[m].error or row.answers[m].output) for m in self.models]
            lines.append(f"| {row.index} | {_cell(row.prompt)} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


class CompareInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped [`compare`][finetune_kit.compare.compare]: `comparison` holds what finished.

    Every item is kept: an answer that had not arrived carries the error `INTERRUPTED`
    ("interrupted: no answer before the run was stopped (Ctrl-C)"). It is a
    `KeyboardInterrupt`, so code that handles Ctrl-C still does.

    Added in 0.1.0.
    """

    def __init__(self, comparison: Comparison) -> None:
        total = sum(len(r.answers) for r in comparison.rows)
        answered = sum(s.answered for s in comparison.summaries.values())
        super().__init__(f"interrupted: {answered} of {total} calls answered")
        self.comparison = comparison


def _points(difference: float) -> str:
    """A difference of two rates in percentage points, signed: `+70`, `-5`, `+0`."""
    points = round(difference * 100)
    return f"{points:+d}" if points else "+0"


def _cell(text: str, width: int = 120) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


def _summaries(
    models: list[str], rows: list[Row], graders: Mapping[str, Grader]
) -> dict[str, ModelSummary]:
    out: dict[str, ModelSummary] = {}
    for model in models:
        answers = [r.answers[model] for r in rows]
        ok = [a for a in answers if a.error is None]
        n = len(ok) or 1
        rates: dict[str, tuple[float, float, float] | None] = {}
        means: dict[str, tuple[float, float, float] | None] = {}
        graded = [a for a in ok if a.grades]
        for name in graders:
            if not graded:  # nothing answered (or nothing graded): no rate, not 0%
                rates[name] = means[name] = None
                continue
            interval = wilson(sum(a.grades.get(name, False) for a in graded), len(graded))
            rates[name] = (interval.value, interval.low, interval.high)
            mean = mean_interval([a.scores.get(name, 0.0) for a in graded])
            means[name] = (mean.value, mean.low, mean.high)
        costs = [a.cost_usd for a in ok]
        out[model] = ModelSummary(
            model=model,
            items=len(answers),
            errors=len(answers) - len(ok),
            pass_rates=rates,
            mean_scores=means,
            latency_p50=percentile([a.latency for a in ok], 50),
            latency_p95=percentile([a.latency for a in ok], 95),
            prompt_tokens_per_item=sum(a.prompt_tokens for a in ok) / n,
            completion_tokens_per_item=sum(a.completion_tokens for a in ok) / n,
            cost_per_item=sum(c for c in costs if c is not None) / n
            if ok and None not in costs
            else None,
        )
    return out
