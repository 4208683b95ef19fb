"""What a comparison says: the table `print(comparison)` shows, `best()` and the verdict line."""

from __future__ import annotations

import pytest

from finetune_kit import ConfigurationError
from finetune_kit.compare import Answer, Comparison, Row
from finetune_kit.compare.results import _summaries
from finetune_kit.graders import exact


def _answer(passed: dict[str, bool] | None, output: str = "out") -> Answer:
    """An answer graded `passed`, or (None) a call that failed."""
    if passed is None:
        return Answer(
            output="",
            latency=0.0,
            prompt_tokens=0,
            completion_tokens=0,
            cost_usd=None,
            grades={},
            error="NotFoundError: no such model",
        )
    return Answer(
        output=output,
        latency=0.5,
        prompt_tokens=12,
        completion_tokens=30,
        cost_usd=None,
        grades=passed,
        scores={g: float(ok) for g, ok in passed.items()},
    )


def _comparison(
    passes: dict[str, list[dict[str, bool] | None]], graders: tuple[str, ...] = ("exact",)
) -> Comparison:
    """A comparison of 10 items whose grades are given per model and item."""
    models = list(passes)
    rows = [
        Row(
            index=i + 1,
            prompt=f"Question {i + 1}?",
            reference="yes",
            answers={m: _answer(passes[m][i], f"answer {i + 1} | of {m}") for m in models},
        )
        for i in range(10)
    ]
    named = dict.fromkeys(graders, exact())
    return Comparison(models=models, rows=rows, summaries=_summaries(models, rows, named))


def _hits(k: int, grader: str = "exact") -> list[dict[str, bool] | None]:
    return [{grader: i < k} for i in range(10)]


TABLE = """\
| model | items | errors | exact pass | latency p50 / p95 | prompt tok/item | completion tok/item | cost/item |
|---|---|---|---|---|---|---|---|
| base | 10 | 0 | 20% [6%, 51%] | 0.50 / 0.50 s | 12.0 | 30.0 | - |
| tuned | 10 | 0 | 90% [60%, 98%] | 0.50 / 0.50 s | 12.0 | 30.0 | - |
| gone | 10 | 10 | n/a | n/a | n/a | n/a | - |

- tuned wins on exact: 90% vs 20% for base (+70 points, 95% CI +27 to +87)

| # | prompt | base | tuned | gone |
|---|---|---|---|---|
| 1 | Question 1? | answer 1 \\| of base | answer 1 \\| of tuned | NotFoundError: no such model |"""


def test_markdown_table_and_print_show_the_same_text() -> None:
    """The table is exact: Wilson intervals, n/a for a model with no answer, the verdict line;
    `str(comparison)` (what `print` shows) is the Markdown, not the data object."""
    result = _comparison({"base": _hits(2), "tuned": _hits(9), "gone": [None] * 10})
    assert result.to_markdown(items=1) == TABLE
    assert str(result) == result.to_markdown()
    assert str(result).startswith(TABLE.rsplit("\n", 1)[0])
    assert "summaries=" not in str(result)


def test_best_needs_no_name_with_one_grader() -> None:
    """One grader: `best()` ranks by it. Several: a clear error naming them. Unknown: named."""
    one = _comparison({"base": _hits(2), "tuned": _hits(9)})
    assert one.best() == one.best("exact") == "tuned"
    two = _comparison(
        {"base": _hits(2), "tuned": _hits(9)},
        graders=("exact", "tone"),
    )
    with pytest.raises(ConfigurationError) as several:
        two.best()
    assert str(several.value) == "best() needs a grader's name: one of 'exact', 'tone'"
    with pytest.raises(ConfigurationError) as unknown:
        two.best("exactly")
    assert str(unknown.value) == "best(): no grader named 'exactly' (graders: 'exact', 'tone')"
    with pytest.raises(ConfigurationError, match="verdict\\(\\) needs a grader's name"):
        two.verdict()


@pytest.mark.parametrize(
    ("passes", "expected"),
    [
        (
            {"base": _hits(2), "tuned": _hits(9)},
            "tuned wins on exact: 90% vs 20% for base (+70 points, 95% CI +27 to +87)",
        ),
        (  # the leader listed second, a model without answers left out
            {"gone": [None] * 10, "base": _hits(0), "tuned": _hits(10)},
            "tuned wins on exact: 100% vs 0% for base (+100 points, 95% CI +61 to +100)",
        ),
        (  # 6 of 10 against 5 of 10: the interval spans zero
            {"base": _hits(5), "tuned": _hits(6)},
            "no clear winner on exact: tuned 60% vs 50% for base (+10 points, 95% CI -29 to +45)",
        ),
        (  # a tie keeps the models' order
            {"base": _hits(10), "tuned": _hits(10)},
            "no clear winner on exact: base 100% vs 100% for tuned (+0 points, 95% CI -28 to +28)",
        ),
        (
            {"tuned": _hits(7), "gone": [None] * 10},
            "only tuned was graded on exact: 70% (95% CI 40% to 89%)",
        ),
        (
            {"gone": [None] * 10},
            "no verdict on exact: no model's answers were graded",
        ),
    ],
)
def test_verdict_line(passes: dict[str, list[dict[str, bool] | None]], expected: str) -> None:
    """One line: who wins on what, by how many points, with the 95% interval of the difference."""
    assert _comparison(passes).verdict() == expected
