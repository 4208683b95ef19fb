"""`llm_judge`: a pairwise LLM-as-judge grader for `compare`.

The judge model sees the item's prompt and two answers, A and B: the candidate output and the
item's `reference` (a reference answer, or a reference model's output), in an order drawn at
random (seeded, reproducible) to cancel the judge's position bias. It replies with JSON naming
the winner; the grader maps that back to the candidate's win, tie or loss.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from typing import Any

import openai

from finetune_kit._core.scoring import Grade, Grader

__all__ = ["DEFAULT_CRITERIA", "JUDGE_PROMPT", "llm_judge"]

DEFAULT_CRITERIA = "Which answer is more helpful, correct and in the expected style?"
"""The question the judge answers when no `criteria` are given."""

JUDGE_PROMPT = """\
You are an impartial judge comparing two answers to the same prompt.

Criteria: {criteria}

[Prompt]
{prompt}

[Answer A]
{answer_a}

[Answer B]
{answer_b}

Judge only by the criteria; the order of the answers and their length do not matter.
Reply with a single JSON object and nothing else:
{{"winner": "A" | "B" | "tie", "reason": "<one or two sentences>"}}
"""
"""The judge's prompt; `{criteria}`, `{prompt}`, `{answer_a}` and `{answer_b}` are filled in."""

REASON_LIMIT = 300
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def _verdict(content: str) -> tuple[str, str] | None:
    """(winner, reason) from the judge's reply, or None when it is not a valid verdict."""
    match = _OBJECT.search(content)
    if match is None:
        return None
    try:
        value = json.loads(match.group(0))
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    winner = str(value.get("winner", "")).strip()
    normalised = winner.lower() if winner.lower() == "tie" else winner.upper()
    if normalised not in {"A", "B", "tie"}:
        return None
    reason = value.get("reason", "")
    return normalised, reason if isinstance(reason, str) else json.dumps(reason)


def _garbage(content: str) -> Grade:
    return Grade(
        passed=False,
        score=0.0,
        reason=f"judge answered garbage: {content!r}"[:REASON_LIMIT],
    )


def llm_judge(
    client: openai.OpenAI,
    *,
    model: str,
    criteria: str = DEFAULT_CRITERIA,
    seed: int = 0,
) -> Grader:
    """A grader asking `model` whether the output beats the item's `reference`.

    Each call puts the candidate output and the reference in the judge's prompt
    ([`JUDGE_PROMPT`][finetune_kit.judge.JUDGE_PROMPT]) as answers A and B, in an order drawn from
    a `random.Random` seeded with `seed` and the item (reproducible, whatever order or thread the
    calls run in, yet varying from item to item). The judge's JSON verdict maps back to the
    candidate: a win passes with score 1.0, a tie scores 0.5, a loss 0.0; the judge's reason
    (at most 300 characters) becomes the grade's reason.

    The grader never raises: an item without a reference, a failed judge call or a reply that is
    not a verdict gives a failing grade with score 0.0 and says why.

    Args:
        client: The client to call the judge with.
        model: The judge model.
        criteria: What the judge compares the answers by.
        seed: Seeds the order of the answers.

    Returns:
        A grader for `compare(graders=...)`.
    """

    def grade(output: str, item: Mapping[str, Any]) -> Grade:
        reference = item.get("reference")
        if not isinstance(reference, str):
            return Grade(passed=False, score=0.0, reason="no reference to compare with")
        prompt = str(item.get("prompt") or "")
        rng = random.Random(f"{seed}\x00{prompt}\x00{reference}\x00{output}")  # noqa: S311 - order, not secrets
        candidate_first = rng.random() < 0.5
        answer_a, answer_b = (output, reference) if candidate_first else (reference, output)
        text = JUDGE_PROMPT.format(
            criteria=criteria, prompt=prompt, answer_a=answer_a, answer_b=answer_b
        )
        try:
            response = client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": text}],
                temperature=0,
            )
            content = (response.choices[0].message.content or "") if response.choices else ""
        except openai.OpenAIError as exc:
            return Grade(
                passed=False,
                score=0.0,
                reason=f"judge call failed: {type(exc).__name__}: {exc}"[:REASON_LIMIT],
            )
        verdict = _verdict(content)
        if verdict is None:
            return _garbage(content)
        winner, reason = verdict
        reason = reason[:REASON_LIMIT]
        if winner == "tie":
            return Grade(passed=False, score=0.5, reason=reason)
        won = (winner == "A") == candidate_first
        return Grade(passed=won, score=1.0 if won else 0.0, reason=reason)

    return grade
