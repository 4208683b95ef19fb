"""`drive` / `adrive`: one loop for every flow, sync and async alike (one body per test).

What goes back to a flow, the one failure type (a raising call, a command outside the set),
the clock failures are classified with, the flow closed whatever happens, and where a `Warn`
points.
"""

from __future__ import annotations

import dataclasses
import email.utils
import inspect
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Literal

import httpx2
import openai
import pytest

from finetune_kit._core.drive import (
    NOT_A_COMMAND,
    Call,
    CallFailed,
    Flow,
    Sleep,
    Warn,
    adrive,
    drive,
)
from finetune_kit._core.errors import Classified
from finetune_kit._preflight import CreateSpec
from finetune_kit.exceptions import RateLimitedError
from finetune_kit.jobs import AsyncFineTuneJob, FineTuneJob

pytestmark = pytest.mark.anyio

Twin = Literal["sync", "async"]
NOW = 1_793_491_200.0


@dataclass(frozen=True, slots=True)
class Ask(Call):
    """A call: `perform` answers `n * 10` (or raises what the test makes it raise)."""

    n: int
    operation: str = "ask"


class Interrupted(BaseException):
    """Not an `Exception`: nothing sends it back, it goes through (as a cancellation does)."""


async def run(
    flavour: Twin,
    flow: Flow[int, Any],
    perform: Callable[[Ask], int],
    *,
    sleep: Callable[[float], None] | None = None,
    now: float = NOW,
) -> tuple[Any, list[float]]:
    """Drive `flow` with `drive` or `adrive`: the same `perform` and `sleep`, awaited or not."""
    slept: list[float] = []

    def do_sleep(seconds: float) -> None:
        slept.append(seconds)
        if sleep is not None:
            sleep(seconds)

    if flavour == "sync":
        return drive(flow, perform, sleep=do_sleep, now=lambda: now), slept

    async def aperform(command: Ask) -> int:
        return perform(command)

    async def asleep(seconds: float) -> None:
        do_sleep(seconds)

    return await adrive(flow, aperform, sleep=asleep, now=lambda: now), slept


def tens(command: Ask) -> int:
    return command.n * 10


def rate_limited(retry_after: str) -> openai.RateLimitError:
    request = httpx2.Request("GET", "https://api.openai.com/v1/x")
    response = httpx2.Response(429, headers={"retry-after": retry_after}, request=request)
    return openai.RateLimitError("slow down", response=response, body=None)


async def test_what_each_command_sends_back(flavour: Twin) -> None:
    """A call: what `perform` returned; `Sleep` and `Warn`: None. The flow's result is returned."""
    got: list[object] = []

    def flow() -> Generator[Ask | Sleep, int | CallFailed | None, str]:
        got.append((yield Ask(1)))
        got.append((yield Sleep(2.5)))
        got.append((yield Ask(4)))
        return "done"

    result, slept = await run(flavour, flow(), tens)
    assert (result, got, slept) == ("done", [10, None, 40], [2.5])


async def test_a_raising_call_comes_back_classified_on_the_given_clock(flavour: Twin) -> None:
    """The one failure type: `CallFailed(error, classified)`, classified with `now` (an HTTP
    date in Retry-After is read against it) and the command's `operation`."""
    error = rate_limited(email.utils.formatdate(NOW + 90, usegmt=True))

    def perform(command: Ask) -> int:
        raise error

    def flow() -> Generator[Ask, int | CallFailed | None, object]:
        return (yield Ask(1))

    failed, _ = await run(flavour, flow(), perform)
    assert isinstance(failed, CallFailed)
    assert failed.error is error
    c = failed.classified
    assert (c.transient, c.ambiguous, c.retry_after) == (True, False, 90.0)
    assert type(c.translated) is RateLimitedError
    assert str(c.translated) == "rate limited during ask"
    later, _ = await run(flavour, flow(), perform, now=NOW + 30)
    assert later.classified.retry_after == 60.0


async def test_a_command_outside_the_set_is_the_one_failure_type(flavour: Twin) -> None:
    """Neither a `Call`, a `Sleep` nor a `Warn`: a `CallFailed` of a `TypeError`, never
    transient, so the flow raises it (and `perform` never sees it)."""
    seen: list[Ask] = []

    def perform(command: Ask) -> int:
        seen.append(command)
        return 0

    def flow() -> Generator[Any, Any, object]:
        answer = yield "sleep 5"
        assert isinstance(answer, CallFailed)
        assert answer.classified == NOT_A_COMMAND
        assert (
            Classified(transient=False, ambiguous=False, retry_after=None, translated=None)
            == NOT_A_COMMAND
        )
        raise answer.error

    with pytest.raises(TypeError) as info:
        await run(flavour, flow(), perform)
    assert str(info.value) == (
        "not a command of the driver: 'sleep 5' (expected Call, Sleep or Warn)"
    )
    assert seen == []


@pytest.mark.parametrize("where", ["perform", "sleep"])
async def test_the_flow_is_closed_when_driving_stops_on_an_exception(
    flavour: Twin, where: str
) -> None:
    """An exception that is not sent back (here a `BaseException`, as a cancellation is) goes
    through, and the flow is closed first: its `finally` runs, it can't be resumed."""
    steps: list[str] = []

    def perform(command: Ask) -> int:
        if where == "perform" and command.n == 2:
            raise Interrupted
        return tens(command)

    def sleep(seconds: float) -> None:
        if where == "sleep":
            raise Interrupted

    def flow() -> Generator[Ask | Sleep, int | CallFailed | None, None]:
        try:
            steps.append(f"got {(yield Ask(1))}")
            yield Sleep(1.0)
            steps.append(f"got {(yield Ask(2))}")
        finally:
            steps.append("finally")

    made = flow()
    with pytest.raises(Interrupted):
        await run(flavour, made, perform, sleep=sleep)
    assert steps == ["got 10", "finally"]
    assert inspect.getgeneratorstate(made) == inspect.GEN_CLOSED


async def test_a_flow_that_raises_is_raised_from(flavour: Twin) -> None:
    """The flow's own error comes out of `drive` as it is (the flow is done)."""

    def flow() -> Generator[Ask, int | CallFailed | None, None]:
        answer = yield Ask(3)
        raise ValueError(f"no thanks: {answer}")

    made = flow()
    with pytest.raises(ValueError, match=r"^no thanks: 30$"):
        await run(flavour, made, tens)
    assert inspect.getgeneratorstate(made) == inspect.GEN_CLOSED


async def test_warn_points_at_the_caller_of_the_shell(flavour: Twin) -> None:
    """`Warn`: a `RuntimeWarning` with the message, attributed to the caller of the code that
    drives the flow (here `run`, in this file), not to the driver."""

    def flow() -> Generator[Warn, int | CallFailed | None, None]:
        yield Warn("a duplicate is left")

    with pytest.warns(RuntimeWarning) as warned:
        await run(flavour, flow(), tens)
    assert [str(w.message) for w in warned] == ["a duplicate is left"]
    assert warned[0].filename == __file__


# --- create's arguments, declared for both twins ----------------------------------------------


def _annotation(text: object) -> str:
    return str(text).replace("builtins.", "")


@pytest.mark.parametrize("twin", [FineTuneJob, AsyncFineTuneJob], ids=lambda c: c.__name__)
def test_create_spec_holds_every_argument_of_create(
    twin: type[FineTuneJob | AsyncFineTuneJob],
) -> None:
    """`CreateSpec`'s fields are `create`'s arguments but the client and the clocks, in order,
    with the same defaults and types: a new argument can't be forgotten on the way."""
    spec = [
        (f.name, None if f.default is dataclasses.MISSING else f.default, _annotation(f.type))
        for f in dataclasses.fields(CreateSpec)
    ]
    create = [
        (p.name, None if p.default is p.empty else p.default, _annotation(p.annotation))
        for p in inspect.signature(twin.create).parameters.values()
        if p.name not in ("client", "sleep", "now")
    ]
    assert create == spec
    assert len(spec) == 16
