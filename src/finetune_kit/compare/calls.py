"""What a live call of `compare` needs: its deadline, its raw create, what a 404 means."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import openai

from finetune_kit._core import ready, retry
from finetune_kit._core.scoring import Grader
from finetune_kit.compare.answers import _answer, _describe, _failed, _raw_reply
from finetune_kit.compare.plan import Prices, _Item
from finetune_kit.compare.results import Answer
from finetune_kit.exceptions import ConfigurationError, ModelNotFoundError
from finetune_kit.models import announce, aresolve, resolve


@dataclass(frozen=True, slots=True)
class _Deadline:
    """When a live run stops calling, on the run's own clock (`timer`)."""

    timer: Callable[[], float]
    seconds: float | None
    at: float | None

    @classmethod
    def start(cls, timer: Callable[[], float], seconds: float | None) -> _Deadline:
        if seconds is not None and not seconds > 0:
            raise ConfigurationError(
                f"deadline must be a positive number of seconds, not {seconds}"
            )
        return cls(timer, seconds, None if seconds is None else timer() + seconds)

    def passed(self) -> bool:
        """The deadline is reached: no call is started any more."""
        return self.at is not None and self.timer() >= self.at

    def exceeded(self, last: BaseException | None = None) -> Answer:
        """The answer of an item the deadline cut short (with the error it last got)."""
        why = f" (last error: {_describe(last)})" if last is not None else ""
        return _failed(f"deadline exceeded: no answer within the {self.seconds:g} s deadline{why}")


def _raw_create(client: openai.OpenAI) -> Callable[..., Any]:
    """`chat.completions.create` for a live run: raw responses, none of the SDK's own retries.

    Compare's policy decides every retry: the SDK's retries would run inside its attempts, hold
    the call's slot through their backoff and sleep on the real clock. The body is read by
    `_raw_reply`. The client's copy is made once per run, not per call.
    """
    return client.with_options(max_retries=0).chat.completions.with_raw_response.create


def _araw_create(client: openai.AsyncOpenAI) -> Callable[..., Awaitable[Any]]:
    """The async twin of `_raw_create`."""
    return client.with_options(max_retries=0).chat.completions.with_raw_response.create


class _NotFound:
    """What each model's "not found" means, decided once per model (`resolve`) for all workers.

    A model that does not exist raises `ModelNotFoundError` (the whole run stops); one to wait
    for has each new wait announced once, however many items wait.
    """

    def __init__(self, models: Sequence[Any], on_wait: Callable[[str], object] | None) -> None:
        self.fresh = {str(getattr(m, "id", m)) for m in models if getattr(m, "fresh", False)}
        self.on_wait = on_wait
        self.verdicts: dict[str, ready.Verdict | ModelNotFoundError] = {}
        self.announced: dict[str, int] = {}

    def settled(self, model_id: str) -> ready.Verdict:
        """The verdict on `model_id`; raises the `ModelNotFoundError` decided for it."""
        verdict = self.verdicts[model_id]
        if isinstance(verdict, ModelNotFoundError):
            raise verdict
        return verdict

    def decided(self, model_id: str, verdict: ready.Verdict | ModelNotFoundError) -> ready.Verdict:
        self.verdicts.setdefault(model_id, verdict)
        return self.settled(model_id)

    def announce(self, model_id: str, attempt: int, line: str) -> None:
        """Say `line`, once per attempt number and model: `model_id` is waited for."""
        if self.announced.get(model_id, 0) >= attempt:
            return
        self.announced[model_id] = attempt
        announce(line, self.on_wait)


def _resolved(
    client: openai.OpenAI,
    found: _NotFound,
    lock: threading.Lock,
    model_id: str,
    exc: openai.NotFoundError,
) -> ready.Verdict:
    """What a 404 means for `model_id` (`resolve`): the first 404 of each model decides."""
    with lock:  # one look-up per model, whatever the concurrency
        if model_id in found.verdicts:
            return found.settled(model_id)
        try:
            verdict: ready.Verdict | ModelNotFoundError = resolve(
                client, model_id, exc, fresh=model_id in found.fresh
            )
        except ModelNotFoundError as missing:
            verdict = missing
        return found.decided(model_id, verdict)


async def _aresolved(
    client: openai.AsyncOpenAI,
    found: _NotFound,
    lock: anyio.Lock,
    model_id: str,
    exc: openai.NotFoundError,
) -> ready.Verdict:
    """The async twin of `_resolved`."""
    async with lock:
        if model_id in found.verdicts:
            return found.settled(model_id)
        try:
            verdict: ready.Verdict | ModelNotFoundError = await aresolve(
                client, model_id, exc, fresh=model_id in found.fresh
            )
        except ModelNotFoundError as missing:
            verdict = missing
        return found.decided(model_id, verdict)


def _settled(
    result: retry.Called | retry.GaveUp,
    limit: _Deadline,
    *,
    item: _Item,
    model_id: str,
    graders: Mapping[str, Grader],
    prices: Prices | None,
) -> Answer:
    """The answer a call's flow (`retry.answer_flow`) ended with: graded, or its error."""
    if isinstance(result, retry.Called):
        return _answer(
            _raw_reply(result.response),
            latency=result.latency,
            model_id=model_id,
            item=item,
            graders=graders,
            prices=prices,
        )
    if result.late or result.error is None:
        return limit.exceeded(result.error)
    return _failed(result.error)
