"""The summary table of a comparison, cell by cell: one source for Markdown and HTML.

Pure text: `Comparison.to_markdown` joins the cells with pipes, `to_html` wraps them in `<td>`s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finetune_kit.compare import ModelSummary

__all__ = ["head", "rate_text", "row"]


def head(graders: list[str]) -> list[str]:
    """The column titles: one pass-rate column per grader."""
    return [
        "model",
        "items",
        "errors",
        *[f"{g} pass" for g in graders],
        "latency p50 / p95",
        "prompt tok/item",
        "completion tok/item",
        "cost/item",
    ]


def rate_text(rate: tuple[float, float, float] | None) -> str:
    """A rate with its 95% Wilson interval, `"67% [33%, 100%]"`, or `"n/a"` when none."""
    return "n/a" if rate is None else f"{rate[0]:.0%} [{rate[1]:.0%}, {rate[2]:.0%}]"


def row(model: str, summary: ModelSummary, graders: list[str]) -> list[str]:
    """`model`'s cells under `head(graders)`; "n/a" where no answer was measured or graded."""
    s = summary
    measured = (
        [
            f"{s.latency_p50:.2f} / {s.latency_p95:.2f} s",
            f"{s.prompt_tokens_per_item:.1f}",
            f"{s.completion_tokens_per_item:.1f}",
        ]
        if s.answered
        else ["n/a"] * 3  # no answer: nothing was measured
    )
    cost = f"${s.cost_per_item:.5f}" if s.cost_per_item is not None else "-"
    return [
        model,
        str(s.items),
        str(s.errors),
        *[rate_text(s.pass_rates.get(g)) for g in graders],
        *measured,
        cost,
    ]
