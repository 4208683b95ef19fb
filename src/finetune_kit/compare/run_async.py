"""`acompare`: the async shell, on tasks; its retries are `_core.retry.answer_flow`."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal

import anyio
import openai

from finetune_kit._core import retry
from finetune_kit._core.drive import adrive
from finetune_kit._core.scoring import Grader
from finetune_kit._defaults import asleep_for, now_for, timer_for
from finetune_kit.batch import arun_batch
from finetune_kit.compare.answers import _assemble, _from_batch
from finetune_kit.compare.calls import _araw_create, _aresolved, _Deadline, _NotFound, _settled
from finetune_kit.compare.gate import _AsyncGate
from finetune_kit.compare.plan import Prices, _batch_requests, _Item, _messages, _setup
from finetune_kit.compare.results import (
    DEFAULT_DEADLINE,
    INTERRUPTED,
    Answer,
    CompareInterrupted,
    Comparison,
)
from finetune_kit.dataset import Dataset
from finetune_kit.exceptions import IncompatibleEndpointError, ModelNotFoundError

_SLICE = 0.1
"""Seconds between two looks at the deadline, for a call that hangs past it."""


async def _watch(limit: _Deadline, work: anyio.CancelScope, stopped: list[str]) -> None:
    """Cancel `work` once the deadline passes: for a call that hangs past it."""
    while not limit.passed():  # noqa: ASYNC110 - a clock to poll, no event to wait for
        await anyio.sleep(_SLICE)
    stopped.append("deadline")
    work.cancel()


async def acompare(  # noqa: PLR0915 - compare's flow, in one piece like its twin
    client: openai.AsyncOpenAI,
    *,
    models: Sequence[Any],
    prompts: Sequence[str] | Dataset | str | os.PathLike[str],
    system: str | None = None,
    few_shot: Sequence[tuple[str, str]] | None = None,
    graders: Mapping[str, Grader] | None = None,
    concurrency: int = 16,
    prices: Prices | None = None,
    mode: Literal["live", "batch"] = "live",
    reference_model: str | None = None,
    deadline: float | None = DEFAULT_DEADLINE,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    timer: Callable[[], float] | None = None,
    on_wait: Callable[[str], object] | None = None,
    **params: Any,
) -> Comparison:
    """The async twin of [`compare`][finetune_kit.compare.compare].

    The same deadline; a `KeyboardInterrupt` raised inside a call or a wait raises
    `CompareInterrupted` with what had finished. Cancelling `acompare` itself (a cancel scope,
    a timeout around it) cancels its calls and keeps nothing: bound it with `deadline=` to keep
    the answers.

    Added in 0.1.0.
    """
    items, plan, chosen, on_call = _setup(
        prompts, system, models, few_shot, graders, reference_model, params=params
    )
    sleep = sleep or asleep_for(client)
    timer = timer or timer_for(client)
    now = now_for(client)  # the wall clock a Retry-After date is read on
    found, found_lock = _NotFound(models, on_wait), anyio.Lock()
    limit = _Deadline.start(timer, deadline)  # validated in batch mode too; used in live mode
    if mode == "batch":
        requests, keys = _batch_requests(items, plan)
        results = await arun_batch(client, requests, params=params, sleep=sleep)
        return _assemble(
            items, plan, _from_batch(results, keys, on_call, prices), chosen, reference_model
        )
    gate = _AsyncGate(concurrency)
    create = _araw_create(client)
    answers: dict[tuple[int, str], Answer] = {}
    work = anyio.CancelScope()
    stopped: list[str] = []
    fatal: list[ModelNotFoundError | IncompatibleEndpointError] = []

    async def attempts(item: _Item, model_id: str, shots: list[dict[str, Any]]) -> Answer:
        messages = _messages(item, shots)

        async def perform(command: retry.ModelCall) -> retry.Reply:  # the twin of `compare`'s
            match command:
                case retry.AskModel():
                    async with gate:
                        start = timer()
                        raw = await create(model=model_id, messages=messages, **params)
                        return retry.Called(raw, latency=timer() - start)
                case retry.ReadTimer():
                    return timer()
                case retry.Pace(rate_limited=rate_limited):
                    await gate.outcome(rate_limited=rate_limited)
                case retry.Resolve(error=error):
                    return await _aresolved(client, found, found_lock, model_id, error)
                case retry.Announce(line=line, attempt=attempt):
                    found.announce(model_id, attempt, line)
            return None

        flow = retry.answer_flow(model_id, timer=timer(), deadline=limit.at)
        result = await adrive(flow, perform, sleep=sleep, now=now)
        return _settled(result, limit, item=item, model_id=model_id, graders=on_call, prices=prices)

    async def run(item: _Item, label: str, model_id: str, shots: list[dict[str, Any]]) -> None:
        try:
            answers[(item.index, label)] = await attempts(item, model_id, shots)
        except KeyboardInterrupt:
            stopped.append(INTERRUPTED)
            work.cancel()
        except (ModelNotFoundError, IncompatibleEndpointError) as exc:  # raised once all stop
            fatal.append(exc)
            work.cancel()

    async with anyio.create_task_group() as outer:
        if limit.at is not None:
            outer.start_soon(_watch, limit, work, stopped)
        with work:
            async with anyio.create_task_group() as tg:
                for item in items:
                    for label, model_id, shots in plan:
                        tg.start_soon(run, item, label, model_id, shots)
        outer.cancel_scope.cancel()
    if fatal:
        raise fatal[0]
    if INTERRUPTED in stopped:
        partial = _assemble(items, plan, answers, chosen, reference_model, missing=INTERRUPTED)
        raise CompareInterrupted(partial)
    missing = limit.exceeded().error if stopped else None
    return _assemble(items, plan, answers, chosen, reference_model, missing=missing)
