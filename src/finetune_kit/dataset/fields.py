"""The checks of a message's fields: text, content parts, images, tools and tool calls.

`FieldChecks` records findings (`add`) and checks one field at a time, adding what counts toward
the example to a `Plan`; `LineChecker` (`checks.py`) walks the formats and messages with it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pydantic_core

from finetune_kit.dataset.bounded import BoundedCache
from finetune_kit.dataset.codes import CODES
from finetune_kit.dataset.report import Finding

__all__ = [
    "TOKENS_PER_EXAMPLE",
    "TOKENS_PER_MESSAGE",
    "TOKENS_PER_NAME",
    "FieldChecks",
    "Plan",
    "type_name",
]

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_PER_EXAMPLE = 3
TOKENS_PER_TOOL_CALL = 3
IMAGE_TOKENS_LOW = 85
IMAGE_TOKENS_HIGH = 765
MAX_IMAGE_BYTES = 10 * 1024 * 1024

_IMAGE_FORMATS = frozenset({"jpeg", "jpg", "png", "webp"})
_DETAILS = frozenset({"auto", "low", "high"})
_MAX_JSON_CACHED = 4_000_000  # bytes of tool definitions cached by `FieldChecks._compact`
_compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_SPECIAL = re.compile(r"<\|[A-Za-z0-9_]{1,64}\|>")
_DATA_URL = re.compile(r"data:image/([A-Za-z0-9.+-]+);base64,", re.ASCII)


@dataclass(slots=True)
class Plan:
    """What one example is made of, for counting and statistics."""

    strings: list[str] = field(default_factory=list)
    """Strings whose tokens count toward the example (repeats allowed), but for `assistant`."""
    const: int = TOKENS_PER_EXAMPLE
    """Fixed tokens around the strings (message framing, names, images, tool calls)."""
    assistant: list[str] = field(default_factory=list)
    """Assistant (or DPO output, or completion) text: it counts toward the example too, and
    makes the assistant-token statistics. Each string is in one list only."""
    messages: int = 0
    has_system: bool = False
    has_user: bool = False
    images: int = 0


def type_name(value: object) -> str:
    """The JSON name of `value`'s type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class FieldChecks:
    """Records findings on the current line and checks one field of a message at a time."""

    def __init__(self, *, vision_model: bool) -> None:
        """Check fields for a model that takes images (`vision_model`) or not."""
        self.vision_model = vision_model
        self._line = 0
        self._out: list[Finding] = []
        self._json_cache: BoundedCache[bytes, str] = BoundedCache(_MAX_JSON_CACHED)

    def add(self, code: str, field: str | None, message: str) -> None:
        """Record a finding on the current line."""
        self._out.append(
            Finding(
                severity=CODES[code].severity,
                code=code,
                line=self._line,
                field=field,
                message=message,
            )
        )

    def _tools(self, obj: dict[str, Any], prefix: str, plan: Plan) -> set[str] | None:
        names: set[str] | None = None
        if "parallel_tool_calls" in obj and not isinstance(obj["parallel_tool_calls"], bool):
            self.add(
                "wrong_type",
                f"{prefix}parallel_tool_calls",
                "'parallel_tool_calls' must be true or false",
            )
        for key in ("tools", "functions"):
            if key not in obj:
                continue
            value = obj[key]
            path = f"{prefix}{key}"
            if key == "functions":
                self.add(
                    "legacy_functions",
                    path,
                    "'functions' is deprecated: declare them as 'tools' "
                    '[{"type": "function", "function": {...}}]',
                )
            if not isinstance(value, list) or (key == "functions" and not value):
                kind = "a non-empty array" if key == "functions" else "an array"
                self.add("wrong_type", path, f"'{key}' must be {kind}")
                continue
            names = names if names is not None else set()
            for i, tool in enumerate(value):
                fn = tool
                if key == "tools":
                    if not isinstance(tool, dict):
                        self.add("wrong_type", f"{path}[{i}]", "each tool must be an object")
                        continue
                    if tool.get("type") != "function":
                        self.add(
                            "invalid_value",
                            f"{path}[{i}].type",
                            'tools must have "type": "function"',
                        )
                    fn = tool.get("function")
                    if not isinstance(fn, dict):
                        self.add(
                            "missing_key",
                            f"{path}[{i}].function",
                            'add \'function\': {"name": ..., "parameters": {...}}',
                        )
                        continue
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                    self.add(
                        "missing_key",
                        f"{path}[{i}].name" if key == "functions" else f"{path}[{i}].function.name",
                        "each function needs a string 'name'",
                    )
                    continue
                names.add(fn["name"])
                params = fn.get("parameters")
                if params is not None and not isinstance(params, dict):
                    self.add(
                        "wrong_type",
                        f"{path}[{i}].function.parameters"
                        if key == "tools"
                        else f"{path}[{i}].parameters",
                        "'parameters' must be a JSON Schema object",
                    )
            plan.strings.append(self._compact(value))
        return names

    def _compact(self, value: list[Any]) -> str:
        """`value` as compact JSON, cached by its bytes (rows repeat the same tool definitions).

        `pydantic_core.to_json` (the key) is several times faster than `json` (the text that is
        counted, as before).
        """
        try:
            key = pydantic_core.to_json(value)
        except ValueError:  # pragma: no cover - parsed JSON always serialises
            return _compact_json(value)
        text = self._json_cache.get(key)
        if text is None:
            text = self._json_cache.put(key, _compact_json(value))
        return text

    def _content(self, msg: dict[str, Any], role: str, path: str, plan: Plan) -> None:
        cpath = f"{path}.content"
        if "content" not in msg or msg["content"] is None:
            if role == "assistant" and (msg.get("tool_calls") or msg.get("function_call")):
                return
            if role == "function" and "content" in msg:
                return
            self.add(
                "missing_key" if "content" not in msg else "empty_content",
                cpath,
                "add the message's 'content'"
                + (" (or 'tool_calls')" if role == "assistant" else ""),
            )
            return
        content = msg["content"]
        if isinstance(content, str):
            if content or role != "assistant" or not msg.get("tool_calls"):
                self._check_text_content(content, cpath)
            self._text(content, cpath, plan, assistant=role == "assistant")
            return
        if not isinstance(content, list) or role == "function":
            self.add(
                "wrong_type",
                cpath,
                f"'content' must be a string{' or an array of parts' if role != 'function' else ''}, "
                f"not {type_name(content)}",
            )
            return
        if not content:
            self.add("empty_content", cpath, "'content' is an empty array: add a text part")
            return
        for j, part in enumerate(content):
            ppath = f"{cpath}[{j}]"
            if not isinstance(part, dict):
                self.add("wrong_type", ppath, "each content part must be an object")
                continue
            kind = part.get("type")
            if kind == "text":
                text = part.get("text")
                if not isinstance(text, str):
                    self.add("missing_key", f"{ppath}.text", "text parts need a string 'text'")
                    continue
                self._check_text_content(text, f"{ppath}.text")
                self._text(text, f"{ppath}.text", plan, assistant=role == "assistant")
            elif kind == "image_url":
                self._image(part, role, ppath, plan)
            elif kind == "refusal" and role == "assistant":
                refusal = part.get("refusal")
                if isinstance(refusal, str):
                    self._text(refusal, f"{ppath}.refusal", plan)
                else:
                    self.add(
                        "missing_key", f"{ppath}.refusal", "refusal parts need a string 'refusal'"
                    )
            else:
                allowed = "text and image_url" if role == "user" else "text"
                self.add(
                    "invalid_value",
                    f"{ppath}.type",
                    f"content part type {str(kind)[:40]!r} can't be used here: use {allowed} parts",
                )

    def _check_text_content(self, text: str, path: str) -> None:
        if not text:
            self.add(
                "empty_content",
                path,
                "the content is an empty string: write the message or remove it",
            )
        elif text.isspace():
            self.add("whitespace_content", path, "the content is only white space")

    def _image(self, part: dict[str, Any], role: str, path: str, plan: Plan) -> None:
        plan.images += 1
        if role != "user":
            self.add(
                "image_not_allowed",
                path,
                f"images may appear in user messages only, not in {role} messages",
            )
        if plan.images == 1 and not self.vision_model:
            self.add(
                "model_no_vision",
                path,
                "this model does not take images in fine-tuning: use gpt-4o-2024-08-06 or "
                "gpt-4.1-2025-04-14",
            )
        image = part.get("image_url")
        if not isinstance(image, dict) or not isinstance(image.get("url"), str):
            self.add(
                "missing_key",
                f"{path}.image_url.url",
                "image parts need 'image_url': {\"url\": ...}",
            )
            return
        detail = image.get("detail", "auto")
        if not isinstance(detail, str) or detail not in _DETAILS:
            self.add(
                "invalid_value", f"{path}.image_url.detail", "'detail' must be auto, low or high"
            )
        plan.const += IMAGE_TOKENS_LOW if detail == "low" else IMAGE_TOKENS_HIGH
        url: str = image["url"]
        upath = f"{path}.image_url.url"
        if url.startswith(("https://", "http://")):
            return
        match = _DATA_URL.match(url)
        if match is None:
            self.add(
                "invalid_image",
                upath,
                "use an https:// URL or a data:image/<jpeg|png|webp>;base64,... URL",
            )
            return
        if match.group(1).lower() not in _IMAGE_FORMATS:
            self.add(
                "invalid_image",
                upath,
                f"image format {match.group(1)[:20]!r} is not accepted: use JPEG, PNG or WEBP",
            )
        size = (len(url) - match.end()) * 3 // 4
        if size > MAX_IMAGE_BYTES:
            self.add(
                "image_too_large",
                upath,
                f"inline image of about {size / 1e6:.1f} MB: the limit is 10 MB; shrink it",
            )

    def _tool_calls(
        self, msg: dict[str, Any], path: str, plan: Plan, tools: set[str] | None
    ) -> dict[str, str]:
        open_calls: dict[str, str] = {}
        if "function_call" in msg:
            self.add(
                "legacy_functions",
                f"{path}.function_call",
                "'function_call' is deprecated: use 'tool_calls'",
            )
            fc = msg["function_call"]
            if isinstance(fc, dict):
                self._call(fc, f"{path}.function_call", plan, tools)
            elif fc is not None:
                self.add("wrong_type", f"{path}.function_call", "'function_call' must be an object")
        if "tool_calls" not in msg:
            return open_calls
        calls = msg["tool_calls"]
        if not isinstance(calls, list):
            self.add("wrong_type", f"{path}.tool_calls", "'tool_calls' must be an array")
            return open_calls
        for k, call in enumerate(calls):
            cpath = f"{path}.tool_calls[{k}]"
            if not isinstance(call, dict):
                self.add("wrong_type", cpath, "each tool call must be an object")
                continue
            call_id = call.get("id")
            if not isinstance(call_id, str):
                self.add("missing_key", f"{cpath}.id", "each tool call needs a string 'id'")
            elif call_id in open_calls:
                self.add(
                    "duplicate_tool_call_id",
                    f"{cpath}.id",
                    "two tool calls share this id: make ids unique",
                )
            else:
                open_calls[call_id] = cpath
            if call.get("type", "function") != "function":
                self.add(
                    "invalid_value", f"{cpath}.type", 'tool calls must have "type": "function"'
                )
            fn = call.get("function")
            if not isinstance(fn, dict):
                self.add(
                    "missing_key",
                    f"{cpath}.function",
                    'add \'function\': {"name": ..., "arguments": "{...}"}',
                )
                continue
            self._call(fn, f"{cpath}.function", plan, tools)
        return open_calls

    def _call(self, fn: dict[str, Any], path: str, plan: Plan, tools: set[str] | None) -> None:
        plan.const += TOKENS_PER_TOOL_CALL
        name = fn.get("name")
        if not isinstance(name, str):
            self.add("missing_key", f"{path}.name", "add the function's 'name' (a string)")
        else:
            self._text(name, f"{path}.name", plan)
            if tools is not None and name not in tools:
                self.add(
                    "tool_not_declared",
                    f"{path}.name",
                    f"the function {name[:64]!r} is not declared in this row's tools: declare it, "
                    "and use the same tool definitions at inference time",
                )
        args = fn.get("arguments")
        if not isinstance(args, str):
            self.add(
                "tool_arguments_not_json" if args is not None else "missing_key",
                f"{path}.arguments",
                '\'arguments\' must be a string holding JSON, e.g. "{\\"city\\": \\"Paris\\"}"',
            )
            return
        try:
            pydantic_core.from_json(args)
        except ValueError:
            self.add(
                "tool_arguments_not_json",
                f"{path}.arguments",
                "'arguments' is not valid JSON: it must be a JSON-encoded object string",
            )
        self._text(args, f"{path}.arguments", plan)

    def _text(self, text: str, path: str, plan: Plan, *, assistant: bool = False) -> None:
        (plan.assistant if assistant else plan.strings).append(text)
        if "<|" in text:
            match = _SPECIAL.search(text)
            if match is not None:
                self.add(
                    "special_token",
                    path,
                    f"contains the special token string {match.group(0)[:70]}, which the "
                    "server rejects: remove it or break it up (e.g. '< |endoftext| >')",
                )
