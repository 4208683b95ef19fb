"""Training rows as the local trainer sees them: rendered by the model's chat template.

A supervised row (`{"messages": [...], "tools": [...]}`) becomes `input_ids` (the whole
conversation through `tokenizer.apply_chat_template`, tools included) and `labels`: the tokens
of each assistant turn whose `weight` is not 0 (its end-of-turn token included), `-100`
everywhere else: from the template's `{% generation %}` marks, or, for a template without them,
from the growth of the rendering as each assistant turn is added. The ids and
the trained tokens are those `Dataset.validate(model=...)` counts (`dataset.hf_tokens`).

A preference row (`{"input": {"messages": ...}, "preferred_output": [...],
"non_preferred_output": [...]}`) becomes `prompt` / `chosen` / `rejected` texts.

Errors name the file, the line and the field, never the text of a row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "IGNORE_INDEX",
    "DataError",
    "Encoded",
    "encode_supervised",
    "preference_texts",
    "read_rows",
    "template_messages",
]

IGNORE_INDEX = -100
"""The label of a token that is not trained."""


class DataError(ValueError):
    """A row the local trainer cannot use; the message names file, line and field."""

    def __init__(self, where: str, field: str | None, problem: str) -> None:
        self.where = where
        self.field = field
        at = f"{where}, field {field}" if field else where
        super().__init__(f"{at}: {problem}")


@dataclass(frozen=True, slots=True)
class Encoded:
    """One supervised example: token ids and labels (`IGNORE_INDEX` where not trained)."""

    input_ids: list[int]
    labels: list[int]

    @property
    def trained_tokens(self) -> int:
        """How many tokens carry a label."""
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def read_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (`"name, line N"`, row) for each non-blank line of a JSONL file."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path.name}, line {number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(where, None, f"not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DataError(where, None, "a line must be a JSON object")
            yield where, row


def _text(content: Any, where: str, field: str) -> str | None:
    """The text of a message content: a string, or the text parts of a list."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for i, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text":
                raise DataError(where, f"{field}[{i}]", "only text parts can be trained locally")
            text = part.get("text")
            if not isinstance(text, str):
                raise DataError(where, f"{field}[{i}].text", "must be a string")
            parts.append(text)
        return "".join(parts)
    raise DataError(where, field, "must be a string or a list of text parts")


def _tool_calls(calls: Any, where: str, field: str) -> list[dict[str, Any]]:
    if not isinstance(calls, list):
        raise DataError(where, field, "must be a list")
    out: list[dict[str, Any]] = []
    for i, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise DataError(where, f"{field}[{i}].function", "must have a name")
        arguments = function.get("arguments", {})
        if isinstance(arguments, str):
            # chat templates expect the arguments as a mapping (transformers' convention)
            try:
                parsed = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError:
                raise DataError(
                    where, f"{field}[{i}].function.arguments", "is not valid JSON"
                ) from None
            arguments = parsed
        entry: dict[str, Any] = {
            "type": "function",
            "function": {"name": function["name"], "arguments": arguments},
        }
        if isinstance(call.get("id"), str):
            entry["id"] = call["id"]
        out.append(entry)
    return out


def template_messages(
    messages: Any, where: str, field: str = "messages"
) -> tuple[list[dict[str, Any]], list[int]]:
    """Convert OpenAI chat messages for a chat template; return them and the assistant weights.

    The weights list has one entry per assistant message, in order (1 when absent).
    """
    if not isinstance(messages, list) or not messages:
        raise DataError(where, field, "must be a non-empty list of messages")
    out: list[dict[str, Any]] = []
    weights: list[int] = []
    for i, message in enumerate(messages):
        at = f"{field}[{i}]"
        if not isinstance(message, dict):
            raise DataError(where, at, "must be an object")
        role = message.get("role")
        if role not in ("system", "developer", "user", "assistant", "tool", "function"):
            raise DataError(where, f"{at}.role", f"unknown role {role!r}")
        converted: dict[str, Any] = {
            "role": "system" if role == "developer" else role,
            "content": _text(message.get("content"), where, f"{at}.content"),
        }
        if isinstance(message.get("name"), str):
            converted["name"] = message["name"]
        if isinstance(message.get("tool_call_id"), str):
            converted["tool_call_id"] = message["tool_call_id"]
        if role == "assistant":
            if message.get("tool_calls") is not None:
                converted["tool_calls"] = _tool_calls(
                    message["tool_calls"], where, f"{at}.tool_calls"
                )
            weight = message.get("weight", 1)
            if weight not in (0, 1) or isinstance(weight, bool):
                raise DataError(where, f"{at}.weight", "must be 0 or 1")
            weights.append(int(weight))
            if converted["content"] is None and "tool_calls" not in converted:
                raise DataError(
                    where, f"{at}.content", "an assistant message needs content or tool_calls"
                )
        elif converted["content"] is None:
            raise DataError(where, f"{at}.content", "is missing")
        out.append(converted)
    if not weights:
        raise DataError(where, field, "has no assistant message to train on")
    return out, weights


def _tools(row: dict[str, Any], where: str, field: str = "tools") -> list[dict[str, Any]] | None:
    tools = row.get("tools")
    if tools is None and isinstance(row.get("functions"), list):
        tools = [{"type": "function", "function": f} for f in row["functions"]]
        field = "functions"
    if tools is None:
        return None
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise DataError(where, field, "must be a list of tool objects")
    return tools


def _render(
    tokenizer: Any,
    messages: Sequence[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    *,
    generation_prompt: bool,
    where: str,
    field: str,
) -> str:
    try:
        text = tokenizer.apply_chat_template(
            list(messages), tools=tools, tokenize=False, add_generation_prompt=generation_prompt
        )
    except Exception as exc:  # noqa: BLE001 - jinja raises anything a template author wrote
        what = "the tools of this example" if tools else "this example"
        raise DataError(
            where,
            "tools" if tools else field,
            f"the model's chat template cannot render {what} ({type(exc).__name__}: {exc})",
        ) from None
    if not isinstance(text, str):
        raise DataError(where, field, "the model's chat template did not render text")
    return text


def encode_supervised(
    tokenizer: Any, row: dict[str, Any], where: str, *, max_length: int
) -> Encoded:
    """Encode one supervised row; only assistant turns of weight 1 are labelled.

    The ids and the trained tokens are `finetune_kit.dataset.hf_tokens.encode_chat`'s, so that
    `Dataset.validate(model=...)` counts exactly what is trained here.
    """
    from finetune_kit.dataset.hf_tokens import encode_chat  # noqa: PLC0415 - transformers-side

    template_messages(row.get("messages"), where)  # a clear error for a malformed row
    tools = _tools(row, where)
    try:
        encoded = encode_chat(tokenizer, row["messages"], tools)
    except Exception as exc:  # noqa: BLE001 - jinja raises anything a template author wrote
        what = "the tools of this example" if tools else "this example"
        raise DataError(
            where,
            "tools" if tools else "messages",
            f"the model's chat template cannot render {what} ({type(exc).__name__}: {exc})",
        ) from None
    ids = encoded.input_ids
    labels = [t if on else IGNORE_INDEX for t, on in zip(ids, encoded.trained, strict=True)]
    return Encoded(ids[:max_length], labels[:max_length])


def preference_texts(tokenizer: Any, row: dict[str, Any], where: str) -> dict[str, str]:
    """Render one preference row as `prompt` / `chosen` / `rejected` texts."""
    source = row.get("input")
    if not isinstance(source, dict):
        raise DataError(where, "input", "must be an object with messages")
    prompt_messages, _ = _prompt_messages(source.get("messages"), where)
    tools = _tools(source, where, "input.tools")
    prompt = _render(
        tokenizer,
        prompt_messages,
        tools,
        generation_prompt=True,
        where=where,
        field="input.messages",
    )
    eos = getattr(tokenizer, "eos_token", None)
    out = {"prompt": prompt}
    for key, name in (("preferred_output", "chosen"), ("non_preferred_output", "rejected")):
        answer = row.get(key)
        if not isinstance(answer, list) or len(answer) != 1:
            raise DataError(where, key, "must be a list holding one assistant message")
        converted, _ = template_messages(answer, where, key)
        if converted[0]["role"] != "assistant":
            raise DataError(where, f"{key}[0].role", "must be assistant")
        whole = _render(
            tokenizer,
            prompt_messages + converted,
            tools,
            generation_prompt=False,
            where=where,
            field=key,
        )
        if not whole.startswith(prompt):
            raise DataError(
                where,
                key,
                "the model's chat template renders the prompt differently with an answer",
            )
        completion = whole[len(prompt) :]
        if isinstance(eos, str) and eos and completion.rstrip().endswith(eos):
            completion = completion.rstrip()  # the trainer ends every answer with one EOS
        out[name] = completion
    return out


def _prompt_messages(messages: Any, where: str) -> tuple[list[dict[str, Any]], None]:
    if not isinstance(messages, list) or not messages:
        raise DataError(where, "input.messages", "must be a non-empty list of messages")
    # a prompt may end without an assistant turn: convert it with a placeholder answer
    converted, _ = template_messages(
        [*messages, {"role": "assistant", "content": ""}], where, "input.messages"
    )
    return converted[:-1], None
