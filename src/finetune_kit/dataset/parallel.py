"""Validating a large file on several CPUs: chunks of lines checked in other processes.

Two ways to get there, both handing back each chunk's `ChunkResult` in file order:

- `run_forked`: a process with no other thread forks its workers (they inherit the loaded
  tokenizer: nothing to start up);
- `run_spawned`: a process that has other threads (a notebook kernel, a web app) must not fork
  (a forked child can inherit a lock another thread held), and `multiprocessing`'s "spawn" would
  import the user's `__main__` again (a script without a main guard would run twice). So fresh
  interpreters are started with `subprocess` (`python -c`, running `serve` below, never the
  user's script) and fed chunks over a pipe, while this thread checks chunks too from the first
  moment: the interpreters' start-up (about half a second) overlaps useful work.

Any failure of a worker ends the run with a `DatasetError` that names the bytes it was checking.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import IO, Any, cast

from finetune_kit.dataset.lines import ChunkResult, LineWorker, Settings, TokenizerFailedError
from finetune_kit.exceptions import DatasetError

__all__ = [
    "SPAWN_MIN_BYTES",
    "check_chunk",
    "chunk_bounds",
    "default_workers",
    "fork_context",
    "run_forked",
    "run_spawned",
    "serve",
]

SPAWN_MIN_BYTES = 24 * 1024 * 1024
"""Smallest file that `run_spawned` starts interpreters for: under it, their start-up (about
half a second of a CPU each) costs about what they would save."""


def chunk_error(path: Path | str, start: int, end: int, exc: BaseException) -> DatasetError:
    """The error that ends a run when checking bytes `start`-`end` of `path` failed with `exc`."""
    if isinstance(exc, (BrokenProcessPool, _WorkerDiedError)):
        return DatasetError(
            f"{path}: a validation worker process died while checking bytes "
            f"{start:,}-{end:,} (out of memory or killed?); try again with workers=1",
            source=str(path),
        )
    if isinstance(exc, TokenizerFailedError):
        return DatasetError(
            f"{path}: the tokenizer failed on a line in bytes {start:,}-{end:,} "
            f"({exc.reason}); please report it with the line's shape (not its text)",
            source=str(path),
        )
    return DatasetError(
        f"{path}: a validation worker failed while checking bytes {start:,}-{end:,}:"
        f" {type(exc).__name__}: {exc}",
        source=str(path),
    )


def run_forked(
    path: Path,
    bounds: list[tuple[int, int]],
    settings: Settings,
    workers: int,
    context: multiprocessing.context.BaseContext,
) -> Generator[ChunkResult, None, None]:
    """The chunks' results in file order; any failure of a worker ends the run with an error.

    A `ProcessPoolExecutor` notices a worker that dies (killed, out of memory, crashed): every
    pending result then fails with `BrokenProcessPool` instead of never arriving.
    """
    executor = ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(settings,),
    )
    if sys.version_info < (3, 11):  # pragma: no cover - 3.11+ forks every worker up front
        # Fork every worker now, before the executor starts its management thread.
        for _ in range(workers):
            executor._adjust_process_count()  # type: ignore[attr-defined] # noqa: SLF001
    failed = True
    try:
        # A deque, popped as each result is merged: a done future keeps its result, and a list
        # of them would keep every chunk's per-example arrays until the end (memory).
        futures: deque[Future[ChunkResult]] = deque(
            executor.submit(_work, (str(path), a, b)) for a, b in bounds
        )
        for start, end in bounds:
            future = futures.popleft()
            try:
                chunk = future.result()
            except Exception as exc:  # noqa: BLE001 - whatever a worker raised, end the run
                raise chunk_error(path, start, end, exc) from None
            yield chunk
        failed = False
    finally:
        if failed:  # stop the other workers now: nothing they would still find is wanted
            processes: dict[int, Any] = getattr(executor, "_processes", None) or {}
            for process in list(processes.values()):
                process.terminate()
        # Wait for the executor's own threads, so that the process is single-threaded again
        # (and a later validation may fork).
        executor.shutdown(wait=True, cancel_futures=True)


def default_workers() -> int:
    """The CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def fork_context() -> multiprocessing.context.BaseContext | None:
    """The "fork" context, or `None` where forking is unavailable or unsafe.

    Only a single-threaded process forks: forking with threads can deadlock.
    """
    if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        return None
    return multiprocessing.get_context("fork")


def chunk_bounds(path: Path, size: int, chunk_bytes: int) -> list[tuple[int, int]]:
    """(start, end) byte offsets of line-aligned chunks of about `chunk_bytes` each."""
    bounds: list[tuple[int, int]] = []
    start = 0
    with path.open("rb") as f:
        while start < size:
            f.seek(min(start + chunk_bytes, size))
            if f.tell() < size:
                f.readline()
            end = f.tell()
            bounds.append((start, end))
            start = end
    return bounds


_worker: LineWorker | None = None


def _init_worker(settings: Settings) -> None:
    global _worker  # noqa: PLW0603 - one checker per worker process
    _worker = LineWorker(settings)


def _work(job: tuple[str, int, int]) -> ChunkResult:
    path, start, end = job
    if _worker is None:  # pragma: no cover - the executor's initializer always runs first
        raise RuntimeError("worker not initialised")
    return check_chunk(_worker, path, start, end)


def check_chunk(worker: LineWorker, path: str, start: int, end: int) -> ChunkResult:
    """Check the lines of bytes `start`-`end` of the file at `path`."""
    with Path(path).open("rb") as f:
        f.seek(start)
        data = f.read(end - start)
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    return worker.run(lines, first=start == 0)


# --- fresh interpreters, for a process that has threads ------------------------------------

_BOOT = (
    "import pickle, sys\n"
    "sys.path[:0] = [p for p in pickle.load(sys.stdin.buffer) if p not in sys.path]\n"
    "from finetune_kit.dataset.parallel import serve\n"
    "serve()\n"
)


class _WorkerDiedError(Exception):
    """An interpreter's pipe closed while it was checking a chunk."""


def serve() -> None:  # pragma: no cover - runs in the child interpreter (tested end to end)
    """The child's loop: settings, then chunks in, `("ok", result)` / `("error", exc)` out.

    Reads pickles from stdin and writes them to a private copy of stdout; anything else that
    prints goes to stderr, so it can't corrupt the replies. Ctrl-C is the parent's to handle.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inbox = sys.stdin.buffer
    outbox = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    settings: Settings = pickle.load(inbox)  # noqa: S301 - from our parent
    worker = LineWorker(settings)
    _send(outbox, ("ready", os.getpid()))
    while True:
        try:
            path, start, end = pickle.load(inbox)  # noqa: S301 - from our parent
        except EOFError:
            return
        try:
            reply: tuple[str, Any] = ("ok", check_chunk(worker, path, start, end))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
            reply = ("error", exc)
        try:
            _send(outbox, reply)
        except (pickle.PicklingError, TypeError, AttributeError):
            _send(outbox, ("error", RuntimeError(f"{type(reply[1]).__name__}: {reply[1]}")))


def _send(f: IO[bytes], message: object) -> None:
    pickle.dump(message, f, protocol=pickle.HIGHEST_PROTOCOL)
    f.flush()


class _Interpreter:
    """One child interpreter running `serve`, and the thread in this process that feeds it."""

    def __init__(self, settings: Settings) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - this Python, our own module
            [sys.executable, "-c", _BOOT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.settings = settings

    def start(self) -> bool:
        """Send the settings and wait until the child is ready; False if it can't start."""
        try:
            self.send(list(sys.path))
            self.send(self.settings)
            return self.receive()[0] == "ready"
        except (OSError, EOFError, pickle.UnpicklingError, _WorkerDiedError):
            return False

    def send(self, message: object) -> None:
        assert self.process.stdin is not None  # noqa: S101 - opened with a pipe
        _send(self.process.stdin, message)

    def receive(self) -> tuple[str, Any]:
        assert self.process.stdout is not None  # noqa: S101 - opened with a pipe
        try:
            message: tuple[str, Any] = pickle.load(self.process.stdout)  # noqa: S301 - our child
        except (EOFError, pickle.UnpicklingError, OSError, ValueError):
            raise _WorkerDiedError from None
        return message

    def kill(self) -> None:
        """End the child at once (nothing it still does is wanted): its reader sees the end."""
        if self.process.poll() is None:
            self.process.kill()

    def close(self) -> None:
        """Close the pipes and reap the child, once no thread reads from it any more."""
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):  # a broken pipe on close
                    pipe.close()
        self.process.wait()


class _Board:
    """The chunks still to check and the results not yet handed out, shared by the threads."""

    def __init__(self, bounds: list[tuple[int, int]]) -> None:
        self.todo = deque(enumerate(bounds))
        self.done: dict[int, ChunkResult | BaseException] = {}
        self.changed = threading.Condition()
        self.stopping = False

    def take(self) -> tuple[int, tuple[int, int]] | None:
        with self.changed:
            return None if self.stopping or not self.todo else self.todo.popleft()

    def put(self, index: int, result: ChunkResult | BaseException) -> None:
        with self.changed:
            self.done[index] = result
            self.changed.notify_all()

    def result(self, index: int, check: Callable[[int, int], ChunkResult]) -> object:
        """Chunk `index`'s result; until it is there, check the next chunk (or wait)."""
        while True:
            with self.changed:
                if index in self.done:
                    return self.done.pop(index)
                job = self.todo.popleft() if self.todo else None
                if job is None:
                    self.changed.wait()
                    continue
            mine, (start, end) = job
            result: ChunkResult | BaseException
            try:
                result = check(start, end)
            except Exception as exc:  # noqa: BLE001 - handed out in file order
                result = exc
            self.put(mine, result)

    def stop(self) -> None:
        with self.changed:
            self.stopping = True
            self.todo.clear()

    def feed(self, interpreter: _Interpreter, path: str) -> None:
        """Hand chunks to `interpreter` until none is left (a thread's target)."""
        if not interpreter.start():
            return  # this thread checks its share instead
        while (job := self.take()) is not None:
            index, (start, end) = job
            result: ChunkResult | BaseException
            try:
                interpreter.send((path, start, end))
                kind, value = interpreter.receive()
                result = value if kind == "ok" else _as_error(value)
            except (OSError, _WorkerDiedError):
                result = _WorkerDiedError()
            self.put(index, result)
            if isinstance(result, BaseException):
                return


def run_spawned(
    path: Path,
    bounds: list[tuple[int, int]],
    settings: Settings,
    workers: int,
) -> Generator[ChunkResult, None, None]:
    """The chunks' results in file order: this thread and `workers - 1` interpreters check them.

    Each interpreter is fed by a thread of this process (it waits on a pipe: it holds the GIL
    only to unpickle a result). This thread takes the next chunk itself whenever the one due
    next is not done yet, so the run never waits for the interpreters to start; one that can't
    start (an embedded Python whose `sys.executable` is not Python) only leaves more to this
    thread. Every interpreter and thread is gone when the generator ends.
    """
    worker = LineWorker(settings)
    board = _Board(bounds)
    interpreters: list[_Interpreter] = []
    threads: list[threading.Thread] = []

    def check(start: int, end: int) -> ChunkResult:
        return check_chunk(worker, str(path), start, end)

    try:
        for _ in range(max(workers - 1, 0)):
            interpreter = _Interpreter(settings)
            interpreters.append(interpreter)
            thread = threading.Thread(
                target=board.feed,
                args=(interpreter, str(path)),
                name="finetune-kit-validate",
                daemon=True,
            )
            thread.start()
            threads.append(thread)
        for index, (start, end) in enumerate(bounds):
            result = board.result(index, check)
            if isinstance(result, BaseException):
                raise chunk_error(path, start, end, result) from None
            yield cast("ChunkResult", result)
    finally:
        board.stop()
        for interpreter in interpreters:
            interpreter.kill()
        for thread in threads:
            thread.join()
        for interpreter in interpreters:
            interpreter.close()


def _as_error(value: object) -> BaseException:
    return value if isinstance(value, BaseException) else RuntimeError(repr(value)[:200])
