"""`llm_judge` with a scripted judge; `to_html` on a simulated comparison."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletion

from finetune_kit import Dataset, FineTuneJob
from finetune_kit.cli.main import bundled_dataset
from finetune_kit.compare import compare
from finetune_kit.judge import DEFAULT_CRITERIA, llm_judge
from finetune_kit.report import to_html
from finetune_kit.testing import Simulator

BASE = "gpt-4o-mini-2024-07-18"
CANDIDATE = "candidate answer"
REFERENCE = "reference answer"


def _completion(content: str) -> ChatCompletion:
    return ChatCompletion.model_validate(
        {
            "id": "chatcmpl-judge",
            "object": "chat.completion",
            "created": 0,
            "model": "judge",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": content},
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    )


class _Completions:
    def __init__(self, reply: Any) -> None:
        self.reply = reply
        self.calls: list[dict[str, Any]] = []

    def create(self, **kw: Any) -> ChatCompletion:
        self.calls.append(kw)
        prompt = str(kw["messages"][-1]["content"])
        content = self.reply(prompt) if callable(self.reply) else str(self.reply)
        return _completion(content)


class _Chat:
    def __init__(self, completions: _Completions) -> None:
        self.completions = completions


class FakeJudge:
    """Duck-typed `openai.OpenAI` whose chat completions answer what `reply` says."""

    def __init__(self, reply: Any) -> None:
        self.completions = _Completions(reply)
        self.chat = _Chat(self.completions)

    @property
    def calls(self) -> list[dict[str, Any]]:
        return self.completions.calls


def _candidate_is_a(prompt: str) -> bool:
    a = prompt.index("[Answer A]")
    b = prompt.index("[Answer B]")
    return prompt.index(CANDIDATE) > a and prompt.index(CANDIDATE) < b


def _prefers(who: str) -> Any:
    """A judge reply that names the candidate's or the reference's letter, or a tie."""

    def reply(prompt: str) -> str:
        if who == "tie":
            return json.dumps({"winner": "tie", "reason": "equal"})
        cand_letter = "A" if _candidate_is_a(prompt) else "B"
        other = "B" if cand_letter == "A" else "A"
        return json.dumps(
            {"winner": cand_letter if who == "candidate" else other, "reason": f"{who} better"}
        )

    return reply


def _items(n: int) -> list[dict[str, Any]]:
    return [{"prompt": f"question {i}", "reference": REFERENCE} for i in range(n)]


def _grade_all(judge: FakeJudge, n: int = 12, seed: int = 0) -> list[Any]:
    grader = llm_judge(judge, model="judge-model", seed=seed)  # type: ignore[arg-type]
    return [grader(CANDIDATE, item) for item in _items(n)]


def test_judge_order_varies_and_is_seeded() -> None:
    """Answer order varies across items yet repeats exactly for the same seed."""
    first, second = FakeJudge(_prefers("tie")), FakeJudge(_prefers("tie"))
    _grade_all(first)
    _grade_all(second)
    orders = [_candidate_is_a(c["messages"][-1]["content"]) for c in first.calls]
    assert orders == [_candidate_is_a(c["messages"][-1]["content"]) for c in second.calls]
    assert True in orders
    assert False in orders


@pytest.mark.parametrize(
    ("who", "passed", "score", "reason"),
    [
        ("candidate", True, 1.0, "candidate better"),
        ("reference", False, 0.0, "reference better"),
        ("tie", False, 0.5, "equal"),
    ],
)
def test_judge_verdicts_map_back_under_both_orders(
    who: str, passed: bool, score: float, reason: str
) -> None:
    """Win, loss and tie map to the candidate whichever letter it was given."""
    judge = FakeJudge(_prefers(who))
    grades = _grade_all(judge)
    orders = {_candidate_is_a(c["messages"][-1]["content"]) for c in judge.calls}
    assert orders == {True, False}
    assert all(g.passed is passed for g in grades)
    assert all(g.score == score for g in grades)
    assert all(g.reason == reason for g in grades)


def test_judge_reads_fenced_json_and_truncates_reason() -> None:
    """A verdict wrapped in a code fence is read; a long reason is cut to 300 characters."""
    judge = FakeJudge('```json\n{"winner": "tie", "reason": "' + "x" * 1000 + '"}\n```')
    grade = _grade_all(judge, n=1)[0]
    assert grade.score == 0.5
    assert grade.reason == "x" * 300


@pytest.mark.parametrize(
    "reply", ["I prefer the first one.", '{"winner": "C", "reason": "?"}', "[1, 2]", ""]
)
def test_judge_garbage_never_raises(reply: str) -> None:
    """A reply that is not a verdict fails the item with score 0 and says so."""
    grade = _grade_all(FakeJudge(reply), n=1)[0]
    assert grade.passed is False
    assert grade.score == 0.0
    assert grade.reason.startswith("judge answered garbage")


def test_judge_without_reference_makes_no_call() -> None:
    """An item without a reference is failed without asking the judge."""
    judge = FakeJudge(_prefers("candidate"))
    grader = llm_judge(judge, model="judge-model")  # type: ignore[arg-type]
    grade = grader(CANDIDATE, {"prompt": "q", "reference": None})
    assert (grade.passed, grade.score, grade.reason) == (
        False,
        0.0,
        "no reference to compare with",
    )
    assert grader(CANDIDATE, {"prompt": "q"}).reason == "no reference to compare with"
    assert judge.calls == []


def test_judge_prompt_holds_answers_and_criteria() -> None:
    """The judge is asked, with the chosen model, about the prompt, both answers and criteria."""
    judge = FakeJudge(_prefers("candidate"))
    grader = llm_judge(judge, model="judge-model", criteria="Which is funnier?")  # type: ignore[arg-type]
    grader(CANDIDATE, {"prompt": "the question", "reference": REFERENCE})
    (call,) = judge.calls
    text = call["messages"][-1]["content"]
    assert call["model"] == "judge-model"
    for part in (CANDIDATE, REFERENCE, "the question", "Which is funnier?", '"winner"'):
        assert part in text
    assert DEFAULT_CRITERIA not in text


def test_judge_on_simulator_grades_without_raising() -> None:
    """Against the simulator's generic base-model replies the judge grades and never raises."""
    sim = Simulator()
    grader = llm_judge(sim.client(max_retries=0), model=BASE)
    grade = grader(CANDIDATE, {"prompt": "q", "reference": REFERENCE})
    assert 0.0 <= grade.score <= 1.0
    assert len(grade.reason) <= 300


@pytest.fixture
def trained() -> tuple[Simulator, str]:
    sim = Simulator()
    client = sim.client(max_retries=0)
    job = FineTuneJob.create(client, model=BASE, training=bundled_dataset(), sleep=sim.clock.sleep)
    return sim, job.wait().id


def test_html_report(trained: tuple[Simulator, str], tmp_path: Path) -> None:
    """The page is written, self-contained, escaped, and has one row per item and every model."""
    sim, tuned = trained
    bad = "gpt-3.5-turbo-0125"  # shut down on 2026-10-23: every call is a 404
    prompts = [
        "Tell me about Helium",
        "<script>alert('x')</script> & friends",
        *[f"Tell me about element {i}" for i in range(150)],
    ]
    result = compare(
        sim.client(max_retries=0),
        models=[BASE, tuned, bad],
        prompts=prompts,
        sleep=sim.clock.sleep,
    )
    target = tmp_path / "report.html"
    page = to_html(result, target, title="Elle <vs> base")
    assert target.read_text(encoding="utf-8") == page
    for model in (BASE, tuned, bad):
        assert model in page
    assert "<th>model</th><th>items</th><th>errors</th>" in page
    assert "<title>Elle &lt;vs&gt; base</title>" in page
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; friends" in page
    assert "NotFoundError" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.IGNORECASE)
    assert "http://" not in page
    assert "https://" not in page
    assert page.count('<tr class="item">') == len(result.rows) == len(prompts)


def test_html_report_marks_grades(trained: tuple[Simulator, str]) -> None:
    """With references, each answer carries pass/fail marks per grader and the summary rates."""
    sim, tuned = trained
    result = compare(
        sim.client(max_retries=0),
        models=[BASE, tuned],
        prompts=Dataset.from_jsonl(bundled_dataset()),
    )
    page = to_html(result)
    assert "<th>exact pass</th>" in page
    assert "100% [72%, 100%]" in page  # 10 of 10, with its 95% Wilson interval
    assert (
        '<ul class="verdicts">\n'
        f"<li>{tuned} wins on contains: 100% vs 0% for {BASE} (+100 points, 95% CI +61 to +100)</li>\n"
        f"<li>{tuned} wins on exact: 100% vs 0% for {BASE} (+100 points, 95% CI +61 to +100)</li>\n"
        "</ul>"
    ) in page
    assert '<span class="pass">✓ exact</span>' in page
    assert '<span class="fail">✗ exact</span>' in page
