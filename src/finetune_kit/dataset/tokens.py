"""Token counting: exact, offline, each distinct string tokenized once, each word too.

A string not seen before is split at its spaces, where tiktoken's pre-tokenizer provably cuts
too (rule 1 of `_parts`), and its words are counted from a cache (`_Segments`), so that
tiktoken only encodes new words.

Long strings are counted in parts cut where the tokenizer's pre-tokenizer provably splits
anyway, so that the count is exact while memory stays bounded, and so that a long run of white
space never reaches tiktoken's regular expression in one piece (from about a million characters
on it panics with a `pyo3_runtime.PanicException`, a `BaseException`). See `_parts` for the
rules and the reasoning behind them; tests/dataset/test_long_strings.py checks them against
tiktoken.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from itertools import islice

from finetune_kit.dataset.bounded import BoundedCache
from finetune_kit.dataset.checks import ROLES
from finetune_kit.dataset.encodings import ENCODINGS, get_encoding
from finetune_kit.dataset.fields import Plan

__all__ = ["TokenCounter", "count_tokens"]

# Bound on the characters held in the string -> count cache. When it fills up the cache is
# cleared: strings that really repeat (system prompts, roles, tool definitions) come straight
# back, while one-off strings can't grow memory on a large file.
_MAX_CACHED_CHARS = 4_000_000
# Strings up to this long are encoded in one call. Far below the ~1,000,000-character white
# space stretch on which tiktoken's regex overflows its backtracking stack.
_DIRECT_CHARS = 100_000
# Longer strings are counted in parts of about this many characters.
_PART_CHARS = 100_000
# A stretch of horizontal white space at least this long is counted as the one piece it is.
_LONG_SPACE = 1_000

# Unicode White_Space: what `\s` matches in tiktoken's (Rust) regular expressions. Not Python's
# `str.isspace`, which adds U+001C..U+001F.
_WS = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# White space other than the two characters the patterns single out, `[\r\n]`.
_HSPACE = "\t\x0b\x0c \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_SPACE_RUN = re.compile(f"[{_HSPACE}]{{{_LONG_SPACE},}}")
_CUT = re.compile(f"[^{_WS}][{_HSPACE}]")
# Bound on the characters held in each segment cache (cleared when full, like the string cache).
_MAX_SEGMENT_CHARS = 1_000_000
# `_Segments` adds 1 << _FLAG_BIT to a segment's count when no cut may follow it: a sum of
# segment counts is then the tokens (below the bit) plus the number of such segments (above).
_FLAG_BIT = 40
_UNCUT = 1 << _FLAG_BIT
_COUNT = _UNCUT - 1
# Counting by words pays while fewer than one word in _MISS_RATIO is new (a new word costs a
# tiktoken call of its own). The share is judged every _WINDOW words; over it, the next
# _MIN_BACKOFF strings (doubling, up to _MAX_BACKOFF, while it stays over) go to tiktoken whole.
_MISS_RATIO = 5
_WINDOW = 4_096
_MIN_BACKOFF = 64
_MAX_BACKOFF = 4_096

Part = tuple[bool, str]
"""(is one pre-tokenizer piece, text): a piece is BPE-encoded as is, text goes through tiktoken."""


def _parts(text: str, *, atomic_trailing_space: bool) -> Iterator[Part]:
    r"""Cut `text` into parts whose token counts add up to the count of `text`.

    tiktoken splits text into pieces with a regular expression (no look-behind, so the pieces
    from a piece boundary on depend only on the text from there), then BPE-encodes each piece on
    its own. A cut at position c is exact when c is a piece boundary and the pieces of
    `text[:c]` are those of `text` before c. Two kinds of cut are used, valid for both patterns
    (o200k_base and cl100k_base):

    1. Before a horizontal white space character (white space but \r, \n) that follows a
       character that is not white space. No piece holds both characters: only a piece's first
       character may be horizontal white space after something else (the optional
       `[^\r\n\p{L}\p{N}]?` and ` ?`), pure white space pieces start at white space, and the
       classes that go on after punctuation (`[\r\n/]*`, `[\r\n]*+`) take line breaks only. And
       the end of `text[:c]` changes no earlier piece: no path reads past c (the next character
       is one no pattern can take there), `(?!\S)` holds at c either way, and `\s++$` needs a
       piece of white space ending at c.
    2. Around a stretch of horizontal white space [t, b) of at least `_LONG_SPACE` characters
       that is followed by a non-space character (or ends the text) and preceded by a
       non-space character, a line break or nothing. From t, no alternative before
       `\s+(?!\S)` can match (a letter, digit, punctuation or line break would have to follow
       within the stretch; `\s++$` needs b at the end), and `\s+(?!\S)` takes [t, b-1): the
       last space is left to start the next piece (" word"). At the end of the text the piece
       is [t, b). So [t, b-1) (or [t, b)) is one piece, BPE-encoded directly, and b-1 is a
       boundary. t is a boundary: after a non-space by 1.; after a line break, the white space
       before it ends in the piece `\s*[\r\n]+` (`\s*[\r\n]`) takes, at the last line break,
       with or without the stretch after it (`\s++$` in cl100k ends there too in `text[:t]`).
       One exception: in cl100k a stretch that ends the text after a line break belongs to the
       `\s++$` piece that starts before the line break; that stretch is left to tiktoken,
       which does not overflow on it (`\s++` is possessive).

    These are the stretches on which `\s+(?!\S)` would overflow tiktoken's regex stack (it
    backtracks over each character); the other white space patterns never do.
    """
    n = len(text)
    pos = 0
    for match in _SPACE_RUN.finditer(text):
        start, end = match.span()
        if end < n and text[end] in "\r\n":
            continue  # ends in a line break: one `\s*[\r\n]+` piece, which tiktoken handles
        if end == n and atomic_trailing_space and start and text[start - 1] in "\r\n":
            continue
        yield from _text_parts(text, pos, start)
        stop = n if end == n else end - 1
        yield True, text[start:stop]
        pos = stop
    yield from _text_parts(text, pos, n)


def _text_parts(text: str, start: int, stop: int) -> Iterator[Part]:
    """`text[start:stop]` in parts of about `_PART_CHARS`, cut by rule 1 of `_parts`."""
    while stop - start > _PART_CHARS:
        match = _CUT.search(text, start + _PART_CHARS - 1, stop)
        if match is None:
            break
        cut = match.start() + 1
        yield False, text[start:cut]
        start = cut
    if stop > start:
        yield False, text[start:stop]


class _Segments(BoundedCache[str, int]):
    """Text segment -> its tokens, plus `_UNCUT` when no exact cut may follow the segment.

    The segments are `text.split(" ")`'s parts. `spaced` segments are keyed without the space
    that starts them (the part after a space), so that splitting needs no string concatenation.
    A cut before a space is exact (rule 1 of `_parts`) only after a character that is not white
    space: a segment that is empty (in the middle of a text: after another space) or ends in
    white space (`str.isspace`, which holds for every Unicode White_Space character) carries
    `_UNCUT`, which a sum of counts keeps above `_COUNT` (see `TokenCounter._count_new`).
    """

    __slots__ = ("_count", "_spaced", "misses")

    def __init__(self, count: Callable[[str], int], *, spaced: bool) -> None:
        super().__init__(_MAX_SEGMENT_CHARS)
        self._count = count
        self._spaced = spaced
        self.misses = 0

    def __missing__(self, key: str) -> int:
        self.misses += 1
        n = self._count(" " + key if self._spaced else key)
        if (not key and self._spaced) or (key and key[-1].isspace()):
            n += _UNCUT
        return self.put(key, n)


class TokenCounter:
    """Counts the tokens of strings and example plans with one encoding, caching repeats.

    Counts are exact. With a `limit`, counting a long string may stop once it is known to be
    over the limit; the count returned is then a lower bound above the limit (see `plan`).

    A string seen before is one dictionary look-up. A new one is split at its spaces (where
    tiktoken's pre-tokenizer provably cuts too, see `_parts`) and its parts, words mostly, are
    looked up in a second cache: tiktoken only ever encodes words that are new, which is most
    of the saving on text that does not repeat as a whole.
    """

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._enc = get_encoding(encoding)
        self._encode = self._enc.encode_ordinary
        self._encode_core = self._enc._core_bpe.encode_ordinary  # noqa: SLF001 - no wrapper frame
        self._atomic = r"\s++$" in ENCODINGS[encoding].pat_str
        self._max_token_bytes = 0
        self._cache: BoundedCache[str, int] = BoundedCache(_MAX_CACHED_CHARS)
        self._first = _Segments(self._tiktoken, spaced=False)
        self._spaced = _Segments(self._tiktoken, spaced=True)
        self._looked_up = 0  # words looked up in this window
        self._direct = 0  # strings left to give tiktoken whole before trying words again
        self._backoff = _MIN_BACKOFF

    def _tiktoken(self, text: str) -> int:
        """The count tiktoken gives `text` (special-token strings count as plain text)."""
        try:
            return len(self._encode_core(text))
        except UnicodeEncodeError:  # a lone surrogate: tiktoken's own fallback
            return len(self._encode(text))

    def _count_new(self, text: str) -> int:
        """Count `text` (at most `_DIRECT_CHARS` long) and cache it.

        From its words when that pays: not for text indented or with double spaces (where a cut
        at every space is not exact), nor while most words are new (one tiktoken call per word
        costs more than one per string); then with one tiktoken call.
        """
        if self._direct:
            self._direct -= 1
            n = self._tiktoken(text)
        elif "  " in text or "\n " in text or len(parts := text.split(" ")) == 1:
            n = self._tiktoken(text)
        else:
            spaced = self._spaced
            n = self._first[parts[0]] + sum(map(spaced.__getitem__, islice(parts, 1, None)))
            # Each part but the last must allow the cut after it (the last one's flag is moot).
            if n >= _UNCUT and n >> _FLAG_BIT > spaced[parts[-1]] >> _FLAG_BIT:
                n = self._tiktoken(text)
            n &= _COUNT
            self._looked_up += len(parts)
            if self._looked_up >= _WINDOW:
                self._judge()
        return self._cache.put(text, n)

    def _judge(self) -> None:
        """After a window of words: too many new ones, and strings go to tiktoken whole a while."""
        misses = self._first.misses + self._spaced.misses
        if misses * _MISS_RATIO > self._looked_up:
            self._direct = self._backoff
            self._backoff = min(self._backoff * 2, _MAX_BACKOFF)
        else:
            self._backoff = _MIN_BACKOFF
        self._looked_up = self._first.misses = self._spaced.misses = 0

    def count(self, text: str) -> int:
        """Return the number of tokens of `text` (special-token strings count as plain text)."""
        n = self._cache.get(text)
        if n is None:
            if len(text) > _DIRECT_CHARS:
                return self._count_long(text, None)[0]
            n = self._count_new(text)
        return n

    def count_upto(self, text: str, limit: int | None) -> tuple[int, bool]:
        """Return (tokens, exact): the count of `text`, or a lower bound over `limit`.

        Only a string longer than 100,000 characters may stop early, once it has more than
        `limit` tokens: then `exact` is False and `tokens` is a lower bound above `limit`.
        Memory stays bounded however long the string.
        """
        if len(text) <= _DIRECT_CHARS:
            return self.count(text), True
        return self._count_long(text, limit)

    def _count_long(self, text: str, limit: int | None) -> tuple[int, bool]:
        total = 0
        for piece, part in _parts(text, atomic_trailing_space=self._atomic):
            if limit is not None:
                # Each token is at most the longest token's bytes, and a character is at least
                # a byte: a part too long to fit under the limit is not encoded at all.
                at_least = -(-len(part) // self.max_token_bytes())
                if total + at_least > limit:
                    return total + at_least, False
            if piece:
                total += len(self._enc._encode_single_piece(part))  # noqa: SLF001
            else:
                total += len(self._encode(part))
            if limit is not None and total > limit:
                return total, False  # possibly more parts: a lower bound
        return total, True

    def role_tokens(self) -> dict[str, int]:
        """The tokens of each role's name (`LineChecker(role_tokens=...)`)."""
        return {role: self.count(role) for role in sorted(ROLES)}

    def max_token_bytes(self) -> int:
        """The length in bytes of the encoding's longest token."""
        if not self._max_token_bytes:
            self._max_token_bytes = max(map(len, self._enc.token_byte_values()))
        return self._max_token_bytes

    def plan(self, plan: Plan, limit: int | None = None) -> tuple[int, int]:
        """Return (tokens of the example, tokens of its assistant text).

        With a `limit`, an example holding strings over 100,000 characters may be counted only
        until it is over `limit` (the counts are then lower bounds; see `plan_upto`).
        """
        total, assistant, _ = self.plan_upto(plan, limit)
        return total, assistant

    def plan_upto(self, plan: Plan, limit: int | None) -> tuple[int, int, bool]:
        """Return (tokens of the example, tokens of its assistant text, exact).

        When `exact` is False the example has more than `limit` tokens and both counts are
        lower bounds: counting stopped on a long string once that was certain.
        """
        total, exact = self._add(plan.strings, plan.const, limit, exact=True)
        if not plan.assistant:
            return total, 0, exact
        with_assistant, exact = self._add(plan.assistant, total, limit, exact=exact)
        return with_assistant, with_assistant - total, exact

    def _add(
        self, strings: list[str], total: int, limit: int | None, *, exact: bool
    ) -> tuple[int, bool]:
        """`total` plus the tokens of `strings`; once inexact, long strings are left out."""
        cached = self._cache.get  # a hit is always a string of at most _DIRECT_CHARS
        for text in strings:
            n = cached(text)
            if n is not None:
                total += n
            elif len(text) <= _DIRECT_CHARS:
                total += self._count_new(text)
            elif exact:
                n, exact = self.count_upto(text, None if limit is None else max(limit - total, 0))
                total += n
        return total, exact


def count_tokens(text: str, *, model: str) -> int:
    """Count the tokens of `text` with the tokenizer of `model`'s base model.

    >>> count_tokens("hello world", model="gpt-4o-mini-2024-07-18")
    2

    Added in 0.1.0.
    """
    from finetune_kit.dataset.catalog import model_info  # noqa: PLC0415

    return TokenCounter(model_info(model).encoding).count(text)
