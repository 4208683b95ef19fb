"""Both twins' retry paths, end to end on the simulator: the same faults, the same exact waits.

The loops are written once (`finetune_kit._core.retry`); each twin only carries out the commands.
A twin that stops doing so (a pause left out, a wait not announced, a 404 not looked up, the
run's clock not read back after a wait, a Retry-After date read on the wrong clock) changes
what these runs wait, say or answer, and fails here, whichever twin it is.
"""

from __future__ import annotations

import email.utils
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from finetune_kit import AsyncTunedModel, FineTuneJob, TunedModel, acompare, compare
from finetune_kit.cli.main import bundled_dataset
from finetune_kit.testing import Fault, Simulator, Timing, VirtualClock

pytestmark = pytest.mark.anyio

BASE = "gpt-4o-mini-2024-07-18"


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _fresh_model(sim: Simulator, ready_after: float) -> str:
    """A model fresh from its job, answering 404 until `ready_after` seconds from now."""
    job = FineTuneJob.create(
        sim.client(max_retries=0), model=BASE, training=bundled_dataset(), sleep=sim.clock.sleep
    )
    model = job.wait().id
    finished = job.snapshot.finished_at or 0
    sim.timing.model_ready_delay = sim.clock.now() + ready_after - finished
    return model


class Waits:
    """The sleeps of a run, on the simulator's clock (sync or async), recorded."""

    def __init__(self, sim: Simulator) -> None:
        assert isinstance(sim.clock, VirtualClock)
        self.clock = sim.clock
        self.slept: list[float] = []
        self.said: list[str] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await self.clock.asleep(seconds)


async def _compare(flavour: str, sim: Simulator, waits: Waits, **kwargs: Any) -> Any:
    if flavour == "sync":
        return compare(
            sim.client(), sleep=waits.sleep, on_wait=waits.said.append, concurrency=1, **kwargs
        )
    return await acompare(
        sim.async_client(),
        sleep=waits.asleep,
        on_wait=waits.said.append,
        concurrency=1,
        **kwargs,
    )


async def test_compare_twins_wait_out_429s_and_a_model_not_served_alike(flavour: str) -> None:
    """Two 429s (Retry-After 2 s), then a fresh model that serves 12 s later: exact waits."""
    sim = Simulator(timing=Timing())
    tuned = _fresh_model(sim, ready_after=12.0)
    model = TunedModel(sim.client(), tuned, fresh=True)
    sim.faults.rate_limit("chat.create", retry_after=2, times=2)
    waits = Waits(sim)
    result = await _compare(flavour, sim, waits, models=[model], prompts=["Tell me about Helium"])
    # 429, 429, then a 404 at 4 s: compare counts attempts across errors, so the third waits
    # the third step of the not-ready backoff (20 s), and its line counts 5 + 10 s as waited.
    assert waits.slept == [2.0, 2.0, 20.0]
    served = f"{tuned} to be served (a new model can take a few minutes after its job succeeds)"
    assert waits.said == [f"waiting for {served}: trying again in 20 s (15 of 615 s waited)"]
    answer = result.rows[0].answers[tuned]
    assert (answer.error, answer.output.startswith("Helium")) == (None, True)
    assert sim.calls["chat.create"] == 4


async def test_compare_twins_read_a_retry_after_date_on_the_clients_clock(flavour: str) -> None:
    """A Retry-After HTTP date 7 s ahead of the simulator's clock is a wait of exactly 7 s."""
    sim = Simulator()
    date = email.utils.formatdate(sim.clock.now() + 7, usegmt=True)
    sim.faults.add(Fault("chat.create", status=429, headers={"retry-after": date}))
    waits = Waits(sim)
    result = await _compare(flavour, sim, waits, models=[BASE], prompts=["Hi"])
    assert waits.slept == [7.0]
    assert result.rows[0].answers[BASE].error is None


async def test_compare_twins_stop_retrying_at_the_deadline(flavour: str) -> None:
    """429s every 30 s against a 100 s deadline: 3 waits, then the item is late, never slept past."""
    sim = Simulator()
    sim.faults.rate_limit("chat.create", retry_after=30, times=None)
    waits = Waits(sim)
    result = await _compare(flavour, sim, waits, models=[BASE], prompts=["Hi"], deadline=100.0)
    assert waits.slept == [30.0, 30.0, 30.0]
    assert (result.rows[0].answers[BASE].error or "").startswith(
        "deadline exceeded: no answer within the 100 s deadline (last error: RateLimitError"
    )


async def test_chat_twins_wait_out_429s_and_a_model_not_served_alike(flavour: str) -> None:
    """`TunedModel.chat` and its twin: the same faults, the same exact waits and lines."""
    sim = Simulator()
    tuned = _fresh_model(sim, ready_after=12.0)
    sim.faults.rate_limit("chat.create", retry_after=2, times=2)
    waits = Waits(sim)
    chat: Callable[[str], Any]
    if flavour == "sync":
        chat = TunedModel(
            sim.client(max_retries=0),
            tuned,
            sleep=waits.sleep,
            fresh=True,
            on_wait=waits.said.append,
        ).chat
    else:
        chat = AsyncTunedModel(
            sim.async_client(max_retries=0),
            tuned,
            sleep=waits.asleep,
            fresh=True,
            on_wait=waits.said.append,
        ).chat
    response = chat("Tell me about Helium")
    if isinstance(response, Awaitable):
        response = await response
    assert waits.slept == [2.0, 2.0, 5.0, 10.0]
    served = f"{tuned} to be served (a new model can take a few minutes after its job succeeds)"
    assert waits.said == [
        f"waiting for {served}: trying again in 5 s (0 of 600 s waited)",
        f"waiting for {served}: trying again in 10 s (5 of 600 s waited)",
    ]
    assert (response.choices[0].message.content or "").startswith("Helium")
