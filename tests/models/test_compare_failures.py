"""`compare` / `acompare` failing loudly, within a deadline, and stopping at Ctrl-C.

A model whose calls all failed has no rates (n/a, JSON null) and is named in `failed_models`;
a 429 that never clears is given up at the deadline (measured on the injected clock, never
slept past); Ctrl-C stops the run within a second and keeps what finished.
"""

from __future__ import annotations

import _thread
import faulthandler
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from finetune_kit import ConfigurationError, FineTuneJob
from finetune_kit.cli.main import bundled_dataset
from finetune_kit.compare import (
    INTERRUPTED,
    CompareInterrupted,
    Comparison,
    acompare,
    compare,
)
from finetune_kit.graders import Grade
from finetune_kit.testing import Simulator, VirtualClock

BASE = "gpt-4o-mini-2024-07-18"
UNKNOWN = "gpt-3.5-turbo-0125"  # shut down on 2026-10-23: a model whose every call is a 404
PROMPTS = ["Tell me about Helium", "Tell me about Neon", "Tell me about Argon"]
RATE_LIMITED = (
    "RateLimitError: Error code: 429 - Rate limit reached for requests. Please try again later."
)


@pytest.fixture
def sim() -> Simulator:
    return Simulator()


@pytest.fixture
def tuned(sim: Simulator) -> str:
    job = FineTuneJob.create(
        sim.client(max_retries=0), model=BASE, training=bundled_dataset(), sleep=sim.clock.sleep
    )
    model = job.wait().id
    assert isinstance(sim.clock, VirtualClock)
    sim.clock.slept = 0.0  # count only the waits of the comparison
    return model


def _slept(sim: Simulator) -> float:
    """Seconds waited on the simulator's virtual clock."""
    assert isinstance(sim.clock, VirtualClock)
    return sim.clock.slept


@pytest.fixture
def guard() -> Iterator[None]:
    """A hung test dumps every thread's stack and ends the run instead of hanging (no sleep)."""
    faulthandler.dump_traceback_later(60, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


async def _compare(flavour: str, sim: Simulator, **kwargs: Any) -> Comparison:
    """`compare` or `acompare` on the simulator's virtual clock (sleeps and deadline)."""
    if flavour == "sync":
        kwargs.setdefault("sleep", sim.clock.sleep)
        return compare(sim.client(max_retries=0), timer=sim.clock.now, **kwargs)
    kwargs.setdefault("sleep", sim.clock.asleep)
    return await acompare(sim.async_client(max_retries=0), timer=sim.clock.now, **kwargs)


FLAVOURS = pytest.mark.parametrize("flavour", ["sync", "async"])


@FLAVOURS
@pytest.mark.anyio
async def test_a_model_whose_calls_all_failed_has_no_rates(
    sim: Simulator, tuned: str, flavour: str
) -> None:
    """Every call to a retired model fails: n/a (JSON null) and `failed_models`, never 0%."""
    result = await _compare(flavour, sim, models=[tuned, UNKNOWN], prompts=PROMPTS[:2])
    bad = result.summaries[UNKNOWN]
    assert (bad.items, bad.errors, bad.answered) == (2, 2, 0)
    assert bad.pass_rates == {}  # plain prompts: no references, no default graders
    assert result.failed_models == [UNKNOWN]
    assert (result.first_error(UNKNOWN) or "").startswith("NotFoundError: ")
    assert result.first_error(tuned) is None

    graded = await _compare(
        flavour,
        sim,
        models=[tuned, UNKNOWN],
        prompts=PROMPTS[:2],
        graders={"exact": lambda out, item: _grade(out == "x")},
    )
    assert graded.summaries[UNKNOWN].pass_rates == {"exact": None}
    assert graded.summaries[UNKNOWN].mean_scores == {"exact": None}
    assert graded.summaries[tuned].pass_rates["exact"] == pytest.approx(
        (0.0, 0.0, 0.6576), abs=5e-5
    )
    assert json.loads(graded.to_json())["summaries"][UNKNOWN]["pass_rates"] == {"exact": None}
    md = graded.to_markdown(items=0).splitlines()
    assert md[2].startswith(f"| {tuned} | 2 | 0 | 0% [0%, 66%] | ")
    assert md[3] == f"| {UNKNOWN} | 2 | 2 | n/a | n/a | n/a | n/a | - |"
    html = graded.to_html()
    row = html.split(f"<tr><td>{UNKNOWN}</td>")[1].split("</tr>")[0]
    assert row == '<td class="num">2</td><td class="num">2</td>' + (
        '<td class="num">n/a</td>' * 4 + '<td class="num">-</td>'
    )
    assert graded.best("exact") == tuned


def _grade(passed: bool) -> Grade:
    """A stand-in grader's verdict."""
    return Grade(passed=passed, score=float(passed))


@FLAVOURS
@pytest.mark.anyio
async def test_some_failures_are_counted_and_rates_cover_the_answers(
    sim: Simulator, tuned: str, flavour: str
) -> None:
    """One refused call (400): the item keeps its error, the errors column counts it."""
    sim.faults.server_error("chat.create", status=400, times=1)
    result = await _compare(
        flavour,
        sim,
        models=[tuned],
        prompts=PROMPTS[:2],
        concurrency=1,
        graders={"helium": lambda out, item: _grade("helium" in out.lower())},
    )
    s = result.summaries[tuned]
    assert (s.items, s.errors, s.answered) == (2, 1, 1)
    assert result.failed_models == []
    assert (result.rows[0].answers[tuned].error or "").startswith("BadRequestError: ")
    # Neon's answer, the one answered: 0 of 1, whose Wilson interval is wide.
    assert s.pass_rates["helium"] == pytest.approx((0.0, 0.0, 0.7935), abs=5e-5)
    assert result.to_markdown(items=0).splitlines()[2].startswith(f"| {tuned} | 2 | 1 | 0% ")


@FLAVOURS
@pytest.mark.anyio
async def test_a_429_that_never_clears_stops_at_the_deadline(
    sim: Simulator, tuned: str, flavour: str
) -> None:
    """Retry-After 300 s forever, a 1000 s deadline: 900 s waited in all, every item kept.

    The first item waits 300 s three times; its fourth retry would start at 1200 s, after the
    deadline, so it is given up without waiting. The other items get one call each.
    """
    sim.faults.rate_limit("chat.create", retry_after=300, times=None)
    result = await _compare(
        flavour, sim, models=[tuned], prompts=PROMPTS, concurrency=1, deadline=1000
    )
    assert _slept(sim) == 900.0
    assert sim.calls["chat.create"] == 6
    assert [r.index for r in result.rows] == [1, 2, 3]
    assert {r.answers[tuned].error for r in result.rows} == {
        f"deadline exceeded: no answer within the 1000 s deadline (last error: {RATE_LIMITED})"
    }
    assert result.failed_models == [tuned]


@FLAVOURS
@pytest.mark.anyio
async def test_the_default_deadline_is_an_hour(sim: Simulator, tuned: str, flavour: str) -> None:
    """Without one given, a never-clearing 429 is waited out for 55 min, not 50 x 300 s."""
    sim.faults.rate_limit("chat.create", retry_after=300, times=None)
    result = await _compare(flavour, sim, models=[tuned], prompts=PROMPTS[:1])
    assert _slept(sim) == 3300.0
    assert sim.calls["chat.create"] == 12
    assert result.failed_models == [tuned]


@FLAVOURS
@pytest.mark.anyio
async def test_no_deadline_waits_out_every_attempt(
    sim: Simulator, tuned: str, flavour: str
) -> None:
    """`deadline=None`: the 50 attempts of a rate-limited call, as before."""
    sim.faults.rate_limit("chat.create", retry_after=300, times=None)
    result = await _compare(flavour, sim, models=[tuned], prompts=PROMPTS[:1], deadline=None)
    assert (_slept(sim), sim.calls["chat.create"]) == (49 * 300.0, 50)
    assert result.rows[0].answers[tuned].error == RATE_LIMITED


@FLAVOURS
@pytest.mark.anyio
async def test_a_deadline_must_be_positive(sim: Simulator, flavour: str) -> None:
    """A zero or negative deadline is a usage error, before any call."""
    with pytest.raises(ConfigurationError, match="deadline must be a positive number"):
        await _compare(flavour, sim, models=[BASE], prompts=PROMPTS, deadline=0)
    assert sim.calls["chat.create"] == 0


def _interrupting_sleep(flavour: str) -> Any:
    """A sleep that raises KeyboardInterrupt: Ctrl-C while a 429 is waited out."""

    def sleep(_seconds: float) -> None:
        raise KeyboardInterrupt

    async def asleep(_seconds: float) -> None:
        raise KeyboardInterrupt

    return sleep if flavour == "sync" else asleep


@FLAVOURS
@pytest.mark.anyio
async def test_ctrl_c_during_a_429_wait_keeps_what_finished(
    sim: Simulator, tuned: str, flavour: str, guard: None
) -> None:
    """The first item is answered; Ctrl-C while the second waits out a 429 stops the run."""
    del guard
    sim.faults.rate_limit("chat.create", retry_after=300, times=None, skip=1)
    started = time.monotonic()
    with pytest.raises(CompareInterrupted) as caught:
        await _compare(
            flavour,
            sim,
            models=[tuned],
            prompts=PROMPTS,
            concurrency=1,
            sleep=_interrupting_sleep(flavour),
        )
    assert time.monotonic() - started < 1.0
    partial = caught.value.comparison
    assert str(caught.value) == "interrupted: 1 of 3 calls answered"
    assert isinstance(caught.value, KeyboardInterrupt)
    assert (partial.rows[0].answers[tuned].output or "").startswith("Helium")
    assert [r.answers[tuned].error for r in partial.rows] == [None, INTERRUPTED, INTERRUPTED]
    assert (partial.summaries[tuned].items, partial.summaries[tuned].errors) == (3, 2)
    # Sync: one worker, so the third item never started. Async: the third task took the slot
    # while the second waited out its 429, and got a 429 too.
    assert sim.calls["chat.create"] == {"sync": 2, "async": 3}[flavour]


def test_ctrl_c_in_the_main_thread_stops_within_a_second(
    sim: Simulator, tuned: str, guard: None
) -> None:
    """A SIGINT reaching the main thread while a worker waits out a 429 ends the run at once.

    The worker's wait does not end by itself (it blocks until the test releases it): the
    main thread must not wait for it.
    """
    del guard
    sim.faults.rate_limit("chat.create", retry_after=300, times=None, skip=1)
    released = threading.Event()

    def sleep(_seconds: float) -> None:
        _thread.interrupt_main()  # what Ctrl-C does
        released.wait(30)

    started = time.monotonic()
    try:
        with pytest.raises(CompareInterrupted) as caught:
            compare(
                sim.client(max_retries=0),
                models=[tuned],
                prompts=PROMPTS,
                concurrency=1,
                sleep=sleep,
                timer=sim.clock.now,
            )
        elapsed = time.monotonic() - started
    finally:
        released.set()
    assert elapsed < 1.0
    partial = caught.value.comparison
    assert [r.answers[tuned].error for r in partial.rows] == [None, INTERRUPTED, INTERRUPTED]
    assert (partial.rows[0].answers[tuned].output or "").startswith("Helium")
