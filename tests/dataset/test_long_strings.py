"""Long strings: exact token counts without tiktoken's panic, bounded work, no hung validation.

tiktoken's regex overflows its backtracking stack (a Rust panic: `pyo3_runtime.PanicException`,
a `BaseException`) on a stretch of about a million white space characters. finetune-kit counts
such strings in parts cut where the pre-tokenizer provably splits anyway (see
`finetune_kit.dataset.tokens._parts`); these tests check the rule against tiktoken itself, on
random text with the thresholds shrunk and on real runs just under tiktoken's limit.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from finetune_kit.cli import main
from finetune_kit.dataset import Dataset, count_tokens, parallel, tokens
from finetune_kit.dataset.encodings import get_encoding
from finetune_kit.dataset.engine import settings_for, validate_path
from finetune_kit.dataset.lines import LineWorker
from finetune_kit.dataset.tokens import TokenCounter
from finetune_kit.exceptions import DatasetError

GPT_4O_MINI = "gpt-4o-mini-2024-07-18"  # o200k_base, 65,536-token training context
GPT_35 = "gpt-3.5-turbo-0125"  # cl100k_base
OVER = 1_000_404  # the run length of the report
UNDER = 999_990  # tiktoken panics from 999,999 white space characters on


def _oracle(encoding: str, before: str, run: str, after: str) -> int:
    """tiktoken's count of before + run + after, when `run` is one piece of its own."""
    enc = get_encoding(encoding)
    return (
        len(enc.encode_ordinary(before))
        + len(enc._encode_single_piece(run.encode()))
        + len(enc.encode_ordinary(after))
    )


# --- the splitting rule, against tiktoken -----------------------------------------------------

_ALPHABET = [
    *" \t\n\r\x0b\x0c\x85\xa0\u1680\u2003\u2028\u205f\u3000",  # white space (Unicode)
    *"\x1c\x1f\u180e\u200b\ufeff",  # not white space for tiktoken (\x1c: isspace() in Python)
    *"aZé日1٣!'/.,-\u0301",
    "'s",
    "'LL",
    " x",
    "\r\n",
]


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_parts_add_up_to_tiktoken_on_random_text(
    monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    """With every string split (parts of ~7 chars, runs of 2+ spaces as pieces): same counts."""
    monkeypatch.setattr(tokens, "_DIRECT_CHARS", 0)
    monkeypatch.setattr(tokens, "_PART_CHARS", 7)
    monkeypatch.setattr(tokens, "_SPACE_RUN", re.compile(f"[{tokens._HSPACE}]{{2,}}"))
    enc = get_encoding(encoding)
    counter = TokenCounter(encoding)
    rnd = random.Random(20240718)
    split_runs = 0
    for _ in range(4000):
        text = "".join(
            rnd.choice(_ALPHABET) * rnd.choice((1, 1, 1, 2, 3, 5))
            for _ in range(rnd.randint(0, 40))
        )
        parts = list(tokens._parts(text, atomic_trailing_space=counter._atomic))
        split_runs += sum(piece for piece, _ in parts)
        assert "".join(p for _, p in parts) == text
        assert (text, counter.count(text)) == (text, len(enc.encode_ordinary(text)))
    assert split_runs > 1000  # the white space rule was exercised, not just the plain cuts


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("o200k_base", "word" + " " * UNDER + "word"),  # a run, then a word
        ("o200k_base", "x\n" + "\u3000" * UNDER),  # after a line break, at the end
        ("cl100k_base", "x" + " \t" * (UNDER // 2) + "!"),  # mixed, then punctuation
    ],
    ids=["o200k-spaces-word", "o200k-ideographic-end", "cl100k-mixed-punct"],
)
def test_runs_just_under_the_panic_limit_count_as_tiktoken(encoding: str, text: str) -> None:
    """Runs just under tiktoken's limit: the part-by-part count is tiktoken's count."""
    assert TokenCounter(encoding).count(text) == len(get_encoding(encoding).encode_ordinary(text))


def test_tiktoken_alone_panics_on_the_reported_run() -> None:
    """Why all this: tiktoken raises a BaseException (not an Exception) on such a run."""
    with pytest.raises(BaseException) as info:
        get_encoding("o200k_base").encode_ordinary(" " * OVER + "x")
    assert not isinstance(info.value, Exception)


@pytest.mark.parametrize(
    ("encoding", "before", "run", "after"),
    [
        ("o200k_base", "x", " " * (OVER - 1), " y"),
        ("cl100k_base", "word\n", "\t" * (OVER - 1), "\tword"),
    ],
)
def test_runs_over_the_limit_count_exactly(
    encoding: str, before: str, run: str, after: str
) -> None:
    """Over the limit: the run is one piece and the last space starts the next word's piece."""
    text = before + run + after
    assert TokenCounter(encoding).count(text) == _oracle(encoding, before, run, after)


def test_long_mixed_text_counts_as_tiktoken() -> None:
    """A 1.2M-character string counted in ~100k parts: the same count as in one call."""
    rnd = random.Random(7)
    words = ["hello", "world,", "naïve", "日本語", "1234", "it's", "\n\n", "  ", "\t", "!!", "a/b"]
    text = " ".join(rnd.choice(words) for _ in range(250_000))
    assert len(text) > 1_000_000
    for encoding in ("o200k_base", "cl100k_base"):
        expected = len(get_encoding(encoding).encode_ordinary(text))
        assert TokenCounter(encoding).count(text) == expected
    assert count_tokens(text, model=GPT_4O_MINI) == len(
        get_encoding("o200k_base").encode_ordinary(text)
    )


# --- validation of files holding such strings ---------------------------------------------------


def _rows(content: str, n: int = 10) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "ok"}]}
        for i in range(n)
    ]
    rows[0] = {
        "messages": [{"role": "user", "content": content}, {"role": "assistant", "content": "ok"}]
    }
    return rows


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _row_tokens(content_tokens: int, encoding: str) -> int:
    enc = get_encoding(encoding)

    def count(text: str) -> int:
        return len(enc.encode_ordinary(text))

    return 3 + (3 + count("user") + content_tokens) + (3 + count("assistant") + count("ok"))


def test_validate_counts_a_file_with_the_run_exactly(tmp_path: Path) -> None:
    """`Dataset.validate` on a line with a 1,000,404-space run: no panic, exact counts."""
    path = _write(tmp_path / "train.jsonl", _rows("x" + " " * OVER + "y"))
    report = Dataset.from_jsonl(path).validate(model=GPT_4O_MINI, workers=1)
    first = _row_tokens(_oracle("o200k_base", "x", " " * (OVER - 1), " y"), "o200k_base")
    rest = _row_tokens(len(get_encoding("o200k_base").encode_ordinary("q1")), "o200k_base")
    assert report.ok
    assert report.counts == {}
    assert report.stats.tokens_per_example.max == first
    assert report.stats.total_tokens == first + 9 * rest


def test_cli_validate_on_the_run_prints_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`finetune-kit validate`: a report and exit 0, no traceback."""
    path = _write(tmp_path / "train.jsonl", _rows("\t" * OVER))
    assert main(["validate", str(path), "--model", GPT_4O_MINI]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert "Panic" not in out + err
    assert "10 examples" in out or "examples" in out


def test_a_line_far_over_the_context_is_not_tokenized_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 5M-character message: counting stops once it is over the context; the finding says so."""
    text = "lorem ipsum dolor sit amet, " * 180_000  # 5,040,000 characters
    encoded: list[int] = []
    real = TokenCounter._count_long

    def spy(self: TokenCounter, long_text: str, limit: int | None) -> tuple[int, bool]:
        encode = self._encode

        def spying(text: str) -> list[int]:
            encoded.append(len(text))
            return encode(text)

        self._encode = spying
        return real(self, long_text, limit)

    monkeypatch.setattr(TokenCounter, "_count_long", spy)
    path = _write(tmp_path / "train.jsonl", _rows(text))
    report = Dataset.from_jsonl(path).validate(model=GPT_4O_MINI, workers=1)
    assert sum(encoded) < 500_000  # parts until over 65,536 tokens, not 5M characters
    (finding,) = report.warnings
    assert finding.code == "example_too_long"
    assert finding.line == 1
    counted = report.stats.tokens_per_example.max
    assert counted > 65_536
    assert finding.message == (
        f"at least {counted:,} tokens, over the 65,536-token training context of this model: "
        "it will be truncated; shorten or split it"
    )
    assert report.stats.examples_over_context == 1
    short = _row_tokens(len(get_encoding("o200k_base").encode_ordinary("q1")), "o200k_base")
    assert report.estimate.tokens_per_epoch == 65_536 + 9 * short


def test_a_whitespace_line_far_over_the_context_is_not_encoded_at_all(tmp_path: Path) -> None:
    """20M spaces: at least 20M / 128 bytes per token > 65,536 without running the tokenizer."""
    path = _write(tmp_path / "train.jsonl", _rows("x" + " " * 20_000_000 + "y"))
    report = Dataset.from_jsonl(path).validate(model=GPT_4O_MINI, workers=1)
    assert TokenCounter("o200k_base").max_token_bytes() == 128
    (finding,) = report.warnings
    at_least = _row_tokens(1 + 156_250, "o200k_base")  # "x", then 19,999,999 spaces / 128
    assert finding.message.startswith(f"at least {at_least:,} tokens, over the 65,536-token")


def test_exact_counts_unchanged_under_the_context(tmp_path: Path) -> None:
    """A long example within the context is counted exactly, whatever its length."""
    text = "hello world " * 20_000  # 240,000 characters, 40,000 tokens
    path = _write(tmp_path / "train.jsonl", _rows(text))
    report = Dataset.from_jsonl(path).validate(model=GPT_4O_MINI, workers=1)
    expected = _row_tokens(len(get_encoding("o200k_base").encode_ordinary(text)), "o200k_base")
    assert report.stats.tokens_per_example.max == expected
    assert report.counts == {}


# --- failures: a clear error, never a hang ----------------------------------------------------


class FakePanic(BaseException):
    """Stands for pyo3_runtime.PanicException: a BaseException, not an Exception."""


def _panic(*_args: object, **_kwargs: object) -> tuple[int, int, bool]:
    raise FakePanic("called `Result::unwrap()` on an `Err` value: RuntimeError(StackOverflow)")


def test_serial_tokenizer_failure_names_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A BaseException from the tokenizer becomes a DatasetError naming the file and line."""
    path = _write(tmp_path / "train.jsonl", _rows("hello"))
    monkeypatch.setattr(TokenCounter, "plan_upto", _panic)
    with pytest.raises(DatasetError) as info:
        Dataset.from_jsonl(path).validate(model=GPT_4O_MINI, workers=1)
    assert info.value.source == str(path)
    assert info.value.line == 1
    assert str(info.value).startswith(f"{path}:1: the tokenizer failed on this line (FakePanic:")


@pytest.fixture
def deadline() -> Iterator[None]:
    """Fail (instead of hanging) when the test takes over 60 s."""

    def expire(_signum: int, _frame: FrameType | None) -> None:
        raise TimeoutError("validation hung")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _die(*_args: object, **_kwargs: object) -> None:
    os._exit(3)


@pytest.mark.parametrize(
    ("target", "replacement", "message"),
    [
        ("run", _die, "a validation worker process died while checking bytes 0-"),
        ("plan_upto", _panic, "the tokenizer failed on a line in bytes 0-"),
    ],
    ids=["worker-exits", "tokenizer-panics"],
)
@pytest.mark.usefixtures("deadline")
def test_parallel_worker_failure_ends_the_run_with_an_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    replacement: object,
    message: str,
) -> None:
    """A worker that dies or panics: a DatasetError naming the file, not a hang."""
    if parallel.fork_context() is None:  # pragma: no cover - depends on the platform
        pytest.fail("fork is unavailable (or threads are running): parallel validation is off")
    path = _write(tmp_path / "train.jsonl", _rows("hello", n=40))
    owner = LineWorker if target == "run" else TokenCounter
    monkeypatch.setattr(owner, target, replacement)
    with pytest.raises(DatasetError) as info:
        validate_path(
            path,
            settings=settings_for(GPT_4O_MINI, "chat"),
            workers=2,
            chunk_bytes=256,
        )
    assert str(info.value).startswith(f"{path}: {message}")
    assert info.value.source == str(path)
    # The pool is gone with its threads: the next validation in this process may fork again.
    assert threading.active_count() == 1
    assert parallel.fork_context() is not None
