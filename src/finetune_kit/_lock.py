"""An inter-process lock per fingerprint, so that creators on one machine take turns.

`FineTuneJob.create` holds it around looking for the job and creating it: a second caller on
the same machine waits, then finds the first one's job. Callers on other machines (or where the
lock can't be had) are settled by the reconciliation after creating (`_core.create`); the lock
only spares them the duplicate that reconciliation would cancel.

The lock files live in `$FINETUNE_KIT_LOCK_DIR`, or in a per-user folder of the temporary
directory. `fcntl.flock` on POSIX (per open file: threads of one process take turns too),
`msvcrt.locking` on Windows.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, Any

import anyio
import tenacity

__all__ = ["LOCK_DIR_ENV", "afingerprint_lock", "fingerprint_lock", "lock_dir"]

LOCK_DIR_ENV = "FINETUNE_KIT_LOCK_DIR"
"""The environment variable naming the folder of the lock files."""

POLL = 0.02
"""Seconds between two tries of a held lock (real time: the lock is about other processes)."""

WAIT = 600.0
"""How long to wait for a held lock before going on without it (reconciliation still holds)."""


def lock_dir() -> Path:
    """The folder of the lock files: `$FINETUNE_KIT_LOCK_DIR`, else one per user in the tempdir."""
    configured = os.environ.get(LOCK_DIR_ENV)
    if configured:
        return Path(configured)
    user = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"finetune-kit-{user}" / "locks"


def _private(folder: Path) -> bool:
    """Whether `folder` is a real folder of this user that nobody else may write into.

    The default folder sits in the shared temporary directory: another user could have made it
    first, or put a link there. A lock file is then not opened at all (reconciliation alone).
    """
    if not hasattr(os, "getuid"):  # pragma: no cover - Windows: per-user temp folders
        return True
    for part in (folder.parent, folder):
        info = part.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            return False
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return False
    return True


def _open(fingerprint: str) -> IO[bytes] | None:
    try:
        folder = lock_dir()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.environ.get(LOCK_DIR_ENV) is None and not _private(folder):
            return None
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        descriptor = os.open(folder / f"{fingerprint}.lock", flags, 0o600)
        return os.fdopen(descriptor, "r+b")
    except OSError:
        return None  # no lock to be had (read-only disk, a link...): reconciliation alone


def _try(handle: IO[bytes]) -> bool:
    try:
        if sys.platform == "win32":  # pragma: no cover - POSIX CI
            import msvcrt  # noqa: PLC0415 - Windows only

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl  # noqa: PLC0415 - POSIX only

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        if sys.platform == "win32":  # pragma: no cover - msvcrt says "held" with an OSError
            return False
        raise
    return True


def _release(handle: IO[bytes]) -> None:
    with contextlib.suppress(OSError):
        if sys.platform == "win32":  # pragma: no cover - POSIX CI
            import msvcrt  # noqa: PLC0415

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl  # noqa: PLC0415

            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _patience(wait: float) -> dict[str, Any]:
    """Tenacity's settings for taking the lock.

    Every `POLL` seconds while it is held elsewhere, for at most `wait` seconds, then the last
    answer (False) rather than an error.
    """
    return {
        "stop": tenacity.stop_after_delay(wait),
        "wait": tenacity.wait_fixed(POLL),
        "retry": tenacity.retry_if_result(lambda held: held is False),
        "retry_error_callback": lambda state: state.outcome.result(),
    }


def _attempt(handle: IO[bytes]) -> bool | None:
    """True: locked; False: held elsewhere; None: this file can't be locked at all."""
    try:
        return _try(handle)
    except OSError:
        return None


@contextlib.contextmanager
def fingerprint_lock(fingerprint: str, *, wait: float = WAIT) -> Iterator[bool]:
    """Hold the lock of `fingerprint` while the block runs; yields whether it was had.

    Waits up to `wait` seconds for another holder; past that, or where locking is not possible,
    the block runs without it (False).
    """
    handle = _open(fingerprint)
    if handle is None:
        yield False
        return
    with handle:
        held: bool | None = tenacity.Retrying(**_patience(wait))(_attempt, handle)
        try:
            yield bool(held)
        finally:
            if held:
                _release(handle)


@contextlib.asynccontextmanager
async def afingerprint_lock(fingerprint: str, *, wait: float = WAIT) -> AsyncIterator[bool]:
    """The async twin of `fingerprint_lock` (waits without blocking the event loop)."""
    handle = _open(fingerprint)
    if handle is None:
        yield False
        return
    with handle:

        async def attempt() -> bool | None:
            return _attempt(handle)

        held: bool | None = await tenacity.AsyncRetrying(sleep=anyio.sleep, **_patience(wait))(
            attempt
        )
        try:
            yield bool(held)
        finally:
            if held:
                _release(handle)
