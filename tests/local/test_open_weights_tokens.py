"""Token counts for open-weights models: each example exactly as the model's chat template renders
it (`len(tokenizer.apply_chat_template(messages, tools=tools, tokenize=True))`), trained tokens
from the template's assistant mask, the context from the model's config; data the template can't
render is an error with its line and field.

The references are computed here straight from transformers, on the tiny tokenizer of
`tiny_model_dir`, with the messages written in the shape templates take (tool-call arguments as
objects), not through finetune-kit's own conversion.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from finetune_kit import ConfigurationError, Dataset, Distribution, UnknownModelError
from finetune_kit.cli import main
from finetune_kit.dataset import engine, parallel
from finetune_kit.dataset.engine import settings_for, validate_path
from finetune_kit.dataset.hf_tokens import is_open_weights, open_weights
from tests.local.conftest import CHAT_TEMPLATE, TOOL, require_local_stack

Row = dict[str, Any]

SYSTEM = {"role": "system", "content": "You are a terse geography tutor."}
CALL_ARGS = {"city": "Paris"}
CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": json.dumps(CALL_ARGS)},
}
TOOL_RESULT = {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "clear"}'}


def user(text: str) -> Row:
    return {"role": "user", "content": text}


def assistant(text: str, **extra: Any) -> Row:
    return {"role": "assistant", "content": text, **extra}


def rows() -> list[Row]:
    """Twelve valid supervised rows: plain, system, multi-turn, weight 0, parts, tools."""
    countries = (
        ("France", "Paris"),
        ("Spain", "Madrid"),
        ("Italy", "Rome"),
        ("Peru", "Lima"),
        ("Chile", "Santiago"),
        ("Japan", "Tokyo"),
        ("Kenya", "Nairobi"),
        ("Canada", "Ottawa"),
    )
    out: list[Row] = [
        {"messages": [user(f"What is the capital of {c}?"), assistant(f"{city}.")]}
        for c, city in countries
    ]
    out[1]["messages"].insert(0, SYSTEM)
    out.append(  # line 9: multi-turn with a turn of weight 0
        {
            "messages": [
                SYSTEM,
                user("Capital of Spain?"),
                assistant("Barcelona.", weight=0),
                user("Are you sure?"),
                assistant("Sorry: Madrid.", weight=1),
            ]
        }
    )
    out.append(  # line 10: content as parts
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Capital of Norway?"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "Oslo."}]},
            ]
        }
    )
    out.append(  # line 11: tools, a tool call and its result
        {
            "messages": [
                SYSTEM,
                user("Weather in Paris?"),
                {"role": "assistant", "content": None, "tool_calls": [CALL]},
                TOOL_RESULT,
                assistant("Clear skies in Paris."),
            ],
            "tools": [TOOL],
        }
    )
    out.append(  # line 12: tools declared, none called
        {"messages": [user("Capital of Egypt?"), assistant("Cairo.")], "tools": [TOOL]}
    )
    return out


def template_form(row: Row) -> tuple[list[Row], list[Row] | None]:
    """The row's messages as templates take them, written out by hand."""
    messages = []
    for message in row["messages"]:
        msg = {k: v for k, v in message.items() if k != "weight"}
        if isinstance(msg["content"], list):
            msg["content"] = "".join(part["text"] for part in msg["content"])
        if msg["content"] is None:
            msg["content"] = ""
        if "tool_calls" in msg:
            msg["tool_calls"] = [
                {**CALL, "function": {"name": "get_weather", "arguments": CALL_ARGS}}
            ]
        messages.append(msg)
    return messages, row.get("tools")


def reference(tokenizer: Any, row: Row) -> tuple[int, int]:
    """(tokens, trained tokens) of a row, straight from transformers."""
    messages, tools = template_form(row)
    ids = tokenizer.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=False)
    masked = tokenizer.apply_chat_template(
        messages, tools=tools, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    assert list(masked["input_ids"]) == list(ids)
    trained = sum(masked["assistant_masks"])
    if any(m.get("weight") == 0 for m in row["messages"]):
        # The weight-0 turn is the first assistant turn: its content and end-of-turn token.
        trained -= len(tokenizer.encode("Barcelona.", add_special_tokens=False)) + 1
    return len(ids), trained


def write(path: Path, lines: list[Row]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir, local_files_only=True)


def test_counts_are_the_chat_template_s_exactly(
    tiny_model_dir: Path, tokenizer: Any, tmp_path: Path
) -> None:
    data = rows()
    expected = [reference(tokenizer, row) for row in data]
    # The weight-0 row trains fewer tokens than its template marks, the tool row more than 0.
    assert expected[8][1] < sum(
        tokenizer.apply_chat_template(
            template_form(data[8])[0],
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
        )["assistant_masks"]
    )
    report = Dataset.from_jsonl(write(tmp_path / "train.jsonl", data)).validate(
        model=str(tiny_model_dir)
    )
    assert report.ok, report
    assert report.counts == {}
    assert report.encoding == "chat template"
    stats = report.stats
    assert stats.examples == 12
    assert stats.total_tokens == sum(t for t, _ in expected)
    assert stats.tokens_per_example == Distribution.of(t for t, _ in expected)
    assert stats.assistant_tokens_per_example == Distribution.of(a for _, a in expected)
    assert stats.training_context == 512  # the config's max_position_embeddings
    assert stats.examples_over_context == 0
    assert report.estimate.usd_per_million is None  # no price for one's own hardware


def test_each_example_counts_as_its_own_rendering(tiny_model_dir: Path, tokenizer: Any) -> None:
    """Per example: one row per dataset, so the distribution's min is that row's count."""
    for row in rows():
        tokens, trained = reference(tokenizer, row)
        report = Dataset.from_records([row] * 10).validate(model=str(tiny_model_dir))
        assert report.counts == {"duplicate_example": 9}
        assert (report.stats.tokens_per_example.min, report.stats.tokens_per_example.max) == (
            tokens,
            tokens,
        )
        assert report.stats.assistant_tokens_per_example.max == trained


def test_an_example_over_the_context_is_reported(tiny_model_dir: Path, tokenizer: Any) -> None:
    long = {"messages": [user("Oslo " * 600), assistant("Yes.")]}
    tokens, _ = reference(tokenizer, long)
    assert tokens > 512
    report = Dataset.from_records([*rows()[:9], long]).validate(model=str(tiny_model_dir))
    assert [(f.code, f.line) for f in report.warnings] == [("example_too_long", 10)]
    assert f"{tokens:,} tokens, over the 512-token training context" in report.warnings[0].message


def test_a_template_without_tools_rejects_tool_data_with_line_and_field(
    tiny_model_no_tools_dir: Path, tmp_path: Path
) -> None:
    data = rows()
    report = Dataset.from_jsonl(write(tmp_path / "train.jsonl", data)).validate(
        model=str(tiny_model_no_tools_dir)
    )
    found = [(f.severity, f.code, f.line, f.field) for f in (*report.errors, *report.warnings)]
    assert found == [
        # the tool result (messages[3]) is a role the template rejects
        ("error", "template_cannot_render", 11, "messages[3]"),
        # the template renders the row, but without its tools
        ("error", "template_cannot_render", 12, "tools"),
    ]
    assert report.counts == {"template_cannot_render": 2}
    assert report.errors[0].message == (
        f"the chat template of {tiny_model_no_tools_dir} can't render this example (role "
        "'tool'): only system, user and assistant messages, not tool"
    )
    assert "ignores tools" in report.errors[1].message
    assert report.stats.examples == 10  # the two rows it can't render are not counted
    with pytest.raises(Exception, match=r"train\.jsonl:11: messages\[3\] \[template_cannot"):
        report.raise_for_errors()


def test_preference_pairs_count_the_longer_conversation(
    tiny_model_dir: Path, tokenizer: Any
) -> None:
    prompt = [SYSTEM, user("What is the capital of France?")]
    pair = {
        "input": {"messages": prompt},
        "preferred_output": [assistant("Paris.")],
        "non_preferred_output": [assistant("It is Lyon, a city in France.")],
    }
    longer = tokenizer.apply_chat_template(
        [*prompt, assistant("It is Lyon, a city in France.")], tokenize=True, return_dict=False
    )
    prefix = tokenizer.apply_chat_template(
        prompt, tokenize=True, return_dict=False, add_generation_prompt=True
    )
    report = Dataset.from_records([pair] * 10).validate(model=str(tiny_model_dir))
    assert report.format == "dpo"
    assert report.stats.tokens_per_example.max == len(longer)
    assert report.stats.assistant_tokens_per_example.max == len(longer) - len(prefix)


def test_a_cached_hub_id_counts_offline_and_an_uncached_one_says_so(
    tiny_model_dir: Path, hub_cache: Path, tokenizer: Any
) -> None:
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = hub_cache / "models--tiny-org--tiny-chat"
    shutil.copytree(tiny_model_dir, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision, encoding="utf-8")
    assert is_open_weights("tiny-org/tiny-chat")
    report = Dataset.from_records(rows()).validate(model="tiny-org/tiny-chat")
    assert report.ok, report
    assert report.model == "tiny-org/tiny-chat"
    assert report.stats.total_tokens == sum(reference(tokenizer, r)[0] for r in rows())
    assert report.stats.training_context == 512
    with pytest.raises(UnknownModelError, match="the Hugging Face cache holds no copy of it"):
        Dataset.from_records(rows()).validate(model="tiny-org/not-downloaded")
    # A provider that serves the name (its model list) is asked instead: counted as its own.
    served = Dataset.from_records(rows()).validate(
        model="tiny-org/not-downloaded", known_models=["tiny-org/not-downloaded"]
    )
    assert served.counts == {"unknown_model": 1}


def test_a_folder_without_a_model_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigurationError, match="is a folder but holds no model"):
        Dataset.from_records(rows()).validate(model=str(tmp_path / "empty"))


def test_without_transformers_the_error_says_what_to_install(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = shutil.copytree(tiny_model_dir, tmp_path / "copy")  # not in the tokenizer cache
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ConfigurationError, match=r"finetune-kit\[local\]"):
        open_weights(str(folder))


def test_large_files_are_counted_in_this_process(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hugging Face tokenizers keep threads: validation never forks workers for them."""
    path = write(tmp_path / "train.jsonl", rows() * 40)

    def no_fork(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("forked workers for an open-weights model")

    serial = validate_path(
        path,
        settings=settings_for(str(tiny_model_dir), "chat", open_weights(str(tiny_model_dir))),
        workers=1,
    )
    monkeypatch.setattr(parallel, "run_forked", no_fork)
    monkeypatch.setattr(parallel, "run_spawned", no_fork)
    monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 1)
    four = validate_path(
        path,
        settings=settings_for(str(tiny_model_dir), "chat", open_weights(str(tiny_model_dir))),
        workers=4,
        chunk_bytes=1024,
    )
    assert four == serial
    assert serial.stats.examples == 480


def test_cli_validate_counts_with_the_model_s_template(
    tiny_model_dir: Path,
    tiny_model_no_tools_dir: Path,
    tokenizer: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write(tmp_path / "train.jsonl", rows())
    total = sum(reference(tokenizer, r)[0] for r in rows())
    assert main(["validate", str(path), "--model", str(tiny_model_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["ok"], out["encoding"], out["stats"]["total_tokens"]) == (
        True,
        "chat template",
        total,
    )
    assert out["stats"]["training_context"] == 512

    assert main(["validate", str(path), "--model", str(tiny_model_dir)]) == 0
    text = capsys.readouterr().out
    assert f"12 counted as chat examples for {tiny_model_dir} [chat template]" in text

    assert main(["validate", str(path), "--model", str(tiny_model_no_tools_dir)]) == 1
    text = capsys.readouterr().out
    assert f"{path}:11: messages[3] [template_cannot_render] the chat template of" in text
    assert f"{path}:12: tools [template_cannot_render] the chat template of" in text


def test_require_local_stack_skips_or_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="uv sync --extra local"):
        require_local_stack()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the local backend's tests"):
        require_local_stack()


def test_hosted_models_never_load_transformers() -> None:
    """Validating for a hosted model imports neither transformers nor torch."""
    code = (
        "import sys\n"
        "from finetune_kit import Dataset\n"
        "rows = [{'messages': [{'role': 'user', 'content': 'Hi'},"
        " {'role': 'assistant', 'content': 'Hello.'}]}] * 10\n"
        "Dataset.from_records(rows).validate(model='gpt-4o-mini-2024-07-18', now=lambda: 1.79e9)\n"
        "print(sorted(m for m in ('transformers', 'torch', 'tokenizers') if m in sys.modules))\n"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"


def test_encode_chat_without_generation_marks_trains_what_each_turn_adds(tokenizer: Any) -> None:
    """A template without `{% generation %}`: a trained turn is all it adds to the rendering.

    That is the marked tokens plus the line break this template writes after each turn.
    """
    from finetune_kit.dataset.hf_tokens import encode_chat

    unmarked = copy.copy(tokenizer)
    unmarked.chat_template = re.sub(r"\{%-? *(end)?generation *-?%\}", "", CHAT_TEMPLATE)
    assert "{%- generation" not in unmarked.chat_template
    for row in rows():
        marked = encode_chat(tokenizer, row["messages"], row.get("tools"))
        plain = encode_chat(unmarked, row["messages"], row.get("tools"))
        assert plain.input_ids == marked.input_ids
        mask = marked.trained
        expected = list(mask)
        for end in [i for i in range(1, len(mask)) if mask[i - 1] and not mask[i]]:
            assert tokenizer.decode([marked.input_ids[end]]) == "\n"
            expected[end] = 1
        assert plain.trained == expected
        assert sum(marked.trained) == reference(tokenizer, row)[1]
