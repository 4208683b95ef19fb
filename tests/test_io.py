"""`atomic_write`: the file appears whole or not at all, links are replaced, modes kept."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from finetune_kit._io import atomic_write, write_bytes, write_text

posix_only = pytest.mark.skipif(os.name != "posix", reason="links and modes are POSIX here")


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_writes_bytes_and_text(tmp_path: Path) -> None:
    """Bytes as given; text as UTF-8 by default, with another encoding on request."""
    assert write_bytes(tmp_path / "a.bin", b"\x00\xff") == tmp_path / "a.bin"
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\xff"
    write_text(tmp_path / "b.txt", "Hélium\n")
    assert (tmp_path / "b.txt").read_bytes() == b"H\xc3\xa9lium" + os.linesep.encode()
    with atomic_write(tmp_path / "c.txt", "w", encoding="latin-1") as f:
        f.write("é")
    assert (tmp_path / "c.txt").read_bytes() == b"\xe9"
    assert _names(tmp_path) == ["a.bin", "b.txt", "c.txt"]


def test_nothing_is_visible_until_the_block_ends(tmp_path: Path) -> None:
    """Readers see the old content while writing goes on, then the whole new content."""
    path = tmp_path / "report.html"
    path.write_bytes(b"old")
    with atomic_write(path) as f:
        f.write(b"new, part 1;")
        f.flush()
        assert path.read_bytes() == b"old"
        f.write(b" part 2")
    assert path.read_bytes() == b"new, part 1; part 2"
    assert _names(tmp_path) == ["report.html"]


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.EFBIG, "File too large"),  # what `ulimit -f` gives a write
        OSError(errno.ENOSPC, "No space left on device"),
        ValueError("a bad row"),
        KeyboardInterrupt(),
    ],
    ids=["EFBIG", "ENOSPC", "ValueError", "KeyboardInterrupt"],
)
def test_a_failure_halfway_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, failure: BaseException
) -> None:
    """Whatever interrupts the writer, the old bytes stay and the temporary file is removed."""
    path = tmp_path / "report.html"
    path.write_bytes(b"<html>complete old report</html>")

    def write_half_then_fail() -> None:
        with atomic_write(path) as f:
            f.write(b"<html>half a new rep")
            raise failure

    with pytest.raises(type(failure)):
        write_half_then_fail()
    assert path.read_bytes() == b"<html>complete old report</html>"
    assert _names(tmp_path) == ["report.html"]


def test_an_os_error_while_writing_names_the_destination(tmp_path: Path) -> None:
    """EFBIG from a write has no file name: the destination's is filled in for the message."""
    path = tmp_path / "report.html"
    with pytest.raises(OSError, match="File too large") as caught, atomic_write(path):
        raise OSError(errno.EFBIG, "File too large")
    assert caught.value.filename == str(path)
    assert not path.exists()
    assert _names(tmp_path) == []


def test_a_failing_rename_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the final rename fails, nothing changed; the error names the destination."""
    path = tmp_path / "loss.png"
    path.write_bytes(b"old png")

    def refuse(self: Path, target: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(self), str(target))

    monkeypatch.setattr(Path, "replace", refuse)
    with pytest.raises(PermissionError) as caught, atomic_write(path) as f:
        f.write(b"new png")
    assert (caught.value.filename, caught.value.filename2) == (str(path), None)
    monkeypatch.undo()
    assert path.read_bytes() == b"old png"
    assert _names(tmp_path) == ["loss.png"]


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    """No folder: FileNotFoundError naming the destination, not a temporary name."""
    path = tmp_path / "no" / "report.html"
    with pytest.raises(FileNotFoundError) as caught, atomic_write(path):
        pass
    assert caught.value.filename == str(path)


def test_a_folder_as_destination_is_refused_and_kept(tmp_path: Path) -> None:
    """Writing onto a folder fails (IsADirectoryError, or PermissionError on Windows) and keeps it."""
    folder = tmp_path / "report.html"
    (folder / "inside").mkdir(parents=True)
    with pytest.raises(OSError) as caught, atomic_write(folder) as f:
        f.write(b"x")
    assert caught.value.filename == str(folder)
    assert _names(tmp_path) == ["report.html"]
    assert _names(folder) == ["inside"]


def test_mode_must_be_w_or_wb(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode must be 'wb' or 'w', not 'a'"):
        atomic_write(tmp_path / "x", "a")  # type: ignore[call-overload]


@posix_only
def test_a_symlink_is_replaced_and_its_target_kept(tmp_path: Path) -> None:
    """The link becomes a regular file with the new bytes; the file it pointed to is unchanged."""
    target = tmp_path / "precious.txt"
    target.write_bytes(b"precious")
    link = tmp_path / "report.html"
    link.symlink_to(target)
    write_bytes(link, b"report")
    assert target.read_bytes() == b"precious"
    assert not link.is_symlink()
    assert link.read_bytes() == b"report"
    assert _names(tmp_path) == ["precious.txt", "report.html"]


@posix_only
def test_a_dangling_symlink_is_replaced_and_nothing_created_at_its_target(tmp_path: Path) -> None:
    """A link to a file that does not exist: the link is replaced; its target is not created."""
    link = tmp_path / "report.html"
    link.symlink_to(tmp_path / "elsewhere.html")
    write_bytes(link, b"report")
    assert link.read_bytes() == b"report"
    assert not link.is_symlink()
    assert _names(tmp_path) == ["report.html"]


@posix_only
@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_the_umask_mode(tmp_path: Path, umask: int, expected: int) -> None:
    """Like a plain open(path, "w"): 0666 less the umask (not mkstemp's 0600)."""
    old = os.umask(umask)
    try:
        path = write_bytes(tmp_path / "new.txt", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == expected


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o755])
def test_an_existing_file_keeps_its_mode(tmp_path: Path, mode: int) -> None:
    """A private file stays private, an executable one executable, whatever the umask."""
    path = tmp_path / "old.txt"
    path.write_bytes(b"old")
    path.chmod(mode)
    old = os.umask(0o022)
    try:
        write_bytes(path, b"new")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert path.read_bytes() == b"new"


@posix_only
def test_a_link_gets_the_umask_mode_not_the_targets(tmp_path: Path) -> None:
    """The file replacing a link is new: 0666 less the umask, whatever the link's target has."""
    target = tmp_path / "script.sh"
    target.write_bytes(b"#!/bin/sh\n")
    target.chmod(0o700)
    link = tmp_path / "out.sh"
    link.symlink_to(target)
    old = os.umask(0o022)
    try:
        write_bytes(link, b"new")
    finally:
        os.umask(old)
    assert stat.S_IMODE(link.stat().st_mode) == 0o644
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
