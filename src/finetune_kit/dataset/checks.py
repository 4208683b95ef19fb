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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from finetune_kit.dataset.fields import (
    TOKENS_PER_MESSAGE,
    TOKENS_PER_NAME,
    FieldChecks,
    Plan,
    type_name,
)
from finetune_kit.dataset.formats import CHAT_TOP, family_of
from finetune_kit.dataset.report import Finding, Format

__all__ = ["ROLES", "LineChecker"]

MAX_IMAGES = 64
DOCUMENTED_MAX_IMAGES = 10

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


class LineChecker(FieldChecks):
    """Checks lines against one file format; collects findings, returns `Plan`s."""

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
        super().__init__(vision_model=vision_model)
        self.fmt = fmt
        # Fixed tokens of a message of each role: framing, plus the role's name when known.
        self._framing: dict[str, int] = {
            role: TOKENS_PER_MESSAGE + n for role, n in (role_tokens or {}).items()
        }
        self._plains: dict[frozenset[str], dict[str, int]] = {}
        self.legacy_model = legacy_model

    def check(self, obj: object, line: int, out: list[Finding]) -> Plan | None:
        """Check one parsed line; append findings to `out`; return its plan (None if unusable)."""
        self._line = line
        self._out = out
        if not isinstance(obj, dict):
            self.add(
                "not_an_object",
                None,
                f"each line must be a JSON object, found a JSON {type_name(obj)}: "
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
            if key not in CHAT_TOP:
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
            self.add("wrong_type", "input", f"'input' must be an object, not {type_name(inp)}")
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
                self.add("wrong_type", key, f"'{key}' must be a string, not {type_name(value)}")
            else:
                self._text(value, key, plan, assistant=key == "completion")
        return plan

    # --- shared pieces --------------------------------------------------------------------

    def _messages(  # noqa: PLR0915 - the fast path is inlined: the loop runs per message
        self,
        messages: object,
        path: str,
        roles: frozenset[str],
        plan: Plan,
        tools: set[str] | None,
    ) -> bool:
        if not isinstance(messages, list):
            self.add("wrong_type", path, f"'messages' must be an array, not {type_name(messages)}")
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
                    if role == "assistant":
                        plan.assistant.append(content)
                    else:
                        to_strings(content)
                        if role == "user":
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
                    "wrong_type", mpath, f"each message must be an object, not {type_name(msg)}"
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
                "wrong_type", f"{path}.role", f"'role' must be a string, not {type_name(role)}"
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
