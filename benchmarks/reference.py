"""A straightforward reference: the OpenAI cookbook's chat data-prep checks and counts.

This follows the cookbook notebook "Chat fine-tuning data prep" (OPENAI-FACTS.md §16) as
literally as possible, so that `Dataset.validate()` can be timed and checked against it:

- each line is parsed with `json.loads`, one line at a time, in one process;
- the cookbook's format-error categories are counted (`data_type`, `missing_messages_list`,
  `message_missing_key`, `message_unrecognized_key`, `unrecognized_role`, `missing_content`,
  `example_missing_assistant_message`);
- tokens per example: 3 per message, plus `len(enc.encode(value))` for every string value of
  every message, plus 1 per `name`, plus 3 per example; assistant tokens: the tokens of every
  assistant `content`.

Two deliberate departures, both so that the numbers are comparable with finetune-kit's: the
encoding is finetune-kit's own `o200k_base` object (the cookbook hard-codes `cl100k_base`, wrong
for gpt-4o models), and special-token strings are encoded as plain text (`encode_ordinary`)
instead of raising. Non-string values (which crash the cookbook's `encode`) are skipped.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune_kit.dataset.encodings import get_encoding

__all__ = ["ReferenceResult", "reference_validate"]

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_PER_EXAMPLE = 3
_ALLOWED_KEYS = ("role", "content", "name", "function_call", "weight")
_ROLES = ("system", "user", "assistant", "function")


@dataclass
class ReferenceResult:
    """What the cookbook notebook computes, kept per example."""

    rows: int = 0
    format_errors: Counter[str] = field(default_factory=Counter)
    n_missing_system: int = 0
    n_missing_user: int = 0
    n_messages: list[int] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    assistant_tokens: list[int] = field(default_factory=list)
    n_too_long: int = 0

    @property
    def examples(self) -> int:
        return len(self.tokens)

    @property
    def total_tokens(self) -> int:
        return sum(self.tokens)

    @property
    def total_assistant_tokens(self) -> int:
        return sum(self.assistant_tokens)


def _format_errors(ex: Any, errors: Counter[str]) -> bool:
    """The cookbook's format checks; return whether the example can be counted."""
    if not isinstance(ex, dict):
        errors["data_type"] += 1
        return False
    messages = ex.get("messages", None)
    if not messages:
        errors["missing_messages_list"] += 1
        return False
    for message in messages:
        if "role" not in message or "content" not in message:
            errors["message_missing_key"] += 1
        if any(k not in _ALLOWED_KEYS for k in message):
            errors["message_unrecognized_key"] += 1
        if message.get("role", None) not in _ROLES:
            errors["unrecognized_role"] += 1
        content = message.get("content", None)
        function_call = message.get("function_call", None)
        if (not content and not function_call) or not isinstance(content, str):
            errors["missing_content"] += 1
    if not any(message.get("role", None) == "assistant" for message in messages):
        errors["example_missing_assistant_message"] += 1
    return True


def reference_validate(
    path: str | Path,
    *,
    encoding: str = "o200k_base",
    max_tokens: int | None = 65_536,
    encode_assistant_twice: bool = True,
) -> ReferenceResult:
    """Check and count a chat JSONL file the cookbook's way, one line at a time.

    The cookbook's two counting functions each encode the assistant content, so it is encoded
    twice; `encode_assistant_twice=False` reuses the first count instead (a fairer baseline).
    """
    encode = get_encoding(encoding).encode_ordinary
    res = ReferenceResult()
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            res.rows += 1
            ex = json.loads(line)
            if not _format_errors(ex, res.format_errors):
                continue
            messages = ex["messages"]
            # Statistics (the cookbook's second cell).
            if not any(m.get("role") == "system" for m in messages):
                res.n_missing_system += 1
            if not any(m.get("role") == "user" for m in messages):
                res.n_missing_user += 1
            res.n_messages.append(len(messages))
            # num_tokens_from_messages
            num_tokens = 0
            assistant = 0
            for message in messages:
                num_tokens += TOKENS_PER_MESSAGE
                for key, value in message.items():
                    if isinstance(value, str):
                        n = len(encode(value))
                        num_tokens += n
                        if not encode_assistant_twice and key == "content":
                            assistant += n if message.get("role") == "assistant" else 0
                    if key == "name":
                        num_tokens += TOKENS_PER_NAME
            num_tokens += TOKENS_PER_EXAMPLE
            res.tokens.append(num_tokens)
            # num_assistant_tokens_from_messages
            if encode_assistant_twice:
                for message in messages:
                    content = message.get("content")
                    if message.get("role") == "assistant" and isinstance(content, str):
                        assistant += len(encode(content))
            res.assistant_tokens.append(assistant)
            if max_tokens is not None and num_tokens > max_tokens:
                res.n_too_long += 1
    return res


def main() -> int:
    import sys  # noqa: PLC0415

    res = reference_validate(sys.argv[1])
    print(
        f"{res.rows:,} rows, {res.examples:,} examples, {res.total_tokens:,} tokens "
        f"({res.total_assistant_tokens:,} assistant), format errors: {dict(res.format_errors)}, "
        f"no system: {res.n_missing_system:,}, no user: {res.n_missing_user:,}, "
        f"over limit: {res.n_too_long:,}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
