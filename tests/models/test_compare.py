"""`compare` / `acompare` on the simulator: base vs tuned vs few-shot, numbers and reports."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import openai
import pytest

from finetune_kit import ConfigurationError, Dataset, FineTuneJob
from finetune_kit._core.scoring import Aimd, Grade, contains, regex
from finetune_kit.cli.main import bundled_dataset
from finetune_kit.compare import Comparison, acompare, compare
from finetune_kit.testing import Simulator, Timing

BASE = "gpt-4o-mini-2024-07-18"


@pytest.fixture
def trained() -> tuple[Simulator, str]:
    sim = Simulator()
    client = sim.client(max_retries=0)
    job = FineTuneJob.create(client, model=BASE, training=bundled_dataset(), sleep=sim.clock.sleep)
    return sim, job.wait().id


def _held_out() -> Dataset:
    return Dataset.from_jsonl(bundled_dataset())


def test_tuned_beats_base_on_held_out_references(trained: tuple[Simulator, str]) -> None:
    """On Elle's examples the tuned model reproduces the references; the base model doesn't."""
    sim, tuned = trained
    result = compare(
        sim.client(max_retries=0), models=[BASE, tuned], prompts=_held_out(), sleep=sim.clock.sleep
    )
    assert result.models == [BASE, tuned]
    assert len(result.rows) == 10
    # Wilson intervals: 10 of 10 is not "certainly 100%", 0 of 10 not "certainly 0%".
    assert result.summaries[tuned].pass_rates["exact"] == pytest.approx(
        (1.0, 0.7225, 1.0), abs=5e-5
    )
    assert result.summaries[BASE].pass_rates["exact"] == pytest.approx((0.0, 0.0, 0.2775), abs=5e-5)
    assert result.best("exact") == tuned
    assert result.rows[0].reference is not None
    assert result.rows[0].answers[tuned].output == result.rows[0].reference


def test_few_shot_variant_shows_the_tokens_fine_tuning_saves(
    trained: tuple[Simulator, str],
) -> None:
    """The base model with few-shot examples pays for them in prompt tokens on every item."""
    sim, tuned = trained
    shots = [
        ("Tell me about Gold", "Gold, oh gold, so bright - a limerick"),
        ("Tell me about Iron", "Iron is strong - a limerick"),
    ]
    result = compare(
        sim.client(max_retries=0),
        models=[BASE, tuned],
        prompts=["Tell me about Helium", "Tell me about Neon"],
        few_shot=shots,
        system="You are Elle.",
    )
    assert result.models == [BASE, f"{BASE} + 2-shot", tuned]
    plain = result.summaries[BASE].prompt_tokens_per_item
    shot = result.summaries[f"{BASE} + 2-shot"].prompt_tokens_per_item
    assert shot > plain
    assert result.summaries[tuned].prompt_tokens_per_item == plain


def test_costs_latency_and_custom_graders(trained: tuple[Simulator, str]) -> None:
    """Prices give cost per item; custom graders are reported; latency comes from the timer."""
    sim, tuned = trained
    ticks = iter(range(1000))
    result = compare(
        sim.client(max_retries=0),
        models=[tuned],
        prompts=["Tell me about Helium"],
        graders={"limerick": contains("noble gas"), "dash": regex(r" - ")},
        prices={tuned: (0.3, 1.2)},
        timer=lambda: float(next(ticks)),
        concurrency=1,
    )
    s = result.summaries[tuned]
    answer = result.rows[0].answers[tuned]
    assert answer.grades == {"limerick": True, "dash": True}
    assert answer.latency == 1.0
    assert s.cost_per_item == pytest.approx(
        (answer.prompt_tokens * 0.3 + answer.completion_tokens * 1.2) / 1e6
    )
    assert (s.latency_p50, s.latency_p95) == (1.0, 1.0)


def test_rate_limits_are_waited_out_and_errors_kept(trained: tuple[Simulator, str]) -> None:
    """429s are retried after Retry-After; a retired model's items are kept with their error."""
    sim, tuned = trained
    sim.faults.rate_limit("chat.create", retry_after=3, times=4)
    result = compare(
        sim.client(max_retries=0),
        models=[tuned, "gpt-3.5-turbo-0125"],  # shut down on 2026-10-23: its calls are 404s
        prompts=["Tell me about Helium", "Tell me about Neon"],
        sleep=sim.clock.sleep,
        concurrency=1,
    )
    bad = "gpt-3.5-turbo-0125"
    assert result.summaries[tuned].errors == 0
    assert result.summaries[bad].errors == 2
    assert result.rows[0].answers[bad].error is not None
    assert "NotFoundError" in (result.rows[0].answers[bad].error or "")


def test_reports(trained: tuple[Simulator, str]) -> None:
    """Markdown has the summary and the side-by-side table; JSON round-trips."""
    sim, tuned = trained
    result = compare(sim.client(max_retries=0), models=[BASE, tuned], prompts=_held_out())
    md = result.to_markdown(items=2)
    assert md.splitlines()[0].startswith("| model | items | errors | contains pass | exact pass |")
    assert f"| {tuned} | 10 | 0 | 100% [72%, 100%] | 100% [72%, 100%] |" in md
    assert Comparison.model_validate(json.loads(result.to_json())) == result


@pytest.mark.anyio
async def test_acompare_matches_compare(trained: tuple[Simulator, str]) -> None:
    """The async twin gives the same outputs and pass rates."""
    sim, tuned = trained
    sync = compare(sim.client(max_retries=0), models=[BASE, tuned], prompts=_held_out())
    aio = await acompare(sim.async_client(max_retries=0), models=[BASE, tuned], prompts=_held_out())
    assert [r.answers[tuned].output for r in aio.rows] == [
        r.answers[tuned].output for r in sync.rows
    ]
    assert aio.summaries[tuned].pass_rates == sync.summaries[tuned].pass_rates


def test_aimd_halves_on_rate_limits_and_grows_back() -> None:
    """The adaptive limit halves on each 429 (not below 1) and regains one per full streak."""
    aimd = Aimd(16)
    aimd.on_rate_limit()
    aimd.on_rate_limit()
    assert aimd.limit == 4
    for _ in range(4):
        aimd.on_success()
    assert aimd.limit == 5
    for _ in range(10):
        aimd.on_rate_limit()
    assert aimd.limit == 1
    for _ in range(1000):
        aimd.on_success()
    assert aimd.limit == 16


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.anyio
async def test_a_429_storm_loses_no_item(trained: tuple[Simulator, str], flavour: str) -> None:
    """Thirty 429s in a row are waited out: every one of 40 items gets its answer."""
    sim, tuned = trained
    sim.faults.rate_limit("chat.create", retry_after=2, times=30)
    prompts = [f"Tell me about element {i}" for i in range(20)]
    if flavour == "sync":
        result = compare(
            sim.client(max_retries=0),
            models=[BASE, tuned],
            prompts=prompts,
            sleep=sim.clock.sleep,
            concurrency=8,
        )
    else:
        result = await acompare(
            sim.async_client(max_retries=0),
            models=[BASE, tuned],
            prompts=prompts,
            sleep=sim.clock.asleep,
            concurrency=8,
        )
    assert [s.errors for s in result.summaries.values()] == [0, 0]
    assert sum(len(r.answers) for r in result.rows) == 40
    assert sim.calls["chat.create"] == 40 + 30


def test_the_not_ready_race_is_waited_out() -> None:
    """A tuned model answering 404 for 100 s after success is retried until it serves."""
    sim = Simulator(timing=Timing(model_ready_delay=100))
    client = sim.client(max_retries=0)
    job = FineTuneJob.create(client, model=BASE, training=bundled_dataset(), sleep=sim.clock.sleep)
    tuned = job.wait().id
    result = compare(
        client, models=[tuned], prompts=["Tell me about Helium"], sleep=sim.clock.sleep
    )
    assert result.summaries[tuned].errors == 0
    assert (result.rows[0].answers[tuned].output or "").startswith("Helium")


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.anyio
async def test_batch_mode_gives_the_same_answers(
    trained: tuple[Simulator, str], flavour: str
) -> None:
    """`mode="batch"` runs every call through the Batch API and matches results by custom id."""
    sim, tuned = trained
    prompts = ["Tell me about Helium", "Tell me about Neon"]
    live = compare(sim.client(max_retries=0), models=[BASE, tuned], prompts=prompts)
    if flavour == "sync":
        batch = compare(
            sim.client(max_retries=0),
            models=[BASE, tuned],
            prompts=prompts,
            mode="batch",
            sleep=sim.clock.sleep,
        )
    else:
        batch = await acompare(
            sim.async_client(max_retries=0),
            models=[BASE, tuned],
            prompts=prompts,
            mode="batch",
            sleep=sim.clock.asleep,
        )
    assert [r.answers[tuned].output for r in batch.rows] == [
        r.answers[tuned].output for r in live.rows
    ]
    assert sim.calls["batches.create"] == 1
    assert sim.calls["chat.create"] == 4  # the live run only
    assert [s.errors for s in batch.summaries.values()] == [0, 0]


def test_to_dataframe_needs_pandas(
    trained: tuple[Simulator, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without pandas, to_dataframe() says how to get it (pandas is optional)."""
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    sim, tuned = trained
    result = compare(sim.client(max_retries=0), models=[tuned], prompts=["Hi"])
    with pytest.raises(ConfigurationError, match="pip install pandas"):
        result.to_dataframe()


def test_judge_against_a_reference_model_keeps_reasons(trained: tuple[Simulator, str]) -> None:
    """With reference_model, a judge grades each model against it; win rates and reasons are kept."""
    sim, tuned = trained

    def judge(output: str, item: Mapping[str, Any]) -> Grade:
        # A stand-in judge: prefers limericks over the reference model's answer.
        if " - " in output and " - " not in str(item["reference"]):
            return Grade(passed=True, score=1.0, reason="a limerick, as asked")
        return Grade(passed=False, score=0.5, reason="a tie")

    result = compare(
        sim.client(max_retries=0),
        models=[BASE, tuned],
        prompts=["Tell me about Helium", "Tell me about Neon"],
        graders={"judge": judge},
        reference_model=BASE,
    )
    # Two wins of two: the Wilson interval of the mean score, not a collapsed (1, 1, 1).
    assert result.summaries[tuned].mean_scores["judge"] == pytest.approx(
        (1.0, 0.3424, 1.0), abs=5e-5
    )
    # The reference model is not graded against itself: no rate, not 0%.
    assert result.summaries[BASE].mean_scores == {"judge": None}
    assert result.rows[0].answers[tuned].reasons == {"judge": "a limerick, as asked"}
    assert result.rows[0].answers[BASE].grades == {}
    with pytest.raises(ConfigurationError, match="not one of the models"):
        compare(sim.client(), models=[tuned], prompts=["Hi"], reference_model="nope")


def test_few_shot_request_shape_on_the_wire(trained: tuple[Simulator, str], tmp_path: Path) -> None:
    """On the wire: system first, then the examples as user/assistant turns, then the item (respx)."""
    sim, _tuned = trained
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "Tell me about Helium"},
                    {"role": "assistant", "content": "ref"},
                ]
            }
        )
        + "\n",
        encoding="utf-8",
    )
    with sim.mock(base_url="https://api.openai.com/v1") as router:
        client = openai.OpenAI(api_key="sk-test", max_retries=0)
        result = compare(
            client,
            models=[BASE],
            prompts=prompts,
            system="Be Elle.",
            few_shot=[("Q1", "A1")],
            concurrency=1,
            temperature=0,
        )
        bodies = [json.loads(call.request.content) for call in router.calls]
    assert [r.reference for r in result.rows] == ["ref"]
    assert {"model": BASE, "temperature": 0}.items() <= bodies[0].items()
    by_variant = sorted((len(b["messages"]), b["messages"]) for b in bodies)
    assert by_variant[0][1] == [
        {"role": "system", "content": "Be Elle."},
        {"role": "user", "content": "Tell me about Helium"},
    ]
    assert by_variant[1][1] == [
        {"role": "system", "content": "Be Elle."},
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Tell me about Helium"},
    ]
