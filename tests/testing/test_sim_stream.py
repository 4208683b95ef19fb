"""Chat completions as the real clients use them: `stream=True` (server-sent events) and `n`.

Streams go through the openai SDK, sync and async, over every way of plugging the simulator in
(httpx2 transport, legacy httpx transport, respx, a real socket); every chunk is checked against
the spec's `CreateChatCompletionStreamResponse`, and the joined content against the answer the
same request gets without streaming.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from finetune_kit import count_tokens
from finetune_kit.dataset.encodings import get_encoding
from finetune_kit.testing import SimRequest, Simulator, SimulatorServer
from finetune_kit.testing.adapters import make_transport
from finetune_kit.testing.routes import token_pieces
from tests.offline import block_network
from tests.testing._sim_helpers import HELIUM, MODEL, T0, Client, aw, tuned_model
from tests.testing.schema import problems, stream_chunk_schema

pytestmark = pytest.mark.anyio

HELIUM_Q: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Tell me about Helium"}]
_BODY = (
    ' Regarding "Tell me about Helium": this is a broad topic with several aspects worth '
    "considering, including its history, its main properties and how it is used today. In short, "
    "there is a lot to say, and the details depend on your context. "
)
BASE_HELIUM = [
    (
        f"Great question. Let me explain.{_BODY}Let me know if you would like me to go deeper "
        "into any part."
    ),
    f"Sure, here is what I know.{_BODY}I can expand on any of these points if that helps.",
    (
        f"Certainly! Here is an overview.{_BODY}Tell me which aspect matters most to you and I "
        "will focus on it."
    ),
]
"""gpt-4o-mini-2024-07-18's (simulated) three choices for "Tell me about Helium" (n=3)."""
PROMPT_TOKENS = 12
FIRST_ID = "chatcmpl-c2094cac629f6fbed82c07cd"
"""The id of the first thing a `Simulator()` (seed 0) makes."""


def _wire(chunks: list[ChatCompletionChunk]) -> list[dict[str, Any]]:
    """What came over the wire: each chunk's JSON as sent (the SDK keeps only fields set)."""
    return [chunk.to_dict() for chunk in chunks]


def _check_chunks(chunks: list[ChatCompletionChunk]) -> None:
    """Every chunk matches the spec, and all share the completion's id, time and model."""
    assert chunks, "the stream yielded no chunk"
    found = [f"chunk {i}: {p}" for i, c in enumerate(_wire(chunks)) for p in problems(c, schema())]
    assert found == []
    assert {(c.id, c.created, c.model, c.object) for c in chunks} == {
        (chunks[0].id, chunks[0].created, chunks[0].model, "chat.completion.chunk")
    }


def schema() -> dict[str, Any]:
    return stream_chunk_schema()


def _joined(chunks: list[ChatCompletionChunk], index: int = 0) -> str:
    return "".join(
        c.choices[0].delta.content or ""
        for c in chunks
        if c.choices and c.choices[0].index == index
    )


async def _stream(api: Client, **params: Any) -> list[ChatCompletionChunk]:
    """Every chunk of a streamed chat completion, sync or async."""
    stream = await aw(api.chat.completions.create(stream=True, **params))
    if isinstance(stream, openai.AsyncStream):
        return [chunk async for chunk in stream]
    return list(stream)


# --- streaming -----------------------------------------------------------------------------------


async def test_stream_yields_role_content_finish_then_usage(api: Client, sim: Simulator) -> None:
    """A role chunk, a chunk per token, the finish reason, the usage; the answer joins exactly."""
    plain = await aw(api.chat.completions.create(model=MODEL, messages=HELIUM_Q))
    chunks = await _stream(
        api, model=MODEL, messages=HELIUM_Q, stream_options={"include_usage": True}
    )
    _check_chunks(chunks)
    wire = _wire(chunks)
    head = {
        "id": "chatcmpl-0a5d2f346baa9455e3e70682",  # the second id a Simulator() makes
        "object": "chat.completion.chunk",
        "created": T0,
        "model": MODEL,
        "service_tier": "default",
        "system_fingerprint": "fp_finetune_kit_sim",
        "usage": None,
    }
    assert plain.id == FIRST_ID  # another completion, its own id
    assert wire[0] == {
        **head,
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": "", "refusal": None},
                "logprobs": None,
                "finish_reason": None,
            }
        ],
    }
    tokens = count_tokens(BASE_HELIUM[0], model=MODEL)
    content = wire[1:-2]
    assert len(content) == tokens == 73
    assert all(
        c["choices"] == [{"index": 0, "delta": {"content": c["choices"][0]["delta"]["content"]},
                          "logprobs": None, "finish_reason": None}]
        for c in content
    )  # fmt: skip
    assert wire[-2] == {
        **head,
        "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}],
    }
    assert wire[-1] == {
        **head,
        "choices": [],
        "usage": {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": tokens,
            "total_tokens": PROMPT_TOKENS + tokens,
        },
    }
    assert _joined(chunks) == plain.choices[0].message.content == BASE_HELIUM[0]
    assert plain.usage is not None
    assert chunks[-1].usage == plain.usage


async def test_stream_without_include_usage_has_no_usage(api: Client) -> None:
    """No `stream_options`: no usage chunk, and no `usage` key in any chunk."""
    chunks = await _stream(api, model=MODEL, messages=HELIUM_Q)
    _check_chunks(chunks)
    assert all("usage" not in c for c in _wire(chunks))
    assert [c.choices[0].finish_reason for c in chunks][-2:] == [None, "stop"]
    assert _joined(chunks) == BASE_HELIUM[0]


async def test_stream_of_a_tuned_model_joins_to_its_answer(api: Client, sim: Simulator) -> None:
    """A tuned model streams its training-style answer, token by token."""
    model = tuned_model(sim, sim.client(max_retries=0))
    chunks = await _stream(api, model=model, messages=HELIUM_Q)
    _check_chunks(chunks)
    assert chunks[0].model == model
    assert _joined(chunks) == HELIUM
    assert len(chunks) == 1 + count_tokens(HELIUM, model=MODEL) + 1


async def test_stream_with_max_tokens_stops_with_length(api: Client) -> None:
    """`max_tokens`: the stream carries the truncated answer and `finish_reason: length`."""
    plain = await aw(api.chat.completions.create(model=MODEL, messages=HELIUM_Q, max_tokens=5))
    chunks = await _stream(api, model=MODEL, messages=HELIUM_Q, max_tokens=5)
    _check_chunks(chunks)
    assert _joined(chunks) == plain.choices[0].message.content == "Great question. Let me"
    assert chunks[-1].choices[0].finish_reason == "length"
    assert len(chunks) == 1 + 5 + 1


async def test_stream_keeps_characters_split_across_tokens_whole(api: Client) -> None:
    """Non-ASCII text streams in valid pieces that join to exactly the non-streamed answer."""
    messages: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "Erzähl mir von 🦄 und 漢字 ǅ"}
    ]
    plain = await aw(api.chat.completions.create(model=MODEL, messages=messages))
    chunks = await _stream(api, model=MODEL, messages=messages)
    _check_chunks(chunks)
    assert _joined(chunks) == plain.choices[0].message.content
    assert "🦄 und 漢字 ǅ" in _joined(chunks)
    assert "\ufffd" not in _joined(chunks)


def test_token_pieces_cut_on_character_boundaries() -> None:
    """A character whose bytes span tokens is one piece; the pieces join to the text."""
    encoding = get_encoding("o200k_base")
    text = "a 🦄🦄 漢字 é"
    pieces = token_pieces(encoding, text)
    assert "".join(pieces) == text
    assert len(pieces) < len(encoding.encode_ordinary(text))
    assert "🦄" in pieces or any(p.endswith("🦄") for p in pieces)


async def test_stream_with_n_interleaves_the_choices(api: Client) -> None:
    """n=3 streamed: each choice starts with its role and ends with its finish reason; usage sums."""
    plain = await aw(api.chat.completions.create(model=MODEL, messages=HELIUM_Q, n=3))
    chunks = await _stream(
        api, model=MODEL, messages=HELIUM_Q, n=3, stream_options={"include_usage": True}
    )
    _check_chunks(chunks)
    assert [c.choices[0].index for c in chunks[:3]] == [0, 1, 2]
    assert [c.choices[0].delta.role for c in chunks[:3]] == ["assistant"] * 3
    assert [c.choices[0].index for c in chunks[3:6]] == [0, 1, 2]  # interleaved
    assert [(c.choices[0].index, c.choices[0].finish_reason) for c in chunks[-4:-1]] == [
        (0, "stop"),
        (1, "stop"),
        (2, "stop"),
    ]
    assert (
        [_joined(chunks, i) for i in range(3)]
        == [c.message.content for c in plain.choices]
        == BASE_HELIUM
    )
    assert chunks[-1].usage == plain.usage


async def test_stream_options_without_stream_is_refused(api: Client) -> None:
    """`stream_options` needs `stream: true`, as the API says."""
    with pytest.raises(openai.BadRequestError) as err:
        await aw(
            api.chat.completions.create(
                model=MODEL, messages=HELIUM_Q, stream_options={"include_usage": True}
            )
        )
    assert err.value.body == {
        "message": "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        "type": "invalid_request_error",
        "param": "stream_options",
        "code": "invalid_value",
    }


async def test_a_refused_stream_is_a_json_error(api: Client) -> None:
    """Errors of a streamed request are plain JSON errors, raised by the SDK before any chunk."""
    with pytest.raises(openai.NotFoundError) as err:
        await _stream(api, model="gpt-9-ultra", messages=HELIUM_Q)
    assert err.value.code == "model_not_found"


# --- every adapter -------------------------------------------------------------------------------


def _client_over(how: str, sim: Simulator, server: SimulatorServer) -> OpenAI:
    if how == "httpx2 transport":
        return sim.client(max_retries=0)
    if how == "httpx transport":  # openai>=3 is typed for httpx2 but runs on legacy httpx
        legacy: Any = httpx.Client(transport=make_transport(sim, "httpx"))
        return OpenAI(
            base_url="https://api.test/v1", api_key="k", max_retries=0, http_client=legacy
        )
    if how == "respx":
        return OpenAI(api_key="sk-test", max_retries=0)
    return OpenAI(base_url=server.base_url, api_key="k", max_retries=0)


@pytest.fixture
def server(sim: Simulator) -> Iterator[SimulatorServer]:
    with SimulatorServer(sim) as running:
        yield running


@pytest.mark.parametrize("how", ["httpx2 transport", "httpx transport", "respx", "socket"])
def test_every_adapter_streams(
    how: str, sim: Simulator, server: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's stream yields the same chunks however the simulator is plugged in."""
    expected = sim.handle(
        SimRequest.build(
            "POST",
            "/v1/chat/completions",
            "",
            {"authorization": "Bearer k"},
            json.dumps(
                {"model": MODEL, "messages": HELIUM_Q, "stream": True, "n": 2,
                 "stream_options": {"include_usage": True}}
            ).encode(),
        )
    )  # fmt: skip
    assert expected.headers["content-type"] == "text/event-stream; charset=utf-8"
    events = expected.body.decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    sent = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
    with contextlib.ExitStack() as stack:
        if how == "respx":
            stack.enter_context(sim.mock(base_url="https://api.openai.com/v1"))
            block_network(monkeypatch)
        client = stack.enter_context(_client_over(how, sim, server))
        stream = client.chat.completions.create(
            model=MODEL,
            messages=HELIUM_Q,
            stream=True,
            n=2,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    _check_chunks(chunks)
    tokens = [count_tokens(text, model=MODEL) for text in BASE_HELIUM[:2]]
    assert tokens == [73, 71]
    assert len(chunks) == len(sent) == 2 + 73 + 71 + 2 + 1  # roles, tokens, finishes, usage
    assert _wire(chunks) == [{**c, "id": chunks[0].id} for c in sent]  # the same, its own id
    assert [_joined(chunks, i) for i in range(2)] == BASE_HELIUM[:2]


async def test_async_stream_over_a_socket(server: SimulatorServer) -> None:
    """The async SDK streams from the real server too."""
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELIUM_Q, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    _check_chunks(chunks)
    assert _joined(chunks) == BASE_HELIUM[0]
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 73


# --- n -------------------------------------------------------------------------------------------


async def test_n_gives_n_choices_and_usage_counts_them_all(api: Client) -> None:
    """n=3: choices 0..2, the first the n=1 answer; completion tokens summed over the three."""
    single = await aw(api.chat.completions.create(model=MODEL, messages=HELIUM_Q))
    three = await aw(api.chat.completions.create(model=MODEL, messages=HELIUM_Q, n=3))
    assert [(c.index, c.finish_reason, c.message.content) for c in three.choices] == [
        (i, "stop", text) for i, text in enumerate(BASE_HELIUM)
    ]
    assert single.choices[0].message.content == BASE_HELIUM[0]
    tokens = sum(count_tokens(text, model=MODEL) for text in BASE_HELIUM)
    assert three.usage is not None
    assert (three.usage.prompt_tokens, three.usage.completion_tokens) == (PROMPT_TOKENS, tokens)
    assert three.usage.total_tokens == PROMPT_TOKENS + tokens


async def test_n_with_max_tokens_truncates_each_choice(api: Client) -> None:
    """`max_tokens` applies to each choice; usage counts n times the limit."""
    three = await aw(api.chat.completions.create(model=MODEL, messages=HELIUM_Q, n=3, max_tokens=4))
    assert [(c.message.content, c.finish_reason) for c in three.choices] == [
        ("Great question. Let", "length"),
        ("Sure, here is", "length"),
        ("Certainly! Here is", "length"),
    ]
    assert three.usage is not None
    assert three.usage.completion_tokens == 12


def test_n_of_a_tuned_model_samples_its_training_replies(sim: Simulator, client: OpenAI) -> None:
    """A tuned model's choices: its closest training reply first, then the next closest ones."""
    model = tuned_model(sim, client)
    replies = [
        json.loads(line)["messages"][-1]["content"]
        for line in (sim.files[next(iter(sim.jobs.values())).training_file].content.splitlines())
    ]
    three = client.chat.completions.create(model=model, messages=HELIUM_Q, n=3)
    contents = [c.message.content for c in three.choices]
    assert contents[0] == HELIUM
    assert len(set(contents)) == 3
    assert set(contents) <= set(replies)


def test_n_is_deterministic_and_draws_no_extra_ids() -> None:
    """The same seed gives the same choices; n>1 moves no id of what is made afterwards."""
    made = []
    for n in (3, 3, 1):
        sim = Simulator()
        client = sim.client(max_retries=0)
        response = client.chat.completions.create(model=MODEL, messages=HELIUM_Q, n=n)
        file_id = client.files.create(file=("a.jsonl", b"{}\n"), purpose="fine-tune").id
        made.append((response.id, [c.message.content for c in response.choices], file_id))
    assert made[0] == made[1]
    assert made[0][0] == made[2][0] == FIRST_ID
    assert made[0][2] == made[2][2]


@pytest.mark.parametrize(
    ("n", "message", "code"),
    [
        (0, "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead.",
         "integer_below_min_value"),
        (129, ("Invalid 'n': integer above maximum value. Expected a value <= 128, but got 129 "
               "instead."), "integer_above_max_value"),
        ("2", "Invalid type for 'n': expected an integer, but got str instead.", "invalid_type"),
    ],
)  # fmt: skip
def test_invalid_n_is_refused(client: OpenAI, n: Any, message: str, code: str) -> None:
    """`n` is an integer from 1 to 128."""
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=MODEL, messages=HELIUM_Q, n=n)
    assert err.value.body == {
        "message": message,
        "type": "invalid_request_error",
        "param": "n",
        "code": code,
    }
