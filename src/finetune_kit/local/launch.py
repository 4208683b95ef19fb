"""Training under `accelerate launch`: one job across the GPUs of one machine or several.

With `LocalPlatform(accelerate_config=PATH)` (`local serve --accelerate-config FILE`) the
training engine runs no worker process of its own: each job is started as

    python -m accelerate.commands.launch --config_file PATH -m finetune_kit.local.launched TASK

and accelerate starts the processes its config asks for (DDP, FSDP or DeepSpeed; one per GPU,
on one machine or several). Each runs the same trainer as the worker (`worker.run_job`).

Those processes are not the server's children through multiprocessing, so they talk through
files in the job's folder, `<workdir>/launch/`:

- `task.json`: the job (`TrainingJob`'s fields), `resume`, `up_to`, `device` and the server's
  process id (written by the server before the launch);
- `events.jsonl`: the platform's events, one JSON object a line (`{"type": "Metrics",
  "step": 1, ...}`: the event's class name and its fields), appended by the main process
  (rank 0) only, and tailed by the server;
- `control`: absent while the job should run; `cancel` or `pause` (written by the server).
  Rank 0 reads it at the end of every step and broadcasts what it read to every rank, so all
  processes stop after the same step. Rank 0 also pauses the job when the server's process is
  gone (a crashed server's successor resumes it from the checkpoint);
- `stdout.log`, `stderr.log`: what accelerate and the trainer printed. When the launch exits
  without a final event (a crash, a killed process), the job fails with `worker_died`, the exit
  status and the last error line of `stderr.log`;
- `command.txt`: the command line launched (on the main machine), for the record.

Nothing here imports torch or accelerate at module level.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finetune_kit._io import write_text
from finetune_kit.exceptions import ConfigurationError
from finetune_kit.local.events import TERMINAL_EVENTS
from finetune_kit.local.worker import CANCEL, PAUSE, RUN
from finetune_kit.platform.engine import (
    Cancelled,
    CheckpointSaved,
    EngineEvent,
    Failed,
    Message,
    Metrics,
    Paused,
    Started,
    Succeeded,
    TrainingJob,
)

__all__ = [
    "LAUNCHED_MODULE",
    "AcceleratedWorker",
    "check_accelerate_config",
    "event_from_json",
    "event_to_json",
    "job_from_json",
    "job_to_json",
    "last_error_line",
    "launch_argv",
    "launch_folder",
]

LAUNCHED_MODULE = "finetune_kit.local.launched"
"""The module each process `accelerate launch` starts runs (`python -m` style)."""

TASK, EVENTS, CONTROL, STDOUT, STDERR, COMMAND = (
    "task.json",
    "events.jsonl",
    "control",
    "stdout.log",
    "stderr.log",
    "command.txt",
)
_CONTROL_WORDS = {CANCEL: "cancel", PAUSE: "pause"}
_EVENT_TYPES: dict[str, type[EngineEvent]] = {
    t.__name__: t
    for t in (Started, Metrics, CheckpointSaved, Message, Succeeded, Failed, Cancelled, Paused)
}
_PATH_FIELDS = frozenset({"path", "model_path", "training_file", "validation_file", "workdir"})
_TAIL_BYTES = 64 * 1024
_POLL_SECONDS = 0.1


# --- the config ---------------------------------------------------------------------------------


def check_accelerate_config(path: str | os.PathLike[str]) -> Path:
    """`path` as an absolute path, once it reads as an accelerate config for this machine.

    Read with accelerate's own loader (`load_config_from_file`), after a check of its own that
    the file parses (YAML, or JSON for `.json`) into settings with a `distributed_type`.

    Raises:
        ConfigurationError: One line naming the file: it is missing, cannot be read, or is not
            an accelerate config (what is wrong in brackets).
    """
    config = Path(path).expanduser().absolute()
    where = f"accelerate config {os.fspath(path)}"
    if not config.exists():
        raise ConfigurationError(f"{where}: no such file")
    try:
        text = config.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigurationError(f"{where}: cannot be read ({why})") from None

    def bad(why: str) -> ConfigurationError:
        return ConfigurationError(f"{where}: not an accelerate config ({why})")

    try:
        if config.suffix == ".json":
            settings = json.loads(text)
        else:
            yaml: Any = __import__("yaml")
            settings = yaml.safe_load(text)
    except ValueError as exc:  # json.JSONDecodeError and yaml.YAMLError are ValueError / Error
        raise bad(f"not valid JSON: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - yaml's errors, whatever their class
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise bad(f"not valid YAML: {first}") from None
    if not isinstance(settings, dict):
        raise bad("not a mapping of settings")
    if "distributed_type" not in settings:
        raise bad("no distributed_type")
    environment = settings.get("compute_environment", "LOCAL_MACHINE")
    if environment != "LOCAL_MACHINE":
        raise bad(f"compute_environment is {environment}; the server launches on LOCAL_MACHINE")
    try:
        from accelerate.commands.config.config_args import (  # noqa: PLC0415 - lazy
            load_config_from_file,
        )
    except ImportError:
        raise ConfigurationError(
            "--accelerate-config needs accelerate, which is not installed: "
            "pip install 'finetune-kit[local]'"
        ) from None
    try:
        load_config_from_file(str(config))
    except (ValueError, TypeError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        first = first.replace(f"The config file at {config} had ", "")
        raise bad(first) from None
    return config


def launch_folder(job: TrainingJob) -> Path:
    """Where a launched job's task, events, control and logs lie."""
    return job.workdir / "launch"


def launch_argv(config: Path, task: Path) -> list[str]:
    """The command that trains the job described in `task` under accelerate."""
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(config),
        "-m",
        LAUNCHED_MODULE,
        str(task),
    ]


# --- what goes through the files ----------------------------------------------------------------


def _plain(value: Any) -> Any:
    return os.fspath(value) if isinstance(value, Path) else value


def event_to_json(event: EngineEvent) -> str:
    """One line of `events.jsonl`: the event's class name as `type`, and its fields."""
    fields = {f.name: _plain(getattr(event, f.name)) for f in dataclasses.fields(event)}
    return json.dumps({"type": type(event).__name__, **fields})


def event_from_json(line: str) -> EngineEvent:
    """The event `event_to_json` wrote (ValueError or TypeError: not one)."""
    data = json.loads(line)
    if not isinstance(data, dict):
        raise TypeError(f"not an event: {line[:80]!r}")
    kind = _EVENT_TYPES.get(str(data.pop("type", "")))
    if kind is None:
        raise ValueError(f"not an event: {line[:80]!r}")
    for name in _PATH_FIELDS & data.keys():
        if data[name] is not None:
            data[name] = Path(data[name])
    return kind(**data)


def job_to_json(
    job: TrainingJob, *, resume: bool, up_to: int | None, device: str, server_pid: int
) -> str:
    """`task.json`: what the launched processes train."""
    fields = {f.name: _plain(getattr(job, f.name)) for f in dataclasses.fields(job)}
    task = {
        "job": fields,
        "resume": resume,
        "up_to": up_to,
        "device": device,
        "server_pid": server_pid,
    }
    return json.dumps(task, indent=1) + "\n"


def job_from_json(text: str) -> tuple[TrainingJob, dict[str, Any]]:
    """The job of a `task.json`, and the rest of it (`resume`, `up_to`, `device`, ...)."""
    task = json.loads(text)
    fields = task.pop("job")
    for name in _PATH_FIELDS & fields.keys():
        if fields[name] is not None:
            fields[name] = Path(fields[name])
    return TrainingJob(**fields), task


def control_word(folder: Path) -> int:
    """What `control` in `folder` asks for: `RUN`, `CANCEL` or `PAUSE`."""
    try:
        word = (folder / CONTROL).read_text(encoding="utf-8").strip()
    except OSError:
        return RUN
    return {v: k for k, v in _CONTROL_WORDS.items()}.get(word, RUN)


_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Failure)\b(:.*)?$")
_LAUNCHER_ERRORS = ("CalledProcessError", "ChildFailedError")


def last_error_line(stderr: str) -> str | None:
    """The last line of the training's own traceback in `stderr` (not the launcher's).

    `accelerate launch` ends a crash with its own error (`subprocess.CalledProcessError`,
    torch's `ChildFailedError`): the line wanted is the last `SomeError: ...` before it. With
    none, the last line printed; None when nothing was.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [
        line
        for line in lines
        if _ERROR_LINE.match(line) and not any(name in line for name in _LAUNCHER_ERRORS)
    ]
    if errors:
        return errors[-1]
    return lines[-1] if lines else None


# --- the engine's side --------------------------------------------------------------------------


class AcceleratedWorker:
    """A worker of `TrainingEngine` that trains one job under `accelerate launch`.

    It stands in for the worker process, its task queue and its control flag at once:
    `put(task)` launches the job, `value = flag` writes the control file, and `is_alive()`
    holds until the launch has exited and every event it wrote has been handed to `deliver`
    (a thread tails `events.jsonl`). The launch runs in a session of its own: Ctrl-C in a
    terminal does not reach it (the server pauses it on closing), and `terminate()` ends the
    whole process group.
    """

    def __init__(
        self, config: Path, device: str, deliver: Callable[[str, EngineEvent], None]
    ) -> None:
        self.config = config
        self.device = device
        self.deliver = deliver
        self._flag = RUN
        self._folder: Path | None = None
        self._popen: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- the control flag -------------------------------------------------------------------

    @property
    def value(self) -> int:
        """The last flag set (`RUN`, `CANCEL` or `PAUSE`)."""
        return self._flag

    @value.setter
    def value(self, flag: int) -> None:
        with self._lock:
            self._flag = flag
            if self._folder is not None:
                self._write_control()

    def _write_control(self) -> None:
        assert self._folder is not None  # noqa: S101 - set before any call
        word = _CONTROL_WORDS.get(self._flag)
        if word is None:
            (self._folder / CONTROL).unlink(missing_ok=True)
        else:
            write_text(self._folder / CONTROL, word + "\n")

    # --- the task queue ---------------------------------------------------------------------

    def put(self, task: tuple[TrainingJob, bool, int | None] | None) -> None:
        """Launch `(job, resume, up_to)` (None: nothing to do, the launch ends with its job)."""
        if task is None:
            return
        job, resume, up_to = task
        folder = launch_folder(job)
        folder.mkdir(parents=True, exist_ok=True)
        for name in (EVENTS, CONTROL):
            (folder / name).unlink(missing_ok=True)
        task_file = folder / TASK
        write_text(
            task_file,
            job_to_json(
                job, resume=resume, up_to=up_to, device=self.device, server_pid=os.getpid()
            ),
        )
        argv = launch_argv(self.config, task_file)
        write_text(folder / COMMAND, shlex.join(argv) + "\n")
        with self._lock:
            self._folder = folder
            self._write_control()
        try:
            with (folder / STDOUT).open("wb") as out, (folder / STDERR).open("wb") as err:
                self._popen = subprocess.Popen(  # noqa: S603 - our own argv
                    argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True
                )
        except OSError as exc:
            self.deliver(job.id, Failed("training_error", f"cannot run accelerate launch: {exc}"))
            return
        self._thread = threading.Thread(
            target=self._tail, args=(job.id, folder), name="finetune-kit-accelerate", daemon=True
        )
        self._thread.start()

    def _tail(self, job_id: str, folder: Path) -> None:
        popen = self._popen
        assert popen is not None  # noqa: S101 - started before the thread
        offset, partial, ended = 0, b"", False
        stop = threading.Event()
        while True:
            exited = popen.poll() is not None
            try:
                with (folder / EVENTS).open("rb") as events:
                    events.seek(offset)
                    chunk = events.read()
            except FileNotFoundError:
                chunk = b""
            offset += len(chunk)
            *lines, partial = (partial + chunk).split(b"\n")
            for line in lines:
                if not line.strip():
                    continue
                try:
                    event = event_from_json(line.decode("utf-8"))
                except (ValueError, TypeError):
                    continue
                ended = ended or isinstance(event, TERMINAL_EVENTS)
                self.deliver(job_id, event)
            if exited:
                break
            stop.wait(_POLL_SECONDS)
        if not ended:
            self.deliver(job_id, self._died(popen.returncode, folder))

    def _died(self, code: int, folder: Path) -> Failed:
        how = f"was killed by signal {-code}" if code < 0 else f"exited ({code})"
        try:
            with (folder / STDERR).open("rb") as err:
                err.seek(max(0, err.seek(0, os.SEEK_END) - _TAIL_BYTES))
                tail = err.read().decode("utf-8", "replace")
        except OSError:
            tail = ""
        line = last_error_line(tail)
        said = f": {line[:500]}" if line else ""
        return Failed(
            "worker_died",
            f"accelerate launch {how}{said}; checkpoints saved so far are kept (resume the job "
            f"to continue from the latest; the whole log is {folder / STDERR})",
        )

    # --- the process ------------------------------------------------------------------------

    def start(self) -> None:
        """Nothing to start before a task (the launch is per job)."""

    def is_alive(self) -> bool:
        """Until the launch has exited and its events have been delivered."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def exitcode(self) -> int | None:
        """The launch's exit status (None while it runs, or before it started)."""
        return None if self._popen is None else self._popen.poll()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the launch to exit and its events to be delivered."""
        if self._thread is not None:
            self._thread.join(timeout)

    def terminate(self) -> None:
        """End every process of the launch (its process group)."""
        if self._popen is not None and self._popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._popen.pid, signal.SIGTERM)

    def close(self) -> None:
        """Nothing to release."""

    def join_thread(self) -> None:
        """Nothing to release (a queue's method, for the engine)."""

    def cancel_join_thread(self) -> None:
        """Nothing to release (a queue's method, for the engine)."""
