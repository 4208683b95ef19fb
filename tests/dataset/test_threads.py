"""Validation in a process that has threads (a notebook kernel, a web app).

Such a process must never fork; it validates in its own thread (a thread pool over chunks was
measured slower than one thread), and the report is exactly the single-process one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from finetune_kit.dataset import engine
from finetune_kit.dataset.engine import ChunkResult, settings_for, validate_path

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
    """How many runs took the process pool (a spy that calls the real runner)."""
    taken = {"processes": 0}
    real_processes = engine._run_chunks

    def processes(*args: Any, **kwargs: Any) -> Generator[ChunkResult, None, None]:
        taken["processes"] += 1
        return real_processes(*args, **kwargs)

    monkeypatch.setattr(engine, "_run_chunks", processes)
    return taken


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


def test_a_process_with_threads_never_forks(
    tmp_path: Path, app_thread: threading.Thread, paths_taken: dict[str, int]
) -> None:
    """With another thread alive, workers=2 never forks and gives the workers=1 report."""
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(_rows()) + "\n")
    common: dict[str, Any] = {
        "settings": settings_for(GPT_4O_MINI, "chat"),
        "chunk_bytes": 512,
        "max_findings": 1_000,
    }
    sequential = validate_path(path, workers=1, **common)
    parallel = validate_path(path, workers=2, **common)
    assert app_thread.is_alive()
    assert paths_taken == {"processes": 0}
    assert parallel.model_dump() == sequential.model_dump()
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
    # No thread was started: only this one and the application's are alive.
    assert threading.active_count() == 2


def test_a_single_threaded_process_still_forks(tmp_path: Path, paths_taken: dict[str, int]) -> None:
    """Without other threads the worker processes are used, as before."""
    if engine._fork_context() is None:  # pragma: no cover - depends on the platform
        pytest.skip("fork is unavailable (or threads are running)")
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(_rows()) + "\n")
    common: dict[str, Any] = {"settings": settings_for(GPT_4O_MINI, "chat"), "chunk_bytes": 512}
    parallel = validate_path(path, workers=2, **common)
    assert paths_taken == {"processes": 1}
    assert parallel.model_dump() == validate_path(path, workers=1, **common).model_dump()
