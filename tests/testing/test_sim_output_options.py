"""The simulator honours a chat request's output options: `response_format` and `logprobs`.

Code that asks for JSON or log probabilities gets them from the simulator as from the API, so
its parsing is tested offline: JSON mode answers `{"answer": ...}`, Structured Outputs an
instance of the schema (what `chat.completions.parse` needs), `logprobs` one entry per token.
Malformed options get the API's 400, naming the parameter.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from pydantic import BaseModel

from tests.testing._sim_helpers import MODEL, Client, aw
from tests.testing.schema import problems, response_schema
from tests.testing.test_sim_stream import _stream

pytestmark = pytest.mark.anyio

ASK_JSON: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Describe Helium as JSON"}
]
ANSWER = (
    'Great question. Let me explain. Regarding "Describe Helium as JSON": this is a broad topic '
    "with several aspects worth considering, including its history, its main properties and how "
    "it is used today. In short, there is a lot to say, and the details depend on your context. "
    "Let me know if you would like me to go deeper into any part."
)
"""gpt-4o-mini-2024-07-18's (simulated) answer to ASK_JSON."""

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "phase": {"type": "string", "enum": ["gas", "liquid", "solid"]},
        "number": {"type": "integer", "minimum": 2},
        "mass": {"type": "number"},
        "noble": {"type": "boolean"},
        "isotopes": {"type": "array", "items": {"$ref": "#/$defs/isotope"}},
        "discovered": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 1868}]},
    },
    "required": ["name", "phase", "number", "mass", "noble", "isotopes", "discovered"],
    "additionalProperties": False,
    "$defs": {
        "isotope": {
            "type": "object",
            "properties": {"mass_number": {"type": "integer", "exclusiveMinimum": 2}},
            "required": ["mass_number"],
            "additionalProperties": False,
        }
    },
}


async def _create(api: Client, **params: Any) -> Any:
    return await aw(api.chat.completions.create(model=MODEL, **params))


async def test_json_mode_answers_a_json_object(api: Client) -> None:
    done = await _create(api, messages=ASK_JSON, response_format={"type": "json_object"})
    assert json.loads(done.choices[0].message.content) == {"answer": ANSWER}
    assert done.choices[0].finish_reason == "stop"


async def test_json_mode_needs_the_word_json_in_the_messages(api: Client) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await _create(
            api,
            messages=[{"role": "user", "content": "Describe Helium"}],
            response_format={"type": "json_object"},
        )
    assert info.value.body == {
        "message": "'messages' must contain the word 'json' in some form, to use "
        "'response_format' of type 'json_object'.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": None,
    }


async def test_structured_outputs_answer_an_instance_of_the_schema(api: Client) -> None:
    """Every property; strings hold the answer the same request gets as text."""
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Helium?"}]
    plain = await _create(api, messages=messages)
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "element", "strict": True, "schema": SCHEMA},
    }
    done = await _create(api, messages=messages, response_format=fmt)
    content = json.loads(done.choices[0].message.content)
    assert problems(content, SCHEMA, excuse=False) == []
    assert content == {
        "name": plain.choices[0].message.content,
        "phase": "gas",
        "number": 2,
        "mass": 0,
        "noble": False,
        "isotopes": [{"mass_number": 3}],
        "discovered": 1868,
    }


class Element(BaseModel):
    name: str
    phase: Literal["gas", "liquid", "solid"]
    number: int
    isotopes: list[int]


async def test_the_sdks_parse_helper_gets_its_model(api: Client) -> None:
    """`chat.completions.parse(response_format=Model)`: the SDK parses the answer into Model."""
    done = await aw(
        api.chat.completions.parse(
            model=MODEL, messages=[{"role": "user", "content": "Helium?"}], response_format=Element
        )
    )
    parsed = done.choices[0].message.parsed
    assert isinstance(parsed, Element)
    assert (parsed.phase, parsed.number, parsed.isotopes) == ("gas", 0, [0])


async def test_a_cut_json_answer_ends_with_length(api: Client) -> None:
    done = await _create(
        api, messages=ASK_JSON, response_format={"type": "json_object"}, max_tokens=5
    )
    assert done.choices[0].finish_reason == "length"
    assert done.usage.completion_tokens == 5
    assert done.choices[0].message.content == '{"answer": "Great'


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        (
            {"response_format": {"type": "xml"}},
            "response_format.type",
            "Invalid value: 'xml'. Supported values are: 'text', 'json_object', and 'json_schema'.",
        ),
        (
            {"response_format": {"type": "json_schema"}},
            "response_format.json_schema",
            "Missing required parameter: 'response_format.json_schema'.",
        ),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "a b"}}},
            "response_format.json_schema.name",
            (
                "Invalid 'response_format.json_schema.name': 'a b'. Expected a string of 1 to 64 "
                "letters, digits, underscores or dashes."
            ),
        ),
        (
            {"top_logprobs": 2},
            "top_logprobs",
            (
                "Invalid value for 'top_logprobs': 'logprobs' must be set to true when "
                "'top_logprobs' is used."
            ),
        ),
        (
            {"logprobs": True, "top_logprobs": 21},
            "top_logprobs",
            "Invalid 'top_logprobs': expected a value from 0 to 20, but got 21 instead.",
        ),
    ],
    ids=["format-type", "schema-missing", "schema-name", "top-without-logprobs", "top-over-20"],
)
async def test_malformed_options_get_the_apis_400(
    api: Client, params: dict[str, Any], param: str, message: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await _create(api, messages=ASK_JSON, **params)
    body = info.value.body
    assert isinstance(body, dict)
    assert (body.get("param"), body.get("message")) == (param, message)


async def test_logprobs_one_entry_per_token_with_top_alternatives(api: Client) -> None:
    done = await _create(
        api, messages=[{"role": "user", "content": "Hi"}], logprobs=True, top_logprobs=3
    )
    choice = done.choices[0]
    entries = choice.logprobs.content
    assert "".join(e.token for e in entries) == choice.message.content
    assert len(entries) == done.usage.completion_tokens
    assert all(-0.51 < e.logprob < 0 for e in entries)
    first = entries[0]
    assert [t.token for t in first.top_logprobs] == [first.token, " the", " a"]
    assert [t.logprob for t in first.top_logprobs] == [
        first.logprob,
        round(first.logprob - 1, 4),
        round(first.logprob - 2, 4),
    ]
    assert first.bytes == list(first.token.encode())
    assert problems(done.to_dict(), response_schema("chat.create")) == []


async def test_without_logprobs_there_are_none(api: Client) -> None:
    done = await _create(api, messages=[{"role": "user", "content": "Hi"}])
    assert done.choices[0].logprobs is None


async def test_streamed_logprobs_are_the_answers_token_by_token(api: Client) -> None:
    """Each content chunk carries its token's entry; together, the unstreamed answer's."""
    params: dict[str, Any] = {"messages": [{"role": "user", "content": "Hi"}], "logprobs": True}
    whole = await _create(api, **params, top_logprobs=1)
    chunks = await _stream(api, model=MODEL, **params, top_logprobs=1)
    streamed = []
    for chunk in chunks:
        if not chunk.choices or not chunk.choices[0].delta.content:
            continue
        logprobs = chunk.choices[0].logprobs
        entries = logprobs.content if logprobs else None
        assert [e.token for e in entries or []] == [chunk.choices[0].delta.content]
        streamed.extend(entries or [])
    assert [e.to_dict() for e in streamed] == [
        e.to_dict() for e in whole.choices[0].logprobs.content
    ]
