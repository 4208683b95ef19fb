"""Memory that stays flat in the number of examples, with exact duplicates and statistics.

The merged state of a validation keeps value counts (not per-example arrays) and hands the
duplicate keys to a store that spills to a temporary file past `merge.KEYS_IN_MEMORY`; these
tests pin that the state does not grow per example and that every duplicate is still named
exactly, across chunks, workers and spills.
"""

from __future__ import annotations

import json
import random
import tracemalloc
from array import array
from pathlib import Path
from typing import Any

import pytest

from finetune_kit.dataset import Distribution, engine, merge
from finetune_kit.dataset.engine import (
    ChunkResult,
    example_key,
    settings_for,
    validate_lines,
    validate_path,
)

MODEL = "gpt-4o-mini-2024-07-18"
BOM = b"\xef\xbb\xbf"


def _row(i: int) -> bytes:
    return json.dumps(
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
    ).encode()


def _dups(report: Any) -> list[tuple[int | None, str]]:
    return [(f.line, f.message) for f in report.warnings if f.code == "duplicate_example"]


def _expected_dups(lines: list[bytes]) -> list[tuple[int, str]]:
    """The naive answer: a dict of every key to its first line."""
    first: dict[int, int] = {}
    out: list[tuple[int, str]] = []
    for n, raw in enumerate(lines, start=1):
        key = example_key(raw.removeprefix(BOM) if n == 1 else raw)
        at = first.setdefault(key, n)
        if at != n:
            out.append((n, f"same example as line {at}: remove one copy"))
    return out


@pytest.fixture
def spills(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Keep 7 keys in memory at most, and count the spills to the temporary file.

    Lines are read 10 at a time in one process, so that both paths spill many times.
    """
    monkeypatch.setattr(merge, "KEYS_IN_MEMORY", 7)
    monkeypatch.setattr(engine, "SERIAL_BATCH_LINES", 10)
    calls: list[int] = []
    spill = merge.KeyStore._spill

    def counted(self: merge.KeyStore) -> None:
        calls.append(self.buffered)
        spill(self)

    monkeypatch.setattr(merge.KeyStore, "_spill", counted)
    return calls


@pytest.mark.parametrize("workers", [1, 2])
def test_duplicates_across_chunks_and_spills_are_named_exactly(
    tmp_path: Path, spills: list[int], workers: int
) -> None:
    """Every later copy names its first line, whatever the chunks, workers and spills."""
    rng = random.Random(12)
    pool = [_row(i) for i in range(25)]
    lines = [BOM + pool[0]] + [rng.choice(pool) for _ in range(299)]
    lines[150] = pool[3] + b"  "  # trailing spaces: the same example
    path = tmp_path / "dups.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    report = validate_path(
        path, settings=settings_for(MODEL, "chat"), workers=workers, chunk_bytes=512
    )

    expected = _expected_dups(lines)
    assert len(expected) == 275  # 300 lines, 25 distinct examples
    assert _dups(report) == expected
    assert report.counts["duplicate_example"] == 275
    assert report.stats.examples == 300
    assert len(spills) >= 20  # the keys really went through the temporary file, in many runs


def test_parallel_equals_sequential_with_spilled_keys(tmp_path: Path, spills: list[int]) -> None:
    """The whole report, duplicates and statistics included, is the same on 1 or 2 workers."""
    rng = random.Random(3)
    pool = [_row(i) for i in range(40)] + [b"{bad json", b""]
    lines = [rng.choice(pool) for _ in range(400)]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines))
    common: dict[str, Any] = {"settings": settings_for(MODEL, "chat"), "chunk_bytes": 300}
    sequential = validate_path(path, workers=1, **common)
    parallel = validate_path(path, workers=2, **common)
    assert parallel.model_dump() == sequential.model_dump()
    assert _dups(sequential) == [
        d for d in _expected_dups(lines) if lines[d[0] - 1] not in (b"{bad json", b"")
    ]
    assert spills


def test_listed_duplicates_are_the_earliest_under_the_cap(spills: list[int]) -> None:
    """With findings capped, the listed copies are the first ones in the file; all are counted.

    The store finds duplicates bucket by bucket (by key, not by line): the earliest copies must
    still be the ones listed.
    """
    lines = [_row(i) for i in range(30)] + [_row(i) for i in reversed(range(30))]
    report = validate_lines(
        iter(lines), source="capped", settings=settings_for(MODEL, "chat"), max_findings=3
    )
    assert _dups(report) == [
        (31, "same example as line 30: remove one copy"),
        (32, "same example as line 29: remove one copy"),
        (33, "same example as line 28: remove one copy"),
    ]
    assert report.counts == {"duplicate_example": 30}
    assert report.omitted == 27


def test_no_duplicates_listed_when_the_cap_is_full() -> None:
    """max_findings=0 lists nothing but still counts every copy."""
    lines = [_row(1), _row(1), _row(2), _row(1)]
    report = validate_lines(
        iter(lines * 5), source="none", settings=settings_for(MODEL, "chat"), max_findings=0
    )
    assert _dups(report) == []
    assert report.counts["duplicate_example"] == 18
    assert report.omitted == 18


def _chunk(rng: random.Random, start: int, n: int) -> ChunkResult:
    """A chunk of `n` distinct clean examples (synthetic: no tokenizer needed)."""
    return ChunkResult(
        lines=n,
        rows=n,
        ex_line=array("q", range(1, n + 1)),
        tokens=array("q", (rng.randrange(20, 400) for _ in range(n))),
        assistant=array("q", (rng.randrange(1, 100) for _ in range(n))),
        messages=array("q", (rng.randrange(2, 8) for _ in range(n))),
        keys=array("Q", (example_key(_row(start + i)) for i in range(n))),
    )


def test_merged_state_does_not_grow_with_the_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    """Merging 40,000 more examples adds no per-example memory (it used to add ~130 bytes each).

    Statistics are value counts (bounded by the distinct values) and the duplicate keys live in
    compact arrays (16 bytes a pair, `array` items: no Python object per example), at most
    `KEYS_IN_MEMORY` of them; the rest are in the temporary file.
    """
    monkeypatch.setattr(merge, "KEYS_IN_MEMORY", 10_000)
    rng = random.Random(0)
    chunks = [_chunk(rng, 2_000 * i, 2_000) for i in range(40)]
    merged = merge.Merged(settings_for(MODEL, "chat"), "mem", 10_000, None)
    store = merged.keys
    tracemalloc.start()
    try:
        for c in chunks[:20]:
            merged.add(c)
        after_40k = tracemalloc.get_traced_memory()[0]
        assert store.buffered == 0  # just spilled: the same point as below
        for c in chunks[20:]:
            merged.add(c)
        after_80k = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after_80k - after_40k < 64 * 1024  # 40,000 examples: < 1.7 bytes each
    assert store.buffered + store.spilled == merged.examples == 80_000
    merged.add(_chunk(rng, 80_000, 100))
    assert store.buffered == 100
    assert store.memory_bytes() == 16 * 100  # compact arrays: 8-byte key + 8-byte line
    assert len(merged.tokens) <= 380  # one entry per distinct token count
    report = merged.report("auto", None)
    assert report.counts == {}
    assert report.stats.examples == 80_100
    assert store.spilled == store.buffered == 0  # the report dropped the keys and the file


def test_statistics_are_exact_from_value_counts() -> None:
    """Totals, capped tokens, over-context counts and percentiles equal those of the values."""
    rng = random.Random(5)
    chunk = _chunk(rng, 0, 3_000)
    chunk.tokens[7] = 200_000  # over gpt-4o-mini's 65,536-token training context
    chunk.tokens[9] = 70_000
    merged = merge.Merged(settings_for(MODEL, "chat"), "stats", 10_000, None)
    merged.add(chunk)
    report = merged.report(1, None)
    tokens = list(chunk.tokens)
    s = report.stats
    assert s.total_tokens == sum(tokens)
    assert s.examples_over_context == 2
    assert report.estimate.tokens_per_epoch == sum(min(t, 65_536) for t in tokens)
    assert s.tokens_per_example == Distribution.of(tokens)
    assert s.assistant_tokens_per_example == Distribution.of(chunk.assistant)
    assert s.messages_per_example == Distribution.of(chunk.messages)
    assert [f.line for f in report.warnings if f.code == "example_too_long"] == [8, 10]


def test_distribution_from_counts() -> None:
    """`from_counts` summarises value -> count exactly as `of` summarises the values."""
    d = Distribution.from_counts({10: 1, 1: 3, 5: 0})
    assert d == Distribution.of([1, 1, 1, 10])
    assert d.model_dump() == {
        "min": 1,
        "mean": 3.25,
        "p50": 1.0,
        "p90": 7.3,
        "p95": 8.65,
        "max": 10,
    }
    assert Distribution.from_counts({}) == Distribution.of([])
    assert Distribution.from_counts({3: 0}).max == 0
