"""`files list|show|check|download|delete` and `models list`, on the simulator."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from finetune_kit.cli.main import bundled_dataset
from finetune_kit.cli.watching import utc
from tests.cli.conftest import MODEL, Cli

ELLE = bundled_dataset()
FILE_ID = "file-c2094cac629f6fbed82c07cd"  # the first id of a Simulator() (seeded)
NAME = "elle.ftk-5ec088effa7995abc22e.jsonl"  # the bundled data's remote name (content hash)
SIZE = ELLE.stat().st_size
CREATED = "2026-11-01 00:00:00 UTC"  # the simulator's clock at start
MISSING = "finetune-kit: error: not found (404): No such File object: file-nope\n"


def _upload(cli: Cli, path: Path = ELLE, *extra: str) -> str:
    result = cli("upload", str(path), "--model", MODEL, *extra)
    assert result.code == 0, result.err
    return result.out.split()[0]


def test_files_list_is_a_table_newest_first(cli: Cli, tmp_path: Path) -> None:
    """Aligned columns, one file a row; --purpose filters; --json is the FileObjects."""
    assert cli("files", "list").out == "No files.\n"
    assert _upload(cli) == FILE_ID
    few = tmp_path / "few.jsonl"
    few.write_text("".join(ELLE.read_text(encoding="utf-8").splitlines(keepends=True)[:3]))
    cli.sim.clock.sleep(60)
    second = _upload(cli, few, "--force")
    second_name = cli.sim.files[second].filename
    result = cli("files", "list")
    assert result.code == 0
    created = utc(cli.sim.files[second].created_at)
    assert created.startswith("2026-11-01 00:01:0")  # a minute after the first
    assert result.out.splitlines() == [
        (
            "file                           purpose    bytes  status     created                  "
            "filename"
        ),
        f"{second}  fine-tune  {few.stat().st_size:,}  processed  {created}  {second_name}",
        f"{FILE_ID}  fine-tune  {SIZE:,}  processed  {CREATED}  {NAME}",
    ]
    assert cli("files", "list", "--limit", "1").out.splitlines()[1].startswith(second)
    assert cli("files", "list", "--purpose", "batch").out == "No files with purpose batch.\n"
    listed = json.loads(cli("files", "list", "--json").out)
    assert [(f["id"], f["filename"], f["bytes"], f["purpose"]) for f in listed] == [
        (second, second_name, few.stat().st_size, "fine-tune"),
        (FILE_ID, NAME, SIZE, "fine-tune"),
    ]
    refused = cli("files", "list", "--limit", "0")
    assert (refused.code, refused.err) == (
        2,
        "finetune-kit: error: --limit must be at least 1, not 0\n",
    )


def test_files_show_prints_the_file_and_its_json(cli: Cli) -> None:
    """Name, purpose, size, status, creation; --json is the FileObject."""
    _upload(cli)
    result = cli("files", "show", FILE_ID)
    assert (result.code, result.out) == (
        0,
        (
            f"file      {FILE_ID}\n"
            f"filename  {NAME}\n"
            "purpose   fine-tune\n"
            f"bytes     {SIZE:,}\n"
            "status    processed\n"
            f"created   {CREATED}\n"
        ),
    )
    shown = json.loads(cli("files", "show", FILE_ID, "--json").out)
    assert shown == {
        "id": FILE_ID,
        "bytes": SIZE,
        "created_at": shown["created_at"],
        "filename": NAME,
        "object": "file",
        "purpose": "fine-tune",
        "status": "processed",
        "expires_at": None,
        "status_details": None,
    }


@pytest.mark.parametrize(
    "argv",
    [
        ["files", "show", "file-nope"],
        ["files", "check", "file-nope", "--model", MODEL],
        ["files", "download", "file-nope"],
        ["files", "download", "file-nope", "-o", "out.jsonl"],
        ["files", "download", "file-nope", "-o", "-"],
        ["files", "delete", "file-nope", "--yes"],
    ],
)
def test_a_missing_file_is_one_line_exit_3(cli: Cli, argv: list[str], tmp_path: Path) -> None:
    """As `jobs show` does for a missing job: the provider's 404 in one line, exit 3."""
    result = cli(*argv)
    assert (result.code, result.out, result.err) == (3, "", MISSING)
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary file left


def test_files_check_validates_the_uploaded_content_named_by_its_id(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report of `validate`, with the file id as its source; exit 1 on errors."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    _upload(cli)
    good = cli("files", "check", FILE_ID, "--model", MODEL)
    assert good.code == 0, good.err
    local = cli("validate", str(ELLE), "--model", MODEL).out
    assert good.out == local.replace(str(ELLE), FILE_ID)
    assert good.out.splitlines()[:2] == [
        f"{FILE_ID}: 10 row(s), 10 counted as chat examples for {MODEL} [o200k_base]",
        "OK: 0 error(s), 0 warning(s)",
    ]

    few = tmp_path / "few.jsonl"
    few.write_text("".join(ELLE.read_text(encoding="utf-8").splitlines(keepends=True)[:3]))
    bad_id = _upload(cli, few, "--force")
    bad = cli("files", "check", bad_id, "--model", MODEL)
    assert bad.code == 1
    assert bad.out.splitlines()[:4] == [
        f"{bad_id}: 3 row(s), 3 counted as chat examples for {MODEL} [o200k_base]",
        "NOT OK: 1 error(s), 0 warning(s)",
        "errors:",
        f"  {bad_id}: [too_few_examples] " + bad.out.split("[too_few_examples] ")[1].split("\n")[0],
    ]
    report = json.loads(cli("files", "check", bad_id, "--model", MODEL, "--json").out)
    assert (report["source"], report["ok"], report["counts"]) == (
        bad_id,
        False,
        {"too_few_examples": 1},
    )
    assert list(scratch.iterdir()) == []  # the downloaded copy is gone


def test_files_download_writes_the_content_without_replacing_a_file(
    cli: Cli, tmp_path: Path
) -> None:
    """The file's own name by default (never over an existing file), -o FILE, -o DIR, -o -."""
    _upload(cli)
    content = ELLE.read_bytes()
    first = cli("files", "download", FILE_ID)
    assert (first.code, first.out) == (0, f"{FILE_ID}: {SIZE:,} bytes written to {NAME}\n")
    assert (tmp_path / NAME).read_bytes() == content

    (tmp_path / NAME).write_bytes(b"mine")
    again = cli("files", "download", FILE_ID)
    assert (again.code, again.err) == (
        2,
        f"finetune-kit: error: {NAME} exists: pass -o {NAME} to replace it, or -o another name\n",
    )
    assert (tmp_path / NAME).read_bytes() == b"mine"

    replaced = cli("files", "download", FILE_ID, "-o", NAME)
    assert (replaced.code, (tmp_path / NAME).read_bytes()) == (0, content)

    (tmp_path / "data").mkdir()
    into = cli("files", "download", FILE_ID, "-o", "data")
    assert into.out == f"{FILE_ID}: {SIZE:,} bytes written to data/{NAME}\n"
    assert (tmp_path / "data" / NAME).read_bytes() == content
    assert cli("files", "download", FILE_ID, "-o", "data").code == 2  # not over it either

    piped = cli("files", "download", FILE_ID, "-o", "-")
    assert (piped.code, piped.out) == (0, content.decode())


def test_a_failed_download_leaves_the_old_file_whole(cli: Cli, tmp_path: Path) -> None:
    """The provider fails mid-way: exit 3, the old file as it was, no temporary file."""
    _upload(cli)
    cli.ctx.client = cli.sim.client(max_retries=0)
    (tmp_path / "out.jsonl").write_bytes(b"old")
    cli.sim.faults.server_error("files.content")
    result = cli("files", "download", FILE_ID, "-o", "out.jsonl")
    assert result.code == 3
    assert result.err.count("\n") == 1
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]
    assert (tmp_path / "out.jsonl").read_bytes() == b"old"


def test_files_delete_asks_unless_yes(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not on a simulator, no terminal: refused without --yes; "n" keeps it; --yes deletes."""
    _upload(cli)
    cli.ctx.simulated = False
    refused = cli("files", "delete", FILE_ID)
    assert (refused.code, refused.out) == (
        2,
        f"Not deleted: run with --yes to delete {FILE_ID} without being asked.\n",
    )
    cli.ctx.interactive = True
    monkeypatch.setattr("builtins.input", lambda _: "n")
    assert cli("files", "delete", FILE_ID).out == "Nothing was deleted.\n"
    assert cli("files", "show", FILE_ID).code == 0
    assert cli("files", "delete", FILE_ID, "--yes").out == f"{FILE_ID}: deleted\n"
    assert cli("files", "list").out == "No files.\n"
    assert cli("files", "show", FILE_ID).err == MISSING.replace("file-nope", FILE_ID)


# --- models list ------------------------------------------------------------------------------


def test_models_list_shows_tuned_models_first_with_their_shutdown(cli: Cli) -> None:
    """Newest first; --tuned keeps tuned models and checkpoints; --json the Model objects."""
    assert cli("models", "list", "--tuned").out == "No tuned models.\n"
    job_id = cli.tune("--suffix", "elle")
    cli("watch", job_id)
    tuned = cli.sim.jobs[job_id].fine_tuned_model
    assert tuned is not None
    lines = cli("models", "list").out.splitlines()
    width = len(tuned)
    assert lines[:3] == [
        f"{'model':<{width}}  owner             created                  shutdown",
        f"{tuned}  finetune-kit-sim  2026-11-01 00:04:52 UTC  2027-01-14",
        f"{'babbage-002':<{width}}  system            2023-11-14 22:13:20 UTC  -",
    ]
    assert f"{MODEL:<{width}}  system            2023-11-14 22:13:20 UTC  2027-01-14" in lines
    assert len(lines) == 1 + 1 + len(cli.sim.shutdown_dates)
    assert cli("models", "list", "--tuned").out.splitlines() == lines[:2]
    listed = json.loads(cli("models", "list", "--tuned", "--json").out)
    assert [(m["id"], m["owned_by"], m["object"]) for m in listed] == [
        (tuned, "finetune-kit-sim", "model")
    ]
