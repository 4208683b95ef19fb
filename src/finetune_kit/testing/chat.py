"""How simulated models answer chat completions: deterministic, and honest about being fake.

A tuned model answers with the assistant reply of the training example whose last user message
is closest to the prompt's (word overlap), so it "speaks in the style it was trained on". A base
model answers generically, at length. Both are deterministic. This is a simulation for demos and
tests, not a language model.

Added in 0.1.0.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["TrainedStyle", "answer_base", "answer_tuned", "last_user_text", "stream_events"]

_WORD = re.compile(r"[A-Za-z0-9']+")


def last_user_text(messages: list[Any]) -> str:
    """The text of the last user message (text parts joined)."""
    for msg in reversed(messages):
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(
                    str(p.get("text", ""))
                    for p in content
                    if isinstance(p, dict) and p.get("type") == "text"
                )
    return ""


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


@dataclass(slots=True)
class TrainedStyle:
    """What a tuned model learnt: (prompt words, reply) pairs from its training file."""

    pairs: list[tuple[frozenset[str], str]]

    @classmethod
    def from_rows(cls, rows: list[Any]) -> TrainedStyle:
        """Collect (last user message, first trained assistant reply) from chat rows."""
        pairs: list[tuple[frozenset[str], str]] = []
        for row in rows:
            messages = row.get("messages") if isinstance(row, dict) else None
            if not isinstance(messages, list):
                continue
            prompt = ""
            for msg in messages:
                if not isinstance(msg, dict):
                    continue
                if msg.get("role") == "user" and isinstance(msg.get("content"), str):
                    prompt = msg["content"]
                elif (
                    msg.get("role") == "assistant"
                    and isinstance(msg.get("content"), str)
                    and msg.get("weight", 1)
                ):
                    pairs.append((frozenset(_words(prompt)), msg["content"]))
                    break
        return cls(pairs)


def answer_tuned(style: TrainedStyle, messages: list[Any], rank: int = 0) -> str:
    """The reply of the closest training example (ties: the first); generic if none.

    `rank` picks another sample, as `n > 1` asks: the reply of the `rank`-th closest example
    (cycling through them), so each of `n` choices reads like the training data.
    """
    if not style.pairs:
        return answer_base("", messages, rank)
    query = _words(last_user_text(messages))
    scores = [len(words & query) / (len(words | query) or 1) for words, _ in style.pairs]
    order = sorted(range(len(style.pairs)), key=lambda i: -scores[i])  # stable: ties in order
    return style.pairs[order[rank % len(order)]][1]


_OPENERS = (
    "Certainly! Here is an overview.",
    "Great question. Let me explain.",
    "Sure, here is what I know.",
)
_CLOSERS = (
    "Let me know if you would like me to go deeper into any part.",
    "I can expand on any of these points if that helps.",
    "Tell me which aspect matters most to you and I will focus on it.",
)


def answer_base(model: str, messages: list[Any], variant: int = 0) -> str:
    """A generic, deterministic answer, the way an untuned model rambles.

    `variant` > 0 gives another sample of it (for `n > 1`): another opener and closing line.
    """
    question = last_user_text(messages).strip().rstrip("?.!") or "your question"
    digest = hashlib.sha256(f"{model}\n{question}".encode()).digest()
    opener = _OPENERS[(digest[0] + variant) % len(_OPENERS)]
    closer = _CLOSERS[variant % len(_CLOSERS)]
    return (
        f'{opener} Regarding "{question[:200]}": this is a broad '
        "topic with several aspects worth considering, including its history, its main "
        "properties and how it is used today. In short, there is a lot to say, and the details "
        f"depend on your context. {closer}"
    )


def stream_events(
    completion: dict[str, Any], pieces: Callable[[str], list[str]], *, include_usage: bool
) -> bytes:
    """A `ChatCompletion` JSON as the server-sent events of its stream (`stream: true`).

    Each choice streams as the API does: a first chunk with the role, one chunk per piece of
    content (`pieces` splits it, one token each), a chunk with the finish reason; choices are
    interleaved. With `include_usage`, every chunk carries `"usage": null` and a last chunk with
    no choices carries the usage. Then `data: [DONE]`.
    """
    head = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": completion["model"],
        "service_tier": completion.get("service_tier"),
        "system_fingerprint": completion.get("system_fingerprint"),
    }
    if include_usage:
        head["usage"] = None

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**head, "choices": [choice]}

    choices = completion["choices"]
    split = [pieces(c["message"]["content"] or "") for c in choices]
    chunks = [
        chunk(c["index"], {"role": "assistant", "content": "", "refusal": None}) for c in choices
    ]
    for step in range(max((len(p) for p in split), default=0)):
        chunks += [
            chunk(c["index"], {"content": parts[step]})
            for c, parts in zip(choices, split, strict=True)
            if step < len(parts)
        ]
    chunks += [chunk(c["index"], {}, c["finish_reason"]) for c in choices]
    if include_usage:
        chunks.append({**head, "choices": [], "usage": completion["usage"]})
    lines = [f"data: {json.dumps(c)}\n\n" for c in chunks]
    return ("".join(lines) + "data: [DONE]\n\n").encode()
