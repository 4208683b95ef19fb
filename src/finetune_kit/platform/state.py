"""The platform's state and what routes share: stores, ids, time, engines, model lookups.

`PlatformState` is everything but the request loop (`finetune_kit.platform.core.Platform`), so
that route modules can take it without importing what imports them.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections import Counter
from collections.abc import MutableMapping
from typing import Any

from finetune_kit.platform.clock import Clock
from finetune_kit.platform.engine import InferenceEngine, ServedModel, TrainingEngine, TrainingJob
from finetune_kit.platform.faults import Faults
from finetune_kit.platform.jobs import TERMINAL, JobRecord
from finetune_kit.platform.lifecycle import advance, auto_hyperparameters
from finetune_kit.platform.records import (
    BatchRecord,
    DeploymentRecord,
    FileRecord,
    Timing,
    UploadRecord,
)
from finetune_kit.platform.store import MemoryStore, Store
from finetune_kit.platform.validation import validate_job_files
from finetune_kit.platform.wire import ApiError

__all__ = ["PlatformState", "day_of"]


def day_of(timestamp: float) -> str:
    """The UTC date of a Unix time, as `YYYY-MM-DD`."""
    return dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc).date().isoformat()


def is_tuned_name(name: str) -> bool:
    """Whether `name` names a tuned model or checkpoint (OpenAI's or Azure's spelling)."""
    return name.startswith(("ft:", "ftchkpt-")) or ".ft-" in name


class PlatformState:
    """Stores, ids, time, engines and the lookups routes share (see `Platform`)."""

    def __init__(
        self,
        *,
        clock: Clock,
        training: TrainingEngine,
        inference: InferenceEngine,
        base_models: dict[str, str | None],
        timing: Timing | None = None,
        store: Store | None = None,
        seed: int = 0,
        organization: str = "org-finetune-kit",
        org_slug: str = "finetune-kit",
        aliases: dict[str, str] | None = None,
        wind_down: float | None = None,
        poll_after_ms: int | None = None,
        system_fingerprint: str = "fp_finetune_kit",
    ) -> None:
        self.clock: Clock = clock
        self.training: TrainingEngine = training
        self.inference: InferenceEngine = inference
        self.timing: Timing = timing or Timing()
        self.store: Store = store if store is not None else MemoryStore()
        self.faults = Faults(seed)
        self.organization = organization
        self.org_slug = org_slug
        """Goes into tuned models' names (`ft:<base>:<slug>:<suffix>:<id>`) and `owned_by`."""
        self.shutdown_dates = dict(base_models)
        """The base models served, and their shutdown dates (None: none announced)."""
        self.aliases = dict(aliases or {})
        """Other names of base models (e.g. `gpt-4o-mini` for its dated snapshot)."""
        self.wind_down = wind_down
        """From this time on, OpenAI-flavoured job creation is refused (None: never)."""
        self.poll_after_ms = poll_after_ms
        self.system_fingerprint = system_fingerprint
        self.rng = random.Random(seed)
        # Request ids have their own generator: how often a client polls must not change the
        # ids of what it creates later.
        self._request_ids = random.Random(f"requests-{seed}")
        self.deployments: dict[str, str] = {}
        """Azure deployment name -> the model it serves. Chat on Azure paths takes a deployment
        name, and a tuned model answers only through one: deploy it with `TunedModel.deploy`
        (the platform answers the management API too) or set it here (it serves at once)."""
        self.arm_deployments: dict[str, DeploymentRecord] = {}
        """Deployments made through the management API, by name (with their provisioning)."""
        self.calls: Counter[str] = Counter()
        """Requests received, by route name (faulted ones included)."""
        self.log: list[tuple[str, str, int]] = []
        """(method, route, status) of every request, in order."""
        self._lock = threading.RLock()
        self.fail_interrupted_jobs()

    # --- the store --------------------------------------------------------------------------

    @property
    def files(self) -> MutableMapping[str, FileRecord]:
        """Files by id (`FileRecord`), deleted ones included (marked)."""
        return self.store.files

    @property
    def uploads(self) -> MutableMapping[str, UploadRecord]:
        """Uploads by id (`UploadRecord`)."""
        return self.store.uploads

    @property
    def jobs(self) -> MutableMapping[str, JobRecord]:
        """Fine-tuning jobs by id (`JobRecord`), in creation order."""
        return self.store.jobs

    @property
    def batches(self) -> MutableMapping[str, BatchRecord]:
        """Batches by id (`BatchRecord`)."""
        return self.store.batches

    @property
    def deleted_models(self) -> set[str]:
        """Tuned models deleted through the API."""
        return self.store.deleted_models

    # --- ids and time -----------------------------------------------------------------------

    def new_id(self, prefix: str, size: int = 24) -> str:
        """A fresh id such as `file-<24 hex>` (deterministic for a seed).

        Never one the store already holds: a platform reopening a store with the same seed
        draws the same ids again, and skips those taken.
        """
        while True:
            candidate = f"{prefix}{self.rng.getrandbits(size * 4):0{size}x}"
            if not any(candidate in ids for ids in (self.files, self.jobs, self.uploads)) and (
                candidate not in self.batches
            ):
                return candidate

    def _request_id(self) -> str:
        return f"req_{self._request_ids.getrandbits(128):032x}"

    def now(self) -> float:
        """The platform's clock."""
        return self.clock.now()

    # --- lookups shared by the routes ---------------------------------------------------------

    def fail_interrupted_jobs(self) -> None:
        """Fail the jobs a reopened store holds unfinished: the engine that ran them is gone.

        Called when the platform is made. A job that was running or paused fails with code
        `server_stopped` and "The server stopped while this job was running; its checkpoints
        are kept: create a new job to train again." (or "...was paused; ..."); one still
        validating or queued, with "The server stopped before this job started training: create
        a new job to train again." The failure is dated now (or at the job's last event, if
        later). A platform that can resume jobs overrides this.
        """
        now = self.now()
        stopped = [job for job in self.jobs.values() if job.status not in TERMINAL]
        for job in stopped:
            if job.status in ("running", "paused"):
                message = (
                    f"The server stopped while this job was {job.status}; its checkpoints are "
                    "kept: create a new job to train again."
                )
            else:
                message = (
                    "The server stopped before this job started training: create a new job to "
                    "train again."
                )
            last = max([job.created_at, *(int(e["created_at"]) for e in job.events)])
            job.fail(max(now, last), {"code": "server_stopped", "message": message, "param": None})
        if stopped:
            self.store.flush()

    def deployment_ready(self, name: str) -> bool:
        """Whether the Azure deployment `name` exists and has finished provisioning."""
        record = self.arm_deployments.get(name)
        return name in self.deployments and (record is None or self.now() >= record.ready_at)

    def tick(self) -> None:
        """Bring every job up to the clock."""
        now = self.now()
        for job in self.jobs.values():
            advance(job, now, self)

    def file(self, file_id: str, *, param: str | None = None) -> FileRecord:
        """A live file, or a 404 naming it."""
        record = self.files.get(file_id)
        if record is None or record.deleted:
            raise ApiError(
                404, f"No such File object: {file_id}", param=param or "id", code="file_not_found"
            )
        return record

    def job(self, job_id: str) -> JobRecord:
        """A job brought up to the clock, or a 404 naming it."""
        record = self.jobs.get(job_id)
        if record is None:
            raise ApiError(
                404,
                f"Fine-tuning job {job_id} not found.",
                param="fine_tuning_job_id",
                code="fine_tune_not_found",
            )
        advance(record, self.now(), self)
        return record

    # --- what jobs need from their host (see lifecycle.JobHost) --------------------------------

    def validate_job(self, job: JobRecord) -> tuple[int, int] | dict[str, Any]:
        """Validate a job's files as the server does; (examples, tokens per epoch) or an error.

        Whatever the data, this answers: a failure while checking it (even a `BaseException`
        from the tokenizer) fails the job, never the server.
        """
        try:
            return self.validate_files(job)
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - a Rust panic is a BaseException
            return {
                "code": "invalid_training_file",
                "message": "The job failed due to an invalid training file. The file could not "
                f"be processed ({type(exc).__name__}).",
                "param": "training_file",
            }

    def validate_files(self, job: JobRecord) -> tuple[int, int] | dict[str, Any]:
        """The checks behind `validate_job` (`Dataset.validate`'s, for the job's base model)."""
        return validate_job_files(self.files, job)

    def training_job(self, job: JobRecord) -> TrainingJob:
        """What the training engine is asked to train for `job`."""
        hyperparameters: dict[str, Any] = {
            **job.requested_hyperparameters(),
            "n_epochs": job.n_epochs,
            "batch_size": job.batch_size,
            "learning_rate_multiplier": job.learning_rate_multiplier,
        }
        if job.method_type == "dpo":
            auto = auto_hyperparameters(job.n_examples, hyperparameters, method="dpo")
            hyperparameters["beta"] = auto["beta"]
        validation = job.validation_file
        return TrainingJob(
            id=job.id,
            model=job.model,
            method=job.method_type,  # type: ignore[arg-type]
            hyperparameters=hyperparameters,
            training_file=self.store.file_path(job.training_file),
            validation_file=None if validation is None else self.store.file_path(validation),
            suffix=job.suffix,
            seed=job.seed,
            workdir=self.store.workdir(job.id),
            examples=job.n_examples,
        )

    def write_results(self, job: JobRecord, content: bytes, at: float) -> str:
        """Store a job's results CSV as a `fine-tune-results` file made at `at`; return its id."""
        record = self.add_file(
            content, filename=f"{job.id}_results.csv", purpose="fine-tune-results", at=at
        )
        return record.id

    def model_name(self, job: JobRecord) -> str:
        """`ft:<base>:<org slug>:<suffix>:<id>` on OpenAI, `<base>.ft-<hex>` on Azure."""
        if job.flavor == "azure":
            return f"{job.model}.ft-{job.rng.getrandbits(128):032x}"
        short = f"{job.rng.getrandbits(40):010x}"[:8]
        return f"ft:{job.model}:{self.org_slug}:{job.suffix or ''}:{short}"

    def add_file(
        self,
        content: bytes,
        *,
        filename: str,
        purpose: str,
        error: str | None = None,
        at: float | None = None,
    ) -> FileRecord:
        """Store a file: uploaded now and processed after the usual delay, or made (ready) at `at`."""
        now = self.now() if at is None else at
        record = FileRecord(
            id=self.new_id("file-"),
            filename=filename,
            purpose=purpose,
            created_at=int(now),
            content=content,
            ready_at=now + (self.timing.file_processing if at is None else 0.0),
            error=error,
        )
        self.files[record.id] = record
        return record

    # --- models -------------------------------------------------------------------------------

    def tuned_models(self) -> dict[str, JobRecord]:
        """Tuned models that exist (not deleted), with the job that made each."""
        self.tick()
        return {
            j.fine_tuned_model: j
            for j in self.jobs.values()
            if j.status == "succeeded"
            and j.fine_tuned_model
            and j.fine_tuned_model not in self.deleted_models
        }

    def find_model(self, name: str) -> tuple[str, JobRecord | None]:
        """A model that exists: (name, the job that made it, or None for a base model)."""
        tuned = self.tuned_models()
        if name in tuned:
            return name, tuned[name]
        for job in tuned.values():  # a checkpoint: only those kept (the last 3 epochs) exist
            if any(c["fine_tuned_model_checkpoint"] == name for c in job.checkpoints):
                return name, job
        if name in self.shutdown_dates:
            return name, None
        raise ApiError(
            404, f"The model '{name}' does not exist", param="model", code="model_not_found"
        )

    def resolve_base(self, model: str) -> str | None:
        """The base snapshot a requested model trains from, or None if it can't be fine-tuned."""
        if model.startswith("ft:"):
            try:
                _, job = self.find_model(model)
            except ApiError:
                return None
            return job.model if job is not None else None
        name = self.aliases.get(model, model)
        return name if name in self.shutdown_dates else None

    def shut_down(self, base: str) -> bool:
        """Whether base model `base` has reached its shutdown date."""
        date = self.shutdown_dates.get(base)
        return date is not None and day_of(self.now()) >= date

    def answers_base(self, name: str) -> bool:
        """Whether chat answers base model `name` (by default: a base model served)."""
        return name in self.shutdown_dates

    def served(self, model: str) -> ServedModel:
        """What answers `model`, or the API's 404 (unknown, not ready yet, or shut down)."""
        not_found = ApiError(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
        if is_tuned_name(model):
            try:
                _, job = self.find_model(model)
            except ApiError:
                raise not_found from None
            if job is None or (job.finished_at or 0) + self.timing.model_ready_delay > self.now():
                raise not_found
            if self.shut_down(job.model):  # fine-tuned models follow their base's schedule
                raise ApiError(
                    404, f"The model `{model}` has been deprecated.", code="model_not_found"
                )
            adapter = job.model_path
            for ckpt in job.checkpoints:
                if ckpt["fine_tuned_model_checkpoint"] == model:
                    adapter = job.checkpoint_paths.get(ckpt["step_number"], adapter)
            return ServedModel(model, job.model, adapter)
        if not self.answers_base(model):
            raise not_found
        if model in self.shutdown_dates and self.shut_down(model):
            raise ApiError(404, f"The model `{model}` has been deprecated.", code="model_not_found")
        return ServedModel(model, model)
