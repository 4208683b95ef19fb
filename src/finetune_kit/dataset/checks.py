"""Per-line checks of the training formats: pure functions, no I/O, no tokenizer.

`LineChecker.check` examines one parsed line, appends what it finds to a list, and returns a
`Plan`: the strings whose tokens make up the example and the fixed overhead around them. Counting
happens elsewhere (`tokens.py`), so that validation stays out of the tokenizing loop and each
distinct string is tokenized once.

Token accounting, per example (the cookbook's formula, extended where it crashes):

- 3 tokens per message, plus the tokens of each string field of the message (role, content,
  name, tool_call_id, refusal), plus 1 per `name`, plus 3 per example;
- content given as parts: the tokens of each text part;
- images (an estimate): 85 tokens with `detail: "low"`, 765 otherwise (a 1024x1024 image);
- tool calls (an estimate): the tokens of the function name and arguments, plus 3 per call;
- `tools` / `functions` definitions (an estimate): the tokens of their compact JSON;
- DPO rows: the input messages plus both outputs; legacy rows: prompt plus completion.

Added in 0.1.0.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic_core

from finetune_kit.dataset.codes import CODES
from finetune_kit.dataset.report import Finding, Format

__all__ = [
    "HEAD_BYTES",
    "ROLES",
    "LineChecker",
    "Plan",
    "detect_format",
    "family_of",
    "not_text_reason",
]

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_PER_EXAMPLE = 3
TOKENS_PER_TOOL_CALL = 3
IMAGE_TOKENS_LOW = 85
IMAGE_TOKENS_HIGH = 765
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGES = 64
DOCUMENTED_MAX_IMAGES = 10

_CHAT_TOP = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
_DPO_TOP = frozenset({"input", "preferred_output", "non_preferred_output"})
_DPO_SPEC_NAMES = {
    "preferred_completion": "preferred_output",
    "non_preferred_completion": "non_preferred_output",
}
_DPO_INPUT = frozenset({"messages", "tools", "parallel_tool_calls"})
_COMPLETION_TOP = frozenset({"prompt", "completion"})

_KEYS_BY_ROLE: dict[str, frozenset[str]] = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset(
        {"role", "content", "name", "weight", "tool_calls", "function_call", "refusal"}
    ),
    "tool": frozenset({"role", "content", "tool_call_id"}),
    "function": frozenset({"role", "content", "name"}),
}
ROLES = frozenset(_KEYS_BY_ROLE)
"""Every role a message of any format may have."""
_CHAT_ROLES = frozenset({"system", "user", "assistant", "tool", "function"})
# Roles whose {"role", "content"} messages need nothing but a text check (see `_messages`).
_PLAIN_ROLES = frozenset({"system", "developer", "user", "assistant"})
_RFT_ROLES = frozenset({"developer", "user", "assistant", "tool"})
_IMAGE_FORMATS = frozenset({"jpeg", "jpg", "png", "webp"})
_DETAILS = frozenset({"auto", "low", "high"})
_MAX_JSON_CACHED = 4_000_000  # bytes of tool definitions cached by `LineChecker._compact`
_compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_SPECIAL = re.compile(r"<\|[A-Za-z0-9_]{1,64}\|>")
_DATA_URL = re.compile(r"data:image/([A-Za-z0-9.+-]+);base64,", re.ASCII)


@dataclass(slots=True)
class Plan:
    """What one example is made of, for counting and statistics."""

    strings: list[str] = field(default_factory=list)
    """Strings whose tokens count toward the example (repeats allowed)."""
    const: int = TOKENS_PER_EXAMPLE
    """Fixed tokens around the strings (message framing, names, images, tool calls)."""
    assistant: list[str] = field(default_factory=list)
    """Assistant (or DPO output, or completion) text, for the assistant-token statistics."""
    messages: int = 0
    has_system: bool = False
    has_user: bool = False
    images: int = 0


def family_of(obj: dict[str, Any]) -> Format:
    """Guess the format of one parsed line from its keys alone.

    Added in 0.1.0.
    """
    if "messages" in obj:
        return "reinforcement" if not obj.keys() <= _CHAT_TOP else "chat"
    if (
        "input" in obj
        or "preferred_output" in obj
        or "non_preferred_output" in obj
        or "preferred_completion" in obj
    ):
        return "dpo"
    if "prompt" in obj or "completion" in obj:
        return "completion"
    return "unknown"


def detect_format(families: dict[Format, int]) -> Format:
    """Pick the file's format from per-family line counts (ties: chat, dpo, rft, completion).

    Added in 0.1.0.
    """
    order: tuple[Format, ...] = ("chat", "dpo", "reinforcement", "completion")
    messages_rows = families.get("chat", 0) + families.get("reinforcement", 0)
    # A chat file with a stray extra key is still chat; an RFT file is mostly rows with extra keys.
    merged: dict[Format, int] = {
        "chat": messages_rows if families.get("reinforcement", 0) * 2 <= messages_rows else 0,
        "reinforcement": messages_rows
        if families.get("reinforcement", 0) * 2 > messages_rows
        else 0,
        "dpo": families.get("dpo", 0),
        "completion": families.get("completion", 0),
    }
    best: Format = "unknown"
    best_n = 0
    for fmt in order:
        if merged[fmt] > best_n:
            best, best_n = fmt, merged[fmt]
    return best


HEAD_BYTES = 1024
"""How much of the start of a file `not_text_reason` looks at."""
_NOT_TEXT = "not a JSONL text file"
_MAX_INVALID_SHARE = 0.1
"""Above this share of bytes that are not UTF-8, the start of a file is not UTF-8 text."""
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (
        b"\x1f\x8b",
        "gzip-compressed data: name it .jsonl.gz to have it read as such, or decompress it",
    ),
    (b"PK\x03\x04", "a ZIP archive (.zip, .xlsx, .docx...): export the examples as JSONL"),
    (b"%PDF-", "a PDF document: export the examples as JSONL"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (
        b"PAR1",
        "a Parquet file: export it as JSONL (e.g. pandas' to_json(orient='records', lines=True))",
    ),
    (b"SQLite format 3\x00", "an SQLite database: export the examples as JSONL"),
    (b"\xfd7zXZ\x00", "xz-compressed data: decompress it (.jsonl.gz is read as is)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data: decompress it (.jsonl.gz is read as is)"),
    (b"BZh", "bzip2-compressed data: decompress it (.jsonl.gz is read as is)"),
    (b"\x00\x00\xfe\xff", "UTF-32 text: re-save it as UTF-8"),
    (b"\xff\xfe\x00\x00", "UTF-32 text: re-save it as UTF-8"),
    (b"\xff\xfe", "UTF-16 text: re-save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text: re-save it as UTF-8"),
)


def not_text_reason(head: bytes) -> str | None:
    """Say that (and why) the start of a file is not JSONL text, or return `None` when it may be.

    `head` is the first `HEAD_BYTES` of the file (after decompression, for a `.jsonl.gz`).
    Binary data (a known file signature, or a NUL byte: UTF-8 JSON never holds one) and text in
    another encoding (more than a tenth of the bytes not UTF-8) are not JSONL text; a file that
    is mostly UTF-8 with a few bad bytes is, and gets a finding per line instead.

    Added in 0.1.0.
    """
    for magic, what in _SIGNATURES:
        if head.startswith(magic) and (magic != b"BZh" or head[4:10] == b"1AY&SY"):
            return f"{_NOT_TEXT}: it is {what}"
    nul = head.find(b"\x00")
    if nul >= 0:
        if head[1::2].count(0) * 2 >= len(head) // 2 or head[0::2].count(0) * 2 >= len(head) // 2:
            return f"{_NOT_TEXT}: it is UTF-16 text (no byte-order mark): re-save it as UTF-8"
        return (
            f"{_NOT_TEXT}: it is binary data (a NUL byte at byte {nul + 1:,}); training data is "
            "UTF-8 text, one JSON object per line"
        )
    # Cut off a character split at the end of the head: it is not an error.
    decoded = codecs.getincrementaldecoder("utf-8")("replace").decode(head, final=False)
    invalid = decoded.count("\ufffd") - head.decode("utf-8", "ignore").count("\ufffd")
    if head and invalid > _MAX_INVALID_SHARE * len(head):
        return (
            f"{_NOT_TEXT}: it is not UTF-8 ({invalid:,} of its first {len(head):,} bytes are not "
            "UTF-8): re-save it as UTF-8"
        )
    return None


def _type_name(value: object) -> str:
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


class LineChecker:
    """Checks lines against one file format; collects findings, returns `Plan`s.

    Added in 0.1.0.
    """

    def __init__(
        self,
        fmt: Format,
        *,
        vision_model: bool = True,
        legacy_model: bool = False,
        role_tokens: Mapping[str, int] | None = None,
    ) -> None:
        """Check `fmt` lines.

        Args:
            fmt: The file's format.
            vision_model: Whether the model takes images (else images are findings).
            legacy_model: Whether the model is a legacy completions model.
            role_tokens: The tokens of each role's name, when the counter knows them: a
                message's role then counts in `Plan.const` instead of `Plan.strings` (the
                same total, one string fewer to look up per message).
        """
        self.fmt = fmt
        # Fixed tokens of a message of each role: framing, plus the role's name when known.
        self._framing: dict[str, int] = {
            role: TOKENS_PER_MESSAGE + n for role, n in (role_tokens or {}).items()
        }
        self._plains: dict[frozenset[str], dict[str, int]] = {}
        self.vision_model = vision_model
        self.legacy_model = legacy_model
        self._line = 0
        self._out: list[Finding] = []
        self._json_cache: dict[bytes, str] = {}
        self._json_cached = 0

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

    def check(self, obj: object, line: int, out: list[Finding]) -> Plan | None:
        """Check one parsed line; append findings to `out`; return its plan (None if unusable)."""
        self._line = line
        self._out = out
        if not isinstance(obj, dict):
            self.add(
                "not_an_object",
                None,
                f"each line must be a JSON object, found a JSON {_type_name(obj)}: "
                "wrap the example in {...}",
            )
            return None
        family = family_of(obj)
        fmt = self.fmt
        if family == "unknown":
            keys = ", ".join(sorted(obj)[:5]) or "no keys"
            self.add(
                "unknown_format",
                None,
                f"no training format matches this object ({keys}): chat rows need 'messages', "
                "DPO rows 'input' + 'preferred_output' + 'non_preferred_output'",
            )
            return None
        if family != fmt and {family, fmt} != {"chat", "reinforcement"}:
            self.add(
                "mixed_formats",
                None,
                f"this line is {family} but the file is {fmt}: one file must hold one format; "
                "move it to a file of its own",
            )
            fmt = family
        if fmt == "chat":
            plan = self._chat(obj)
        elif fmt == "reinforcement":
            plan = self._reinforcement(obj)
        elif fmt == "dpo":
            plan = self._dpo(obj)
        else:
            plan = self._completion(obj)
        if plan is not None and plan.images > DOCUMENTED_MAX_IMAGES:
            if plan.images > MAX_IMAGES:
                self.add(
                    "too_many_images",
                    None,
                    f"{plan.images} images in one example: the most any provider takes is "
                    f"{MAX_IMAGES}; split the example",
                )
            else:
                self.add(
                    "many_images",
                    None,
                    f"{plan.images} images in one example: OpenAI documents at most "
                    f"{DOCUMENTED_MAX_IMAGES} (Azure {MAX_IMAGES}); images beyond may be skipped",
                )
        return plan

    # --- formats -------------------------------------------------------------------------

    def _chat(self, obj: dict[str, Any]) -> Plan | None:
        for key in obj:
            if key not in _CHAT_TOP:
                self.add(
                    "unknown_key",
                    key,
                    f"'{key}' is not a key of supervised chat rows (messages, tools, "
                    "parallel_tool_calls, functions): remove it, or validate the file as "
                    "reinforcement fine-tuning data if graders read it",
                )
        plan = Plan()
        tools = self._tools(obj, "", plan)
        if "messages" not in obj:
            self.add("missing_key", "messages", "add a 'messages' list")
            return None
        if not self._messages(obj["messages"], "messages", _CHAT_ROLES, plan, tools):
            return plan
        self._check_assistant(obj["messages"], "messages")
        return plan

    def _reinforcement(self, obj: dict[str, Any]) -> Plan | None:
        plan = Plan()
        tools = self._tools(obj, "", plan)
        if "messages" not in obj:
            self.add("missing_key", "messages", "add a 'messages' list")
            return None
        messages = obj["messages"]
        if not self._messages(messages, "messages", _RFT_ROLES, plan, tools):
            return plan
        last = messages[-1]
        if isinstance(last, dict) and last.get("role") != "user":
            self.add(
                "rft_last_message_not_user",
                f"messages[{len(messages) - 1}].role",
                "reinforcement rows end with the user message the model answers; the model's "
                "answer is sampled and graded, not given",
            )
        return plan

    def _dpo(self, obj: dict[str, Any]) -> Plan | None:
        plan = Plan()
        for key in obj:
            if key in _DPO_SPEC_NAMES:
                self.add(
                    "dpo_spec_field_names",
                    key,
                    f"'{key}' is the 2025 spec's name; OpenAI's guide and Azure use "
                    f"'{_DPO_SPEC_NAMES[key]}': rename it",
                )
            elif key not in _DPO_TOP:
                self.add(
                    "unknown_key",
                    key,
                    f"'{key}' is not a key of DPO rows (input, preferred_output, "
                    "non_preferred_output): remove it",
                )
        inp = obj.get("input")
        if inp is None:
            self.add("missing_key", "input", "add 'input': {\"messages\": [...]}")
        elif not isinstance(inp, dict):
            self.add("wrong_type", "input", f"'input' must be an object, not {_type_name(inp)}")
        else:
            for key in inp:
                if key not in _DPO_INPUT:
                    self.add(
                        "unknown_key",
                        f"input.{key}",
                        f"'{key}' is not a key of a DPO input (messages, tools, "
                        "parallel_tool_calls): remove it",
                    )
            tools = self._tools(inp, "input.", plan)
            if "messages" not in inp:
                self.add("missing_key", "input.messages", "add a 'messages' list to 'input'")
            elif self._messages(inp["messages"], "input.messages", _CHAT_ROLES, plan, tools):
                last = inp["messages"][-1]
                if isinstance(last, dict) and last.get("role") == "assistant":
                    self.add(
                        "dpo_input_ends_with_assistant",
                        f"input.messages[{len(inp['messages']) - 1}]",
                        "DPO trains the final assistant turn: end the input with the user "
                        "message and put the answers in the outputs",
                    )
        outputs: list[str | None] = []
        for key in ("preferred_output", "non_preferred_output"):
            spec_key = key.replace("_output", "_completion")
            name = key if key in obj or spec_key not in obj else spec_key
            outputs.append(self._dpo_output(obj, name, plan))
        if outputs[0] is not None and outputs[0] == outputs[1]:
            self.add(
                "dpo_identical_outputs",
                "non_preferred_output",
                "the preferred and non-preferred outputs are identical, so the pair teaches "
                "nothing: make them differ or drop the row",
            )
        return plan

    def _dpo_output(self, obj: dict[str, Any], key: str, plan: Plan) -> str | None:
        value = obj.get(key)
        if value is None:
            self.add("missing_key", key, f'add \'{key}\': [{{"role": "assistant", ...}}]')
            return None
        if not isinstance(value, list):
            self.add("wrong_type", key, f"'{key}' must be an array of one assistant message")
            return None
        if len(value) != 1:
            self.add(
                "dpo_output_invalid",
                key,
                f"'{key}' must hold exactly one assistant message, found {len(value)}",
            )
            if not value:
                return None
        msg = value[0]
        if type(msg) is dict and len(msg) == 2:  # the fast path of `_messages`
            content = msg.get("content")
            if (
                msg.get("role") == "assistant"
                and type(content) is str
                and content
                and "<|" not in content
                and not content.isspace()
            ):
                plan.messages += 1
                framing = self._framing.get("assistant")
                if framing is None:
                    plan.const += TOKENS_PER_MESSAGE
                    plan.strings.append("assistant")
                else:
                    plan.const += framing
                plan.strings.append(content)
                plan.assistant.append(content)
                return content
        path = f"{key}[0]"
        if not isinstance(msg, dict) or msg.get("role") != "assistant":
            self.add("dpo_output_invalid", path, f"'{key}' must hold an assistant message")
            return None
        self._message(msg, path, _CHAT_ROLES, plan)
        content = msg.get("content")
        if isinstance(content, list):
            self.add(
                "dpo_output_invalid", f"{path}.content", "DPO outputs are text only: use a string"
            )
        return content if isinstance(content, str) else None

    def _completion(self, obj: dict[str, Any]) -> Plan | None:
        plan = Plan(const=0)
        for key in obj:
            if key not in _COMPLETION_TOP:
                self.add(
                    "unknown_key",
                    key,
                    f"'{key}' is not a key of prompt/completion rows: remove it",
                )
        for key in ("prompt", "completion"):
            value = obj.get(key)
            if value is None:
                self.add("missing_key", key, f"add '{key}' (a string)")
            elif not isinstance(value, str):
                self.add("wrong_type", key, f"'{key}' must be a string, not {_type_name(value)}")
            else:
                self._text(value, key, plan)
                if key == "completion":
                    plan.assistant.append(value)
        return plan

    # --- shared pieces --------------------------------------------------------------------

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
            text = _compact_json(value)
            if self._json_cached > _MAX_JSON_CACHED:
                self._json_cache.clear()
                self._json_cached = 0
            self._json_cache[key] = text
            self._json_cached += len(key)
        return text

    def _messages(  # noqa: PLR0915 - the fast path is inlined: the loop runs per message
        self,
        messages: object,
        path: str,
        roles: frozenset[str],
        plan: Plan,
        tools: set[str] | None,
    ) -> bool:
        if not isinstance(messages, list):
            self.add("wrong_type", path, f"'messages' must be an array, not {_type_name(messages)}")
            return False
        if not messages:
            self.add("empty_messages", path, "'messages' is empty: add the conversation")
            return False
        open_calls: dict[str, str] = {}
        all_dicts = True
        plain = self._plain(roles)
        strings = plan.strings
        to_strings = strings.append
        # The fast path's counters: added to the plan's at the end (they only add up).
        fast_messages = fast_const = 0
        seen_user = seen_system = False
        for i, msg in enumerate(messages):
            # Fast path: a plain {"role", "content"} message with a text content that holds
            # nothing to report. Exactly what `_message` does with it, with no field path built.
            if type(msg) is dict and len(msg) == 2:  # role and content
                role = msg.get("role")
                content = msg.get("content")
                if (
                    type(role) is str
                    and type(content) is str
                    and role in plain
                    and content
                    and "<|" not in content
                    and not content.isspace()
                ):
                    fast_messages += 1
                    framing = plain[role]
                    if framing:
                        fast_const += framing
                    else:  # the role's tokens are not known here: count its name
                        fast_const += TOKENS_PER_MESSAGE
                        to_strings(role)
                    to_strings(content)
                    if role == "assistant":
                        plan.assistant.append(content)
                    elif role == "user":
                        seen_user = True
                    else:
                        seen_system = True
                    if open_calls:
                        self._unanswered(open_calls)
                        open_calls = {}
                    continue
            mpath = f"{path}[{i}]"
            if not isinstance(msg, dict):
                self.add(
                    "wrong_type", mpath, f"each message must be an object, not {_type_name(msg)}"
                )
                all_dicts = False
                continue
            role = self._message(msg, mpath, roles, plan)
            if role == "tool":
                call_id = msg.get("tool_call_id")
                if isinstance(call_id, str):
                    if call_id in open_calls:
                        del open_calls[call_id]
                    else:
                        self.add(
                            "tool_call_id_mismatch",
                            f"{mpath}.tool_call_id",
                            "this tool message answers no tool call of the assistant message "
                            "before it: make 'tool_call_id' equal that call's 'id'",
                        )
                continue
            if open_calls:
                self._unanswered(open_calls)
                open_calls = {}
            if role == "assistant":
                open_calls = self._tool_calls(msg, mpath, plan, tools)
        # A conversation may end on the tool call itself: that is how a model is taught when to
        # call a tool. Only a call the conversation moves on from unanswered is an error.
        plan.messages += fast_messages
        plan.const += fast_const
        plan.has_user = plan.has_user or seen_user
        plan.has_system = plan.has_system or seen_system
        return all_dicts

    def _plain(self, roles: frozenset[str]) -> dict[str, int]:
        """The roles of `roles` the fast path takes, each with its framing (0: not known)."""
        plain = self._plains.get(roles)
        if plain is None:
            plain = {role: self._framing.get(role, 0) for role in _PLAIN_ROLES & roles}
            self._plains[roles] = plain
        return plain

    def _unanswered(self, open_calls: dict[str, str]) -> None:
        for path in open_calls.values():
            self.add(
                "tool_call_unanswered",
                path,
                "this tool call has no tool message with its id before the conversation moves "
                'on: add {"role": "tool", "tool_call_id": ..., "content": ...}',
            )

    def _message(
        self,
        msg: dict[str, Any],
        path: str,
        roles: frozenset[str],
        plan: Plan,
    ) -> str | None:
        plan.messages += 1
        plan.const += TOKENS_PER_MESSAGE
        role = msg.get("role")
        if role is None:
            self.add("missing_key", f"{path}.role", "add a 'role'")
            return None
        if not isinstance(role, str):
            self.add(
                "wrong_type", f"{path}.role", f"'role' must be a string, not {_type_name(role)}"
            )
            return None
        framing = self._framing.get(role)
        if framing is None:
            plan.strings.append(role)
        else:
            plan.const += framing - TOKENS_PER_MESSAGE
        if role not in roles:
            if role == "developer" and "system" in roles:
                self.add(
                    "developer_role",
                    f"{path}.role",
                    "the supervised training schema has no 'developer' role: use 'system'",
                )
            elif role == "system" and "developer" in roles:
                self.add(
                    "unknown_role",
                    f"{path}.role",
                    "reinforcement rows take 'developer' instead of 'system': rename the role",
                )
                role = "developer"
            else:
                allowed = ", ".join(sorted(roles))
                self.add(
                    "unknown_role",
                    f"{path}.role",
                    f"unknown role {role[:40]!r}: use one of {allowed}",
                )
                # Still check what can be checked: the content is there whatever the role.
                self._content(msg, "user", path, plan)
                return None
        if role in {"system", "developer"}:
            plan.has_system = True
        elif role == "user":
            plan.has_user = True
        allowed_keys = _KEYS_BY_ROLE[role]
        for key in msg:
            if key not in allowed_keys and key != "weight":  # weight: invalid_weight below
                self.add(
                    "unknown_key",
                    f"{path}.{key}",
                    f"'{key}' is not allowed on {role} messages "
                    f"({', '.join(sorted(allowed_keys))}): remove it",
                )
        for key in ("name", "tool_call_id", "refusal"):
            if key in msg and key in allowed_keys:
                value = msg[key]
                if isinstance(value, str):
                    self._text(value, f"{path}.{key}", plan)
                    if key == "name":
                        plan.const += TOKENS_PER_NAME
                elif not (key == "refusal" and value is None):
                    self.add("wrong_type", f"{path}.{key}", f"'{key}' must be a string")
        if role == "tool" and "tool_call_id" not in msg:
            self.add(
                "missing_key",
                f"{path}.tool_call_id",
                "tool messages need the 'tool_call_id' they answer",
            )
        if role == "function" and "name" not in msg:
            self.add("missing_key", f"{path}.name", "function messages need the function's 'name'")
        if "weight" in msg:
            weight = msg["weight"]
            if role != "assistant":
                self.add(
                    "invalid_weight",
                    f"{path}.weight",
                    "'weight' is only allowed on assistant messages",
                )
            elif type(weight) is not int or weight not in (0, 1):
                self.add(
                    "invalid_weight", f"{path}.weight", "'weight' must be 0 (skip) or 1 (train)"
                )
        self._content(msg, role, path, plan)
        return role

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
            self._text(content, cpath, plan)
            if role == "assistant":
                plan.assistant.append(content)
            return
        if not isinstance(content, list) or role == "function":
            self.add(
                "wrong_type",
                cpath,
                f"'content' must be a string{' or an array of parts' if role != 'function' else ''}, "
                f"not {_type_name(content)}",
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
                self._text(text, f"{ppath}.text", plan)
                if role == "assistant":
                    plan.assistant.append(text)
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

    def _text(self, text: str, path: str, plan: Plan) -> None:
        plan.strings.append(text)
        if "<|" in text:
            match = _SPECIAL.search(text)
            if match is not None:
                self.add(
                    "special_token",
                    path,
                    f"contains the special token string {match.group(0)[:70]}, which the "
                    "server rejects: remove it or break it up (e.g. '< |endoftext| >')",
                )

    def _check_assistant(self, messages: list[Any], path: str) -> None:
        for m in messages:  # the usual case first: an assistant message that is trained
            if type(m) is dict and m.get("role") == "assistant" and m.get("weight", 1) != 0:
                return
        assistants = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
        if not assistants:
            self.add(
                "no_assistant_message",
                path,
                "there is no assistant message to learn from: add the answer the model "
                "should give (or validate the file as reinforcement fine-tuning data)",
            )
        elif all(m.get("weight", 1) == 0 for m in assistants):
            self.add(
                "no_trained_assistant",
                path,
                "every assistant message has weight 0, so nothing is learned: set weight 1 "
                "on at least one",
            )
