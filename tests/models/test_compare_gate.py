"""A 429 halves `compare`'s and `acompare`'s concurrency: seen at the endpoint, calls in flight.

A fake endpoint records how many calls are in flight. Two calls start (concurrency 2); the
first is answered 429 while the second is held. From then on, until a call succeeds, one call
at most may be in flight: the retried call (and any other) must wait at the gate, not reach the
endpoint. The endpoint holds the second call until another call reaches it (the limit was not
halved) or every other worker waits at the gate (it was): no timing is guessed, nothing slept.
"""

from __future__ import annotations

import faulthandler
import importlib
import threading
from typing import Any

import anyio
import httpx2
import openai
import pytest

from finetune_kit.compare import Comparison, acompare, compare
from finetune_kit.compare.gate import _Gate

compare_shell = importlib.import_module("finetune_kit.compare.run_sync")

MODEL = "gpt-4o-mini-2024-07-18"
PROMPTS = ["Tell me about Helium", "Tell me about Neon", "Tell me about Argon"]
GUARD = 30.0
"""Seconds a condition that must come true may take before the test fails (never slept)."""


def _completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


RATE_LIMIT = {
    "error": {
        "message": "Rate limit reached for requests",
        "type": "requests",
        "code": "rate_limit_exceeded",
    }
}


class Endpoint:
    """Records the calls in flight; answers the first call 429 once two are in flight."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.in_flight = 0
        self.arrivals = 0
        self.limited = False
        self.held = False
        self.parked = False
        """A worker waits at compare's gate (set by the watched gate)."""
        self.peak_while_held: int | None = None
        """The most calls in flight from the 429 until the held call is answered."""

    def arrive(self) -> int:
        with self.lock:
            self.arrivals += 1
            self.in_flight += 1
            if self.held:
                self.peak_while_held = max(self.peak_while_held or 0, self.in_flight)
            self.lock.notify_all()
            return self.arrivals

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1
            self.lock.notify_all()

    def answer(self, number: int) -> httpx2.Response:
        if number == 1:  # the first call: 429, once both calls are in flight
            self._wait_for(lambda: self.arrivals >= 2)
            with self.lock:
                self.limited = True
                self.held = True
                self.peak_while_held = self.in_flight - 1  # this call is leaving
            return httpx2.Response(429, json=RATE_LIMIT, headers={"retry-after": "1"})
        if number == 2:  # held until the retry reaches the endpoint or waits at the gate
            self._wait_for(lambda: self.limited and (self.arrivals >= 3 or self.parked))
            with self.lock:
                self.held = False
        return httpx2.Response(200, json=_completion(f"answer {number}"))

    def _wait_for(self, condition: Any) -> None:
        with self.lock:
            assert self.lock.wait_for(condition, GUARD), "the endpoint waited in vain"

    def park(self) -> None:
        with self.lock:
            self.parked = True
            self.lock.notify_all()

    def handle(self, _request: httpx2.Request) -> httpx2.Response:
        number = self.arrive()
        try:
            return self.answer(number)
        finally:
            self.leave()


class _WatchedCondition(threading.Condition):
    endpoint: Endpoint

    def wait(self, timeout: float | None = None) -> bool:
        self.endpoint.park()
        return super().wait(timeout)


def _watched_gate(endpoint: Endpoint) -> type:
    """`compare`'s thread gate, telling `endpoint` when a worker waits for a slot."""

    class Watched(_Gate):  # the one place where a wait for a slot can be seen
        def __init__(self, maximum: int) -> None:
            super().__init__(maximum)
            condition = _WatchedCondition()
            condition.endpoint = endpoint
            self._cond = condition

    return Watched


async def _run(flavour: str, endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> Comparison:
    slept: list[float] = []
    if flavour == "sync":
        monkeypatch.setattr(compare_shell, "_Gate", _watched_gate(endpoint))
        client = openai.OpenAI(
            api_key="k",
            base_url="http://endpoint.test/v1",
            max_retries=0,
            http_client=httpx2.Client(transport=httpx2.MockTransport(endpoint.handle)),
        )
        return await anyio.to_thread.run_sync(
            lambda: compare(
                client,
                models=[MODEL],
                prompts=PROMPTS,
                concurrency=2,
                sleep=slept.append,
                timer=lambda: 0.0,
            )
        )

    second, limited = anyio.Event(), anyio.Event()

    async def handle(request: httpx2.Request) -> httpx2.Response:
        number = endpoint.arrive()
        try:
            if number == 1:
                await second.wait()
            if number == 2:
                second.set()
                await limited.wait()
                await anyio.wait_all_tasks_blocked()  # the others call, or wait at the gate
                endpoint.park()
            response = endpoint.answer(number)
            if number == 1:
                limited.set()
            return response
        finally:
            endpoint.leave()

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    aclient = openai.AsyncOpenAI(
        api_key="k",
        base_url="http://endpoint.test/v1",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handle)),
    )
    return await acompare(
        aclient, models=[MODEL], prompts=PROMPTS, concurrency=2, sleep=asleep, timer=lambda: 0.0
    )


@pytest.mark.anyio
@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_429_halves_the_calls_in_flight(
    flavour: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two calls in flight; after a 429, one at most until a call succeeds; all answered."""
    faulthandler.dump_traceback_later(60, exit=True)  # a hang ends the run, with stacks
    try:
        endpoint = Endpoint()
        result = await _run(flavour, endpoint, monkeypatch)
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert endpoint.limited
    assert endpoint.peak_while_held == 1
    assert endpoint.arrivals == 4
    assert sorted(row.answers[MODEL].output or "" for row in result.rows) == [
        "answer 2",
        "answer 3",
        "answer 4",
    ]
