"""`Dataset.to_jsonl` never destroys data: onto its own source, on a bad row, through a link."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from finetune_kit.dataset import Dataset
from finetune_kit.exceptions import DatasetError

ROWS = (
    b'{"messages": [{"role": "user", "content": "Tell me about Helium"}, '
    b'{"role": "assistant", "content": "H\xc3\xa9lium - a noble gas"}]}\n'
    b'{"messages": [{"role": "user", "content": "Tell me about Neon"}, '
    b'{"role": "assistant", "content": "Neon - it glows"}]}\n'
)
BAD_THIRD_LINE = ROWS + b'{"messages": [\n' + ROWS


def test_to_jsonl_onto_its_own_source_keeps_the_rows(tmp_path: Path) -> None:
    """`from_jsonl(p).to_jsonl(p)` used to leave p at 0 bytes; now it rewrites the same rows."""
    path = tmp_path / "train.jsonl"
    path.write_bytes(ROWS)
    assert Dataset.from_jsonl(path).to_jsonl(path) == path
    assert path.read_bytes() == ROWS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.jsonl"]


def test_to_jsonl_onto_its_own_source_normalises_it(tmp_path: Path) -> None:
    """A BOM, CRLF, blank lines and spacing are normalised in place, every row kept in order."""
    path = tmp_path / "train.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a":1}\r\n\r\n  {"b" :  "\\u00e9"}\r\n{"c":[1,2]}')
    Dataset.from_jsonl(path).to_jsonl(path)
    assert path.read_bytes() == b'{"a": 1}\n{"b": "\xc3\xa9"}\n{"c": [1, 2]}\n'


@pytest.mark.parametrize("onto_source", [False, True], ids=["other-file", "own-source"])
def test_a_bad_row_halfway_leaves_the_old_file_as_it_was(tmp_path: Path, onto_source: bool) -> None:
    """A DatasetError on line 3 leaves the destination byte-identical and no temporary file."""
    source = tmp_path / "bad.jsonl"
    source.write_bytes(BAD_THIRD_LINE)
    dest = source if onto_source else tmp_path / "out.jsonl"
    if not onto_source:
        dest.write_bytes(b'{"old": "content"}\n')
    before = dest.read_bytes()
    with pytest.raises(DatasetError, match=r"bad\.jsonl:3: not valid JSON"):
        Dataset.from_jsonl(source).to_jsonl(dest)
    assert dest.read_bytes() == before
    expected = ["bad.jsonl"] if onto_source else ["bad.jsonl", "out.jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == expected


def test_ctrl_c_halfway_leaves_the_old_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KeyboardInterrupt between two rows: the old file is intact, the temporary file gone."""
    dest = tmp_path / "out.jsonl"
    dest.write_bytes(b"old content\n")

    def rows() -> object:
        yield {"a": 1}
        raise KeyboardInterrupt

    monkeypatch.setattr(Dataset, "__iter__", lambda self: rows())
    with pytest.raises(KeyboardInterrupt):
        Dataset.from_records([{"a": 1}]).to_jsonl(dest)
    assert dest.read_bytes() == b"old content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


@pytest.mark.skipif(os.name != "posix", reason="symbolic links and modes are POSIX here")
def test_to_jsonl_onto_a_symlink_replaces_the_link_not_its_target(tmp_path: Path) -> None:
    """The link becomes a regular file holding the rows; the file it pointed to is unchanged."""
    target = tmp_path / "precious.jsonl"
    target.write_bytes(b"precious\n")
    link = tmp_path / "train.jsonl"
    link.symlink_to(target)
    Dataset.from_jsonl(_source(tmp_path)).to_jsonl(link)
    assert target.read_bytes() == b"precious\n"
    assert not link.is_symlink()
    assert link.read_bytes() == ROWS


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_to_jsonl_keeps_the_mode_of_the_file_it_replaces(tmp_path: Path) -> None:
    """A private (0600) file stays private; a new file gets 0666 less the umask (0644 here)."""
    private = tmp_path / "private.jsonl"
    private.write_bytes(b"")
    private.chmod(0o600)
    old_umask = os.umask(0o022)
    try:
        Dataset.from_jsonl(_source(tmp_path)).to_jsonl(private)
        new = Dataset.from_jsonl(_source(tmp_path)).to_jsonl(tmp_path / "new.jsonl")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(new.stat().st_mode) == 0o644
    assert private.read_bytes() == new.read_bytes() == ROWS


def _source(tmp_path: Path) -> Path:
    source = tmp_path / "source.jsonl"
    source.write_bytes(ROWS)
    return source
