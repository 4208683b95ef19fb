"""The two retry loops of `_core.retry`, driven with `.send()` alone: exact commands, exact waits.

`chat_flow` is `TunedModel.chat`'s loop, `answer_flow` each of `compare`'s calls: both twins of
each run these, so what is pinned here holds for the sync and the async shell alike.
"""

from __future__ import annotations

import email.utils
from typing import Any

import httpx2
import openai
import pytest

from finetune_kit._core.retry import (
    CALL,
    READY_BUDGET,
    Announce,
    Called,
    CallFailed,
    Command,
    Flow,
    GaveUp,
    Pace,
    Pause,
    Reply,
    Resolve,
    answer_flow,
    chat_flow,
    run_flow,
)
from finetune_kit.exceptions import ModelNotFoundError, RateLimitedError

NOW = 1_793_491_200.0
"""2026-11-01T00:00:00Z: the wall clock of every failure below."""
TUNED = "ft:gpt-4o-mini-2024-07-18:acme:elle:AbC123"
REQUEST = httpx2.Request("POST", "https://api.openai.com/v1/chat/completions")


def rate_limit(retry_after: str | None = None) -> openai.RateLimitError:
    headers = {} if retry_after is None else {"retry-after": retry_after}
    body = {"message": "Rate limit reached for requests.", "code": "rate_limit_exceeded"}
    return openai.RateLimitError(
        "Rate limit reached for requests.",
        response=httpx2.Response(429, headers=headers, request=REQUEST),
        body=body,
    )


def not_found(model: str = TUNED) -> openai.NotFoundError:
    message = f"The model `{model}` does not exist or you do not have access to it."
    return openai.NotFoundError(
        message,
        response=httpx2.Response(404, request=REQUEST),
        body={"message": message, "code": "model_not_found"},
    )


def failed(error: openai.OpenAIError, timer: float = 0.0) -> CallFailed:
    return CallFailed(error, now=NOW, timer=timer)


class Script:
    """Drives a flow, recording each command; `replies` answer them in order."""

    def __init__(self, flow: Flow[Any]) -> None:
        self.flow = flow
        self.commands: list[Command] = []
        self.result: Any = None
        try:
            self.commands.append(next(flow))
        except StopIteration as done:
            self.result = done.value

    def send(self, *replies: Reply) -> Script:
        for reply in replies:
            try:
                self.commands.append(self.flow.send(reply))
            except StopIteration as done:  # noqa: PERF203 - the flow's end, once
                self.result = done.value
        return self


# --- TunedModel.chat ------------------------------------------------------------------------


def test_chat_waits_out_a_rate_limit_then_returns_the_answer() -> None:
    """A 429 with Retry-After 3: one pause of exactly 3 s, then the answer is returned."""
    script = Script(chat_flow(TUNED, 600.0)).send(failed(rate_limit("3")), None, Called("hi", 0))
    assert script.commands == [CALL, Pause(3.0), CALL]
    assert script.result == "hi"


def test_chat_backs_off_5_times_on_rate_limits_then_raises() -> None:
    """Without Retry-After: 5, 10, 20, 40, 60 s; the sixth 429 is `RateLimitedError`."""
    script = Script(chat_flow(TUNED, 600.0))
    for _ in range(5):
        script.send(failed(rate_limit()), None)
    assert [c.delay for c in script.commands if isinstance(c, Pause)] == [5, 10, 20, 40, 60]
    with pytest.raises(RateLimitedError):
        script.send(failed(rate_limit()))


def test_chat_resolves_the_first_404_once_and_announces_each_wait() -> None:
    """A model to wait for: 5 s, then 10 s, each announced with what was waited; no 2nd look-up."""
    script = Script(chat_flow(TUNED, 600.0)).send(failed(not_found()), "wait", None, None)
    script.send(failed(not_found()), None, None, Called("ready", 0))
    served = f"{TUNED} to be served (a new model can take a few minutes after its job succeeds)"
    assert script.commands == [
        CALL,
        Resolve(script.commands[1].error),  # type: ignore[union-attr]
        Announce(f"waiting for {served}: trying again in 5 s (0 of 600 s waited)", 1),
        Pause(5.0),
        CALL,
        Announce(f"waiting for {served}: trying again in 10 s (5 of 600 s waited)", 2),
        Pause(10.0),
        CALL,
    ]
    assert script.result == "ready"


def test_chat_gives_up_on_a_model_not_served_within_the_ready_timeout() -> None:
    """`ready_timeout=12`: waits 5 and 7 s, then `ModelNotFoundError` says how long it waited."""
    script = Script(chat_flow(TUNED, 12.0)).send(failed(not_found()), "wait", None, None)
    script.send(failed(not_found()), None, None)
    assert [c.delay for c in script.commands if isinstance(c, Pause)] == [5.0, 7.0]
    with pytest.raises(ModelNotFoundError, match="still not served after 12 s of waiting"):
        script.send(failed(not_found()))


def test_a_driver_that_answers_the_wrong_thing_gets_a_clear_error() -> None:
    """A Call answered with a verdict is the driver's bug: a TypeError naming what came back."""
    with pytest.raises(TypeError, match="a Call is answered with Called or CallFailed, not 'wait'"):
        Script(chat_flow(TUNED, 600.0)).send("wait")


def test_run_flow_closes_the_flow_when_the_handler_raises() -> None:
    """Ctrl-C (or any error) in a handler ends the flow: its `finally` runs, the error goes on."""
    closed: list[bool] = []

    def flow() -> Flow[str]:
        try:
            yield Pause(1.0)
        finally:
            closed.append(True)
        return "unreachable"

    def handle(_command: Command) -> Reply:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_flow(flow(), handle)
    assert closed == [True]


# --- compare --------------------------------------------------------------------------------


def test_compare_tells_the_gate_of_each_429_and_waits_out_its_retry_after() -> None:
    """The gate hears of the 429 (`Pace(True)`) and of the answer (`Pace(False)`)."""
    script = Script(answer_flow(TUNED, timer=0.0, deadline=100.0))
    script.send(failed(rate_limit("2")), None, 2.0, Called("raw", 0.5), None)
    assert script.commands == [CALL, Pace(True), Pause(2.0), CALL, Pace(False)]
    assert script.result == Called("raw", 0.5)


def test_compare_backs_off_on_transient_errors_then_gives_up() -> None:
    """A 500 is tried 6 times in all: 0.5, 1, 2, 4, 8 s between; then the item keeps the error."""
    error = openai.InternalServerError(
        "Error code: 500", response=httpx2.Response(500, request=REQUEST), body=None
    )
    script = Script(answer_flow(TUNED, timer=0.0, deadline=None))
    for n in range(5):
        script.send(failed(error), None, float(n))
    script.send(failed(error), None)
    assert [c.delay for c in script.commands if isinstance(c, Pause)] == [0.5, 1, 2, 4, 8]
    assert [c.rate_limited for c in script.commands if isinstance(c, Pace)] == [False] * 6
    assert script.result == GaveUp(error)


def test_compare_never_waits_past_its_deadline() -> None:
    """At 95 s of a 100 s deadline, a Retry-After of 10 s is not waited: the item is late."""
    error = rate_limit("10")
    script = Script(answer_flow(TUNED, timer=0.0, deadline=100.0)).send(failed(error, 95.0), None)
    assert script.commands == [CALL, Pace(True)]
    assert script.result == GaveUp(error, late=True)


def test_compare_starts_no_call_after_its_deadline() -> None:
    """A call whose turn comes after the deadline is never made."""
    script = Script(answer_flow(TUNED, timer=100.0, deadline=100.0))
    assert script.commands == []
    assert script.result == GaveUp(None, late=True)


def test_compare_reads_a_retry_after_date_on_the_wall_clock_it_is_given() -> None:
    """A Retry-After HTTP date 7 s after the failure's `now` is a wait of exactly 7 s."""
    date = email.utils.formatdate(NOW + 7, usegmt=True)
    script = Script(answer_flow(TUNED, timer=0.0, deadline=None)).send(
        failed(rate_limit(date)), None
    )
    assert script.commands[-1] == Pause(7.0)


def test_compare_waits_for_a_model_known_to_exist_and_announces_it() -> None:
    """The verdict "wait": 5 s, announced with compare's own budget of 615 s."""
    script = Script(answer_flow(TUNED, timer=0.0, deadline=None))
    script.send(failed(not_found()), None, "wait", None)
    assert script.commands[2:] == [
        Resolve(script.commands[2].error),  # type: ignore[union-attr]
        Announce(
            f"waiting for {TUNED} to be served (a new model can take a few minutes after its "
            f"job succeeds): trying again in 5 s (0 of {READY_BUDGET:g} s waited)",
            1,
        ),
        Pause(5.0),
    ]
    assert READY_BUDGET == 615.0


def test_compare_keeps_the_404_of_a_model_not_to_wait_for() -> None:
    """The verdict "unavailable": no wait, the item keeps its error."""
    error = not_found()
    script = Script(answer_flow(TUNED, timer=0.0, deadline=None)).send(
        failed(error), None, "unavailable"
    )
    assert script.result == GaveUp(error)
