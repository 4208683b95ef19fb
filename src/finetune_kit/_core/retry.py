"""Calling a model until it answers, as generator flows: each retry loop written once.

`chat_flow` is `TunedModel.chat`'s loop (wait for a model not served yet, wait out rate limits);
`answer_flow` is the loop of each of `compare`'s calls (its own retries within a deadline, the
concurrency gate told how each call went). A flow yields commands and is sent back what came of
each; the sync and async shells only carry them out, so both twins retry exactly alike, and
tests drive a flow with `.send()` alone:

| command | the shell does | sends back |
|---|---|---|
| `Call()` | calls the model once | `Called(response, latency)` or `CallFailed(error, now, timer)` |
| `Pace(rate_limited)` | tells its concurrency gate how the call went (compare) | None |
| `Resolve(error)` | decides what the model's first "not found" means (`models.resolve`) | a `Verdict` |
| `Announce(line, attempt)` | says what is waited for (`models.announce`) | None |
| `Pause(delay)` | waits `delay` seconds | its timer after the wait (compare), or None |

`run_flow` / `arun_flow` drive a flow with a handler of these commands and close it, however it
ends. Pure: no I/O, no clock reads, no sleeping (the times come back with the outcomes).
"""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import openai

from finetune_kit._core import ready
from finetune_kit._core.errors import classify
from finetune_kit.exceptions import RateLimitedError

__all__ = [
    "CALL",
    "MAX_ATTEMPTS",
    "NOT_READY_ATTEMPTS",
    "RATE_LIMIT_ATTEMPTS",
    "RATE_LIMIT_RETRIES",
    "READY_BUDGET",
    "Announce",
    "Call",
    "CallFailed",
    "Called",
    "Command",
    "Flow",
    "GaveUp",
    "Pace",
    "Pause",
    "Reply",
    "Resolve",
    "answer_delay",
    "answer_flow",
    "arun_flow",
    "chat_flow",
    "ready_delay",
    "run_flow",
]

RATE_LIMIT_RETRIES = 5
"""How many times `chat` waits out a rate limit (its Retry-After, of any size) and tries again."""
MAX_ATTEMPTS = 6
"""Calls of one compare item that fail with a transient error (other than a rate limit)."""
RATE_LIMIT_ATTEMPTS = 50
"""Calls of one compare item while rate-limited: a 429 storm is waited out much longer."""
NOT_READY_ATTEMPTS = 14
"""Calls of one compare item to a model not served yet (5 s, 10 s... about 10 minutes)."""


# --- commands and what is sent back -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """Command: call the model once (compare: holding a slot of its gate only meanwhile)."""


CALL = Call()


@dataclass(frozen=True, slots=True)
class Pace:
    """Command: tell the concurrency gate how the call went (a 429 shrinks its limit)."""

    rate_limited: bool


@dataclass(frozen=True, slots=True)
class Resolve:
    """Command: what the model's "not found" `error` means (`models.resolve`): a `Verdict`.

    The shell may look the model up; it raises `ModelNotFoundError` for one that does not exist.
    """

    error: openai.NotFoundError


@dataclass(frozen=True, slots=True)
class Announce:
    """Command: say `line` (what is waited for); `attempt` numbers the waits of one call."""

    line: str
    attempt: int


@dataclass(frozen=True, slots=True)
class Pause:
    """Command: wait `delay` seconds, then send back the run's timer (or None)."""

    delay: float


Command = Call | Pace | Resolve | Announce | Pause


@dataclass(frozen=True, slots=True)
class Called:
    """The call was answered: its response, `latency` seconds after it was made."""

    response: Any
    latency: float


@dataclass(frozen=True, slots=True)
class CallFailed:
    """The call raised `error`.

    `now`: wall-clock seconds since the epoch (a Retry-After given as an HTTP date is relative
    to it); `timer`: the run's timer, on which its deadline is set.
    """

    error: openai.OpenAIError
    now: float
    timer: float


@dataclass(frozen=True, slots=True)
class GaveUp:
    """The end of a compare call that got no answer: its last `error` (None if it never ran).

    `late`: the deadline cut it short (no retry may start or wait past it).
    """

    error: openai.OpenAIError | None
    late: bool = False


Reply = Called | CallFailed | ready.Verdict | float | None
"""What a shell sends back: see the table above."""
T = TypeVar("T")
Flow = Generator[Command, Reply, T]

_VERDICTS: frozenset[object] = frozenset(typing.get_args(ready.Verdict))


def _outcome(reply: Reply) -> Called | CallFailed:
    if isinstance(reply, (Called, CallFailed)):
        return reply
    raise TypeError(f"a Call is answered with Called or CallFailed, not {reply!r}")


def _verdict(reply: Reply) -> ready.Verdict:
    if reply in _VERDICTS:
        return typing.cast("ready.Verdict", reply)
    raise TypeError(
        f"a Resolve is answered with a verdict ({sorted(map(str, _VERDICTS))}), not {reply!r}"
    )


def _timer(reply: Reply) -> float:
    if isinstance(reply, (int, float)) and not isinstance(reply, bool):
        return float(reply)
    raise TypeError(f"a compare Pause is answered with the run's timer, not {reply!r}")


# --- TunedModel.chat ----------------------------------------------------------------------


def chat_flow(model_id: str, ready_timeout: float) -> Flow[Any]:
    """`TunedModel.chat`'s calls: return the response of the first call answered.

    A "not found" is waited out when the first one's verdict (`Resolve`) says the model exists
    and is not served yet: 5 s, 10 s... within `ready_timeout` (`ready.ready_delays`), each wait
    announced; a rate limit is waited out `RATE_LIMIT_RETRIES` times, honouring a Retry-After of
    any size (the SDK gives up on one over 120 s).

    Raises:
        ModelNotFoundError: The model exists but won't answer, or is still not served after
            `ready_timeout` (a model that does not exist: `Resolve` raised it).
        RateLimitedError: Still rate-limited after `RATE_LIMIT_RETRIES` waits.
        IncompatibleEndpointError: The endpoint answered a web page, not the API.
        openai.OpenAIError: Any other error of the call, as it came.
    """
    steps = ready.ready_delays(ready_timeout)
    waited = 0.0
    waits = limited = 0
    verdict: ready.Verdict | None = None  # what the first "not found" meant: decided once
    while True:
        outcome = _outcome((yield CALL))
        if isinstance(outcome, Called):
            return outcome.response
        exc = outcome.error
        if verdict is None and isinstance(exc, openai.NotFoundError):
            verdict = _verdict((yield Resolve(exc)))
        c = classify(exc, operation="chat", now=outcome.now)  # removes echoed keys first
        if isinstance(exc, openai.NotFoundError) and c.translated is None:
            deployment = ready.kind_of(exc) == "deployment"
            if verdict == "unavailable":
                raise ready.unavailable(model_id, exc) from exc
            if verdict == "wait":
                if not steps:
                    raise ready.not_served(model_id, waited, deployment=deployment) from exc
                step = steps.pop(0)
                line = ready.waiting(model_id, step, waited, ready_timeout, deployment=deployment)
                waits += 1
                yield Announce(line, waits)
                waited += step
                yield Pause(step)
                continue
        if isinstance(c.translated, RateLimitedError) and c.transient:
            limited += 1
            if limited <= RATE_LIMIT_RETRIES:
                yield Pause(c.retry_after or min(60.0, 5.0 * 2 ** (limited - 1)))
                continue
        if c.translated is not None:
            raise c.translated from exc
        raise exc


# --- compare ------------------------------------------------------------------------------


def ready_delay(attempt: int) -> float:
    """The wait before attempt `attempt + 1` of a model not served yet: 5, 10, 20, 40, 60... s."""
    return min(60.0, 5.0 * 2.0 ** (attempt - 1))


READY_BUDGET = sum(ready_delay(a) for a in range(1, NOT_READY_ATTEMPTS))
"""Seconds compare waits in all for a model not served yet (615)."""


def answer_delay(
    exc: openai.OpenAIError, attempt: int, *, not_ready: bool, now: float
) -> float | None:
    """Seconds compare waits before calling again after `exc`, its `attempt`-th; None: give up.

    A rate limit is waited out `RATE_LIMIT_ATTEMPTS` times, another transient error
    `MAX_ATTEMPTS` times (Retry-After honoured, relative to `now` when it is an HTTP date, else
    0.5 s, 1 s, 2 s... up to 30 s). A model known to exist that answers 404 (`not_ready`) is
    not served yet: waited for too (`ready_delay`), as `TunedModel.chat` does.
    """
    if isinstance(exc, openai.NotFoundError) and not_ready:
        return None if attempt >= NOT_READY_ATTEMPTS else ready_delay(attempt)
    limit = RATE_LIMIT_ATTEMPTS if isinstance(exc, openai.RateLimitError) else MAX_ATTEMPTS
    if attempt >= limit:
        return None
    c = classify(exc, operation="compare", now=now)
    if not c.transient:
        return None
    return c.retry_after or min(30.0, 0.5 * 2 ** (attempt - 1))


def answer_flow(model_id: str, *, timer: float, deadline: float | None) -> Flow[Called | GaveUp]:
    """One of `compare`'s calls, retried: `Called` once answered, else `GaveUp`.

    Args:
        model_id: The model called (named in the announcements of a wait for it).
        timer: The run's timer as the call starts.
        deadline: The timer's value at which the run stops calling (None: no deadline). No call
            starts after it and no retry waits past it.

    Each call's outcome is told to the gate (`Pace`); the first "not found" of a model is
    resolved (`Resolve`: "wait" for one known to exist, which is then waited for and announced).
    """
    last: openai.OpenAIError | None = None
    for attempt in range(1, RATE_LIMIT_ATTEMPTS + 1):
        if deadline is not None and timer >= deadline:
            return GaveUp(last, late=True)
        outcome = _outcome((yield CALL))
        rate_limited = isinstance(outcome, CallFailed) and isinstance(
            outcome.error, openai.RateLimitError
        )
        yield Pace(rate_limited=rate_limited)
        if isinstance(outcome, Called):
            return outcome
        last = outcome.error
        not_ready = isinstance(last, openai.NotFoundError) and (
            _verdict((yield Resolve(last))) == "wait"
        )
        delay = answer_delay(last, attempt, not_ready=not_ready, now=outcome.now)
        if delay is None:
            return GaveUp(last)
        if deadline is not None and not outcome.timer + delay < deadline:
            return GaveUp(last, late=True)  # the retry would come too late: never wait past it
        if not_ready:
            waited = sum(ready_delay(a) for a in range(1, attempt))
            line = ready.waiting(model_id, delay, waited, READY_BUDGET, deployment=False)
            yield Announce(line, attempt)
        timer = _timer((yield Pause(delay)))
    raise AssertionError("unreachable")  # pragma: no cover - the last attempt gives up


# --- drivers ------------------------------------------------------------------------------


def run_flow(flow: Flow[T], handle: Callable[[Command], Reply]) -> T:
    """Carry out each command of `flow` with `handle`; return what the flow returns.

    The flow is closed however this ends (an error of `handle`, Ctrl-C...).
    """
    reply: Reply = None
    try:
        while True:
            try:
                command = flow.send(reply)
            except StopIteration as done:
                return typing.cast("T", done.value)
            reply = handle(command)
    finally:
        flow.close()


async def arun_flow(flow: Flow[T], handle: Callable[[Command], Awaitable[Reply]]) -> T:
    """The async twin of `run_flow`: `handle` is awaited."""
    reply: Reply = None
    try:
        while True:
            try:
                command = flow.send(reply)
            except StopIteration as done:
                return typing.cast("T", done.value)
            reply = await handle(command)
    finally:
        flow.close()
