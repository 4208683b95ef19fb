"""The local training engine: jobs queued and run in worker processes with TRL.

```python
engine = TrainingEngine(device="auto")        # one job at a time
engine.submit(job)                             # a TrainingJob; returns at once
events = engine.poll(job.id)                   # what happened since the last poll
engine.pause(job.id); engine.resume(job.id)    # through the latest checkpoint
engine.cancel(job.id)                          # stops at the next step
engine.close()
```

Workers are spawned processes (torch and `fork` don't mix) that stay up between jobs, so the
imports are paid once. A thread of the engine takes the workers' events off their queue as
they come, hands the next queued job to an idle worker, and notices a worker that died: its job
fails with `worker_died` (checkpoints already written stay on disk).

With `accelerate_config`, each job is instead launched with `accelerate launch` (one process per
GPU, or as the config says), and talks to the engine through files in its folder: see
`finetune_kit.local.launch`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from finetune_kit.local.events import TERMINAL_EVENTS
from finetune_kit.local.worker import CANCEL, PAUSE, RUN, worker_main, worker_survives
from finetune_kit.platform.engine import (
    Cancelled,
    EngineEvent,
    Failed,
    Paused,
    Succeeded,
    TrainingJob,
)

__all__ = ["JobStatus", "TrainingEngine"]

JobStatus = Literal["queued", "running", "paused", "succeeded", "failed", "cancelled"]
_STATUS_AFTER: dict[type, JobStatus] = {
    Succeeded: "succeeded",
    Failed: "failed",
    Cancelled: "cancelled",
    Paused: "paused",
}


@dataclass(slots=True)
class _Job:
    job: TrainingJob
    status: JobStatus = "queued"
    resume: bool = False
    up_to: int | None = None
    """With `resume`: continue from the latest checkpoint at or before this step (None: the
    latest)."""
    events: list[EngineEvent] = field(default_factory=list)
    history: list[EngineEvent] = field(default_factory=list)


@dataclass(slots=True)
class _Worker:
    process: Any
    tasks: Any
    control: Any
    job_id: str | None = None
    retiring: bool = False
    one_job: bool = False
    """An `accelerate launch` of one job: it holds its slot until it has exited."""


class TrainingEngine:
    """Runs `TrainingJob`s in worker processes, `max_concurrent_jobs` at a time (FIFO).

    Args:
        device: `"auto"` (a GPU when torch sees one, else the CPU, with a message saying
            so), `"cpu"` or `"cuda"`.
        max_concurrent_jobs: How many jobs train at once (one worker process each).
        accelerate_config: An accelerate config file (checked by the caller, see
            `finetune_kit.local.launch.check_accelerate_config`): each job is launched with
            `accelerate launch --config_file` it instead of in a worker process.

    Added in 0.1.0.
    """

    def __init__(
        self,
        *,
        device: str = "auto",
        max_concurrent_jobs: int = 1,
        accelerate_config: Path | None = None,
    ) -> None:
        if max_concurrent_jobs < 1:
            raise ValueError("max_concurrent_jobs must be at least 1")
        self.device = device
        self.max_concurrent_jobs = max_concurrent_jobs
        self.accelerate_config = accelerate_config
        self._ctx = multiprocessing.get_context("spawn")
        self._results: Any = None
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._jobs: dict[str, _Job] = {}
        self._pending: deque[str] = deque()
        self._workers: list[_Worker] = []
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._stopped = threading.Event()

    # --- the contract -----------------------------------------------------------------------

    def submit(self, job: TrainingJob) -> None:
        """Queue `job`; it starts when a worker is free."""
        with self._lock:
            self._check_open()
            if job.id in self._jobs:
                raise ValueError(f"job {job.id} was already submitted")
            self._jobs[job.id] = _Job(job)
            self._pending.append(job.id)
            self._start()

    def poll(self, job_id: str) -> list[EngineEvent]:
        """The events of `job_id` since the last poll, oldest first."""
        with self._lock:
            record = self._record(job_id)
            events, record.events = record.events, []
            return events

    def status(self, job_id: str) -> JobStatus:
        """Where `job_id` stands, as far as the events taken off the workers' queue say."""
        with self._lock:
            return self._record(job_id).status

    def history(self, job_id: str) -> list[EngineEvent]:
        """Every event of `job_id` so far, polled or not."""
        with self._lock:
            return list(self._record(job_id).history)

    def wait(
        self,
        job_id: str,
        timeout: float | None = None,
        *,
        until: Callable[[list[EngineEvent]], bool] | None = None,
    ) -> JobStatus:
        """Block until `job_id` stops running (or `until(history)` holds); return its status.

        Raises:
            TimeoutError: `timeout` seconds passed first.
        """

        def done() -> bool:
            record = self._record(job_id)
            if until is not None:
                return until(list(record.history))
            return record.status not in ("queued", "running")

        with self._changed:
            if not self._changed.wait_for(done, timeout):
                raise TimeoutError(f"job {job_id} still {self._record(job_id).status}")
            return self._record(job_id).status

    def cancel(self, job_id: str) -> None:
        """Cancel a job: a queued or paused one at once, a running one at its next step."""
        self._signal(job_id, CANCEL)

    def pause(self, job_id: str) -> None:
        """Pause a job: a running one saves a checkpoint at its next step and stops."""
        self._signal(job_id, PAUSE)

    def resume(
        self, job_id: str, job: TrainingJob | None = None, *, up_to: int | None = None
    ) -> None:
        """Queue a paused (or failed) job again; it continues from its latest checkpoint.

        `job` is needed only for a job this engine has not seen (e.g. after a restart): its
        `workdir` holds the checkpoints. `up_to`: continue from the latest checkpoint at or
        before this step instead (later ones are overwritten as training reaches them again).
        A running, queued or finished job is left alone.
        """
        with self._lock:
            self._check_open()
            record = self._jobs.get(job_id)
            if record is None:
                if job is None:
                    raise KeyError(f"unknown job {job_id}: pass the TrainingJob to resume it")
                record = self._jobs[job_id] = _Job(job, status="paused")
            if record.status not in ("paused", "failed"):
                return
            record.status = "queued"
            record.resume = True
            record.up_to = up_to
            self._pending.append(job_id)
            self._start()

    def close(self, timeout: float = 60.0) -> None:
        """Stop the workers: running jobs are paused (a checkpoint is saved) within `timeout`.

        Events produced until then can still be polled.
        """
        with self._lock:
            if self._closing.is_set():
                return
            self._closing.set()  # no more dispatching; the thread keeps draining events
            for worker in self._workers:
                if worker.job_id is not None:
                    worker.control.value = PAUSE
                with contextlib.suppress(Exception):
                    worker.tasks.put(None)
            workers = list(self._workers)
        for worker in workers:
            worker.process.join(timeout)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(5)
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(10)
        with self._lock:
            if self._results is not None:
                self._drain(block=False)
            self._reap()
            for worker in workers:
                with contextlib.suppress(Exception):
                    worker.tasks.close()
                    worker.tasks.join_thread()
                    worker.process.close()
            self._workers.clear()
            if self._results is not None:
                self._results.close()
                self._results.join_thread()

    def __enter__(self) -> TrainingEngine:  # noqa: PYI034 - Self is 3.11+
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- inside -----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closing.is_set():
            raise RuntimeError("the training engine is closed")

    def _record(self, job_id: str) -> _Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise KeyError(f"unknown job {job_id}") from None

    def _signal(self, job_id: str, flag: int) -> None:
        with self._lock:
            record = self._record(job_id)
            if record.status == "queued":
                self._pending.remove(job_id)
                self._finish(record, Cancelled() if flag == CANCEL else Paused())
            elif record.status == "paused" and flag == CANCEL:
                self._finish(record, Cancelled())
            elif record.status == "running":
                for worker in self._workers:
                    if worker.job_id == job_id:
                        worker.control.value = flag

    def _add(self, record: _Job, event: EngineEvent) -> None:
        record.events.append(event)
        record.history.append(event)
        self._changed.notify_all()

    def _finish(self, record: _Job, event: EngineEvent) -> None:
        record.status = _STATUS_AFTER[type(event)]
        self._add(record, event)

    def _start(self) -> None:
        """Start the monitoring thread (once) and hand out queued jobs."""
        if self._results is None:
            self._results = self._ctx.Queue()
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._monitor, name="finetune-kit-training-engine", daemon=True
            )
            self._thread.start()
        self._dispatch()

    def _monitor(self) -> None:
        while not self._stopped.is_set():
            self._drain(block=True)
            with self._lock:
                self._reap()
                self._dispatch()

    def _drain(self, *, block: bool) -> None:
        """Take every event off the results queue (waiting a little for the first if `block`)."""
        items: list[tuple[str, EngineEvent]] = []
        try:
            items.append(self._results.get(timeout=0.2) if block else self._results.get_nowait())
            while True:
                items.append(self._results.get_nowait())
        except (queue.Empty, OSError, ValueError, EOFError):
            pass
        if items:
            self._deliver(items)

    def _deliver(self, items: list[tuple[str, EngineEvent]]) -> None:
        """Record the workers' events, in order."""
        with self._lock:
            for job_id, event in items:
                record = self._jobs.get(job_id)
                if record is None:
                    continue
                if isinstance(event, TERMINAL_EVENTS):
                    self._finish(record, event)
                    for worker in self._workers:
                        if worker.job_id == job_id:
                            worker.job_id = None
                            worker.retiring = worker.one_job or not worker_survives(event)
                else:
                    self._add(record, event)

    def _reap(self) -> None:
        """Forget dead workers; a job a worker held when it died fails."""
        dead = [w for w in self._workers if not w.process.is_alive()]
        if not dead:
            return
        self._drain(block=False)  # a dead worker's last events are already in the pipe
        for worker in dead:
            if worker.job_id is not None:
                record = self._jobs[worker.job_id]
                code = worker.process.exitcode
                how = f"was killed by signal {-code}" if code and code < 0 else f"exited ({code})"
                self._finish(
                    record,
                    Failed(
                        "worker_died",
                        f"the training process {how}; checkpoints saved so far are kept "
                        "(resume the job to continue from the latest)",
                    ),
                )
                worker.job_id = None
            self._workers.remove(worker)
            worker.tasks.close()
            worker.tasks.cancel_join_thread()

    def _dispatch(self) -> None:
        while self._pending and not self._closing.is_set():
            worker = next((w for w in self._workers if w.job_id is None and not w.retiring), None)
            if worker is None:
                busy = sum(1 for w in self._workers if w.one_job or not w.retiring)
                if busy >= self.max_concurrent_jobs:
                    return
                worker = self._spawn()
            job_id = self._pending.popleft()
            record = self._jobs[job_id]
            worker.control.value = RUN  # before the task: a cancel after this one counts
            worker.job_id = job_id
            record.status = "running"
            worker.tasks.put((record.job, record.resume, record.up_to))
            self._changed.notify_all()

    def _spawn(self) -> _Worker:
        if self.accelerate_config is not None:
            from finetune_kit.local.launch import AcceleratedWorker  # noqa: PLC0415

            launched = AcceleratedWorker(
                self.accelerate_config,
                self.device,
                lambda job_id, event: self._deliver([(job_id, event)]),
            )
            worker = _Worker(launched, launched, launched, one_job=True)
            self._workers.append(worker)
            return worker
        tasks = self._ctx.Queue()
        control = self._ctx.Value("i", RUN)
        process = self._ctx.Process(
            target=worker_main,
            args=(tasks, self._results, control, self.device),
            name="finetune-kit-trainer",
            daemon=True,
        )
        process.start()
        worker = _Worker(process, tasks, control)
        self._workers.append(worker)
        return worker
