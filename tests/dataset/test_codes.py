"""One test per finding code of `Dataset.validate`, plus how a report with many findings behaves.

Every case writes a small JSONL file (valid filler rows of the format under test, with the row
under test at a known line, usually line 3) and asserts the *complete* list of findings the file
produces: severity, code, 1-based line and field path, and the exact `counts`. So a case fails
both when its code is missing and when the line sets off an unrelated code.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from finetune_kit import Dataset, DatasetError, Finding, ValidationReport
from finetune_kit.dataset import CODES

Row = dict[str, Any]
Line = Row | bytes
"""A line of a test file: a row (written as compact-ish JSON) or raw bytes (written as is)."""
Fmt = Literal["chat", "dpo", "reinforcement", "completion"]
Method = Literal["supervised", "dpo", "reinforcement"]
Expect = tuple[str, str, int | None, str | None]
"""(severity, code, line, field) of one finding."""

BAD = 3
"""The line the row under test is written to, unless a case says otherwise."""
BOM = b"\xef\xbb\xbf"
MODELS: dict[Fmt, str] = {
    "chat": "gpt-4o-2024-08-06",
    "dpo": "gpt-4.1-mini-2025-04-14",
    "reinforcement": "o4-mini-2025-04-16",
    "completion": "babbage-002",
}
"""A fine-tunable model per format (gpt-4o-2024-08-06 takes images)."""


# --- rows --------------------------------------------------------------------------------------


def user(content: str | list[Row] = "What is the capital of France?") -> Row:
    return {"role": "user", "content": content}


def assistant(content: str | list[Row] | None = "Paris.", **extra: Any) -> Row:
    return {"role": "assistant", "content": content, **extra}


def system(content: str = "You are a terse geography tutor.") -> Row:
    return {"role": "system", "content": content}


def chat(*messages: Row, **extra: Any) -> Row:
    return {"messages": list(messages), **extra}


def text(value: str) -> Row:
    return {"type": "text", "text": value}


def image(url: str, **extra: Any) -> Row:
    return {"type": "image_url", "image_url": {"url": url, **extra}}


def dpo(
    messages: Sequence[Row] = (),
    preferred: Sequence[Row] | None = None,
    non_preferred: Sequence[Row] | None = None,
    **extra: Any,
) -> Row:
    return {
        "input": {"messages": list(messages) or [user()]},
        "preferred_output": list(preferred) if preferred is not None else [assistant("Paris.")],
        "non_preferred_output": list(non_preferred)
        if non_preferred is not None
        else [assistant("It is Lyon.")],
        **extra,
    }


def rft(*messages: Row, **extra: Any) -> Row:
    return {"messages": list(messages), "reference_answer": "Paris", **extra}


def call(
    call_id: str = "call_1", name: str = "get_weather", arguments: Any = '{"city": "Paris"}'
) -> Row:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def calls(*tool_calls: Row) -> Row:
    return {"role": "assistant", "tool_calls": list(tool_calls)}


def tool_reply(call_id: str = "call_1", content: str = '{"celsius": 21}') -> Row:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


WEATHER_TOOL: Row = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
HTTPS_IMAGE = "https://example.com/images/eiffel.png"
HTTP_IMAGE = "http://example.com/images/louvre.jpg"
PNG_1X1 = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
    )
).decode()
DATA_IMAGE = f"data:image/png;base64,{PNG_1X1}"


def filler_row(fmt: Fmt, i: int) -> Row:
    """A valid, unique row of `fmt` (unique, so fillers never count as duplicates)."""
    if fmt == "chat":
        return chat(system(), user(f"What is {i} + {i}?"), assistant(f"{2 * i}."))
    if fmt == "dpo":
        return dpo(
            [user(f"Say {i} politely.")],
            [assistant(f"{i}, if you please.")],
            [assistant(f"{i}. Now go away.")],
        )
    if fmt == "reinforcement":
        return rft(
            {"role": "developer", "content": "Answer with a number."},
            user(f"What is {i} squared?"),
            reference_answer=str(i * i),
        )
    return {"prompt": f"{i} + {i} =", "completion": f" {2 * i}"}


# --- files -------------------------------------------------------------------------------------


def encode(line: Line) -> bytes:
    return line if isinstance(line, bytes) else json.dumps(line, ensure_ascii=False).encode()


def write_lines(path: Path, lines: Sequence[Line]) -> Path:
    """Write `lines` as JSONL (each followed by a newline) and return the path."""
    path.write_bytes(b"".join(encode(line) + b"\n" for line in lines))
    return path


def write_jsonl(
    tmp_path: Path,
    rows: Sequence[Line],
    *,
    fmt: Fmt = "chat",
    filler: int = 10,
    at: int = BAD,
    name: str = "train.jsonl",
) -> Path:
    """Write `filler` valid `fmt` rows with `rows` inserted so that the first is at line `at`."""
    fill: list[Line] = [filler_row(fmt, i) for i in range(filler)]
    return write_lines(tmp_path / name, [*fill[: at - 1], *rows, *fill[at - 1 :]])


def findings(report: ValidationReport) -> list[Expect]:
    """Every listed finding as (severity, code, line, field), in a canonical order."""
    return sort_expected(
        [(f.severity, f.code, f.line, f.field) for f in (*report.errors, *report.warnings)]
    )


def sort_expected(items: Sequence[Expect]) -> list[Expect]:
    return sorted(items, key=lambda e: (-1 if e[2] is None else e[2], e[1], e[3] or "", e[0]))


def err(code: str, field: str | None = None, line: int | None = BAD) -> Expect:
    return ("error", code, line, field)


def warn(code: str, field: str | None = None, line: int | None = BAD) -> Expect:
    return ("warning", code, line, field)


# --- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A file to validate and every finding it must produce."""

    rows: tuple[Line, ...]
    """Lines written from line `at` on, between valid filler rows."""
    expected: tuple[Expect, ...]
    """All findings of the file (severity, code, line, field), in any order."""
    fmt: Fmt = "chat"
    model: str | None = None
    """The model to validate for; default: `MODELS[fmt]`."""
    method: Method | None = None
    at: int = BAD
    filler: int = 10
    validation: tuple[Line, ...] | None = None
    """Rows of a validation file to pass as `validation=`."""
    workers: int | None = None
    message_contains: str | None = None
    """Text the first expected finding's message must contain."""
    known_models: tuple[str, ...] | None = None
    """Names the provider lists (`known_models=`)."""


OPEN_DAY = 1_790_000_000.0
"""2026-09-21: every model of these cases (gpt-3.5-turbo-0125, o4-mini...) still trained then."""


def run_case(tmp_path: Path, case: Case) -> ValidationReport:
    path = write_jsonl(tmp_path, case.rows, fmt=case.fmt, filler=case.filler, at=case.at)
    validation = (
        None
        if case.validation is None
        else str(write_lines(tmp_path / "validation.jsonl", case.validation))
    )
    return Dataset.from_jsonl(path).validate(
        model=case.model or MODELS[case.fmt],
        method=case.method,
        validation=validation,
        workers=case.workers,
        known_models=case.known_models,
        now=lambda: OPEN_DAY,
    )


def tool_chat(*messages: Row) -> Row:
    """A chat row that declares the weather tool."""
    return chat(*messages, tools=[WEATHER_TOOL])


LEGACY_FUNCTIONS_ROW = chat(
    user("Weather in Paris?"),
    {"role": "assistant", "content": None, "function_call": call()["function"]},
    {"role": "function", "name": "get_weather", "content": '{"celsius": 21}'},
    assistant("21 °C."),
    functions=[WEATHER_TOOL["function"]],
)

CASES: dict[str, Case] = {
    # the file and the line
    "not_jsonl_text": Case(
        # Binary data before valid rows: one finding for the file, none for its lines.
        rows=(b"\x00\x01\x02\xff" * 30,),
        at=1,
        expected=(err("not_jsonl_text", line=None),),
        message_contains="not a JSONL text file: it is binary data (a NUL byte at byte 1)",
    ),
    "invalid_utf8": Case(
        # "Café?" saved as Latin-1: the é is the lone byte 0xE9.
        rows=(encode(chat(user("Café?"), assistant("Yes."))).replace("é".encode(), b"\xe9"),),
        expected=(err("invalid_utf8"),),
    ),
    "bom": Case(
        rows=(BOM + encode(chat(user("Bonjour?"), assistant("Salut."))),),
        at=1,
        expected=(err("bom", line=1),),
    ),
    "blank_line": Case(rows=(b"",), expected=(warn("blank_line"),)),
    "invalid_json": Case(
        rows=(b'{"messages": [{"role": "user", "content": "Hi"}',),
        expected=(err("invalid_json"),),
    ),
    "not_an_object": Case(
        rows=(b'["user", "Hi", "assistant", "Hello"]',), expected=(err("not_an_object"),)
    ),
    "unknown_format": Case(
        rows=({"question": "Capital of France?", "answer": "Paris"},),
        expected=(err("unknown_format"),),
    ),
    "mixed_formats": Case(
        rows=({"prompt": "Capital of France?", "completion": " Paris"},),
        expected=(err("mixed_formats"),),
    ),
    "legacy_format": Case(rows=(), fmt="completion", expected=(warn("legacy_format", line=None),)),
    "too_few_examples": Case(rows=(), filler=9, expected=(err("too_few_examples", line=None),)),
    # structure
    "missing_key": Case(
        rows=(chat(system(), {"role": "user"}, assistant()),),
        expected=(err("missing_key", "messages[1].content"),),
    ),
    "unknown_key": Case(
        rows=(chat(user(), assistant(), metadata={"source": "web"}),),
        expected=(err("unknown_key", "metadata"),),
    ),
    "wrong_type": Case(
        rows=({"messages": "What is the capital of France?"},),
        expected=(err("wrong_type", "messages"),),
    ),
    "invalid_value": Case(
        rows=(chat(user([text("Describe it."), {"type": "video", "video": "x"}]), assistant()),),
        expected=(err("invalid_value", "messages[0].content[1].type"),),
    ),
    "empty_messages": Case(rows=({"messages": []},), expected=(err("empty_messages", "messages"),)),
    "unknown_role": Case(
        rows=(chat(user(), {"role": "bot", "content": "Hmm."}, assistant()),),
        expected=(err("unknown_role", "messages[1].role"),),
    ),
    "developer_role": Case(
        rows=(chat({"role": "developer", "content": "Be terse."}, user(), assistant()),),
        expected=(warn("developer_role", "messages[0].role"),),
    ),
    "empty_content": Case(
        rows=(chat(system(), user(""), assistant()),),
        expected=(err("empty_content", "messages[1].content"),),
    ),
    "whitespace_content": Case(
        rows=(chat(user(), assistant(" \n\t ")),),
        expected=(warn("whitespace_content", "messages[1].content"),),
    ),
    "no_assistant_message": Case(
        rows=(chat(system(), user()),), expected=(err("no_assistant_message", "messages"),)
    ),
    "no_trained_assistant": Case(
        rows=(chat(user(), assistant(weight=0)),),
        expected=(err("no_trained_assistant", "messages"),),
    ),
    "invalid_weight": Case(
        rows=(chat(user(), assistant(weight=0.5)),),
        expected=(err("invalid_weight", "messages[1].weight"),),
    ),
    "special_token": Case(
        rows=(chat(user(), assistant("Paris.<|endoftext|>")),),
        expected=(err("special_token", "messages[1].content"),),
    ),
    # tools and functions
    "tool_arguments_not_json": Case(
        rows=(
            tool_chat(
                user("Weather in Paris?"),
                calls(call(arguments="{'city': 'Paris'}")),
                tool_reply(),
                assistant("21 °C."),
            ),
        ),
        expected=(err("tool_arguments_not_json", "messages[1].tool_calls[0].function.arguments"),),
    ),
    "duplicate_tool_call_id": Case(
        rows=(
            tool_chat(
                user("Weather in Paris and Rome?"),
                calls(call("call_1"), call("call_1", arguments='{"city": "Rome"}')),
                tool_reply("call_1"),
                assistant("21 °C in both."),
            ),
        ),
        expected=(err("duplicate_tool_call_id", "messages[1].tool_calls[1].id"),),
    ),
    "tool_call_id_mismatch": Case(
        rows=(
            tool_chat(
                user("Weather in Paris?"),
                calls(call("call_1")),
                tool_reply("call_1"),
                tool_reply("call_9"),
                assistant("21 °C."),
            ),
        ),
        expected=(err("tool_call_id_mismatch", "messages[3].tool_call_id"),),
    ),
    "tool_call_unanswered": Case(
        rows=(
            tool_chat(
                user("Weather in Paris?"),
                calls(call("call_1")),
                assistant("I could not check, sorry."),
            ),
        ),
        expected=(err("tool_call_unanswered", "messages[1].tool_calls[0]"),),
    ),
    "tool_not_declared": Case(
        rows=(
            tool_chat(
                user("Time in Paris?"),
                calls(call(name="get_time", arguments='{"city": "Paris"}')),
                tool_reply(content='"14:00"'),
                assistant("14:00."),
            ),
        ),
        expected=(warn("tool_not_declared", "messages[1].tool_calls[0].function.name"),),
    ),
    "legacy_functions": Case(
        rows=(LEGACY_FUNCTIONS_ROW,),
        expected=(
            warn("legacy_functions", "functions"),
            warn("legacy_functions", "messages[1].function_call"),
        ),
    ),
    # images
    "image_not_allowed": Case(
        rows=(chat(user("Draw a cat."), assistant([image(HTTPS_IMAGE)])),),
        expected=(err("image_not_allowed", "messages[1].content[0]"),),
    ),
    "invalid_image": Case(
        rows=(chat(user([text("What is this?"), image("ftp://example.com/a.png")]), assistant()),),
        expected=(err("invalid_image", "messages[0].content[1].image_url.url"),),
    ),
    "image_too_large": Case(
        # 14.1M base64 characters decode to about 10.6 MB, over the 10 MiB limit.
        rows=(
            chat(
                user([text("What is this?"), image("data:image/png;base64," + "A" * 14_100_000)]),
                assistant("A blank image."),
            ),
        ),
        workers=1,
        expected=(err("image_too_large", "messages[0].content[1].image_url.url"),),
    ),
    "too_many_images": Case(
        rows=(chat(user([text("Which differ?"), *[image(HTTPS_IMAGE)] * 65]), assistant("None.")),),
        expected=(err("too_many_images"),),
    ),
    "many_images": Case(
        rows=(chat(user([text("Which differ?"), *[image(HTTPS_IMAGE)] * 11]), assistant("None.")),),
        expected=(warn("many_images"),),
    ),
    "model_no_vision": Case(
        rows=(chat(user([text("What is this?"), image(HTTPS_IMAGE)]), assistant("A tower.")),),
        model="gpt-3.5-turbo-0125",
        expected=(warn("model_no_vision", "messages[0].content[1]"),),
    ),
    # preference pairs and reinforcement rows
    "dpo_output_invalid": Case(
        rows=(dpo(preferred=[assistant("Paris."), assistant("Definitely Paris.")]),),
        fmt="dpo",
        expected=(err("dpo_output_invalid", "preferred_output"),),
    ),
    "dpo_identical_outputs": Case(
        rows=(dpo(preferred=[assistant("Paris.")], non_preferred=[assistant("Paris.")]),),
        fmt="dpo",
        expected=(warn("dpo_identical_outputs", "non_preferred_output"),),
    ),
    "dpo_spec_field_names": Case(
        rows=(
            {
                "input": {"messages": [user()]},
                "preferred_completion": [assistant("Paris.")],
                "non_preferred_completion": [assistant("Lyon.")],
            },
        ),
        fmt="dpo",
        expected=(
            warn("dpo_spec_field_names", "preferred_completion"),
            warn("dpo_spec_field_names", "non_preferred_completion"),
        ),
    ),
    "dpo_input_ends_with_assistant": Case(
        rows=(dpo([user(), assistant("Paris.")]),),
        fmt="dpo",
        expected=(warn("dpo_input_ends_with_assistant", "input.messages[1]"),),
    ),
    "rft_last_message_not_user": Case(
        rows=(rft({"role": "developer", "content": "Answer."}, user(), assistant("Paris")),),
        fmt="reinforcement",
        expected=(err("rft_last_message_not_user", "messages[2].role"),),
    ),
    # about the whole dataset, or the model it is for
    "duplicate_example": Case(
        rows=(filler_row("chat", 0),),
        expected=(warn("duplicate_example"),),
        message_contains="line 1",
    ),
    "train_validation_overlap": Case(
        rows=(chat(user("Capital of Peru?"), assistant("Lima.")),),
        validation=(
            chat(user("Capital of Chile?"), assistant("Santiago.")),
            chat(user("Capital of Peru?"), assistant("Lima.")),
        ),
        expected=(err("train_validation_overlap"),),
        message_contains="line 2 of the validation set",
    ),
    "example_too_long": Case(
        rows=(chat(user("word " * 5000), assistant("That is a lot of words.")),),
        model="gpt-3.5-turbo-0613",
        expected=(warn("example_too_long"),),
        message_contains="4,096-token",
    ),
    "unknown_model": Case(
        rows=(),
        model="acme-llm-9000",
        known_models=("acme-llm-9000",),
        expected=(warn("unknown_model", line=None),),
    ),
    "model_format_mismatch": Case(
        rows=(),
        fmt="completion",
        model="gpt-4o-mini-2024-07-18",
        expected=(err("model_format_mismatch", line=None),),
        message_contains="only fit babbage-002 and davinci-002",
    ),
}
"""One case per code in `CODES`: the key is the code the case is about."""

VARIANTS: dict[str, Case] = {
    # more shapes of the same codes, across formats
    "blank_line-whitespace-only": Case(rows=(b" \t ",), expected=(warn("blank_line"),)),
    "invalid_json-NaN": Case(
        rows=(b'{"messages": [{"role": "user", "content": "Hi"}], "score": NaN}',),
        expected=(err("invalid_json"),),
    ),
    "invalid_json-two-objects-on-one-line": Case(
        rows=(encode(chat(user(), assistant())) + b" " + encode(chat(user(), assistant())),),
        expected=(err("invalid_json"),),
    ),
    "not_an_object-null": Case(rows=(b"null",), expected=(err("not_an_object"),)),
    "mixed_formats-dpo-row-in-chat-file": Case(rows=(dpo(),), expected=(err("mixed_formats"),)),
    "too_few_examples-blank-lines-do-not-count": Case(
        rows=(b"",),
        filler=9,
        expected=(err("too_few_examples", line=None), warn("blank_line")),
    ),
    "missing_key-role": Case(
        rows=(chat({"content": "Hi"}, assistant()),),
        expected=(err("missing_key", "messages[0].role"),),
    ),
    "missing_key-tool-call-function": Case(
        rows=(
            tool_chat(
                user("Weather?"),
                calls({"id": "call_1", "type": "function"}),
                tool_reply(),
                assistant("21 °C."),
            ),
        ),
        expected=(err("missing_key", "messages[1].tool_calls[0].function"),),
    ),
    "missing_key-image-url": Case(
        rows=(chat(user([text("What?"), {"type": "image_url"}]), assistant()),),
        expected=(err("missing_key", "messages[0].content[1].image_url.url"),),
    ),
    "missing_key-dpo-non_preferred_output": Case(
        rows=({"input": {"messages": [user()]}, "preferred_output": [assistant()]},),
        fmt="dpo",
        expected=(err("missing_key", "non_preferred_output"),),
    ),
    "missing_key-dpo-input.messages": Case(
        rows=(dpo() | {"input": {}},),
        fmt="dpo",
        expected=(err("missing_key", "input.messages"),),
    ),
    "missing_key-completion": Case(
        rows=({"prompt": "2 + 2 ="},),
        fmt="completion",
        expected=(err("missing_key", "completion"), warn("legacy_format", line=None)),
    ),
    "unknown_key-message": Case(
        rows=(chat({"role": "user", "content": "Hi", "timestamp": 1}, assistant()),),
        expected=(err("unknown_key", "messages[0].timestamp"),),
    ),
    "unknown_key-tool_call_id-on-user": Case(
        rows=(chat({"role": "user", "content": "Hi", "tool_call_id": "call_1"}, assistant()),),
        expected=(err("unknown_key", "messages[0].tool_call_id"),),
    ),
    "unknown_key-dpo-top": Case(rows=(dpo(id=7),), fmt="dpo", expected=(err("unknown_key", "id"),)),
    "unknown_key-dpo-input": Case(
        rows=({**dpo(), "input": {"messages": [user()], "metadata": {}}},),
        fmt="dpo",
        expected=(err("unknown_key", "input.metadata"),),
    ),
    "unknown_key-completion": Case(
        rows=({"prompt": "2 + 2 =", "completion": " 4", "label": "math"},),
        fmt="completion",
        expected=(err("unknown_key", "label"), warn("legacy_format", line=None)),
    ),
    "wrong_type-message": Case(
        rows=(chat(user(), "Paris."),),  # type: ignore[arg-type]
        expected=(err("wrong_type", "messages[1]"),),
    ),
    "wrong_type-content-number": Case(
        rows=(chat(user(), {"role": "assistant", "content": 42}),),
        expected=(err("wrong_type", "messages[1].content"),),
    ),
    "wrong_type-parallel_tool_calls": Case(
        rows=(
            chat(
                user("Weather?"),
                calls(call()),
                tool_reply(),
                assistant("21 °C."),
                tools=[WEATHER_TOOL],
                parallel_tool_calls="no",
            ),
        ),
        expected=(err("wrong_type", "parallel_tool_calls"),),
    ),
    "wrong_type-dpo-input": Case(
        rows=({**dpo(), "input": [user()]},), fmt="dpo", expected=(err("wrong_type", "input"),)
    ),
    "wrong_type-dpo-output-object": Case(
        rows=({**dpo(), "preferred_output": assistant()},),
        fmt="dpo",
        expected=(err("wrong_type", "preferred_output"),),
    ),
    "wrong_type-completion-prompt": Case(
        rows=({"prompt": 42, "completion": " 42"},),
        fmt="completion",
        expected=(err("wrong_type", "prompt"), warn("legacy_format", line=None)),
    ),
    "invalid_value-image-detail": Case(
        rows=(chat(user([text("What?"), image(HTTPS_IMAGE, detail="ultra")]), assistant()),),
        expected=(err("invalid_value", "messages[0].content[1].image_url.detail"),),
    ),
    "invalid_value-tool-call-type": Case(
        rows=(
            tool_chat(
                user("Weather?"),
                calls(call() | {"type": "retrieval"}),
                tool_reply(),
                assistant("21 °C."),
            ),
        ),
        expected=(err("invalid_value", "messages[1].tool_calls[0].type"),),
    ),
    "invalid_value-tool-type": Case(
        rows=(
            chat(
                user("Weather?"),
                calls(call()),
                tool_reply(),
                assistant("21 °C."),
                tools=[WEATHER_TOOL | {"type": "retrieval"}],
            ),
        ),
        expected=(err("invalid_value", "tools[0].type"),),
    ),
    "empty_messages-dpo-input": Case(
        rows=({**dpo(), "input": {"messages": []}},),
        fmt="dpo",
        expected=(err("empty_messages", "input.messages"),),
    ),
    "unknown_role-system-in-reinforcement": Case(
        rows=(rft(system(), user()),),
        fmt="reinforcement",
        expected=(err("unknown_role", "messages[0].role"),),
    ),
    "empty_content-null-assistant": Case(
        rows=(chat(user(), assistant(None)),),
        expected=(err("empty_content", "messages[1].content"),),
    ),
    "empty_content-empty-parts": Case(
        rows=(chat(user([]), assistant()),), expected=(err("empty_content", "messages[0].content"),)
    ),
    "empty_content-empty-text-part": Case(
        rows=(chat(user([text("")]), assistant()),),
        expected=(err("empty_content", "messages[0].content[0].text"),),
    ),
    "no_assistant_message-reinforcement-row-without-method": Case(
        # Without extra keys an RFT-style row looks like chat: the message names the method.
        rows=(chat({"role": "user", "content": "What is 7 squared?"}),),
        expected=(err("no_assistant_message", "messages"),),
        message_contains="(or validate the file as reinforcement fine-tuning data)",
    ),
    "invalid_weight-on-user": Case(
        rows=(chat({"role": "user", "content": "Hi", "weight": 1}, assistant()),),
        expected=(err("invalid_weight", "messages[0].weight"),),
    ),
    "invalid_weight-boolean": Case(
        rows=(chat(user(), assistant(weight=True)),),
        expected=(err("invalid_weight", "messages[1].weight"),),
    ),
    "special_token-completion-prompt": Case(
        rows=({"prompt": "<|im_start|>2 + 2 =", "completion": " 4"},),
        fmt="completion",
        expected=(err("special_token", "prompt"), warn("legacy_format", line=None)),
    ),
    "special_token-dpo-output": Case(
        rows=(dpo(preferred=[assistant("Paris.<|fim_suffix|>")]),),
        fmt="dpo",
        expected=(err("special_token", "preferred_output[0].content"),),
    ),
    "tool_arguments_not_json-object": Case(
        rows=(
            tool_chat(
                user("Weather?"),
                calls(call(arguments={"city": "Paris"})),
                tool_reply(),
                assistant("21 °C."),
            ),
        ),
        expected=(err("tool_arguments_not_json", "messages[1].tool_calls[0].function.arguments"),),
    ),
    "tool_call_id_mismatch-no-open-call": Case(
        rows=(tool_chat(user("Weather?"), tool_reply("call_1"), assistant("21 °C.")),),
        expected=(err("tool_call_id_mismatch", "messages[1].tool_call_id"),),
    ),
    "invalid_image-gif-data-url": Case(
        rows=(
            chat(
                user([text("What?"), image("data:image/gif;base64,R0lGODlhAQABAAAAACw=")]),
                assistant(),
            ),
        ),
        expected=(err("invalid_image", "messages[0].content[1].image_url.url"),),
    ),
    "image_not_allowed-system": Case(
        rows=(chat({"role": "system", "content": [image(HTTPS_IMAGE)]}, user(), assistant()),),
        expected=(err("image_not_allowed", "messages[0].content[0]"),),
    ),
    "many_images-64-is-not-too-many": Case(
        rows=(chat(user([text("Which differ?"), *[image(HTTPS_IMAGE)] * 64]), assistant("None.")),),
        expected=(warn("many_images"),),
    ),
    "many_images-10-is-fine": Case(
        rows=(chat(user([text("Which differ?"), *[image(DATA_IMAGE)] * 10]), assistant("None.")),),
        expected=(),
    ),
    "dpo_output_invalid-not-assistant": Case(
        rows=(dpo(preferred=[user("Paris.")]),),
        fmt="dpo",
        expected=(err("dpo_output_invalid", "preferred_output[0]"),),
    ),
    "dpo_output_invalid-empty": Case(
        rows=(dpo(non_preferred=[]),),
        fmt="dpo",
        expected=(err("dpo_output_invalid", "non_preferred_output"),),
    ),
    "dpo_output_invalid-parts": Case(
        rows=(dpo(preferred=[assistant([text("Paris.")])]),),
        fmt="dpo",
        expected=(err("dpo_output_invalid", "preferred_output[0].content"),),
    ),
    "rft_last_message_not_user-method": Case(
        rows=(rft(user(), assistant("Paris")),),
        fmt="reinforcement",
        method="reinforcement",
        expected=(err("rft_last_message_not_user", "messages[1].role"),),
    ),
    "duplicate_example-dpo": Case(
        rows=(filler_row("dpo", 1),), fmt="dpo", expected=(warn("duplicate_example"),)
    ),
    "train_validation_overlap-records": Case(
        rows=(dpo([user("Capital of Peru?")]),),
        fmt="dpo",
        validation=(dpo([user("Capital of Peru?")]),),
        expected=(err("train_validation_overlap"),),
        message_contains="line 1 of the validation set",
    ),
    "model_format_mismatch-chat-for-babbage": Case(
        rows=(),
        model="babbage-002",
        expected=(err("model_format_mismatch", line=None),),
        message_contains="babbage-002 trains on prompt/completion rows only",
    ),
    "unknown_model-fine-tuned-name-is-known": Case(
        rows=(),
        model="ft:gpt-4o-mini-2024-07-18:acme::AbC123",
        expected=(),
    ),
}
"""Further shapes of the codes above (other formats, other fields); keyed `code-variant`."""


def _params(cases: dict[str, Case]) -> list[Any]:
    return [pytest.param(name.split("-", 1)[0], case, id=name) for name, case in cases.items()]


@pytest.mark.parametrize(("code", "case"), _params(CASES) + _params(VARIANTS))
def test_finding(code: str, case: Case, tmp_path: Path) -> None:
    """The file yields exactly the expected findings (severity, code, line, field) and counts."""
    report = run_case(tmp_path, case)
    assert findings(report) == sort_expected(case.expected)
    assert report.counts == dict(Counter(e[1] for e in case.expected))
    for severity, expected_code, _, _ in case.expected:
        assert CODES[expected_code].severity == severity
    if case.expected:
        assert code in {e[1] for e in case.expected}
    assert report.omitted == 0
    if case.message_contains is not None:
        first = next(f for f in (*report.errors, *report.warnings) if f.code == code)
        assert case.message_contains in first.message


OPEN_WEIGHTS_CODES = frozenset({"template_cannot_render"})
"""Codes only an open-weights model's chat template raises: their cases need a model (torch),
so they live in tests/local/test_open_weights_tokens.py."""


def test_every_code_has_a_case() -> None:
    """Every code in `CODES` has exactly one case in `CASES`, and no case names an unknown code."""
    assert set(CASES) | OPEN_WEIGHTS_CODES == set(CODES)
    assert not set(CASES) & OPEN_WEIGHTS_CODES
    assert {name.split("-", 1)[0] for name in VARIANTS} <= set(CODES)


# --- valid rows ---------------------------------------------------------------------------------

CLEAN_ROWS: dict[str, tuple[Fmt, Row]] = {
    "chat-text-with-name-and-weights": (
        "chat",
        chat(
            system(),
            {"role": "user", "name": "ana", "content": "Capital of Spain?"},
            assistant("Barcelona.", weight=0),
            user("Are you sure?"),
            assistant("Sorry: Madrid.", weight=1),
        ),
    ),
    "chat-tools": (
        "chat",
        chat(
            system(),
            user("Weather in Paris and Rome?"),
            calls(call("call_1"), call("call_2", arguments='{"city": "Rome"}')),
            tool_reply("call_1"),
            tool_reply("call_2", '{"celsius": 25}'),
            assistant("21 °C in Paris, 25 °C in Rome."),
            tools=[WEATHER_TOOL],
            parallel_tool_calls=True,
        ),
    ),
    "chat-images-http-https-data": (
        "chat",
        chat(
            user(
                [
                    text("Which landmarks are these?"),
                    image(HTTPS_IMAGE, detail="high"),
                    image(HTTP_IMAGE),
                    image(DATA_IMAGE, detail="low"),
                ]
            ),
            assistant("The Eiffel Tower, the Louvre and a single pixel."),
        ),
    ),
    "chat-assistant-refusal": (
        "chat",
        chat(
            user("How do I pick a lock?"),
            assistant([{"type": "refusal", "refusal": "I can't help with that."}]),
        ),
    ),
    "dpo-with-system-and-tools": (
        "dpo",
        {
            "input": {
                "messages": [system(), user("Weather in Paris?")],
                "tools": [WEATHER_TOOL],
                "parallel_tool_calls": False,
            },
            "preferred_output": [assistant("I'll check: 21 °C.")],
            "non_preferred_output": [assistant("No idea.")],
        },
    ),
    "reinforcement-with-tools-and-extra-keys": (
        "reinforcement",
        rft(
            {"role": "developer", "content": "Use the tool."},
            user("Weather in Paris?"),
            tools=[WEATHER_TOOL],
            grader_notes={"unit": "celsius"},
        ),
    ),
}


@pytest.mark.parametrize(("fmt", "row"), list(CLEAN_ROWS.values()), ids=list(CLEAN_ROWS))
def test_valid_rows_have_no_findings(fmt: Fmt, row: Row, tmp_path: Path) -> None:
    """A valid row of each format, among valid fillers, produces no finding at all."""
    report = run_case(tmp_path, Case(rows=(row,), fmt=fmt, expected=()))
    assert report.format == fmt
    assert findings(report) == []
    assert report.counts == {}
    assert report.ok
    assert report.stats.rows == 11
    assert report.stats.examples == 11


def test_legacy_completion_file_only_warns(tmp_path: Path) -> None:
    """A clean prompt/completion file is detected as such and only gets the file-level warning."""
    report = run_case(tmp_path, Case(rows=(), fmt="completion", expected=()))
    assert report.format == "completion"
    assert report.counts == {"legacy_format": 1}
    assert report.ok


def test_trailing_tool_call_is_valid(tmp_path: Path) -> None:
    """A conversation ending on an assistant tool call (the spec's own SFT example) is valid."""
    # FineTuneChatRequestInput's x-oaiMeta example: user, then assistant tool_calls, nothing after.
    spec_example = {
        "messages": [
            {"role": "user", "content": "What is the weather in San Francisco?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call_id",
                        "type": "function",
                        "function": {
                            "name": "get_current_weather",
                            "arguments": '{"location": "San Francisco, USA", "format": "celsius"}',
                        },
                    }
                ],
            },
        ],
        "parallel_tool_calls": False,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_current_weather",
                    "description": "Get the current weather",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "location": {"type": "string"},
                            "format": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                        },
                        "required": ["location", "format"],
                    },
                },
            }
        ],
    }
    report = run_case(tmp_path, Case(rows=(spec_example,), expected=()))
    assert findings(report) == []
    assert report.ok


def test_dpo_guide_row_with_empty_tools_is_valid(tmp_path: Path) -> None:
    """The DPO guide's row shape, with `"tools": []` in the input, is valid (no minItems)."""
    guide_row = {
        "input": {
            "messages": [user("Hello, can you tell me how cold San Francisco is today?")],
            "tools": [],
            "parallel_tool_calls": True,
        },
        "preferred_output": [assistant("Today in San Francisco, it is a chilly 12 °C.")],
        "non_preferred_output": [assistant("It is not cold.")],
    }
    report = run_case(tmp_path, Case(rows=(guide_row,), fmt="dpo", expected=()))
    assert findings(report) == []
    assert report.ok


# --- many findings in one file -----------------------------------------------------------------


def many_problems_file(tmp_path: Path) -> Path:
    """Ten valid rows with seven bad lines among them (at 2, 4, 6, 8, 10, 14 and 16)."""
    fill = [filler_row("chat", i) for i in range(10)]
    lines: list[Line] = [
        fill[0],
        b'{"messages": [',  # 2: invalid_json
        fill[1],
        chat(user(""), assistant()),  # 4: empty_content
        fill[2],
        chat(user(), assistant("  ")),  # 6: whitespace_content (warning)
        fill[3],
        b"42",  # 8: not_an_object
        fill[4],
        b"",  # 10: blank_line (warning): still counts as a line
        fill[5],
        fill[6],
        fill[7],
        fill[1],  # 14: duplicate_example (warning)
        fill[8],
        chat(user(), assistant(weight=3)),  # 16: invalid_weight
        fill[9],
    ]
    return write_lines(tmp_path / "many.jsonl", lines)


def test_validation_reports_every_bad_line_in_order(tmp_path: Path) -> None:
    """Validation does not stop at the first error: every bad line is listed, in line order."""
    report = Dataset.from_jsonl(many_problems_file(tmp_path)).validate(model=MODELS["chat"])
    assert [(f.line, f.code, f.field) for f in report.errors] == [
        (2, "invalid_json", None),
        (4, "empty_content", "messages[0].content"),
        (8, "not_an_object", None),
        (16, "invalid_weight", "messages[1].weight"),
    ]
    assert [(f.line, f.code, f.field) for f in report.warnings] == [
        (6, "whitespace_content", "messages[1].content"),
        (10, "blank_line", None),
        (14, "duplicate_example", None),
    ]
    assert all(f.severity == "error" for f in report.errors)
    assert all(f.severity == "warning" for f in report.warnings)
    assert report.counts == {
        "blank_line": 1,
        "duplicate_example": 1,
        "empty_content": 1,
        "invalid_json": 1,
        "invalid_weight": 1,
        "not_an_object": 1,
        "whitespace_content": 1,
    }
    assert report.error_count == 4
    assert report.warning_count == 3
    assert report.omitted == 0
    assert not report.ok
    assert report.stats.rows == 16
    assert report.stats.examples == 14  # the invalid JSON and the non-object are not examples


def test_raise_for_errors_names_file_and_lines(tmp_path: Path) -> None:
    """`raise_for_errors` raises `DatasetError` naming the file and each error's line and code."""
    path = many_problems_file(tmp_path)
    report = Dataset.from_jsonl(path).validate(model=MODELS["chat"])
    with pytest.raises(DatasetError) as info:
        report.raise_for_errors()
    exc = info.value
    message = str(exc)
    assert message.startswith(f"{path}: 4 error(s)")
    assert f"{path}:2: [invalid_json]" in message
    assert f"{path}:4: messages[0].content [empty_content]" in message
    assert f"{path}:8: [not_an_object]" in message
    assert f"{path}:16: messages[1].weight [invalid_weight]" in message
    assert "whitespace_content" not in message  # warnings are not listed
    assert "blank_line" not in message
    assert exc.source == str(path)
    assert exc.line == 2
    assert exc.report is report
    assert exc.findings == report.errors


def test_raise_for_errors_passes_with_only_warnings(tmp_path: Path) -> None:
    """A report with warnings but no errors is `ok` and `raise_for_errors` returns it."""
    path = write_jsonl(tmp_path, [chat(user(), assistant("   ")), filler_row("chat", 0)])
    report = Dataset.from_jsonl(path).validate(model=MODELS["chat"])
    assert report.ok
    assert report.errors == ()
    assert [(f.line, f.code) for f in report.warnings] == [
        (3, "whitespace_content"),
        (4, "duplicate_example"),
    ]
    assert report.counts == {"duplicate_example": 1, "whitespace_content": 1}
    assert report.raise_for_errors() is report


def test_max_findings_lists_fewer_but_counts_all(tmp_path: Path) -> None:
    """With `max_findings`, extra findings are counted in `counts` and `omitted`, not listed."""
    report = Dataset.from_jsonl(many_problems_file(tmp_path)).validate(
        model=MODELS["chat"], max_findings=3
    )
    listed: list[Finding] = [*report.errors, *report.warnings]
    assert sorted((f.line or 0) for f in listed) == [2, 4, 6]
    assert report.omitted == 4
    assert sum(report.counts.values()) == 7
    assert report.error_count == 4
    assert not report.ok


def test_report_json_has_ok_and_counts(tmp_path: Path) -> None:
    """`to_json()` is valid JSON holding `ok`, `error_count`, `warning_count` and `counts`."""
    report = Dataset.from_jsonl(many_problems_file(tmp_path)).validate(model=MODELS["chat"])
    data = json.loads(report.to_json())
    assert data["ok"] is False
    assert data["error_count"] == 4
    assert data["warning_count"] == 3
    assert data["counts"] == report.counts
    assert [(f["line"], f["code"], f["field"]) for f in data["errors"]] == [
        (f.line, f.code, f.field) for f in report.errors
    ]
    assert json.loads(report.to_json(indent=None)) == data


def test_crlf_line_endings_are_accepted(tmp_path: Path) -> None:
    """A file with Windows (CRLF) line endings validates like the same file with LF endings."""
    rows = [filler_row("chat", i) for i in range(10)]
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(b"".join(encode(row) + b"\r\n" for row in rows))
    report = Dataset.from_jsonl(path).validate(model=MODELS["chat"])
    assert report.counts == {}
    assert report.stats.examples == 10
