"""A new string is counted from its words: exact, and tiktoken sees each word only once.

`TokenCounter` splits a string it has not seen at its spaces and looks the parts up in a cache,
so that tiktoken encodes only new words. A cut before a space is exact only after a character
that is not white space; these tests check the counts against tiktoken itself, on the strings
where a naive split at every space is wrong, and on random text.
"""

from __future__ import annotations

import random

import pytest

from finetune_kit.dataset import tokens
from finetune_kit.dataset.encodings import get_encoding
from finetune_kit.dataset.fields import Plan
from finetune_kit.dataset.tokens import TokenCounter

ENCODINGS = ["o200k_base", "cl100k_base"]

# A split at every space gets these wrong: a space after white space is not a cut. The first two
# never reach the words (double spaces, indentation); the last two do, and must be caught there.
_NAIVE_WRONG = ["x   y", "if x:\n    return  y", "\t ", "end.\t "]

_EDGES = [
    "",
    " ",
    "  ",
    "word",
    " leading",
    "trailing ",
    "two  spaces",
    "line\n next",
    "tab\t next",
    "nbsp\xa0 next",
    "ideographic\u3000 space",
    "fs\x1c next",  # U+001C: white space for Python, not for tiktoken
    "end\n",
    "lone \ud800 surrogate",
    "pair \ud83d\ude00 emoji",
    "<|endoftext|> as text",
    "it's  'LL",
    "1234 5678  90",
]

_ALPHABET = [
    *" \t\n\r\x0b\x0c\x85\xa0\u1680\u2003\u2028\u205f\u3000",
    *"\x1c\x1f\u180e\u200b\ufeff",
    *"aZé日1٣!'/.,-\u0301",
    "'s",
    "'LL",
    " x",
    "\r\n",
    "hello",
    " world",
]


def _tiktoken(encoding: str, text: str) -> int:
    return len(get_encoding(encoding).encode_ordinary(text))


def _spy_on_tiktoken(counter: TokenCounter, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The strings `counter` gives tiktoken from now on, in order."""
    encoded: list[str] = []
    real = counter._encode_core

    def spy(text: str) -> list[int]:
        encoded.append(text)
        return list(real(text))

    monkeypatch.setattr(counter, "_encode_core", spy)
    return encoded


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("text", _NAIVE_WRONG + _EDGES)
def test_counts_equal_tiktoken_on_edge_strings(encoding: str, text: str) -> None:
    counter = TokenCounter(encoding)
    assert counter.count(text) == _tiktoken(encoding, text)
    assert counter.count(text) == _tiktoken(encoding, text)  # the cached count too


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_the_naive_split_is_wrong_where_the_counter_is_right(encoding: str) -> None:
    """The cases above really need the rule: counted part by part at every space, they differ."""
    for text in _NAIVE_WRONG:
        first, *rest = text.split(" ")
        naive = _tiktoken(encoding, first) + sum(_tiktoken(encoding, " " + p) for p in rest)
        assert naive != _tiktoken(encoding, text) == TokenCounter(encoding).count(text)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_counts_equal_tiktoken_on_random_text(encoding: str) -> None:
    """20,000 random strings, each counted by a counter whose word caches are warm."""
    rnd = random.Random(20261202)
    counter = TokenCounter(encoding)
    for _ in range(20_000):
        text = "".join(
            rnd.choice(_ALPHABET) * rnd.choice((1, 1, 1, 2, 3)) for _ in range(rnd.randint(0, 30))
        )
        assert (text, counter.count(text)) == (text, _tiktoken(encoding, text))
        counter._cache.clear()  # so that the next string of the same text goes through the words
    assert len(counter._spaced) > 1_000  # the word caches were used, not only tiktoken


def test_tiktoken_encodes_each_word_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three new sentences of five words: tiktoken encodes the seven distinct words only."""
    counter = TokenCounter("o200k_base")
    encoded = _spy_on_tiktoken(counter, monkeypatch)
    sentences = ["the cat sat on mats", "the cat ran on mats", "the dog sat on mats"]
    plan = Plan(strings=sentences, assistant=[], const=0)
    assert counter.plan(plan) == (sum(_tiktoken("o200k_base", s) for s in sentences), 0)
    assert encoded == ["the", " cat", " sat", " on", " mats", " ran", " dog"]


def test_the_word_caches_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each word cache is emptied once it holds the bound's characters: memory stays flat."""
    monkeypatch.setattr(tokens, "_MAX_SEGMENT_CHARS", 100)
    counter = TokenCounter("o200k_base")
    words = [f"w{i:04d}" for i in range(1_000)]
    text = " ".join(words)
    assert counter.count(text) == _tiktoken("o200k_base", text)
    assert len(counter._spaced) <= 100 // len("0000 ") + 1
    assert sum(map(len, counter._spaced)) <= 100 + len("w0000")


def test_strings_of_new_words_go_to_tiktoken_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Words that never repeat: after a window of them, strings are encoded whole for a while.

    A new word costs a tiktoken call of its own, so counting by words only pays while most words
    were seen before. The first 64 strings (4,096 words, all new) go by words; the next 64 are
    encoded whole; the pause then doubles after the next 64 that still bring only new words.
    """
    counter = TokenCounter("o200k_base")
    encoded = _spy_on_tiktoken(counter, monkeypatch)
    texts = [" ".join(f"{i}x{j}" for j in range(64)) for i in range(200)]
    assert [counter.count(t) for t in texts] == [_tiktoken("o200k_base", t) for t in texts]
    whole = set(texts)
    assert [t for t in encoded if t in whole] == texts[64:128] + texts[192:200]
