"""Calling a model until it answers, as flows for `drive` / `adrive`: each retry loop written once.

`chat_flow` is `TunedModel.chat`'s loop (wait for a model not served yet, wait out rate limits);
`answer_flow` is the loop of each of `compare`'s calls (its own retries within a deadline, the
concurrency gate told how each call went). A flow yields commands and is sent back what came of
each; the sync and async shells only carry them out (`perform`, with `drive` / `adrive`), so
both twins retry exactly alike, and tests drive a flow with `.send()` alone:

| command | the shell does | sends back |
|---|---|---|
| `AskModel(operation)` | calls the model once | `Called(response, latency)` |
| `ReadTimer()` | reads the run's timer (compare) | its value |
| `Pace(rate_limited)` | tells its concurrency gate how the call went (compare) | None |
| `Resolve(error)` | decides what the model's first "not found" means (`models.resolve`) | a `Verdict` |
| `Announce(line, attempt)` | says what is waited for (`models.announce`) | None |
| `Sleep(seconds)` | waits (`drive`'s own command) | None |

Each is a `Call` of `finetune_kit._core.drive` but `Sleep`; a call that raised comes back as
its `CallFailed` (classified with the shell's clock). A model call's `OpenAIError` is what the
flows retry; any other error (a shell's, a look-up's, a callback's) is raised as it came. Pure:
no I/O, no clock reads, no sleeping (the times come back with the outcomes).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, TypeVar

import openai

from finetune_kit._core import ready
from finetune_kit._core.drive import Call, CallFailed, Flow, Sleep
from finetune_kit._core.errors import Classified
from finetune_kit.exceptions import RateLimitedError

__all__ = [
    "ASK_CHAT",
    "ASK_COMPARE",
    "MAX_ATTEMPTS",
    "NOT_READY_ATTEMPTS",
    "RATE_LIMIT_ATTEMPTS",
    "RATE_LIMIT_RETRIES",
    "READY_BUDGET",
    "READ_TIMER",
    "Announce",
    "AskModel",
    "Called",
    "GaveUp",
    "ModelCall",
    "ModelFlow",
    "Pace",
    "ReadTimer",
    "Reply",
    "Resolve",
    "answer_delay",
    "answer_flow",
    "chat_flow",
    "ready_delay",
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
class AskModel(Call):
    """Command: call the model once (compare: holding a slot of its gate only meanwhile).

    `operation` names the call in a classified error (`rate limited during chat`).
    """

    operation: str


ASK_CHAT = AskModel("chat")
ASK_COMPARE = AskModel("compare")


@dataclass(frozen=True, slots=True)
class ReadTimer(Call):
    """Command: read the run's timer, on which compare's deadline is set (sent back: seconds)."""

    operation: str = "timer"


READ_TIMER = ReadTimer()


@dataclass(frozen=True, slots=True)
class Pace(Call):
    """Command: tell the concurrency gate how the call went (a 429 shrinks its limit)."""

    rate_limited: bool
    operation: str = "pace"


@dataclass(frozen=True, slots=True)
class Resolve(Call):
    """Command: what the model's "not found" `error` means (`models.resolve`): a `Verdict`.

    The shell may look the model up; it raises `ModelNotFoundError` for one that does not exist.
    """

    error: openai.NotFoundError
    operation: str = "resolve"


@dataclass(frozen=True, slots=True)
class Announce(Call):
    """Command: say `line` (what is waited for); `attempt` numbers the waits of one call."""

    line: str
    attempt: int
    operation: str = "announce"


ModelCall = AskModel | ReadTimer | Pace | Resolve | Announce
"""The calls of these flows: what a shell's `perform` carries out."""


@dataclass(frozen=True, slots=True)
class Called:
    """The call was answered: its response, `latency` seconds after it was made."""

    response: Any
    latency: float


@dataclass(frozen=True, slots=True)
class GaveUp:
    """The end of a compare call that got no answer: its last `error` (None if it never ran).

    `late`: the deadline cut it short (no retry may start or wait past it).
    """

    error: openai.OpenAIError | None
    late: bool = False


Reply = Called | ready.Verdict | float | None
"""What a shell's `perform` returns: see the table above."""
T = TypeVar("T")
ModelFlow = Flow[Reply, T]
"""A flow of these calls (and `Sleep`), returning `T`."""

_VERDICTS: frozenset[object] = frozenset(typing.get_args(ready.Verdict))


def _done(reply: Reply | CallFailed) -> Reply:
    """What a call sent back; the error of one that raised, raised as it came."""
    if isinstance(reply, CallFailed):
        raise reply.error
    return reply


def _outcome(reply: Reply | CallFailed) -> Called | CallFailed:
    """A model call's outcome: answered, or failed with an `OpenAIError` (anything else raised)."""
    if isinstance(reply, CallFailed) and isinstance(reply.error, openai.OpenAIError):
        return reply
    if isinstance(_done(reply), Called):
        return typing.cast("Called", reply)
    raise TypeError(f"a model call is answered with Called or CallFailed, not {reply!r}")


def _verdict(reply: Reply | CallFailed) -> ready.Verdict:
    if _done(reply) in _VERDICTS:
        return typing.cast("ready.Verdict", reply)
    raise TypeError(
        f"a Resolve is answered with a verdict ({sorted(map(str, _VERDICTS))}), not {reply!r}"
    )


def _timer(reply: Reply | CallFailed) -> float:
    value = _done(reply)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"a ReadTimer is answered with the run's timer, not {reply!r}")


def _sdk_error(failed: CallFailed) -> openai.OpenAIError:
    error = failed.error
    assert isinstance(error, openai.OpenAIError)  # noqa: S101 - `_outcome` let only these by
    return error


# --- TunedModel.chat ----------------------------------------------------------------------


def chat_flow(model_id: str, ready_timeout: float) -> ModelFlow[Any]:
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
        outcome = _outcome((yield ASK_CHAT))
        if isinstance(outcome, Called):
            return outcome.response
        exc = _sdk_error(outcome)
        if verdict is None and isinstance(exc, openai.NotFoundError):
            verdict = _verdict((yield Resolve(exc)))
        c = outcome.classified  # as "chat", keys echoed by the provider removed
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
                _done((yield Announce(line, waits)))
                waited += step
                yield Sleep(step)
                continue
        if isinstance(c.translated, RateLimitedError) and c.transient:
            limited += 1
            if limited <= RATE_LIMIT_RETRIES:
                yield Sleep(c.retry_after or min(60.0, 5.0 * 2 ** (limited - 1)))
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
    exc: openai.OpenAIError, c: Classified, attempt: int, *, not_ready: bool
) -> float | None:
    """Seconds compare waits before calling again after `exc`, its `attempt`-th; None: give up.

    `c`: `exc` classified (as "compare", on the shell's wall clock). A rate limit is waited out
    `RATE_LIMIT_ATTEMPTS` times, another transient error `MAX_ATTEMPTS` times (Retry-After
    honoured, else 0.5 s, 1 s, 2 s... up to 30 s). A model known to exist that answers 404
    (`not_ready`) is not served yet: waited for too (`ready_delay`), as `TunedModel.chat` does.
    """
    if isinstance(exc, openai.NotFoundError) and not_ready:
        return None if attempt >= NOT_READY_ATTEMPTS else ready_delay(attempt)
    limit = RATE_LIMIT_ATTEMPTS if isinstance(exc, openai.RateLimitError) else MAX_ATTEMPTS
    if attempt >= limit or not c.transient:
        return None
    return c.retry_after or min(30.0, 0.5 * 2 ** (attempt - 1))


def answer_flow(
    model_id: str, *, timer: float, deadline: float | None
) -> ModelFlow[Called | GaveUp]:
    """One of `compare`'s calls, retried: `Called` once answered, else `GaveUp`.

    Args:
        model_id: The model called (named in the announcements of a wait for it).
        timer: The run's timer as the call starts.
        deadline: The timer's value at which the run stops calling (None: no deadline). No call
            starts after it and no retry waits past it.

    The timer is read (`ReadTimer`) after a failed call and after each wait. Each call's outcome
    is told to the gate (`Pace`); the first "not found" of a model is resolved (`Resolve`:
    "wait" for one known to exist, which is then waited for and announced).
    """
    last: openai.OpenAIError | None = None
    for attempt in range(1, RATE_LIMIT_ATTEMPTS + 1):
        if deadline is not None and timer >= deadline:
            return GaveUp(last, late=True)
        outcome = _outcome((yield ASK_COMPARE))
        if isinstance(outcome, CallFailed):
            timer = _timer((yield READ_TIMER))
        rate_limited = isinstance(outcome, CallFailed) and isinstance(
            outcome.error, openai.RateLimitError
        )
        _done((yield Pace(rate_limited=rate_limited)))
        if isinstance(outcome, Called):
            return outcome
        last = _sdk_error(outcome)
        not_ready = isinstance(last, openai.NotFoundError) and (
            _verdict((yield Resolve(last))) == "wait"
        )
        delay = answer_delay(last, outcome.classified, attempt, not_ready=not_ready)
        if delay is None:
            return GaveUp(last)
        if deadline is not None and not timer + delay < deadline:
            return GaveUp(last, late=True)  # the retry would come too late: never wait past it
        if not_ready:
            waited = sum(ready_delay(a) for a in range(1, attempt))
            line = ready.waiting(model_id, delay, waited, READY_BUDGET, deployment=False)
            _done((yield Announce(line, attempt)))
        yield Sleep(delay)
        timer = _timer((yield READ_TIMER))
    raise AssertionError("unreachable")  # pragma: no cover - the last attempt gives up
