"""Validation in a process that has threads (a notebook kernel, a web app).

Such a process must never fork. Large files are checked by fresh interpreters (started with
`subprocess`, never re-running the user's script) beside this thread; the report is exactly the
single-process one, and no process or thread is left behind.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from finetune_kit.dataset import parallel
from finetune_kit.dataset.engine import ChunkResult, settings_for, validate_path
from finetune_kit.exceptions import DatasetError

GPT_4O_MINI = "gpt-4o-mini-2024-07-18"


@pytest.fixture
def app_thread() -> Iterator[threading.Thread]:
    """Another thread of this process, alive for the whole test."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="app-thread", daemon=True)
    thread.start()
    yield thread
    stop.set()
    thread.join()


@pytest.fixture
def paths_taken(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many runs forked, and how many started interpreters (spies on the real runners)."""
    taken = {"forked": 0, "spawned": 0}
    real_forked = parallel.run_forked
    real_spawned = parallel.run_spawned

    def forked(*args: Any, **kwargs: Any) -> Generator[ChunkResult, None, None]:
        taken["forked"] += 1
        return real_forked(*args, **kwargs)

    def spawned(*args: Any, **kwargs: Any) -> Generator[ChunkResult, None, None]:
        taken["spawned"] += 1
        return real_spawned(*args, **kwargs)

    monkeypatch.setattr(parallel, "run_forked", forked)
    monkeypatch.setattr(parallel, "run_spawned", spawned)
    return taken


@pytest.fixture
def interpreters(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every interpreter a run starts (to check that each one has ended afterwards)."""
    started: list[Any] = []
    real_init = parallel._Interpreter.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        started.append(self)

    monkeypatch.setattr(parallel._Interpreter, "__init__", init)
    return started


@pytest.fixture
def interpreter_first(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Hold this thread's first chunk until an interpreter has handed in a result.

    Without it this thread may check every chunk of a small file before an interpreter has
    started (about half a second): with it, the interpreters' path is always taken.
    """
    seen = {"from_interpreters": 0}
    arrived = threading.Event()
    real_feed = parallel._Board.feed
    real_check = parallel.check_chunk

    real_put = parallel._Board.put

    def put(self: Any, index: int, result: Any) -> None:
        real_put(self, index, result)
        if threading.current_thread().name == "finetune-kit-validate":  # a feeding thread
            seen["from_interpreters"] += 1
            arrived.set()

    def feed(self: Any, interpreter: Any, path: str) -> None:
        try:
            real_feed(self, interpreter, path)
        finally:
            arrived.set()  # an interpreter that could not start releases this thread too

    def check(*args: Any) -> ChunkResult:
        assert arrived.wait(120), "no interpreter handed in a result"
        return real_check(*args)

    monkeypatch.setattr(parallel._Board, "feed", feed)
    monkeypatch.setattr(parallel._Board, "put", put)
    monkeypatch.setattr(parallel, "check_chunk", check)
    return seen


def _rows() -> list[str]:
    """Valid rows, findings of every kind, duplicates across chunks, tools, DPO-shaped noise."""
    system = {"role": "system", "content": "You are terse."}
    rows = [
        json.dumps(
            {
                "messages": [
                    system,
                    {"role": "user", "content": f"question {i}" + "!" * (i % 7)},
                    {"role": "assistant", "content": f"answer {i % 13}"},
                ]
            }
        )
        for i in range(120)
    ]
    rows[7] = '{"messages": [{"role": "user", "content": "cut short'
    rows[30] = rows[2]  # a duplicate, in another chunk
    rows[44] = json.dumps({"messages": [{"role": "user", "content": "   "}]})
    rows[61] = json.dumps(
        {
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
            "messages": [
                {"role": "user", "content": "call f"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "g", "arguments": "{"},
                        }
                    ],
                },
                {"role": "assistant", "content": "<|endoftext|>"},
            ],
        }
    )
    rows[90] = ""
    return rows


COMMON: dict[str, Any] = {
    "settings": settings_for(GPT_4O_MINI, "chat"),
    "chunk_bytes": 512,
    "max_findings": 1_000,
}


@pytest.fixture
def train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file of findings of every kind, large enough here to be checked by interpreters."""
    monkeypatch.setattr(parallel, "SPAWN_MIN_BYTES", 0)
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(_rows()) + "\n")
    return path


def test_a_process_with_threads_never_forks(
    train: Path,
    app_thread: threading.Thread,
    paths_taken: dict[str, int],
    interpreters: list[Any],
    interpreter_first: dict[str, int],
) -> None:
    """With another thread alive, workers=3 never forks: 2 interpreters and this thread check
    the chunks, the report is the workers=1 report, and nothing is left running."""
    sequential = validate_path(train, workers=1, **COMMON)
    spawned = validate_path(train, workers=3, **COMMON)
    assert app_thread.is_alive()
    assert paths_taken == {"forked": 0, "spawned": 1}
    assert len(interpreters) == 2
    assert interpreter_first["from_interpreters"] >= 1
    assert all(i.process.returncode is not None for i in interpreters)
    assert spawned.model_dump() == sequential.model_dump()
    assert sequential.counts == {
        "duplicate_example": 1,
        "invalid_json": 1,
        "blank_line": 1,
        "whitespace_content": 1,
        "no_assistant_message": 1,
        "tool_not_declared": 1,
        "tool_arguments_not_json": 1,
        "special_token": 1,
        "tool_call_unanswered": 1,
    }
    # The feeding threads are gone: only this one and the application's are alive.
    assert threading.active_count() == 2


def test_small_files_stay_in_this_thread(
    tmp_path: Path, app_thread: threading.Thread, paths_taken: dict[str, int]
) -> None:
    """Under `SPAWN_MIN_BYTES` no interpreter is started: their start-up would cost more."""
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(_rows()) + "\n")
    report = validate_path(path, workers=2, **COMMON)
    assert paths_taken == {"forked": 0, "spawned": 0}
    assert report.model_dump() == validate_path(path, workers=1, **COMMON).model_dump()
    assert threading.active_count() == 2


def test_an_interpreter_that_cannot_start_leaves_the_work_to_this_thread(
    train: Path,
    app_thread: threading.Thread,
    monkeypatch: pytest.MonkeyPatch,
    interpreters: list[Any],
    interpreter_first: dict[str, int],
) -> None:
    """An embedded Python whose `sys.executable` is not Python: the run still completes."""
    monkeypatch.setattr(parallel, "_BOOT", "import sys; sys.exit(3)")
    report = validate_path(train, workers=2, **COMMON)
    assert report.model_dump() == validate_path(train, workers=1, **COMMON).model_dump()
    assert [i.process.returncode for i in interpreters] == [3]
    assert interpreter_first["from_interpreters"] == 0
    assert threading.active_count() == 2


# A child that starts, says it is ready, and dies on its first chunk.
_DIES = (
    "import os, pickle, sys\n"
    "pickle.load(sys.stdin.buffer); pickle.load(sys.stdin.buffer)\n"
    "pickle.dump(('ready', os.getpid()), sys.stdout.buffer); sys.stdout.buffer.flush()\n"
    "pickle.load(sys.stdin.buffer)\n"
    "os._exit(9)\n"
)
# A child whose tokenizer fails on its first chunk.
_FAILS = (
    "import os, pickle, sys\n"
    "sys.path[:0] = pickle.load(sys.stdin.buffer); pickle.load(sys.stdin.buffer)\n"
    "from finetune_kit.dataset.lines import TokenizerFailedError\n"
    "pickle.dump(('ready', os.getpid()), sys.stdout.buffer); sys.stdout.buffer.flush()\n"
    "pickle.load(sys.stdin.buffer)\n"
    "err = TokenizerFailedError(3, 'PanicException: boom')\n"
    "pickle.dump(('error', err), sys.stdout.buffer); sys.stdout.buffer.flush()\n"
)


@pytest.mark.parametrize(
    ("boot", "message"),
    [
        (
            _DIES,
            (
                "a validation worker process died while checking bytes 618-1,145 (out of memory or"
                " killed?); try again with workers=1"
            ),
        ),
        (
            _FAILS,
            (
                "the tokenizer failed on a line in bytes 618-1,145 (PanicException: boom); please"
                " report it with the line's shape (not its text)"
            ),
        ),
    ],
    ids=["dies", "tokenizer-fails"],
)
def test_an_interpreter_that_fails_ends_the_run_with_a_dataset_error(  # noqa: PLR0917
    train: Path,
    app_thread: threading.Thread,
    monkeypatch: pytest.MonkeyPatch,
    interpreters: list[Any],
    interpreter_first: dict[str, int],
    boot: str,
    message: str,
) -> None:
    """Its failure names the file and the bytes it had (this thread holds the first chunk);
    every interpreter and thread is gone after."""
    monkeypatch.setattr(parallel, "_BOOT", boot)
    with pytest.raises(DatasetError) as caught:
        validate_path(train, workers=2, **COMMON)
    assert str(caught.value) == f"{train}: {message}"
    assert caught.value.source == str(train)
    assert interpreter_first["from_interpreters"] == 1
    assert all(i.process.returncode is not None for i in interpreters)
    assert threading.active_count() == 2


def test_a_single_threaded_process_still_forks(tmp_path: Path, paths_taken: dict[str, int]) -> None:
    """Without other threads the worker processes are used, as before."""
    if parallel.fork_context() is None:  # pragma: no cover - depends on the platform
        pytest.skip("fork is unavailable (or threads are running)")
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(_rows()) + "\n")
    common: dict[str, Any] = {"settings": settings_for(GPT_4O_MINI, "chat"), "chunk_bytes": 512}
    parallel_report = validate_path(path, workers=2, **common)
    assert paths_taken == {"forked": 1, "spawned": 0}
    assert parallel_report.model_dump() == validate_path(path, workers=1, **common).model_dump()
