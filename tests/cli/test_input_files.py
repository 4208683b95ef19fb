"""`validate` / `estimate` / `upload` on what is not a JSONL text file, and on `.jsonl.gz`.

Each case pins the exact output and exit code: a binary file is one error line (exit 1, no
statistics); a directory or a named pipe is one line on stderr saying what it is (exit 2); a
`.jsonl.gz` file gives the plain file's report.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from finetune_kit import bundled_dataset
from tests.cli.conftest import MODEL, Cli

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def test_validate_a_binary_file_says_once_what_it_is(cli: Cli, tmp_path: Path) -> None:
    """Four lines, exit 1: not ~90 UTF-8/JSON errors and a block of zero statistics."""
    (tmp_path / "photo.png").write_bytes(PNG)
    result = cli("validate", "photo.png", "--model", MODEL)
    assert (result.code, result.err) == (1, "")
    assert result.out == (
        "photo.png: no rows read\n"
        "NOT OK: 1 error(s), 0 warning(s)\n"
        "errors:\n"
        "  photo.png: [not_jsonl_text] not a JSONL text file: it is a PNG image\n"
    )


def test_validate_json_of_a_binary_file_has_the_code(cli: Cli, tmp_path: Path) -> None:
    """`--json`: CI can match on `not_jsonl_text`."""
    (tmp_path / "photo.png").write_bytes(PNG)
    result = cli("validate", "photo.png", "--model", MODEL, "--json")
    assert result.code == 1
    assert '"counts": {\n    "not_jsonl_text": 1\n  }' in result.out
    assert '"ok": false' in result.out


@pytest.mark.parametrize("command", ["estimate", "upload"])
def test_estimate_and_upload_of_a_binary_file_are_one_error_line(
    cli: Cli, tmp_path: Path, command: str
) -> None:
    """No "0 tokens ... ≈ $0.00" estimate, nothing uploaded: one line on stderr, exit 1."""
    (tmp_path / "photo.png").write_bytes(PNG)
    result = cli(command, "photo.png", "--model", MODEL)
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        "finetune-kit: error: photo.png: not a JSONL text file: it is a PNG image\n"
    )
    assert cli.sim.files == {}


def test_a_directory_is_not_a_training_file(cli: Cli, tmp_path: Path) -> None:
    """Exit 2 and what it is, not "no such training file"."""
    (tmp_path / "data").mkdir()
    result = cli("validate", "data", "--model", MODEL)
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "finetune-kit: error: data is a directory, not a training file: name the JSONL file in it\n"
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
@pytest.mark.parametrize("command", ["validate", "estimate", "upload"])
def test_a_named_pipe_is_not_a_training_file(cli: Cli, tmp_path: Path, command: str) -> None:
    """Exit 2, saying it is a FIFO and why that can't be used (and nothing blocks on it)."""
    os.mkfifo(tmp_path / "pipe")
    result = cli(command, "pipe", "--model", MODEL)
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "finetune-kit: error: pipe is a named pipe (FIFO), not a training file: its data is "
        "read more than once, so save it to a file first (a .jsonl.gz file is read as it is)\n"
    )


def test_a_missing_file_is_still_no_such_training_file(cli: Cli) -> None:
    """Unchanged: exit 2."""
    result = cli("validate", "missing.jsonl", "--model", MODEL)
    assert (result.code, result.err) == (
        2,
        "finetune-kit: error: no such training file: missing.jsonl\n",
    )


def test_validate_a_jsonl_gz_like_the_plain_file(cli: Cli, tmp_path: Path) -> None:
    """The same report, line for line, but for the file's name; `estimate` the same numbers."""
    data = bundled_dataset().read_bytes()
    (tmp_path / "elle.jsonl").write_bytes(data)
    (tmp_path / "elle.jsonl.gz").write_bytes(gzip.compress(data))
    plain = cli("validate", "elle.jsonl", "--model", MODEL)
    packed = cli("validate", "elle.jsonl.gz", "--model", MODEL)
    assert (plain.code, packed.code) == (0, 0)
    assert packed.out.startswith("elle.jsonl.gz: 10 row(s), 10 counted as chat examples")
    assert packed.out.replace("elle.jsonl.gz", "elle.jsonl") == plain.out
    estimates = [
        cli("estimate", name, "--model", MODEL) for name in ("elle.jsonl", "elle.jsonl.gz")
    ]
    assert estimates[0] == estimates[1]
    assert estimates[0].out.startswith("786 tokens × 10 epochs")


def test_upload_a_jsonl_gz_sends_the_jsonl(cli: Cli, tmp_path: Path) -> None:
    """`upload x.jsonl.gz` sends the decompressed JSONL, named `x.ftk-<tag>.jsonl`."""
    data = bundled_dataset().read_bytes()
    (tmp_path / "elle.jsonl.gz").write_bytes(gzip.compress(data))
    result = cli("upload", "elle.jsonl.gz", "--model", MODEL)
    assert result.code == 0, result.err
    ((file_id, stored),) = cli.sim.files.items()
    assert stored.content == data
    assert result.out.startswith(f"{file_id}  elle.ftk-")
    assert f".jsonl  {len(data):,} bytes  processed" in result.out
