"""Rows as the local trainer sees them: token ids, trained tokens, preference texts, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from finetune_kit.local.data import (
    IGNORE_INDEX,
    DataError,
    encode_supervised,
    preference_texts,
    read_rows,
)
from tests.local.conftest import TOOL


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Any:
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(tiny_model_dir)


def trained_text(tokenizer: Any, row: dict[str, Any], max_length: int = 512) -> str:
    encoded = encode_supervised(tokenizer, row, "train.jsonl, line 1", max_length=max_length)
    kept = [
        t
        for t, label in zip(encoded.input_ids, encoded.labels, strict=True)
        if label != IGNORE_INDEX
    ]
    assert [label for label in encoded.labels if label != IGNORE_INDEX] == kept
    return str(tokenizer.decode(kept))


def test_only_assistant_turns_of_weight_one_are_trained(tokenizer: Any) -> None:
    row: dict[str, Any] = {
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris.", "weight": 0},
            {"role": "user", "content": "Of Spain?"},
            {"role": "assistant", "content": "Madrid."},
        ]
    }
    assert trained_text(tokenizer, row) == "Madrid.<|im_end|>"
    encoded = encode_supervised(tokenizer, row, "x", max_length=512)
    whole = tokenizer.apply_chat_template(
        [{k: v for k, v in m.items() if k != "weight"} for m in row["messages"]],
        tokenize=True,
        return_dict=True,
    )
    assert encoded.input_ids == list(whole["input_ids"])


def test_tools_and_tool_calls_go_through_the_chat_template(tokenizer: Any) -> None:
    row = {
        "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "clear"}'},
            {"role": "assistant", "content": "Clear."},
        ],
        "tools": [TOOL],
    }
    encoded = encode_supervised(tokenizer, row, "x", max_length=512)
    text = tokenizer.decode(encoded.input_ids)
    assert f"# Tools\n{json.dumps(TOOL)}\n" in text
    assert trained_text(tokenizer, row) == (
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
        "<|im_end|>Clear.<|im_end|>"
    )


def test_long_rows_are_cut_at_max_length(tokenizer: Any) -> None:
    row = {
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]
    }
    full = encode_supervised(tokenizer, row, "x", max_length=512)
    cut = encode_supervised(tokenizer, row, "x", max_length=5)
    assert cut.input_ids == full.input_ids[:5]
    assert cut.labels == full.labels[:5]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "{not json",
            "train.jsonl, line 2: not valid JSON (Expecting property name enclosed in double quotes)",
        ),
        ("[1, 2]", "train.jsonl, line 2: a line must be a JSON object"),
    ],
)
def test_unreadable_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text('{"messages": []}\n' + line + "\n")
    with pytest.raises(DataError) as info:
        list(read_rows(path))
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {"messages": [{"role": "user", "content": "hi"}]},
            "x, line 3, field messages: has no assistant message to train on",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "yo", "weight": 2},
                ]
            },
            "x, line 3, field messages[1].weight: must be 0 or 1",
        ),
        (
            {"messages": [{"role": "robot", "content": "hi"}]},
            "x, line 3, field messages[0].role: unknown role 'robot'",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {
                        "role": "assistant",
                        "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}],
                    },
                ]
            },
            "x, line 3, field messages[1].tool_calls[0].function.arguments: is not valid JSON",
        ),
    ],
)
def test_bad_rows_name_line_and_field(tokenizer: Any, row: dict[str, Any], message: str) -> None:
    with pytest.raises(DataError) as info:
        encode_supervised(tokenizer, row, "x, line 3", max_length=512)
    assert str(info.value) == message


def test_a_role_the_template_rejects_is_a_clear_error(tiny_model_no_tools_dir: Path) -> None:
    transformers = pytest.importorskip("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(tiny_model_no_tools_dir)
    row = {
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "tool", "tool_call_id": "c", "content": "sunny"},
            {"role": "assistant", "content": "Sunny."},
        ]
    }
    with pytest.raises(DataError) as info:
        encode_supervised(tok, row, "train.jsonl, line 7", max_length=512)
    assert str(info.value) == (
        "train.jsonl, line 7, field messages: the model's chat template cannot render this "
        "example (TemplateError: only system, user and assistant messages, not tool)"
    )


def test_preference_rows_become_prompt_chosen_rejected(tokenizer: Any) -> None:
    row = {
        "input": {"messages": [{"role": "user", "content": "Capital of Peru?"}]},
        "preferred_output": [{"role": "assistant", "content": "Lima."}],
        "non_preferred_output": [{"role": "assistant", "content": "No idea."}],
    }
    assert preference_texts(tokenizer, row, "x") == {
        "prompt": "<|begin_of_text|><|im_start|>user\nCapital of Peru?<|im_end|>\n<|im_start|>assistant\n",
        "chosen": "Lima.<|im_end|>",
        "rejected": "No idea.<|im_end|>",
    }
    with pytest.raises(DataError) as info:
        preference_texts(tokenizer, {**row, "preferred_output": []}, "pairs.jsonl, line 4")
    assert str(info.value) == (
        "pairs.jsonl, line 4, field preferred_output: must be a list holding one assistant message"
    )
