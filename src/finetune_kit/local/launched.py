"""What each process `accelerate launch` starts runs: `python -m finetune_kit.local.launched TASK`.

`TASK` is the `task.json` the server wrote in the job's `launch` folder (see
`finetune_kit.local.launch`). Every process trains with the worker's own code
(`worker.run_job`); the main process (rank 0) alone appends the events to `events.jsonl`,
and reads the `control` file at the end of each step, its answer broadcast to every process so
that all stop after the same step. The exit status is 0 when the job reached a final event
(succeeded, cancelled, paused, or failed on bad input), 1 after a crash (the event says why).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from pathlib import Path
from typing import Any

from finetune_kit.local.launch import EVENTS, control_word, event_to_json, job_from_json
from finetune_kit.local.worker import PAUSE, load_training_stack, run_job
from finetune_kit.platform.engine import EngineEvent, Failed

__all__ = ["FileControl", "main"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process, say: it exists
        return True
    return True


class FileControl:
    """The control flag of a launched job: the `control` file, as rank 0 reads it, for all.

    Every process reads `value` at the same points (before training, at each step's end);
    rank 0 reads the file (or finds the server gone: `PAUSE`) and broadcasts its answer.
    """

    def __init__(self, folder: Path, state: Any, server_pid: int | None) -> None:
        self.folder = folder
        self.state = state
        self.server_pid = server_pid
        from accelerate.utils import broadcast_object_list  # noqa: PLC0415 - lazy

        self._broadcast = broadcast_object_list

    @property
    def value(self) -> int:
        """`RUN`, `CANCEL` or `PAUSE`, the same in every process."""
        flag = 0
        if self.state.is_main_process:
            flag = control_word(self.folder)
            if not flag and self.server_pid is not None and not _alive(self.server_pid):
                flag = PAUSE
        if self.state.num_processes > 1:
            flag = int(self._broadcast([flag], from_process=0)[0])
        return flag


def main(argv: list[str] | None = None) -> int:
    """Train the job of `argv[0]` (a `task.json`); the process's exit status."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m finetune_kit.local.launched TASK_JSON\n")
        return 2
    task_file = Path(args[0])
    job, task = job_from_json(task_file.read_text(encoding="utf-8"))
    folder = task_file.parent
    missing = load_training_stack()
    main_process = True
    state: Any = None
    if missing is None:
        from accelerate import PartialState  # noqa: PLC0415 - lazy

        # as the trainer will make it (`use_cpu`): made first, it is the one every part shares
        device = str(task["device"])
        cuda = bool(importlib.import_module("torch").cuda.is_available())
        state = PartialState(cpu=device == "cpu" or (device == "auto" and not cuda))
        main_process = bool(state.is_main_process)

    def emit(event: EngineEvent) -> None:
        if main_process:
            with (folder / EVENTS).open("a", encoding="utf-8") as events:
                events.write(event_to_json(event) + "\n")
                events.flush()

    if missing is not None:
        emit(Failed("missing_dependency", missing))
        return 0
    ok = run_job(
        job,
        resume=bool(task["resume"]),
        up_to=task.get("up_to"),
        control=FileControl(folder, state, task.get("server_pid")),
        device=str(task["device"]),
        emit=emit,
        main_process=main_process,
        barrier=state.wait_for_everyone if state.num_processes > 1 else None,
    )
    with contextlib.suppress(Exception):
        state.destroy_process_group()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
