"""The `Dataset` API: loading, iterating, writing, splitting, duplicates, validation arguments."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from finetune_kit.dataset import Dataset, Distribution
from finetune_kit.exceptions import ConfigurationError, DatasetError
from tests.conftest import ELLE

GPT_4O_MINI = "gpt-4o-mini-2024-07-18"
ELLE_TOKENS = 786  # o200k_base, cookbook formula (pinned in test_tokens.py)


def _row(i: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You add numbers."},
            {"role": "user", "content": f"What is {i} + {i}?"},
            {"role": "assistant", "content": f"{i} + {i} = {2 * i}."},
        ]
    }


def _dump(row: Any) -> str:
    return json.dumps(row, ensure_ascii=False)


def _write(path: Path, lines: list[str], *, bom: bool = False, newline: str = "\n") -> Path:
    data = newline.join(lines).encode()
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def _keys(ds: Dataset) -> list[str]:
    return [json.dumps(row, sort_keys=True) for row in ds]


# --- construction ---------------------------------------------------------------------------


def test_from_jsonl_missing_file(tmp_path: Path) -> None:
    """Opening a file that does not exist raises FileNotFoundError naming it."""
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(FileNotFoundError, match=r"nope\.jsonl"):
        Dataset.from_jsonl(missing)


def test_from_jsonl_directory(tmp_path: Path) -> None:
    """A directory is not a training file: IsADirectoryError saying so (see test_input_files)."""
    with pytest.raises(IsADirectoryError, match="is a directory, not a training file"):
        Dataset.from_jsonl(tmp_path)


def test_from_jsonl_is_lazy_and_named(tmp_path: Path) -> None:
    """A file dataset keeps its path and reports it as its source."""
    path = _write(tmp_path / "train.jsonl", [_dump(_row(1))])
    ds = Dataset.from_jsonl(str(path))
    assert ds.path == path
    assert ds.source == str(path)
    assert repr(ds) == f"<Dataset {path}>"


def test_from_records_dicts() -> None:
    """Rows given as dicts are kept as they are, in order, with source "<records>"."""
    rows = [_row(i) for i in range(3)]
    ds = Dataset.from_records(rows)
    assert ds.source == "<records>"
    assert ds.path is None
    assert len(ds) == 3
    assert list(ds) == rows


class _Message(BaseModel):
    role: str
    content: str
    weight: int | None = None


class _Row(BaseModel):
    messages: list[_Message]


def test_from_records_pydantic_models() -> None:
    """Pydantic rows are dumped as JSON with unset fields dropped."""
    model_row = _Row(
        messages=[
            _Message(role="user", content="Hi"),
            _Message(role="assistant", content="Hello", weight=1),
        ]
    )
    ds = Dataset.from_records([model_row, _row(2)])
    assert list(ds) == [
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello", "weight": 1},
            ]
        },
        _row(2),
    ]


def test_from_records_rejects_non_json_row() -> None:
    """A row that can't be written as JSON raises DatasetError naming its 1-based position."""
    rows: list[dict[str, Any]] = [_row(1), _row(2), {"messages": {1, 2}}]
    with pytest.raises(DatasetError, match=r"^<records>:3: ") as info:
        Dataset.from_records(rows)
    assert info.value.line == 3
    assert info.value.source == "<records>"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_from_records_rejects_nan(value: float) -> None:
    """NaN and infinities are not JSON: such a row raises DatasetError, not a file with NaN."""
    with pytest.raises(DatasetError, match=r"^<records>:2: "):
        Dataset.from_records([_row(1), {"messages": [], "score": value}])


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"path": Path("x.jsonl"), "records": []}],
)
def test_constructor_needs_exactly_one_source(kwargs: dict[str, Any]) -> None:
    """`Dataset()` needs exactly one of path= and records=."""
    with pytest.raises(ConfigurationError, match="exactly one"):
        Dataset(**kwargs)


# --- reading --------------------------------------------------------------------------------


def test_len_counts_non_blank_lines(tmp_path: Path) -> None:
    """`len` counts non-blank lines; blank and whitespace-only lines are not examples."""
    path = _write(
        tmp_path / "t.jsonl", ["", _dump(_row(1)), "   ", _dump(_row(2)), "\t", _dump(_row(3)), ""]
    )
    assert len(Dataset.from_jsonl(path)) == 3
    assert len(Dataset.from_jsonl(ELLE)) == 10


def test_iteration_skips_blank_lines_and_bom(tmp_path: Path) -> None:
    """Iteration yields each row once, skipping blank lines, BOM and CRLF endings handled."""
    rows = [_row(1), _row(2), _row(3)]
    path = _write(
        tmp_path / "t.jsonl",
        [_dump(rows[0]), "", _dump(rows[1]), " ", _dump(rows[2]), ""],
        bom=True,
        newline="\r\n",
    )
    assert list(Dataset.from_jsonl(path)) == rows


def test_iteration_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    """Invalid JSON raises DatasetError naming file:line, after yielding the rows before it."""
    path = _write(tmp_path / "t.jsonl", [_dump(_row(1)), "", '{"messages": [', _dump(_row(2))])
    seen: list[Any] = []
    with pytest.raises(DatasetError, match=rf"^{path}:3: not valid JSON") as info:
        seen.extend(Dataset.from_jsonl(path))
    assert seen == [_row(1)]
    assert info.value.line == 3
    assert info.value.source == str(path)


def test_bom_then_blank_first_line(tmp_path: Path) -> None:
    """A first line holding only a BOM is blank: not counted, skipped, and agreed on by validate."""
    rows = [_row(1), _row(2)]
    path = _write(tmp_path / "t.jsonl", ["", _dump(rows[0]), _dump(rows[1])], bom=True)
    ds = Dataset.from_jsonl(path)
    report = ds.validate(model=GPT_4O_MINI, workers=1)
    assert report.stats.rows == 2
    assert report.stats.examples == 2
    assert len(ds) == 2
    assert list(ds) == rows


# --- writing --------------------------------------------------------------------------------


def test_to_jsonl_round_trip(tmp_path: Path) -> None:
    """Writing gives UTF-8 JSONL without BOM or blank lines that reads back to the same rows."""
    rows = [_row(1), {"messages": [{"role": "user", "content": "naïve 日本 🙂"}]}, _row(3)]
    src = _write(
        tmp_path / "in.jsonl",
        [_dump(rows[0]), "", _dump(rows[1]), "  ", _dump(rows[2]), "", ""],
        bom=True,
    )
    out = Dataset.from_jsonl(src).to_jsonl(tmp_path / "out.jsonl")
    assert out == tmp_path / "out.jsonl"
    data = out.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    assert data.endswith(b"\n")
    lines = data.decode("utf-8").split("\n")[:-1]
    assert len(lines) == 3
    assert all(line.strip() for line in lines)
    assert "naïve 日本 🙂" in data.decode("utf-8")
    assert list(Dataset.from_jsonl(out)) == rows


def test_to_jsonl_from_records(tmp_path: Path) -> None:
    """In-memory rows write one compact line each and read back equal."""
    rows = [_row(i) for i in range(5)]
    out = Dataset.from_records(rows).to_jsonl(str(tmp_path / "out.jsonl"))
    assert out.read_text("utf-8").count("\n") == 5
    assert list(Dataset.from_jsonl(out)) == rows


# --- split ----------------------------------------------------------------------------------


def test_split_sizes_and_disjoint() -> None:
    """A 25% split of 40 distinct rows gives 30 + 10 disjoint rows covering them all, in order."""
    rows = [_row(i) for i in range(40)]
    train, test = Dataset.from_records(rows).split(0.25, seed=3)
    assert (len(train), len(test)) == (30, 10)
    train_keys, test_keys = _keys(train), _keys(test)
    assert not set(train_keys) & set(test_keys)
    assert sorted(train_keys + test_keys) == sorted(_keys(Dataset.from_records(rows)))
    order = {json.dumps(r, sort_keys=True): i for i, r in enumerate(rows)}
    assert [order[k] for k in train_keys] == sorted(order[k] for k in train_keys)
    assert [order[k] for k in test_keys] == sorted(order[k] for k in test_keys)


def test_split_count() -> None:
    """An integer test_size is a count of test examples."""
    train, test = Dataset.from_records([_row(i) for i in range(12)]).split(5)
    assert (len(train), len(test)) == (7, 5)


def test_split_is_reproducible(tmp_path: Path) -> None:
    """The same seed gives the same split, from a file or from the same rows in memory."""
    rows = [_row(i) for i in range(30)]
    path = _write(tmp_path / "t.jsonl", [_dump(r) for r in rows])
    first = Dataset.from_records(rows).split(0.2, seed=42)
    second = Dataset.from_records(rows).split(0.2, seed=42)
    from_file = Dataset.from_jsonl(path).split(0.2, seed=42)
    assert [_keys(d) for d in first] == [_keys(d) for d in second] == [_keys(d) for d in from_file]


def test_split_seed_changes_split() -> None:
    """A different seed gives a different split of the same size."""
    ds = Dataset.from_records([_row(i) for i in range(40)])
    _, test_a = ds.split(0.25, seed=1)
    _, test_b = ds.split(0.25, seed=2)
    assert len(test_a) == len(test_b) == 10
    assert set(_keys(test_a)) != set(_keys(test_b))


def test_split_keeps_duplicates_on_one_side() -> None:
    """Exact duplicates always land on the same side, so the split never leaks them."""
    base = [_row(i) for i in range(20)]
    rows = base + base[:10]  # rows 0-9 twice
    ds = Dataset.from_records(rows)
    for seed in range(10):
        train, test = ds.split(0.2, seed=seed)
        assert len(train) + len(test) == 30
        assert len(test) >= 6
        assert not set(_keys(train)) & set(_keys(test))
        for key in set(_keys(test)):
            assert _keys(test).count(key) == _keys(ds).count(key)


def test_split_keeps_bom_line_with_its_duplicate(tmp_path: Path) -> None:
    """In a file starting with a BOM, line 1 and its later copy still land on the same side."""
    rows = [_row(i) for i in range(10)]
    path = _write(tmp_path / "t.jsonl", [_dump(r) for r in [*rows, rows[0]]], bom=True)
    ds = Dataset.from_jsonl(path)
    assert ds.duplicates() == [[1, 11]]
    for seed in range(20):
        train, test = ds.split(0.2, seed=seed)
        assert list(train).count(rows[0]) in {0, 2}, seed
        assert list(test).count(rows[0]) in {0, 2}, seed


@pytest.mark.parametrize("test_size", [0.0, 1.0, 1.5, -0.1, -1, 11])
def test_split_bad_test_size(test_size: float) -> None:
    """A fraction outside (0, 1) or a count larger than the dataset is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match="test_size"):
        Dataset.from_records([_row(i) for i in range(10)]).split(test_size)


# --- duplicates and overlap -----------------------------------------------------------------


def _dup_file(tmp_path: Path) -> Path:
    a, b, c = _dump(_row(1)), _dump(_row(2)), _dump(_row(3))
    return _write(tmp_path / "dup.jsonl", [a, b, a, "", c, f"  {b}  ", a])


def test_duplicates(tmp_path: Path) -> None:
    """`duplicates` groups the 1-based lines of identical (trimmed) examples."""
    assert Dataset.from_jsonl(_dup_file(tmp_path)).duplicates() == [[1, 3, 7], [2, 6]]
    assert Dataset.from_records([_row(i) for i in range(3)]).duplicates() == []


def test_deduplicate(tmp_path: Path) -> None:
    """`deduplicate` keeps the first copy of each example, in order, in memory."""
    dedup = Dataset.from_jsonl(_dup_file(tmp_path)).deduplicate()
    assert dedup.path is None
    assert list(dedup) == [_row(1), _row(2), _row(3)]
    assert dedup.duplicates() == []


def test_duplicates_are_warned_in_validation(tmp_path: Path) -> None:
    """Validation warns `duplicate_example` on each later copy, naming the first line."""
    report = Dataset.from_jsonl(_dup_file(tmp_path)).validate(model=GPT_4O_MINI, workers=1)
    dups = [(f.line, f.message) for f in report.warnings if f.code == "duplicate_example"]
    assert dups == [
        (3, "same example as line 1: remove one copy"),
        (6, "same example as line 2: remove one copy"),
        (7, "same example as line 1: remove one copy"),
    ]
    assert report.counts["duplicate_example"] == 3


def _train_and_validation(tmp_path: Path) -> tuple[Path, Path]:
    train = _write(tmp_path / "train.jsonl", [_dump(_row(i)) for i in range(10)])
    valid = _write(
        tmp_path / "valid.jsonl", [_dump(_row(8)), _dump(_row(50)), _dump(_row(9)), _dump(_row(2))]
    )
    return train, valid


def test_overlap(tmp_path: Path) -> None:
    """`overlap` lists (line here, line there) for each shared example."""
    train, valid = _train_and_validation(tmp_path)
    assert Dataset.from_jsonl(train).overlap(valid) == [(3, 4), (9, 1), (10, 3)]
    assert Dataset.from_jsonl(train).overlap(Dataset.from_jsonl(valid)) == [(3, 4), (9, 1), (10, 3)]
    assert Dataset.from_jsonl(valid).overlap(train) == [(1, 9), (3, 10), (4, 3)]


@pytest.mark.parametrize("as_dataset", [False, True])
def test_validate_with_validation_set(tmp_path: Path, as_dataset: bool) -> None:
    """`validate(validation=...)` reports each leaked example as `train_validation_overlap`."""
    train, valid = _train_and_validation(tmp_path)
    validation: Dataset | Path = Dataset.from_jsonl(valid) if as_dataset else valid
    report = Dataset.from_jsonl(train).validate(model=GPT_4O_MINI, validation=validation, workers=1)
    leaks = [(f.line, f.message) for f in report.errors]
    assert [line for line, _ in leaks] == [3, 9, 10]
    assert "also line 4 of the validation set" in leaks[0][1]
    assert report.counts == {"train_validation_overlap": 3}
    assert not report.ok


# --- validate and estimate ------------------------------------------------------------------


def test_validate_clean_file() -> None:
    """The Elle file validates clean for gpt-4o-mini with auto epochs."""
    report = Dataset.from_jsonl(ELLE).validate(model=GPT_4O_MINI)
    assert report.ok
    assert report.format == "chat"
    assert report.source == str(ELLE)
    assert report.counts == {}
    assert report.estimate.n_epochs == 10
    assert report.estimate.n_epochs_auto is True


def test_estimate_equals_validate_estimate() -> None:
    """`estimate()` is the estimate of a full validation."""
    ds = Dataset.from_jsonl(ELLE)
    assert ds.estimate(model=GPT_4O_MINI) == ds.validate(model=GPT_4O_MINI).estimate
    assert (
        ds.estimate(model=GPT_4O_MINI, n_epochs=4)
        == ds.validate(model=GPT_4O_MINI, n_epochs=4).estimate
    )


def test_validate_fixed_epochs() -> None:
    """`n_epochs=3` bills exactly three passes over the capped tokens."""
    estimate = Dataset.from_jsonl(ELLE).validate(model=GPT_4O_MINI, n_epochs=3).estimate
    assert estimate.n_epochs == 3
    assert estimate.n_epochs_auto is False
    assert estimate.billed_tokens == 3 * ELLE_TOKENS
    assert estimate.cost_usd == round(3.0 * 3 * ELLE_TOKENS / 1_000_000, 4)


def test_records_validate_like_files(tmp_path: Path) -> None:
    """The same rows validate to the same stats and estimate from memory or from a file."""
    rows = list(Dataset.from_jsonl(ELLE))
    from_records = Dataset.from_records(rows).validate(model=GPT_4O_MINI)
    path = Dataset.from_records(rows).to_jsonl(tmp_path / "elle.jsonl")
    from_file = Dataset.from_jsonl(path).validate(model=GPT_4O_MINI)
    assert from_records.source == "<records>"
    assert from_records.stats == from_file.stats
    assert from_records.estimate == from_file.estimate


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_epochs": 0},
        {"n_epochs": 51},
        {"n_epochs": -3},
        {"n_epochs": "3"},
        {"n_epochs": 2.0},
        {"n_epochs": True},
        {"n_epochs": None},
        {"method": "sft"},
        {"method": "chat"},
    ],
)
def test_validate_bad_arguments(kwargs: dict[str, Any]) -> None:
    """Bad `n_epochs` or `method` values raise ConfigurationError before any work."""
    with pytest.raises(ConfigurationError):
        Dataset.from_jsonl(ELLE).validate(model=GPT_4O_MINI, **kwargs)


def test_validate_missing_validation_file(tmp_path: Path) -> None:
    """A validation path that does not exist raises FileNotFoundError."""
    with pytest.raises(FileNotFoundError):
        Dataset.from_jsonl(ELLE).validate(model=GPT_4O_MINI, validation=tmp_path / "none.jsonl")


def test_max_findings_caps_the_list_not_the_counts(tmp_path: Path) -> None:
    """Beyond `max_findings` findings are counted but not listed."""
    path = _write(tmp_path / "bad.jsonl", ["{"] * 12)
    report = Dataset.from_jsonl(path).validate(model=GPT_4O_MINI, max_findings=5, workers=1)
    assert report.counts == {"invalid_json": 12}
    assert len(report.errors) == 5
    assert report.omitted == 7
    assert report.error_count == 12


# --- the report as text ---------------------------------------------------------------------


def test_report_str_clean() -> None:
    """`str(report)` names the file and shows counts, stats and the estimate."""
    text = str(Dataset.from_jsonl(ELLE).validate(model=GPT_4O_MINI))
    assert text.splitlines()[0] == (
        f"{ELLE}: 10 row(s), 10 counted as chat examples for {GPT_4O_MINI} [o200k_base]"
    )
    assert "OK: 0 error(s), 0 warning(s)" in text
    assert "messages per example  min 3 · mean 3.0 · p50 3 · p90 3 · p95 3 · max 3" in text
    assert "tokens per example    min 75 · mean 78.6 · p50 78 · p90 82 · p95 83 · max 83" in text
    assert "total tokens          786" in text
    assert "over 65,536-token context: 0" in text
    assert "without system / user message: 0 / 0" in text
    assert "786 tokens × 10 epochs (auto, cookbook heuristic) = 7,860 billed tokens" in text
    assert "$3/1M" in text


def test_report_str_lists_findings_with_file_and_line(tmp_path: Path) -> None:
    """Each finding is shown as file:line field [code] message."""
    bad = {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "x"}]}
    path = _write(tmp_path / "bad.jsonl", [_dump(_row(1)), "{oops", _dump(bad)])
    text = str(Dataset.from_jsonl(path).validate(model=GPT_4O_MINI, workers=1))
    assert f"{path}: 3 row(s), 2 counted as chat examples" in text
    assert "NOT OK: 3 error(s), 0 warning(s)" in text
    assert f"  {path}:2: [invalid_json] not valid JSON at column 2" in text
    assert f"  {path}:3: messages[0].content [empty_content]" in text
    assert f"  {path}: [too_few_examples]" in text


# --- Distribution ---------------------------------------------------------------------------


def test_distribution_percentiles_interpolate_like_numpy() -> None:
    """Percentiles interpolate linearly between ranks, as numpy.quantile's default does."""
    dist = Distribution.of([10, 1, 4, 3, 2])
    assert dist == Distribution(min=1, mean=4.0, p50=3.0, p90=7.6, p95=8.8, max=10)
    dist = Distribution.of([7, 1, 3, 5])
    assert dist == Distribution(min=1, mean=4.0, p50=4.0, p90=6.4, p95=6.7, max=7)


def test_distribution_edge_cases() -> None:
    """An empty list gives zeros; a single value is every percentile; means round to 2 places."""
    assert Distribution.of([]) == Distribution(min=0, mean=0.0, p50=0.0, p90=0.0, p95=0.0, max=0)
    assert Distribution.of([5]) == Distribution(min=5, mean=5.0, p50=5.0, p90=5.0, p95=5.0, max=5)
    assert Distribution.of([1, 1, 2]).mean == 1.33
