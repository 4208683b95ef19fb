"""Preparing a job's data: `_core.prepare` checks and names what it is given, reading nothing;
the shell (`finetune_kit._prepare`) opens the data and hashes its bytes."""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import pathlib
from pathlib import Path
from typing import Any

import pytest

from finetune_kit import Dataset, DatasetError
from finetune_kit import files as uploads
from finetune_kit._core import files as files_core
from finetune_kit._core import prepare as core
from finetune_kit._core.files import identity_of_bytes
from finetune_kit._prepare import is_file_id, prepare

MODEL = "gpt-4o-mini-2024-07-18"
ROWS = [
    {"messages": [{"role": "user", "content": f"Q{i}"}, {"role": "assistant", "content": f"A{i}"}]}
    for i in range(10)
]
ARGS: dict[str, Any] = {
    "model": MODEL,
    "method_type": "supervised",
    "n_epochs": 3,
    "prices": None,
    "force": False,
}


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)


def test_the_core_reads_no_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the ways to find, open or hash a file failing, the core checks and names the data
    it is handed (reading rows is the handed `Dataset`'s business, as a reader)."""

    def no_io(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the core touched the file system")

    dataset = Dataset.from_records(ROWS)
    identity = identity_of_bytes(_jsonl(ROWS))
    dataset.validate(model=MODEL)  # the tokenizer's tables are loaded once, from files
    with monkeypatch.context() as patched:  # undone before pytest reports (it reads files)
        patched.setattr(Dataset, "from_jsonl", no_io)
        patched.setattr(files_core, "identity_of_path", no_io)
        for name in ("exists", "is_file", "open", "read_bytes"):
            patched.setattr(pathlib.Path, name, no_io)
        report = core.checked(dataset, **ARGS)
        done = core.prepared(dataset, report, identity)
        file_id = core.remote("file-abc")
    assert (done.source, done.identity, done.report) == (
        dataset,
        f"sha256:{hashlib.sha256(_jsonl(ROWS)).hexdigest()}",
        report,
    )
    assert file_id == core.Prepared("file-abc", "file:file-abc", None)


def test_the_core_module_imports_nothing_that_reads() -> None:
    """No `pathlib`, no `open`, no `from_jsonl` and no file hashing in `_core/prepare.py`."""
    tree = ast.parse(inspect.getsource(core))
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    imported = {
        alias.name
        for n in ast.walk(tree)
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for alias in n.names
    }
    assert not (names | imported) & {"pathlib", "Path", "open", "from_jsonl", "identity_of_path"}


def test_the_shell_identifies_a_file_by_its_bytes(tmp_path: Path) -> None:
    """A JSONL path: validated, and named by the sha256 of the file's bytes."""
    path = tmp_path / "train.jsonl"
    path.write_bytes(_jsonl(ROWS))
    done = prepare(path, **ARGS)
    assert done.identity == f"sha256:{hashlib.sha256(_jsonl(ROWS)).hexdigest()}"
    assert isinstance(done.source, Dataset)
    assert done.source.path == path
    assert done.report is not None
    assert done.report.ok


def test_the_shell_names_in_memory_rows_by_their_jsonl() -> None:
    """Records: named by the sha256 of the JSONL they upload as."""
    done = prepare(Dataset.from_records(ROWS), **ARGS)
    assert done.identity == f"sha256:{hashlib.sha256(_jsonl(ROWS)).hexdigest()}"


def test_the_shell_takes_a_file_id_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`file-...` names an uploaded file, unless a local file has that name."""
    monkeypatch.chdir(tmp_path)
    assert prepare("file-abc123", **ARGS) == core.Prepared("file-abc123", "file:file-abc123", None)
    (tmp_path / "file-local.jsonl").write_bytes(_jsonl(ROWS))
    assert not is_file_id("file-local.jsonl")
    assert prepare("file-local.jsonl", **ARGS).identity.startswith("sha256:")


def test_an_upload_and_a_job_tell_a_file_id_from_local_data_alike() -> None:
    """One `Source` and one `is_file_id`: `upload()` uses the preparation's own (issue 14)."""
    assert uploads.Source is core.Source
    assert vars(uploads)["is_file_id"] is is_file_id  # imported, not written again


def test_bad_data_is_refused_unless_forced(tmp_path: Path) -> None:
    """A row without an assistant answer: `DatasetError` naming the file; `force` keeps it."""
    path = tmp_path / "bad.jsonl"
    path.write_bytes(_jsonl([{"messages": [{"role": "user", "content": "Q"}]}] * 10))
    with pytest.raises(DatasetError, match=r"bad\.jsonl"):
        prepare(path, **ARGS)
    forced = prepare(path, **{**ARGS, "force": True})
    assert forced.report is not None
    assert not forced.report.ok
