"""Token counting: exact, offline, each distinct string tokenized once.

Added in 0.1.0.
"""

from __future__ import annotations

from finetune_kit.dataset.checks import Plan
from finetune_kit.dataset.encodings import get_encoding

__all__ = ["TokenCounter", "count_tokens"]

# Bound on the characters held in the string -> count cache. When it fills up the cache is
# cleared: strings that really repeat (system prompts, roles, tool definitions) come straight
# back, while one-off strings can't grow memory on a large file.
_MAX_CACHED_CHARS = 4_000_000


class TokenCounter:
    """Counts the tokens of strings and example plans with one encoding, caching repeats.

    Added in 0.1.0.
    """

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._encode = get_encoding(encoding).encode_ordinary
        self._cache: dict[str, int] = {}
        self._cached_chars = 0

    def count(self, text: str) -> int:
        """Return the number of tokens of `text` (special-token strings count as plain text)."""
        n = self._cache.get(text)
        if n is None:
            n = len(self._encode(text))
            if self._cached_chars > _MAX_CACHED_CHARS:
                self._cache.clear()
                self._cached_chars = 0
            self._cache[text] = n
            self._cached_chars += len(text)
        return n

    def plan(self, plan: Plan) -> tuple[int, int]:
        """Return (tokens of the example, tokens of its assistant text)."""
        count = self.count
        total = plan.const
        for text in plan.strings:
            total += count(text)
        assistant = 0
        for text in plan.assistant:
            assistant += count(text)
        return total, assistant


def count_tokens(text: str, *, model: str) -> int:
    """Count the tokens of `text` with the tokenizer of `model`'s base model.

    >>> count_tokens("hello world", model="gpt-4o-mini-2024-07-18")
    2

    Added in 0.1.0.
    """
    from finetune_kit.dataset.catalog import model_info  # noqa: PLC0415

    return len(get_encoding(model_info(model).encoding).encode_ordinary(text))
