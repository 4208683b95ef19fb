"""`FineTuneJob` and `AsyncFineTuneJob`: create exactly once, wait without sleep loops, follow events.

Both are thin shells: the decisions (what to check before spending, what to retry, how long to
wait, which events are new) live in `finetune_kit._preflight` and in the flows of
`finetune_kit._core` (`create`, `follow`), which `finetune_kit._core.drive` drives; the twins
(`AsyncFineTuneJob` lives in `finetune_kit._async_jobs`) differ only in `await`.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from typing import Any

from openai import AsyncOpenAI, OpenAI
from openai.types.fine_tuning import FineTuningJob
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from finetune_kit import files as _files
from finetune_kit._async_jobs import AsyncFineTuneJob
from finetune_kit._core.create import Cancel, Create, JobsPage, ListJobs, create_flow
from finetune_kit._core.drive import drive
from finetune_kit._core.events import EventCursor, ListEvents
from finetune_kit._core.follow import (
    Event,
    EventHandler,
    EventsPage,
    Following,
    HandOut,
    JobCall,
    JobEvents,
    JobResult,
    Progress,
    Retrieve,
    Seconds,
    curve,
    every_event,
    needs_no_events,
    poll_after,
    progress_of,
)
from finetune_kit._core.metrics import MetricPoint, parse_results_csv
from finetune_kit._core.poll import Fetched, PollPolicy
from finetune_kit._core.prepare import Source
from finetune_kit._defaults import now_for, sleep_for
from finetune_kit._lock import fingerprint_lock
from finetune_kit._preflight import CreateSpec
from finetune_kit._preflight import aserved_models as aserved_models  # noqa: PLC0414 - re-exported
from finetune_kit._preflight import served_models as served_models  # noqa: PLC0414 - re-exported
from finetune_kit.exceptions import ConfigurationError
from finetune_kit.files import UploadOptions
from finetune_kit.models import TunedModel, fresh_from

__all__ = ["AsyncFineTuneJob", "FineTuneJob", "Progress"]

CreateCall = ListJobs | Create | Cancel


def _creating(once: OpenAI) -> Callable[[CreateCall], JobsPage | FineTuningJob]:
    """What carries out the calls of `create_flow` (SDK retries off)."""

    def perform(command: CreateCall) -> JobsPage | FineTuningJob:
        match command:
            case ListJobs():
                page = once.fine_tuning.jobs.list(**command.query())
                return JobsPage(builtins.list(page.data), page.has_more)
            case Create(params=params):
                return once.fine_tuning.jobs.create(**params)
            case Cancel(job_id=job_id):
                return once.fine_tuning.jobs.cancel(job_id)

    return perform


class FineTuneJob:
    """A fine-tuning job: its latest snapshot (`.snapshot`, the SDK's `FineTuningJob`) and methods.

    Create one with [`create`][finetune_kit.FineTuneJob.create] (exactly once, however often it is
    called or retried), or attach to one with [`retrieve`][finetune_kit.FineTuneJob.retrieve].
    For `AsyncOpenAI` clients use [`AsyncFineTuneJob`][finetune_kit.AsyncFineTuneJob].

    Args:
        client: An `openai.OpenAI` or `openai.AzureOpenAI` client.
        snapshot: The job as the API returned it.
        sleep: What waiting calls (default `time.sleep`; for a simulator's client, its clock's).
        now: The clock of the tuned model's shutdown warning (default `time.time`; for a
            simulator's client, its clock's).

    Added in 0.1.0.
    """

    def __init__(
        self,
        client: OpenAI,
        snapshot: FineTuningJob,
        *,
        sleep: Callable[[float], None] | None = None,
        now: Callable[[], float] | None = None,
    ) -> None:
        if isinstance(client, AsyncOpenAI):
            raise ConfigurationError(
                "FineTuneJob takes an OpenAI client; use AsyncFineTuneJob with AsyncOpenAI"
            )
        self.client = client
        self.snapshot = snapshot
        self._sleep = sleep or sleep_for(client)
        self._now = now or now_for(client)
        self._events = JobEvents()

    def __repr__(self) -> str:
        return f"<FineTuneJob id={self.id} status={self.status} model={self.snapshot.model}>"

    @property
    def id(self) -> str:
        """The job id (`ftjob-...`)."""
        return self.snapshot.id

    @property
    def status(self) -> str:
        """The status as last seen: an open string (`paused`, Azure's `pending` included)."""
        return str(self.snapshot.status)

    # --- creation and lookup ------------------------------------------------------------

    @classmethod
    def create(
        cls,
        client: OpenAI,
        *,
        model: str,
        training: Source,
        validation: Source | None = None,
        method: str | dict[str, Any] | None = None,
        hyperparameters: dict[str, Any] | None = None,
        suffix: str | None = None,
        seed: int | None = None,
        metadata: dict[str, str] | None = None,
        integrations: builtins.list[dict[str, Any]] | None = None,
        max_cost: float | None = None,
        prices: dict[str, float] | None = None,
        training_type: str | None = None,
        extra_body: dict[str, Any] | None = None,
        force: bool = False,
        new: bool = False,
        upload: UploadOptions | None = None,
        sleep: Callable[[float], None] | None = None,
        now: Callable[[], float] | None = None,
    ) -> FineTuneJob:
        """Create a fine-tuning job, exactly once.

        Before anything is spent, the model name is checked (a name finetune-kit doesn't
        know is looked up in the provider's model list: Azure and other endpoints have names of
        their own), the parameters are checked (method and hyperparameter
        ranges, suffix, metadata limits), local data is validated (`Dataset.validate`) and the
        cost estimate is held against `max_cost`. Then data is uploaded (deduplicated by content)
        and processed, and the job is created with a fingerprint of its inputs in its
        metadata: a job already created from the same inputs, by this process or any other, is
        returned instead of a new one, and an ambiguous failure (timeout, dropped connection,
        5xx) is followed by a look-up before any retry, so at most one job is ever started.

        That holds for callers that run at the same instant too: after creating, the jobs with
        the fingerprint are listed again (the fingerprint checked here, so a provider that
        ignores the metadata filter changes nothing); the earliest created one wins, later ones
        are cancelled before they train, and every caller gets the winner. Callers on one
        machine take turns: an inter-process lock per fingerprint (a file in
        `$FINETUNE_KIT_LOCK_DIR`, by default under the temp directory) is held while looking and
        creating. A duplicate that already trains is not cancelled; a `RuntimeWarning` names it.

        Args:
            client: An `OpenAI` or `AzureOpenAI` client (any base URL, e.g. Azure's `/openai/v1/`).
            model: The base model, or a tuned model to continue from.
            training: A `Dataset`, a path to a JSONL file, or an uploaded file's id.
            validation: The same, for validation data.
            method: `"supervised"` (default), `"dpo"`, `"reinforcement"`, or the API's method dict.
            hyperparameters: `{"n_epochs": 3, ...}` for the method (merged into `method`).
            suffix: Up to 64 characters in the model's name.
            seed: For reproducibility.
            metadata: Up to 15 pairs (finetune-kit uses one for the fingerprint).
            integrations: E.g. Weights & Biases.
            max_cost: Refuse (BudgetExceededError) when the estimate in USD is over it.
            prices: USD per 1M training tokens, to price models the built-in table doesn't.
            training_type: Azure's `trainingType` (`"Standard"`, `"GlobalStandard"`, `"developerTier"`).
            extra_body: Anything else to send with the request.
            force: Upload data even when validation finds errors.
            new: Start a new job even if one was already created from the same inputs.
            upload: How to upload (threshold, part size, concurrency...).
            sleep: What waiting calls (default `time.sleep`; for a simulator's client, its
                clock's: nothing to pass to run on a `Simulator`).
            now: The clock of the model's shutdown check and warning (default `time.time`).

        Raises:
            UnknownModelError: `model` is a name neither finetune-kit nor the provider's model
                list (asked only for names finetune-kit doesn't know) has; nothing uploaded.
            RetiredModelError: `model` (or its base) has shut down; nothing uploaded.
            DatasetError: The data has errors (nothing uploaded).
            ConfigurationError: A parameter the API would refuse (nothing uploaded).
            BudgetExceededError: The estimate is over `max_cost` (nothing uploaded).
            FineTuningUnavailableError: The provider refuses fine-tuning to this account.
            DailyJobLimitError: The daily job limit is reached (`.retry_after`).
        """
        if isinstance(client, AsyncOpenAI):
            raise ConfigurationError(
                "FineTuneJob.create takes an OpenAI client; use AsyncFineTuneJob"
            )
        spec = CreateSpec(
            model=model,
            training=training,
            validation=validation,
            method=method,
            hyperparameters=hyperparameters,
            suffix=suffix,
            seed=seed,
            metadata=metadata,
            integrations=integrations,
            max_cost=max_cost,
            prices=prices,
            training_type=training_type,
            extra_body=extra_body,
            force=force,
            new=new,
            upload=upload,
        )
        clock = now or now_for(client)
        when = clock()
        names = spec.names_first(client, when) or spec.names_then(
            client, when, served_models(client, when)
        )
        plan = spec.preflight(names)
        do_sleep = sleep or sleep_for(client)
        options = spec.upload_options()
        training_file = _files.upload(client, plan.training.source, options, sleep=do_sleep).id
        validation_file = (
            _files.upload(client, plan.validation.source, options, sleep=do_sleep).id
            if plan.validation
            else None
        )
        params = plan.request.params(training_file, validation_file)
        fingerprint = plan.request.fingerprint
        perform = _creating(client.with_options(max_retries=0))
        with fingerprint_lock(fingerprint):  # callers on this machine take turns
            flow = create_flow(params, fingerprint)
            snapshot = drive(flow, perform, sleep=do_sleep, now=clock)
        return cls(client, snapshot, sleep=sleep, now=now)

    @classmethod
    def retrieve(
        cls,
        client: OpenAI,
        job_id: str,
        *,
        sleep: Callable[[float], None] | None = None,
        now: Callable[[], float] | None = None,
    ) -> FineTuneJob:
        """Attach to an existing job by id (to re-attach after a restart, for instance)."""
        return cls(client, client.fine_tuning.jobs.retrieve(job_id), sleep=sleep, now=now)

    @classmethod
    def list(
        cls,
        client: OpenAI,
        *,
        metadata: dict[str, str] | None = None,
        limit: int = 20,
        sleep: Callable[[float], None] | None = None,
        now: Callable[[], float] | None = None,
    ) -> builtins.list[FineTuneJob]:
        """The newest `limit` jobs (optionally only those whose metadata holds `metadata`)."""
        jobs: builtins.list[FineTuneJob] = []
        kwargs: dict[str, Any] = {"limit": min(limit, 100)}
        if metadata:
            kwargs["metadata"] = metadata
        for snapshot in client.fine_tuning.jobs.list(**kwargs):
            jobs.append(cls(client, snapshot, sleep=sleep, now=now))
            if len(jobs) >= limit:
                break
        return jobs

    # --- control ---------------------------------------------------------------------------

    def refresh(self) -> FineTuneJob:
        """Fetch the latest snapshot; return self."""
        self.snapshot = self.client.fine_tuning.jobs.retrieve(self.id)
        return self

    def cancel(self) -> FineTuneJob:
        """Cancel the job (any status but a final one); return self."""
        self.snapshot = self.client.fine_tuning.jobs.cancel(self.id)
        return self

    def pause(self) -> FineTuneJob:
        """Pause a running job; return self."""
        self.snapshot = self.client.fine_tuning.jobs.pause(self.id)
        return self

    def resume(self) -> FineTuneJob:
        """Resume a paused job; return self."""
        self.snapshot = self.client.fine_tuning.jobs.resume(self.id)
        return self

    # --- waiting ---------------------------------------------------------------------------

    def wait(
        self,
        *,
        timeout: Seconds | None = 24 * 3600.0,
        poll: Seconds | None = None,
        on_event: EventHandler | None = None,
        policy: PollPolicy | None = None,
    ) -> TunedModel:
        """Block until the job finishes; return the tuned model.

        Polls with jittered exponential backoff (5 s to 60 s), honouring `openai-poll-after-ms`
        and any `Retry-After` (also over 120 s, where the SDK gives up); polls a paused job only
        every 5 minutes; waits out transient errors. With `on_event`, each new event is passed
        to it once, in order.

        Args:
            timeout: Give up after this long (WaitTimeoutError; the job goes on). None: no limit.
            poll: A fixed polling interval instead of the backoff.
            on_event: Called with each new `MessageEvent` / `MetricsEvent`, oldest first.
            policy: Full control of the polling (overrides `timeout` and `poll`).

        Raises:
            JobFailedError: The job failed (TrainingFileRejectedError, ModerationError: why).
            JobCancelledError: The job was cancelled.
            WaitTimeoutError: `timeout` passed first.
        """
        flow = self._events.wait(policy or PollPolicy.of(poll=poll, timeout=timeout), on_event)
        self.snapshot = drive(flow, self._perform, sleep=self._sleep, now=self._now)
        assert self.snapshot.fine_tuned_model is not None  # noqa: S101 - succeeded jobs name it
        return TunedModel(
            self.client,
            self.snapshot.fine_tuned_model,
            job=self.snapshot,
            sleep=self._sleep,
            now=self._now,
            fresh=fresh_from(self.client, self.snapshot, self._now()),
        )

    def _perform(self, command: JobCall) -> JobResult:
        """Carry out one call of a flow of `JobEvents` / `Following` on this job."""
        match command:
            case Retrieve():
                raw = self.client.fine_tuning.jobs.with_raw_response.retrieve(self.id)
                self.snapshot = raw.parse()
                return Fetched(self.snapshot, poll_after(raw.headers))
            case ListEvents():
                page = self.client.fine_tuning.jobs.list_events(self.id, **command.query())
                return EventsPage(page.data, page.has_more)
            case HandOut(event=event, to=to):
                to(event)
                return None

    # --- events, metrics, checkpoints ------------------------------------------------------

    def events(
        self, *, follow: bool = False, since: str | None = None, poll: Seconds | None = None
    ) -> Iterator[Event]:
        """Yield the job's events oldest first, each exactly once.

        Args:
            follow: Keep following new events until the job has finished and a last look finds
                nothing new (like `tail -f`); otherwise stop after the events there are now.
            since: Resume after this event id (events up to it are not yielded).
            poll: The interval between looks when following (default: the backoff of `wait`).
        """
        policy = PollPolicy.of(poll=poll, timeout=None)
        following = Following(self._events, EventCursor(last_id=since), policy, follow)
        while (look := following.look()) is not None:
            for event in drive(look, self._perform, sleep=self._sleep, now=self._now):
                following.cursor.advance(event)  # past an event once handed out
                yield event

    def progress(self) -> Progress:
        """Where the job is: status, step/total (from the latest metrics event) and ETA."""
        self.refresh()
        last = drive(self._events.catch_up(), self._perform, sleep=self._sleep, now=self._now)
        return progress_of(self.snapshot, last)

    def metrics(self) -> builtins.list[MetricPoint]:
        """The training curve: the results file once the job succeeded, else the events.

        Results files have no full-validation columns: those come from the events (merged in
        by step), so the curve has train, valid and full-valid metrics wherever they exist.
        """
        files = builtins.list(self.snapshot.result_files or [])
        points: builtins.list[MetricPoint] = []
        if files:
            points = parse_results_csv(self.client.files.content(files[0]).read())
        if needs_no_events(points, self.snapshot):
            return points
        events = drive(every_event(), self._perform, sleep=self._sleep, now=self._now)
        return curve(points, events)

    def checkpoints(self) -> builtins.list[FineTuningJobCheckpoint]:
        """The job's checkpoints, newest first (the last 3 epochs, once the job succeeded)."""
        return builtins.list(self.client.fine_tuning.jobs.checkpoints.list(self.id))
