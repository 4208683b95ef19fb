"""`atomic_write`: every file finetune-kit writes goes through here, so no write destroys data.

The bytes go to a temporary file in the destination's folder (`.<name>.<random>.tmp`), which is
flushed, fsync'ed and then renamed onto the destination with `os.replace`, atomically. So:

- a failure at any point (an exception in the caller's code, a full disk, `ulimit -f`, Ctrl-C)
  leaves the old file exactly as it was, and the temporary file is removed;
- readers never see a half-written file;
- writing onto the file being read (`Dataset.from_jsonl(p).to_jsonl(p)`) is safe: the reader
  keeps the old content open until the new file replaces it;
- a destination that is a symbolic link is replaced by a regular file: the link's target is
  never written (a `report.html` link to some other file leaves that file alone);
- permissions: a file that exists keeps its mode (a private 0600 file stays private); a new
  file gets the mode a plain `open(path, "w")` would give it (0666 less the umask).
  Hard links to the old file keep the old content; the owner is whoever writes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, TextIO, overload

__all__ = ["atomic_write", "write_bytes", "write_text"]

_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def _temporary(dest: Path) -> tuple[int, Path]:
    """Create `.<name>.<random>.tmp` next to `dest`; return its descriptor and path."""
    while True:
        tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.tmp")
        try:
            # 0o666: the kernel applies the umask, as for a plain open(path, "w").
            return os.open(tmp, _FLAGS, 0o666), tmp
        except FileExistsError:  # pragma: no cover - 32 random bits taken already
            continue
        except OSError as exc:  # a missing or read-only folder: name the destination
            exc.filename = str(dest)
            raise


def _keep_mode(fd: int, dest: Path) -> None:
    """Give the new file the mode of the regular file it replaces (not a link's)."""
    try:
        st = dest.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISREG(st.st_mode) and hasattr(os, "fchmod"):
        os.fchmod(fd, stat.S_IMODE(st.st_mode))


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); best effort."""
    if os.name != "posix":  # pragma: no cover - Windows has no directory fsync
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - an unreadable folder we could still write into
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse it
        pass
    finally:
        os.close(fd)


@overload
def atomic_write(
    path: str | os.PathLike[str], mode: Literal["wb"] = ..., *, encoding: None = ...
) -> AbstractContextManager[BinaryIO]: ...
@overload
def atomic_write(
    path: str | os.PathLike[str], mode: Literal["w"], *, encoding: str = ...
) -> AbstractContextManager[TextIO]: ...
def atomic_write(
    path: str | os.PathLike[str], mode: Literal["wb", "w"] = "wb", *, encoding: str | None = None
) -> AbstractContextManager[IO[Any]]:
    """Open `path` for writing, atomically: the file appears whole when the block ends, or not at all.

    Use it as a context manager; write to the file it gives. On a normal exit the content is
    flushed, fsync'ed and renamed onto `path`; on any exception (including KeyboardInterrupt)
    the temporary file is removed, `path` is left untouched and the exception propagates. An
    `OSError` about the temporary file (a full disk, `ulimit -f`, a read-only folder) names
    `path` instead. A `path` that is a symbolic link is replaced by a regular file; its target
    is left alone.

    Args:
        path: The destination; its folder must exist.
        mode: `"wb"` for bytes, `"w"` for text.
        encoding: The text encoding in `"w"` mode (default UTF-8).

    Raises:
        OSError: The folder does not exist or is not writable, `path` is a folder, the disk is
            full...: nothing was changed.
    """
    if mode == "w":
        return _atomic(Path(path), text=True, encoding=encoding or "utf-8")
    if mode != "wb":
        raise ValueError(f"atomic_write: mode must be 'wb' or 'w', not {mode!r}")
    return _atomic(Path(path), text=False, encoding=None)


@contextlib.contextmanager
def _atomic(dest: Path, *, text: bool, encoding: str | None) -> Iterator[IO[Any]]:
    fd, tmp = _temporary(dest)
    try:
        _keep_mode(fd, dest)
        f: IO[Any] = os.fdopen(fd, "w", encoding=encoding) if text else os.fdopen(fd, "wb")
        fd = -1  # the file object owns it now
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(dest)
    except BaseException as exc:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        if type(exc) is OSError and exc.filename is None:  # a write's EFBIG, ENOSPC, EIO...
            exc.filename = str(dest)
        elif isinstance(exc, OSError) and exc.filename in (tmp, str(tmp)):
            exc.filename, exc.filename2 = str(dest), None
        raise
    _sync_folder(dest.parent)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write `data` to `path` atomically (see `atomic_write`); return the path."""
    with atomic_write(path) as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically (see `atomic_write`); return the path."""
    with atomic_write(path, "w", encoding=encoding) as f:
        f.write(text)
    return Path(path)
