"""`dedupe` and `split`: outputs written whole, the input itself a safe output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from finetune_kit.cli.main import bundled_dataset
from finetune_kit.dataset import Dataset
from tests.cli.conftest import Cli

ELLE = bundled_dataset()


def _rows(path: Path) -> list[Any]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def doubled(tmp_path: Path) -> Path:
    """The bundled 10 examples, with lines 2 and 5 repeated at the end (12 rows)."""
    lines = ELLE.read_text(encoding="utf-8").splitlines()
    path = tmp_path / "doubled.jsonl"
    path.write_text("\n".join([*lines, lines[1], lines[4]]) + "\n", encoding="utf-8")
    return path


def test_dedupe_keeps_the_first_copy_of_each_example(cli: Cli, doubled: Path) -> None:
    """12 rows with 2 repeats: the 10 originals, in order, as compact JSON lines."""
    result = cli("dedupe", str(doubled), "clean.jsonl")
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        f"{doubled}: 12 example(s), 2 repeated copies removed; 10 written to clean.jsonl\n"
    )
    assert _rows(Path("clean.jsonl")) == _rows(ELLE)


def test_dedupe_onto_its_own_input(cli: Cli, doubled: Path, tmp_path: Path) -> None:
    """OUT == IN: the file is rewritten whole (atomically), no temporary file left."""
    result = cli("dedupe", str(doubled), str(doubled))
    assert result.code == 0, result.err
    assert _rows(doubled) == _rows(ELLE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doubled.jsonl"]


def test_dedupe_of_a_missing_file_is_exit_2(cli: Cli) -> None:
    """One line; nothing written."""
    result = cli("dedupe", "nowhere.jsonl", "out.jsonl")
    assert (result.code, result.err) == (
        2,
        "finetune-kit: error: no such training file: nowhere.jsonl\n",
    )
    assert not Path("out.jsonl").exists()


def test_dedupe_names_a_line_that_is_not_json(cli: Cli, tmp_path: Path) -> None:
    """Exit 1, one line naming the file and line; nothing written."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text(ELLE.read_text(encoding="utf-8").splitlines()[0] + "\n{oops\n")
    result = cli("dedupe", str(bad), "out.jsonl")
    assert result.code == 1
    assert result.err.startswith(f"finetune-kit: error: {bad}:2: not valid JSON ")
    assert result.err.count("\n") == 1
    assert not Path("out.jsonl").exists()


def test_split_writes_the_split_of_dataset_split(cli: Cli) -> None:
    """The same examples as `Dataset.split(0.1, seed=0)` (and `tune --split 0.1`)."""
    result = cli("split", str(ELLE), "--train", "train.jsonl", "--validation", "valid.jsonl")
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        f"{ELLE}: 10 example(s): 9 to train.jsonl, 1 to valid.jsonl "
        "(seed 0; the same split every run)\n"
    )
    train, held_out = Dataset.from_jsonl(ELLE).split(0.1, seed=0)
    assert _rows(Path("train.jsonl")) == list(train)
    assert _rows(Path("valid.jsonl")) == list(held_out)
    assert sorted(map(json.dumps, [*train, *held_out])) == sorted(map(json.dumps, _rows(ELLE)))


def test_split_fraction_and_seed(cli: Cli) -> None:
    """--fraction 0.3 holds out 3 of 10; another --seed, other examples."""
    argv = ("split", str(ELLE), "--train", "t.jsonl", "--validation", "v.jsonl")
    assert cli(*argv, "--fraction", "0.3").code == 0
    seed0 = _rows(Path("v.jsonl"))
    assert len(seed0) == 3
    assert cli(*argv, "--fraction", "0.3", "--seed", "7").out.endswith(
        "(seed 7; the same split every run)\n"
    )
    seed7 = _rows(Path("v.jsonl"))
    assert len(seed7) == 3
    assert seed7 != seed0
    assert seed7 == list(Dataset.from_jsonl(ELLE).split(0.3, seed=7)[1])


def test_split_onto_its_own_input(cli: Cli, tmp_path: Path) -> None:
    """--train IN: IN becomes the training part; nothing is lost; no temporary file left."""
    data = tmp_path / "data.jsonl"
    data.write_bytes(ELLE.read_bytes())
    result = cli("split", str(data), "--train", str(data), "--validation", "v.jsonl")
    assert result.code == 0, result.err
    train, held_out = Dataset.from_jsonl(ELLE).split(0.1, seed=0)
    assert _rows(data) == list(train)
    assert _rows(tmp_path / "v.jsonl") == list(held_out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.jsonl", "v.jsonl"]


def test_split_keeps_the_input_whole_when_the_other_output_fails(cli: Cli, tmp_path: Path) -> None:
    """--train IN with a validation file that can't be written: IN is written last, so it stays."""
    data = tmp_path / "data.jsonl"
    data.write_bytes(ELLE.read_bytes())
    result = cli("split", str(data), "--train", str(data), "--validation", "missing/v.jsonl")
    assert (result.code, result.err) == (
        2,
        "finetune-kit: error: missing/v.jsonl: No such file or directory\n",
    )
    assert data.read_bytes() == ELLE.read_bytes()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            ["--fraction", "1.5"],
            "--fraction must be between 0 and 1 (0.1 holds out a tenth), not '1.5'",
        ),
        (
            ["--fraction", "x"],
            "--fraction must be between 0 and 1 (0.1 holds out a tenth), not 'x'",
        ),
        (
            ["--fraction", "0"],
            "--fraction must be between 0 and 1 (0.1 holds out a tenth), not '0'",
        ),
        (
            ["--fraction", "0.01"],
            (
                "--fraction 0.01 of 10 example(s) leaves no validation example: choose another "
                "fraction"
            ),
        ),
        (
            ["--fraction", "0.99"],
            "--fraction 0.99 of 10 example(s) leaves no training example: choose another fraction",
        ),
        (
            ["--validation", "t.jsonl"],
            "--train and --validation are the same file (t.jsonl): name two files",
        ),
    ],
)
def test_split_refuses_what_would_be_useless(cli: Cli, extra: list[str], expected: str) -> None:
    """One line, exit 2, nothing written."""
    argv = ["split", str(ELLE), "--train", "t.jsonl", "--validation", "v.jsonl"]
    if extra[0] == "--validation":
        argv[-1] = extra[1]
        extra = []
    result = cli(*argv, *extra)
    assert (result.code, result.err) == (2, f"finetune-kit: error: {expected}\n")
    assert not Path("t.jsonl").exists()
    assert not Path("v.jsonl").exists()
