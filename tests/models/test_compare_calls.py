"""How `compare` / `acompare` make their calls: its own retries, the body it reads, its gate.

Compare decides every retry itself (the client's `max_retries` is set aside, once per run); it
reads what an answer keeps (the text and the token counts) straight from the response's JSON,
so a body that is not a chat completion is a typed error naming the URL; and its async gate
wakes one waiting task per free slot, however many wait.
"""

from __future__ import annotations

from typing import Any

import anyio
import openai
import pytest
import respx

from finetune_kit import ConfigurationError, IncompatibleEndpointError, ProviderError
from finetune_kit.compare import Comparison, acompare, compare
from finetune_kit.compare.gate import _AsyncGate
from finetune_kit.testing import Simulator
from finetune_kit.testing.adapters import http_library

pytestmark = pytest.mark.anyio

BASE_MODEL = "gpt-4o-mini-2024-07-18"
SDK_MOCKER = "httpcore2" if http_library() == "httpx2" else "httpcore"
URL = "http://gateway.internal/v1"
HTML = "<!DOCTYPE html><html><body>Sign in to Contoso</body></html>"


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _run(flavour: str, client: Any, slept: list[float], **kwargs: Any) -> Comparison:
    """`compare` or `acompare` with `client` (or its async twin), its waits recorded."""

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    if flavour == "sync":
        return compare(client, sleep=slept.append, **kwargs)
    return await acompare(client, sleep=asleep, **kwargs)


async def test_compare_makes_every_retry_itself(flavour: str) -> None:
    """A client left with the SDK's 2 retries: the 429 is waited out by compare, on its clock.

    The SDK's own retry would wait on the real clock (past the deadline and Ctrl-C's reach)
    and hold the call's slot meanwhile.
    """
    sim = Simulator()
    sim.faults.rate_limit("chat.create", retry_after=0.01, times=1)
    client = sim.client() if flavour == "sync" else sim.async_client()
    assert client.max_retries == 2
    slept: list[float] = []
    result = await _run(flavour, client, slept, models=[BASE_MODEL], prompts=["Hi"])
    assert slept == [0.01]  # compare's wait, honouring Retry-After
    assert sim.calls["chat.create"] == 2
    assert result.summaries[BASE_MODEL].errors == 0
    assert client.max_retries == 2  # the caller's client is left as it was


def _clients(flavour: str) -> Any:
    if flavour == "sync":
        return openai.OpenAI(api_key="k-unused", base_url=URL, max_retries=0)
    return openai.AsyncOpenAI(api_key="k-unused", base_url=URL, max_retries=0)


async def test_a_web_page_instead_of_the_api_names_the_url(flavour: str) -> None:
    """A login page answered with 200: IncompatibleEndpointError naming the URL, at once."""
    slept: list[float] = []
    with respx.mock(using=SDK_MOCKER) as router:
        route = router.post(f"{URL}/chat/completions").respond(
            200, text=HTML, headers={"content-type": "text/html; charset=utf-8"}
        )
        with pytest.raises(IncompatibleEndpointError) as info:
            await _run(flavour, _clients(flavour), slept, models=[BASE_MODEL], prompts=["Hi"])
    assert str(info.value) == (
        f"{URL}/chat/completions did not answer like an OpenAI-compatible API (HTTP 200, "
        "text/html): is the base URL right? (--base-url / OPENAI_BASE_URL; OpenAI's is "
        "https://api.openai.com/v1)"
    )
    assert (info.value.url, info.value.status_code) == (f"{URL}/chat/completions", 200)
    assert isinstance(info.value, ProviderError)
    assert (route.call_count, slept) == (1, [])


async def test_streaming_is_refused_before_any_call(flavour: str) -> None:
    """`stream=True` would hand back events, not answers: a ConfigurationError, nothing sent."""
    sim = Simulator()
    client = sim.client(max_retries=0) if flavour == "sync" else sim.async_client(max_retries=0)
    with pytest.raises(ConfigurationError) as info:
        await _run(flavour, client, [], models=[BASE_MODEL], prompts=["Hi"], stream=True)
    assert str(info.value) == "compare reads whole answers: stream=True is not supported"
    assert sim.calls["chat.create"] == 0


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        (  # the API's own shape
            {
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Neon."}}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
            },
            ("Neon.", 11, 3),
        ),
        (  # a refusal: no content; a gateway that counts nothing
            {"choices": [{"index": 0, "message": {"role": "assistant", "content": None}}]},
            ("", 0, 0),
        ),
        ({"choices": [], "usage": None}, ("", 0, 0)),  # everything filtered out
    ],
)
async def test_an_answer_keeps_the_text_and_the_tokens(
    flavour: str, body: dict[str, Any], kept: tuple[str, int, int]
) -> None:
    """The JSON read directly keeps what the SDK's ChatCompletion would have given."""
    slept: list[float] = []
    with respx.mock(using=SDK_MOCKER) as router:
        router.post(f"{URL}/chat/completions").respond(200, json=body)
        result = await _run(
            flavour,
            _clients(flavour),
            slept,
            models=[BASE_MODEL],
            prompts=["Hi"],
            prices={BASE_MODEL: (1.0, 4.0)},
        )
    answer = result.rows[0].answers[BASE_MODEL]
    assert (answer.output, answer.prompt_tokens, answer.completion_tokens) == kept
    assert answer.cost_usd == pytest.approx((kept[1] * 1.0 + kept[2] * 4.0) / 1_000_000)
    assert answer.error is None


class _CountedCondition(anyio.Condition):
    """A condition that counts the waits that ended: each is one task woken."""

    woken = 0

    async def wait(self) -> None:
        await super().wait()
        self.woken += 1


async def test_the_async_gate_wakes_one_task_per_free_slot() -> None:
    """100 tasks through 4 slots: each of the 96 that wait is woken once, and never 5 at once."""
    gate = _AsyncGate(4)
    cond = gate._cond = _CountedCondition()  # counting wake-ups is the point
    inside = peak = 0

    async def call() -> None:
        nonlocal inside, peak
        async with gate:
            inside += 1
            peak = max(peak, inside)
            for _ in range(20):  # long enough for every slot to fill
                await anyio.lowlevel.checkpoint()
            inside -= 1
        await gate.outcome(rate_limited=False)

    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(call)
    assert (cond.woken, peak, gate.aimd.limit) == (96, 4, 4)
