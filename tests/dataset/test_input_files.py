"""What a dataset is read from: not-JSONL files, .jsonl.gz, what is not a file, and names.

A binary file (an image, a spreadsheet, UTF-16 text, gzip data without a .gz name) gets one
`not_jsonl_text` finding and no statistics, instead of an error per "line"; a `.jsonl.gz` file
validates, iterates, splits and writes exactly like the plain file; a directory or a named pipe
is refused saying what it is; in-memory parts of a dataset are named after it.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

import finetune_kit
import finetune_kit.dataset
from finetune_kit import Dataset, DatasetError, Finding
from finetune_kit.dataset.engine import settings_for, validate_path

MODEL = "gpt-4o-mini-2024-07-18"
ELLE = finetune_kit.bundled_dataset()
ELLE_BYTES = ELLE.read_bytes()


def _rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "messages": [
                {"role": "user", "content": f"What is {i} + {i}?"},
                {"role": "assistant", "content": f"{2 * i}"},
            ]
        }
        for i in range(n)
    ]


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- not JSONL text -------------------------------------------------------------------------

NOT_TEXT = "not a JSONL text file: it is"
CASES = {
    "png": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, f"{NOT_TEXT} a PNG image"),
    "zip": (
        b"PK\x03\x04" + bytes(300),
        f"{NOT_TEXT} a ZIP archive (.zip, .xlsx, .docx...): export the examples as JSONL",
    ),
    "gzip-without-gz-name": (
        gzip.compress(ELLE_BYTES),
        (
            f"{NOT_TEXT} gzip-compressed data: name it .jsonl.gz to have it read as such, "
            "or decompress it"
        ),
    ),
    "utf16-bom": (
        ELLE_BYTES.decode().encode("utf-16"),
        f"{NOT_TEXT} UTF-16 text: re-save it as UTF-8",
    ),
    "utf16-no-bom": (
        ELLE_BYTES.decode().encode("utf-16-le"),
        f"{NOT_TEXT} UTF-16 text (no byte-order mark): re-save it as UTF-8",
    ),
    "nul-bytes": (
        b'{"messages": []}\n' + b"\x00\x01\x02" * 40,
        (
            f"{NOT_TEXT} binary data (a NUL byte at byte 18); training data is UTF-8 text, one "
            "JSON object per line"
        ),
    ),
    "cp1251-text": (
        ("Привет, как дела? " * 80).encode("cp1251"),
        f"{NOT_TEXT} not UTF-8 (740 of its first 1,024 bytes are not UTF-8): re-save it as UTF-8",
    ),
}


@pytest.mark.parametrize(("data", "message"), list(CASES.values()), ids=list(CASES))
def test_a_file_that_is_not_jsonl_text_gets_one_finding_and_no_stats(
    tmp_path: Path, data: bytes, message: str
) -> None:
    """One `not_jsonl_text` error that says what the file is; nothing else, nothing counted."""
    path = _write(tmp_path / "data.jsonl", data)
    report = Dataset.from_jsonl(path).validate(model=MODEL)
    assert report.errors == (
        Finding(severity="error", code="not_jsonl_text", line=None, field=None, message=message),
    )
    assert (report.warnings, report.counts, report.ok) == ((), {"not_jsonl_text": 1}, False)
    assert (report.format, report.stats.rows, report.stats.examples) == ("unknown", 0, 0)
    assert str(report) == (
        f"{path}: no rows read\nNOT OK: 1 error(s), 0 warning(s)\nerrors:\n"
        f"  {path}: [not_jsonl_text] {message}"
    )


def test_a_binary_file_is_said_once_not_per_line(tmp_path: Path) -> None:
    """The issue's case: random bytes gave ~90 UTF-8/JSON errors and zero stats; now one line."""
    path = _write(tmp_path / "photo.jsonl", bytes(range(1, 256)) * 40 + b"\x00")
    text = str(Dataset.from_jsonl(path).validate(model=MODEL))
    assert text.count("\n") == 3
    assert "invalid_utf8" not in text
    assert "stats:" not in text
    assert "estimate:" not in text


def test_a_few_bad_bytes_in_utf8_text_are_findings_per_line(tmp_path: Path) -> None:
    """A real JSONL file with one Latin-1 byte is text: `invalid_utf8` on its line, as before."""
    lines = _jsonl(_rows(12)).splitlines(keepends=True)
    lines[2] = lines[2].replace(b"What", b"Wh\xe4t")
    report = Dataset.from_jsonl(_write(tmp_path / "t.jsonl", b"".join(lines))).validate(model=MODEL)
    assert report.counts == {"invalid_utf8": 1}
    assert (report.errors[0].line, report.stats.examples) == (3, 12)


def test_a_binary_file_is_not_estimated_iterated_or_uploaded(tmp_path: Path) -> None:
    """`estimate`, iterating and `raise_for_errors` say the same one line."""
    path = _write(tmp_path / "sheet.xlsx", CASES["zip"][0])
    expected = f"{path}: {CASES['zip'][1]}"
    ds = Dataset.from_jsonl(path)
    with pytest.raises(DatasetError) as estimate:
        ds.estimate(model=MODEL)
    assert str(estimate.value) == expected
    assert estimate.value.findings[0].code == "not_jsonl_text"
    with pytest.raises(DatasetError) as iterating:
        list(ds)
    assert str(iterating.value) == expected
    with pytest.raises(DatasetError) as raised:
        ds.validate(model=MODEL).raise_for_errors()
    assert str(raised.value) == expected


def test_max_findings_zero_still_counts_it(tmp_path: Path) -> None:
    """`max_findings=0` lists nothing but counts the finding: the report stays not ok."""
    path = _write(tmp_path / "a.jsonl", CASES["png"][0])
    report = Dataset.from_jsonl(path).validate(model=MODEL, max_findings=0)
    assert (report.errors, report.counts, report.omitted, report.ok) == (
        (),
        {"not_jsonl_text": 1},
        1,
        False,
    )


# --- .jsonl.gz ------------------------------------------------------------------------------


def _report_without_source(ds: Dataset, **kwargs: Any) -> dict[str, Any]:
    dumped = ds.validate(model=MODEL, **kwargs).model_dump()
    dumped.pop("source")
    return dumped


def test_a_jsonl_gz_validates_like_the_plain_file(tmp_path: Path) -> None:
    """Same counts, findings (lines included), stats and estimate as the decompressed file."""
    rows = _rows(30)
    data = _jsonl(rows) + b"\n" + _jsonl(rows[:2])  # a blank line and two duplicates
    plain = _write(tmp_path / "train.jsonl", data)
    packed = _write(tmp_path / "train.jsonl.gz", gzip.compress(data))
    report = Dataset.from_jsonl(packed).validate(model=MODEL)
    assert report.source == str(packed)
    assert report.counts == {"blank_line": 1, "duplicate_example": 2}
    assert (report.stats.rows, report.stats.examples) == (32, 32)
    assert _report_without_source(Dataset.from_jsonl(packed)) == _report_without_source(
        Dataset.from_jsonl(plain)
    )


def test_a_jsonl_gz_is_read_as_a_stream_never_cut_by_byte_offsets(tmp_path: Path) -> None:
    """With tiny chunks and several workers a plain file is checked in parallel; a .gz file,
    which can't be cut at byte offsets, is read once, in order, and gives the same report."""
    if sys.platform == "win32":  # pragma: no cover - no fork
        pytest.skip("parallel validation forks")
    data = _jsonl(_rows(200))
    plain = _write(tmp_path / "big.jsonl", data)
    packed = _write(tmp_path / "big.jsonl.GZ", gzip.compress(data))
    settings = settings_for(MODEL, "chat")
    reports = [
        validate_path(p, settings=settings, workers=2, chunk_bytes=512).model_dump()
        for p in (plain, packed)
    ]
    for r in reports:
        r.pop("source")
    assert reports[0] == reports[1]
    assert reports[0]["stats"]["examples"] == 200


def test_a_jsonl_gz_iterates_splits_and_writes_like_the_plain_file(tmp_path: Path) -> None:
    """Rows, length, duplicates, split and `to_jsonl` (decompressed JSONL) are the plain file's."""
    rows = _rows(20)
    data = _jsonl(rows)
    plain = Dataset.from_jsonl(_write(tmp_path / "t.jsonl", data))
    packed = Dataset.from_jsonl(_write(tmp_path / "t.jsonl.gz", gzip.compress(data)))
    assert list(packed) == rows
    assert len(packed) == 20
    assert [list(part) for part in packed.split(0.25)] == [list(p) for p in plain.split(0.25)]
    assert packed.to_jsonl(tmp_path / "out.jsonl").read_bytes() == data


def test_a_damaged_jsonl_gz_names_the_file_and_the_last_good_line(tmp_path: Path) -> None:
    """Cut short in the middle: a `DatasetError` naming the file and the line it stopped after."""
    data = gzip.compress(_jsonl(_rows(5000)))
    path = _write(tmp_path / "cut.jsonl.gz", data[: len(data) // 2])
    with pytest.raises(DatasetError) as caught:
        Dataset.from_jsonl(path).validate(model=MODEL, workers=1)
    message = str(caught.value)
    assert message.startswith(f"{path}: the gzip data is damaged or cut short after line ")
    assert message.endswith(
        " (Compressed file ended before the end-of-stream marker was reached): "
        "compress the file again"
    )
    assert caught.value.source == str(path)
    good = int(message.split("after line ")[1].split(" ", 1)[0].replace(",", ""))
    assert caught.value.line == good + 1
    assert 0 < good < 5000


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            ELLE_BYTES,
            (
                "not a JSONL text file: its name ends in .gz but it is not gzip-compressed: "
                "rename it (e.g. to .jsonl) or compress it"
            ),
        ),
        (
            gzip.compress(ELLE_BYTES)[:30],
            (
                "not a JSONL text file: its gzip data is damaged or cut short (Compressed file "
                "ended before the end-of-stream marker was reached): compress the file again"
            ),
        ),
    ],
    ids=["not-gzip", "cut-before-1-kb"],
)
def test_a_gz_name_on_other_data_is_one_finding(tmp_path: Path, data: bytes, message: str) -> None:
    """A .gz file that is not gzip, or too damaged to read its start, is `not_jsonl_text`."""
    path = _write(tmp_path / "t.jsonl.gz", data)
    report = Dataset.from_jsonl(path).validate(model=MODEL)
    assert [(f.code, f.message) for f in report.errors] == [("not_jsonl_text", message)]
    assert report.counts == {"not_jsonl_text": 1}


# --- not a file -----------------------------------------------------------------------------


def test_a_directory_is_not_a_training_file(tmp_path: Path) -> None:
    """A directory: IsADirectoryError saying so (not "no such training file")."""
    with pytest.raises(IsADirectoryError) as caught:
        Dataset.from_jsonl(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path} is a directory, not a training file: name the JSONL file in it"
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_named_pipe_is_not_a_training_file(tmp_path: Path) -> None:
    """A FIFO (`<(zcat x.gz)` is one) can be read once only: refused, saying what it is."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OSError) as caught:
        Dataset.from_jsonl(fifo)
    assert str(caught.value) == (
        f"{fifo} is a named pipe (FIFO), not a training file: its data is read more than once, "
        "so save it to a file first (a .jsonl.gz file is read as it is)"
    )


def test_a_character_device_is_not_a_training_file() -> None:
    """/dev/null is a character device: refused, saying so."""
    if not Path("/dev/null").exists() or Path("/dev/null").is_file():  # pragma: no cover
        pytest.skip("no /dev/null device")
    with pytest.raises(OSError, match=r"^/dev/null is a character device, not a training file"):
        Dataset.from_jsonl("/dev/null")


@pytest.mark.parametrize("name", ["missing.jsonl", "t.jsonl/inside.jsonl"])
def test_a_missing_file_is_no_such_training_file(tmp_path: Path, name: str) -> None:
    """Nothing there (or a file used as a folder): FileNotFoundError, as before."""
    _write(tmp_path / "t.jsonl", b"{}\n")
    with pytest.raises(FileNotFoundError) as caught:
        Dataset.from_jsonl(tmp_path / name)
    assert str(caught.value) == f"no such training file: {tmp_path / name}"


# --- names ----------------------------------------------------------------------------------


def test_a_small_split_is_named_after_its_dataset(tmp_path: Path) -> None:
    """The issue's case: a 4-row validation split failed `too_few_examples` as `<records>`."""
    path = _write(tmp_path / "train.jsonl", _jsonl(_rows(40)))
    train, test = Dataset.from_jsonl(path).split(4)
    assert (train.source, test.source) == (f"{path} (train split)", f"{path} (test split)")
    report = test.validate(model=MODEL)
    assert report.source == f"{path} (test split)"
    with pytest.raises(DatasetError) as caught:
        report.raise_for_errors()
    assert str(caught.value).splitlines() == [
        f"{path} (test split): 1 error(s) the provider would reject:",
        (
            f"  {path} (test split): [too_few_examples] 4 example(s) (non-blank lines): the "
            "API requires at least 10 (50-100 good ones usually show an improvement)"
        ),
    ]
    assert caught.value.source == f"{path} (test split)"


def test_parts_of_in_memory_data_are_named_after_it() -> None:
    """`from_records(name=)` names rows; splits and deduplication carry the name on."""
    ds = Dataset.from_records(_rows(10) * 2, name="held-out")
    assert ds.source == "held-out"
    assert repr(ds) == "<Dataset held-out>"
    assert ds.deduplicate().source == "held-out (deduplicated)"
    assert [p.source for p in ds.split(0.5)] == ["held-out (train split)", "held-out (test split)"]
    assert Dataset.from_records(_rows(1)).source == "<records>"
    assert [p.source for p in Dataset.from_records(_rows(4)).split(2)] == [
        "<records> (train split)",
        "<records> (test split)",
    ]


def test_a_bad_named_row_names_the_rows() -> None:
    """A row that can't be JSON is reported under the rows' name."""
    with pytest.raises(DatasetError, match=r"^held-out:2: the row can't be written as JSON"):
        Dataset.from_records([{"a": 1}, {"a": object()}], name="held-out")


def test_a_file_is_named_by_its_path_only(tmp_path: Path) -> None:
    """`name=` is for in-memory rows."""
    path = _write(tmp_path / "t.jsonl", b"{}\n")
    with pytest.raises(finetune_kit.ConfigurationError, match="name= is for in-memory rows"):
        Dataset(path=path, name="other")


# --- the bundled dataset --------------------------------------------------------------------


def test_the_bundled_dataset_has_a_public_home_and_keeps_its_old_one() -> None:
    """`finetune_kit.bundled_dataset` (and `finetune_kit.dataset.`); the CLI's old import works."""
    from finetune_kit.cli.main import bundled_dataset as old_home

    assert finetune_kit.bundled_dataset is finetune_kit.dataset.bundled_dataset
    assert old_home is finetune_kit.bundled_dataset
    assert "bundled_dataset" in finetune_kit.__all__
    assert "bundled_dataset" in finetune_kit.dataset.__all__
    path = finetune_kit.bundled_dataset()
    assert (path.name, path.is_file()) == ("elle.jsonl", True)
    assert len(Dataset.from_jsonl(path)) == 10
