"""One driver, sync and async, for every flow of commands.

A flow is a generator that yields commands and is sent back what came of each, until it returns
its result. A flow decides; a shell carries its commands out. The commands are a small closed set:

- a `Call`: one thing the shell does (`perform(command)`: an API call, a callback). Sent back:
  what `perform` returned, or, when it raised, a `CallFailed`: the error, classified with the
  shell's clock. `CallFailed` is the one failure type: the flow decides what a failure means
  (wait and try again, look again, or raise).
- `Sleep(seconds)`: wait on the shell's sleep. Sent back: None.
- `Warn(message)`: a `RuntimeWarning` for the caller of the shell. Sent back: None.

Anything else is a flow's mistake: it is answered like a failed call, with a `CallFailed` of a
`TypeError` (never transient), which a flow raises. Whatever happens, the flow is closed
(`finally`), so its own `finally` blocks run even when a call is interrupted.

`drive` and `adrive` are the same loop, the second awaited: modelled on httpx's
`Auth.sync_auth_flow` / `Auth.async_auth_flow` and the client code that drives them.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import TypeVar, cast

from finetune_kit._core.errors import Classified, classify

__all__ = [
    "NOT_A_COMMAND",
    "Call",
    "CallFailed",
    "Flow",
    "Sleep",
    "Warn",
    "acarry_out",
    "adrive",
    "carry_out",
    "drive",
]


class Call:
    """Base of the commands the shell carries out with `perform` (an API call, a callback).

    Each subclass is a frozen dataclass with an `operation` field: what the call is for, in the
    words of a classified error (`rate limited during <operation>`).
    """

    __slots__ = ()
    operation: str


@dataclass(frozen=True, slots=True)
class Sleep:
    """Command: wait `seconds` before going on (sent back: None)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Warn:
    """Command: tell the caller with a `RuntimeWarning` (sent back: None)."""

    message: str


@dataclass(frozen=True, slots=True)
class CallFailed:
    """Sent back for a `Call` that raised `error` (or for a command the driver doesn't know)."""

    error: BaseException
    classified: Classified


NOT_A_COMMAND = Classified(transient=False, ambiguous=False, retry_after=None, translated=None)
"""How a command outside the closed set is classified: a mistake, never worth retrying."""

C = TypeVar("C", bound=Call)
R = TypeVar("R")
T = TypeVar("T")

Flow = Generator[Call | Sleep | Warn, R | CallFailed | None, T]
"""A flow whose calls' results are `R`, returning `T`.

Which calls a flow makes is up to the flow and its shell's `perform` (typed `Callable[[C], R]`
for the union `C` of the calls it carries out): mypy joins a union of calls into `Call` when it
infers a type variable, so the union can't be checked across the two here."""

WARN_STACKLEVEL = 4
"""A `Warn` points at the code that called the shell (1: carry_out, 2: drive, 3: the shell)."""


def _not_a_command(command: object) -> CallFailed:
    error = TypeError(f"not a command of the driver: {command!r} (expected Call, Sleep or Warn)")
    return CallFailed(error, NOT_A_COMMAND)


def carry_out(
    command: Call | Sleep | Warn,
    perform: Callable[[C], R],
    *,
    sleep: Callable[[float], None],
    now: Callable[[], float],
) -> R | CallFailed | None:
    """Carry out one command; return what goes back to the flow."""
    match command:
        case Sleep(seconds=seconds):
            sleep(seconds)
            return None
        case Warn(message=message):
            warnings.warn(message, RuntimeWarning, stacklevel=WARN_STACKLEVEL)
            return None
        case Call():
            try:
                return perform(cast("C", command))  # see Flow
            except Exception as exc:  # noqa: BLE001 - sent back classified: the flow decides
                return CallFailed(exc, classify(exc, operation=command.operation, now=now()))
        case _:
            return _not_a_command(command)


async def acarry_out(
    command: Call | Sleep | Warn,
    perform: Callable[[C], Awaitable[R]],
    *,
    sleep: Callable[[float], Awaitable[None]],
    now: Callable[[], float],
) -> R | CallFailed | None:
    """`carry_out`, awaited."""
    match command:
        case Sleep(seconds=seconds):
            await sleep(seconds)
            return None
        case Warn(message=message):
            warnings.warn(message, RuntimeWarning, stacklevel=WARN_STACKLEVEL)
            return None
        case Call():
            try:
                return await perform(cast("C", command))  # see Flow
            except Exception as exc:  # noqa: BLE001 - sent back classified: the flow decides
                return CallFailed(exc, classify(exc, operation=command.operation, now=now()))
        case _:
            return _not_a_command(command)


def drive(
    flow: Flow[R, T],
    perform: Callable[[C], R],
    *,
    sleep: Callable[[float], None],
    now: Callable[[], float],
) -> T:
    """Run `flow` to its end, carrying out each command; return its result (or raise its error).

    Args:
        flow: The generator of commands.
        perform: Carries out a `Call` (what it returns is sent back; what it raises is sent
            back as `CallFailed`).
        sleep: Carries out a `Sleep`.
        now: The clock failed calls are classified with (an HTTP-date `Retry-After`).
    """
    try:
        command = next(flow)
        while True:
            command = flow.send(carry_out(command, perform, sleep=sleep, now=now))
    except StopIteration as stop:
        result: T = stop.value
        return result
    finally:
        flow.close()


async def adrive(
    flow: Flow[R, T],
    perform: Callable[[C], Awaitable[R]],
    *,
    sleep: Callable[[float], Awaitable[None]],
    now: Callable[[], float],
) -> T:
    """`drive`, awaited: `perform` and `sleep` are coroutine functions."""
    try:
        command = next(flow)
        while True:
            command = flow.send(await acarry_out(command, perform, sleep=sleep, now=now))
    except StopIteration as stop:
        result: T = stop.value
        return result
    finally:
        flow.close()
