"""The two retry loops of `_core.retry`, driven with `.send()` alone: exact commands, exact waits.

`chat_flow` is `TunedModel.chat`'s loop, `answer_flow` each of `compare`'s calls: both twins of
each run these (with `drive` / `adrive`), so what is pinned here holds for the sync and the async
shell alike.
"""

from __future__ import annotations

import email.utils
from typing import Any

import httpx2
import openai
import pytest

from finetune_kit._core.drive import Call, CallFailed, Sleep, drive
from finetune_kit._core.errors import classify
from finetune_kit._core.retry import (
    ASK_CHAT,
    ASK_COMPARE,
    READ_TIMER,
    READY_BUDGET,
    Announce,
    Called,
    GaveUp,
    ModelCall,
    ModelFlow,
    Pace,
    Reply,
    Resolve,
    answer_flow,
    chat_flow,
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


def failed(error: BaseException, operation: str = "chat") -> CallFailed:
    """What `drive` sends back for a call that raised `error`: classified at `NOW`."""
    return CallFailed(error, classify(error, operation=operation, now=NOW))


def call_failed(error: openai.OpenAIError, timer: float = 0.0) -> tuple[CallFailed, float]:
    """A compare call that failed, then the run's timer read after it (`ReadTimer`)."""
    return failed(error, "compare"), timer


class Script:
    """Drives a flow, recording each command; `replies` answer them in order."""

    def __init__(self, flow: ModelFlow[Any]) -> None:
        self.flow = flow
        self.commands: list[Call | Sleep | object] = []
        self.result: Any = None
        try:
            self.commands.append(next(flow))
        except StopIteration as done:
            self.result = done.value

    def send(self, *replies: Reply | CallFailed) -> Script:
        for reply in replies:
            try:
                self.commands.append(self.flow.send(reply))
            except StopIteration as done:  # noqa: PERF203 - the flow's end, once
                self.result = done.value
        return self


# --- TunedModel.chat ------------------------------------------------------------------------


def test_chat_waits_out_a_rate_limit_then_returns_the_answer() -> None:
    """A 429 with Retry-After 3: one sleep of exactly 3 s, then the answer is returned."""
    script = Script(chat_flow(TUNED, 600.0)).send(failed(rate_limit("3")), None, Called("hi", 0))
    assert script.commands == [ASK_CHAT, Sleep(3.0), ASK_CHAT]
    assert script.result == "hi"


def test_chat_backs_off_5_times_on_rate_limits_then_raises() -> None:
    """Without Retry-After: 5, 10, 20, 40, 60 s; the sixth 429 is `RateLimitedError`."""
    script = Script(chat_flow(TUNED, 600.0))
    for _ in range(5):
        script.send(failed(rate_limit()), None)
    assert [c.seconds for c in script.commands if isinstance(c, Sleep)] == [5, 10, 20, 40, 60]
    with pytest.raises(RateLimitedError, match="rate limited during chat"):
        script.send(failed(rate_limit()))


def test_chat_resolves_the_first_404_once_and_announces_each_wait() -> None:
    """A model to wait for: 5 s, then 10 s, each announced with what was waited; no 2nd look-up."""
    script = Script(chat_flow(TUNED, 600.0)).send(failed(not_found()), "wait", None, None)
    script.send(failed(not_found()), None, None, Called("ready", 0))
    served = f"{TUNED} to be served (a new model can take a few minutes after its job succeeds)"
    assert script.commands == [
        ASK_CHAT,
        Resolve(script.commands[1].error),  # type: ignore[attr-defined]
        Announce(f"waiting for {served}: trying again in 5 s (0 of 600 s waited)", 1),
        Sleep(5.0),
        ASK_CHAT,
        Announce(f"waiting for {served}: trying again in 10 s (5 of 600 s waited)", 2),
        Sleep(10.0),
        ASK_CHAT,
    ]
    assert script.result == "ready"


def test_chat_gives_up_on_a_model_not_served_within_the_ready_timeout() -> None:
    """`ready_timeout=12`: waits 5 and 7 s, then `ModelNotFoundError` says how long it waited."""
    script = Script(chat_flow(TUNED, 12.0)).send(failed(not_found()), "wait", None, None)
    script.send(failed(not_found()), None, None)
    assert [c.seconds for c in script.commands if isinstance(c, Sleep)] == [5.0, 7.0]
    with pytest.raises(ModelNotFoundError, match="still not served after 12 s of waiting"):
        script.send(failed(not_found()))


def test_a_driver_that_answers_the_wrong_thing_gets_a_clear_error() -> None:
    """A model call answered with a verdict is the driver's bug: a TypeError naming what came."""
    with pytest.raises(
        TypeError, match="a model call is answered with Called or CallFailed, not 'wait'"
    ):
        Script(chat_flow(TUNED, 600.0)).send("wait")


@pytest.mark.parametrize("command", ["ask", "resolve", "announce"])
def test_an_error_other_than_the_models_is_raised_as_it_came(command: str) -> None:
    """Only a model call's `OpenAIError` is retried: a shell's error (a look-up's, `on_wait`'s,
    a bug's) ends the flow, raised as it came."""
    error = LookupError(f"the shell's own error, at {command}")
    script = Script(chat_flow(TUNED, 600.0))
    if command != "ask":
        script.send(failed(not_found()))
    if command == "announce":
        script.send("wait")
    with pytest.raises(LookupError) as raised:
        script.send(failed(error))
    assert raised.value is error


def test_drive_carries_out_the_chat_flow_on_its_own_clock() -> None:
    """`drive` classifies a failed model call with its `now`: a Retry-After date 9 s after it
    is a sleep of exactly 9 s; then the answer is returned."""
    answers: list[Called | Exception] = [
        rate_limit(email.utils.formatdate(NOW + 9, usegmt=True)),
        Called("hi", 0.0),
    ]
    slept: list[float] = []

    def perform(command: ModelCall) -> Reply:
        assert command == ASK_CHAT
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    result = drive(chat_flow(TUNED, 600.0), perform, sleep=slept.append, now=lambda: NOW)
    assert (result, slept) == ("hi", [9.0])


# --- compare --------------------------------------------------------------------------------


def test_compare_tells_the_gate_of_each_429_and_waits_out_its_retry_after() -> None:
    """The gate hears of the 429 (`Pace(True)`) and of the answer (`Pace(False)`); the run's
    timer is read after the failure and after the wait."""
    script = Script(answer_flow(TUNED, timer=0.0, deadline=100.0))
    script.send(*call_failed(rate_limit("2")), None, None, 2.0, Called("raw", 0.5), None)
    assert script.commands == [
        ASK_COMPARE,
        READ_TIMER,
        Pace(True),
        Sleep(2.0),
        READ_TIMER,
        ASK_COMPARE,
        Pace(False),
    ]
    assert script.result == Called("raw", 0.5)


def test_compare_backs_off_on_transient_errors_then_gives_up() -> None:
    """A 500 is tried 6 times in all: 0.5, 1, 2, 4, 8 s between; then the item keeps the error."""
    error = openai.InternalServerError(
        "Error code: 500", response=httpx2.Response(500, request=REQUEST), body=None
    )
    script = Script(answer_flow(TUNED, timer=0.0, deadline=None))
    for n in range(5):
        script.send(*call_failed(error), None, None, float(n))
    script.send(*call_failed(error), None)
    assert [c.seconds for c in script.commands if isinstance(c, Sleep)] == [0.5, 1, 2, 4, 8]
    assert [c.rate_limited for c in script.commands if isinstance(c, Pace)] == [False] * 6
    assert script.result == GaveUp(error)


def test_compare_never_waits_past_its_deadline() -> None:
    """At 95 s of a 100 s deadline, a Retry-After of 10 s is not waited: the item is late."""
    error = rate_limit("10")
    script = Script(answer_flow(TUNED, timer=0.0, deadline=100.0))
    script.send(*call_failed(error, 95.0), None)
    assert script.commands == [ASK_COMPARE, READ_TIMER, Pace(True)]
    assert script.result == GaveUp(error, late=True)


def test_compare_starts_no_call_after_its_deadline() -> None:
    """A call whose turn comes after the deadline is never made."""
    script = Script(answer_flow(TUNED, timer=100.0, deadline=100.0))
    assert script.commands == []
    assert script.result == GaveUp(None, late=True)


def test_compare_reads_a_retry_after_date_on_the_wall_clock_it_is_given() -> None:
    """A Retry-After HTTP date 7 s after the failure's `now` is a wait of exactly 7 s."""
    date = email.utils.formatdate(NOW + 7, usegmt=True)
    script = Script(answer_flow(TUNED, timer=0.0, deadline=None))
    script.send(*call_failed(rate_limit(date)), None)
    assert script.commands[-1] == Sleep(7.0)


def test_compare_waits_for_a_model_known_to_exist_and_announces_it() -> None:
    """The verdict "wait": 5 s, announced with compare's own budget of 615 s."""
    script = Script(answer_flow(TUNED, timer=0.0, deadline=None))
    script.send(*call_failed(not_found()), None, "wait", None)
    assert script.commands[3:] == [
        Resolve(script.commands[3].error),  # type: ignore[attr-defined]
        Announce(
            f"waiting for {TUNED} to be served (a new model can take a few minutes after its "
            f"job succeeds): trying again in 5 s (0 of {READY_BUDGET:g} s waited)",
            1,
        ),
        Sleep(5.0),
    ]
    assert READY_BUDGET == 615.0


def test_compare_keeps_the_404_of_a_model_not_to_wait_for() -> None:
    """The verdict "unavailable": no wait, the item keeps its error."""
    error = not_found()
    script = Script(answer_flow(TUNED, timer=0.0, deadline=None))
    script.send(*call_failed(error), None, "unavailable")
    assert script.result == GaveUp(error)
