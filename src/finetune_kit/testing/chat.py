"""How simulated models answer chat completions: deterministic, and honest about being fake.

A tuned model answers with the assistant reply of the training example whose last user message
is closest to the prompt's (word overlap), so it "speaks in the style it was trained on". A base
model answers generically, at length. Both are deterministic. This is a simulation for demos and
tests, not a language model.

Added in 0.1.0.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["TrainedStyle", "answer_base", "answer_tuned", "last_user_text"]

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


def answer_tuned(style: TrainedStyle, messages: list[Any]) -> str:
    """The reply of the closest training example (ties: the first); generic if none."""
    if not style.pairs:
        return answer_base("", messages)
    query = _words(last_user_text(messages))
    best, best_score = style.pairs[0][1], -1.0
    for words, reply in style.pairs:
        union = len(words | query) or 1
        score = len(words & query) / union
        if score > best_score:
            best, best_score = reply, score
    return best


def answer_base(model: str, messages: list[Any]) -> str:
    """A generic, deterministic answer, the way an untuned model rambles."""
    question = last_user_text(messages).strip().rstrip("?.!") or "your question"
    digest = hashlib.sha256(f"{model}\n{question}".encode()).digest()
    openers = (
        "Certainly! Here is an overview.",
        "Great question. Let me explain.",
        "Sure, here is what I know.",
    )
    return (
        f'{openers[digest[0] % len(openers)]} Regarding "{question[:200]}": this is a broad '
        "topic with several aspects worth considering, including its history, its main "
        "properties and how it is used today. In short, there is a lot to say, and the details "
        "depend on your context. Let me know if you would like me to go deeper into any part."
    )
