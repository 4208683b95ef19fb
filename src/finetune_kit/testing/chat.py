"""Simulated answering: an `InferenceEngine` that is deterministic, and honest about being fake.

A tuned model answers with the assistant reply of the training example whose last user message
is closest to the prompt's (word overlap), so it "speaks in the style it was trained on". A base
model answers generically, at length. Both are deterministic. This is a simulation for demos and
tests, not a language model.

It honours the output options: with `response_format` the answer is JSON of that format
(`{"answer": ...}` in JSON mode, an instance of the schema for Structured Outputs); with
`logprobs` each token gets a made-up but deterministic log probability, and `top_logprobs`
alternatives below it.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pydantic_core

from finetune_kit.dataset.catalog import model_info
from finetune_kit.dataset.encodings import get_encoding
from finetune_kit.dataset.tokens import TokenCounter
from finetune_kit.platform.engine import Choice, Completion, Piece, ServedModel
from finetune_kit.platform.formats import json_answer

__all__ = [
    "SimulatedInferenceEngine",
    "TrainedStyle",
    "answer_base",
    "answer_tuned",
    "last_user_text",
    "simulated_logprobs",
    "token_pieces",
]

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


def token_pieces(encoding: Any, text: str) -> list[str]:
    """`text` cut at token boundaries (a piece per token; bytes of one character kept together)."""
    pieces: list[str] = []
    pending = b""
    for token in encoding.encode_ordinary(text):
        pending += encoding.decode_single_token_bytes(token)
        try:
            pieces.append(pending.decode("utf-8"))
        except UnicodeDecodeError:
            continue  # a character split across tokens: wait for its other bytes
        pending = b""
    if pending:
        pieces.append(pending.decode("utf-8", errors="replace"))
    return pieces


# The alternatives `top_logprobs` lists after the token itself, each less likely than the last.
_ALTERNATIVES = (
    " the",
    " a",
    ".",
    ",",
    " and",
    " of",
    " to",
    " is",
    " in",
    " it",
    "\n",
    " that",
    " for",
    " on",
    " with",
    " as",
    " this",
    " be",
    " at",
    " or",
    " an",
)


def simulated_logprobs(pieces: list[str], top: int) -> tuple[dict[str, Any], ...]:
    """Deterministic `logprobs.content` entries for `pieces`, with `top` alternatives each.

    A piece's log probability is between -0.005 and -0.5, from a checksum of the piece and its
    position (the same answer always gets the same numbers); its alternatives are the piece
    itself, then common tokens, each one lower by 1.

    >>> simulated_logprobs(["Hi"], 2)[0]["top_logprobs"][1]["token"]
    ' the'
    """
    entries = []
    for position, piece in enumerate(pieces):
        logprob = -round(0.005 + (zlib.crc32(f"{position}:{piece}".encode()) % 100) / 200, 4)
        others = [t for t in _ALTERNATIVES if t != piece][: max(top - 1, 0)]
        tops = [piece, *others][:top]
        entries.append(
            {
                "token": piece,
                "logprob": logprob,
                "bytes": list(piece.encode()),
                "top_logprobs": [
                    {"token": t, "logprob": round(logprob - rank, 4), "bytes": list(t.encode())}
                    for rank, t in enumerate(tops)
                ],
            }
        )
    return tuple(entries)


class SimulatedInferenceEngine:
    """Simulated answers: `answer_tuned` for a tuned model, `answer_base` for a base model.

    Tokens are counted with the model's tiktoken encoding (the prompt framed as the API counts
    it); `max_tokens` cuts an answer (`length`).

    Args:
        training_data: The training file's bytes of the job that made a tuned model (the
            simulator looks it up in its store); None when there is none.
    """

    def __init__(self, training_data: Callable[[ServedModel], bytes | None]) -> None:
        self._training_data = training_data
        self._counters: dict[str, TokenCounter] = {}
        self.styles: dict[Path, TrainedStyle] = {}
        """What each tuned model (or checkpoint) learnt, by adapter path, once asked."""

    def counter(self, model: str) -> TokenCounter:
        """A token counter for `model`'s tokenizer (shared per encoding)."""
        encoding = model_info(model).encoding
        counter = self._counters.get(encoding)
        if counter is None:
            counter = self._counters[encoding] = TokenCounter(encoding)
        return counter

    def complete(
        self, model: ServedModel, messages: list[Any], params: dict[str, Any]
    ) -> Completion:
        """`params["n"]` answers, cut at `max_completion_tokens` / `max_tokens`."""
        n = int(params.get("n") or 1)
        if model.adapter is not None:
            style = self._style(model)
            texts = [answer_tuned(style, messages, i) for i in range(n)]
        else:
            texts = [answer_base(model.name, messages, i) for i in range(n)]
        if params.get("response_format"):
            texts = [json_answer(text, params["response_format"]) for text in texts]
        counter = self.counter(model.name)
        encoding = get_encoding(counter.encoding)
        limit = params.get("max_completion_tokens") or params.get("max_tokens")
        top = int(params.get("top_logprobs") or 0) if params.get("logprobs") else None
        choices: list[Choice] = []
        for whole in texts:
            text, tokens = whole, counter.count(whole)
            finish: Literal["stop", "length"] = "stop"
            if isinstance(limit, int) and limit > 0 and tokens > limit:
                text = encoding.decode(encoding.encode_ordinary(whole)[:limit])
                finish, tokens = "length", limit
            logprobs = (
                None if top is None else simulated_logprobs(token_pieces(encoding, text), top)
            )
            choices.append(Choice(text, finish, tokens, logprobs))
        return Completion(choices, _prompt_tokens(counter, messages))

    def stream(
        self, model: ServedModel, messages: list[Any], params: dict[str, Any]
    ) -> Iterator[Piece | Completion]:
        """`complete`, then each choice cut into its tokens (choices interleaved)."""
        completion = self.complete(model, messages, params)
        encoding = get_encoding(self.counter(model.name).encoding)
        choices = completion.choices
        split = [token_pieces(encoding, choice.text) for choice in choices]
        for step in range(max((len(p) for p in split), default=0)):
            for index, parts in enumerate(split):
                if step < len(parts):
                    logprobs = choices[index].logprobs
                    yield Piece(
                        index, parts[step], None if logprobs is None else logprobs[step : step + 1]
                    )
        yield completion

    def _style(self, model: ServedModel) -> TrainedStyle:
        key = model.adapter or Path(model.name)
        style = self.styles.get(key)
        if style is None:
            rows = []
            for line in (self._training_data(model) or b"").split(b"\n"):
                if line.strip():
                    try:
                        rows.append(pydantic_core.from_json(line))
                    except ValueError:
                        continue
            style = self.styles[key] = TrainedStyle.from_rows(rows)
        return style


def _prompt_tokens(counter: TokenCounter, messages: list[Any]) -> int:
    """The prompt's tokens as the API counts them: 3 per message and 3 to prime the reply."""
    prompt_tokens = 3
    for msg in messages:
        prompt_tokens += 3
        if isinstance(msg, dict):
            for key, value in msg.items():
                if isinstance(value, str):
                    prompt_tokens += counter.count(value) + (1 if key == "name" else 0)
                elif key == "content" and isinstance(value, list):
                    prompt_tokens += sum(
                        counter.count(str(p.get("text", ""))) for p in value if isinstance(p, dict)
                    )
    return prompt_tokens
