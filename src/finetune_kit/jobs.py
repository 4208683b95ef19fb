"""`FineTuneJob` and `AsyncFineTuneJob`: create exactly once, wait without sleep loops, follow events.

Both are thin shells: the decisions (what to retry, how long to wait, which events are new) live
in `finetune_kit._core` and are the same for both.

Added in 0.1.0.
"""

from __future__ import annotations

import builtins
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import anyio
import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI, AzureOpenAI, OpenAI
from openai.types import Model
from openai.types.fine_tuning import FineTuningJob
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from finetune_kit import files as _files
from finetune_kit._core.create import (
    CallFailed,
    Cancel,
    Create,
    CreateFlow,
    JobsPage,
    ListJobs,
    Sleep,
    Warn,
    create_flow,
)
from finetune_kit._core.errors import classify
from finetune_kit._core.events import EventCursor, ListEvents, MessageEvent, MetricsEvent
from finetune_kit._core.metrics import (
    MetricPoint,
    from_events,
    merge,
    needs_events,
    parse_results_csv,
)
from finetune_kit._core.poll import (
    TERMINAL,
    Fetch,
    Fetched,
    FetchFailed,
    PollPolicy,
    WaitFlow,
    wait_flow,
)
from finetune_kit._core.prepare import ModelNames, Prepared, Source, prepare
from finetune_kit._core.spec import JobRequest, check_budget, check_params, job_request
from finetune_kit._defaults import asleep_for, now_for, sleep_for
from finetune_kit._lock import afingerprint_lock, fingerprint_lock
from finetune_kit.dataset.catalog import Provider, check_model_name, require_trainable
from finetune_kit.exceptions import ConfigurationError
from finetune_kit.files import UploadOptions
from finetune_kit.models import AsyncTunedModel, TunedModel, fresh_from

__all__ = ["AsyncFineTuneJob", "FineTuneJob", "Progress"]

Event = MessageEvent | MetricsEvent
EventHandler = Callable[[Event], object]
Seconds = float | timedelta


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a job is.

    Added in 0.1.0.
    """

    status: str
    step: int | None
    total_steps: int | None
    estimated_finish: datetime | None
    """When the provider expects the job to finish (only while it runs)."""

    @property
    def fraction(self) -> float | None:
        """Steps done as a fraction, when known."""
        if self.step is None or not self.total_steps:
            return None
        return self.step / self.total_steps

    def __str__(self) -> str:
        steps = f" step {self.step}/{self.total_steps}" if self.step is not None else ""
        eta = f", ETA {self.estimated_finish:%H:%M:%S} UTC" if self.estimated_finish else ""
        return f"{self.status}{steps}{eta}"


def _poll_after(headers: Any) -> float | None:
    value = headers.get("openai-poll-after-ms") if headers is not None else None
    try:
        return float(value) / 1000 if value else None
    except ValueError:
        return None


def _n_epochs(method: Any, hyperparameters: Any) -> int | Literal["auto"]:
    for source in (
        (method.get(method.get("type", "")) or {}).get("hyperparameters")
        if isinstance(method, dict)
        else None,
        hyperparameters,
    ):
        if isinstance(source, dict) and isinstance(source.get("n_epochs"), int):
            return int(source["n_epochs"])
    return "auto"


def _method_type(method: Any) -> str:
    if isinstance(method, dict):
        return str(method.get("type", "supervised"))
    return str(method or "supervised")


def _provider(client: object) -> Provider:
    """`"azure"` for an Azure OpenAI client (or base URL), else `"openai"`."""
    if isinstance(client, AzureOpenAI | AsyncAzureOpenAI):
        return "azure"
    host = str(getattr(getattr(client, "base_url", None), "host", "") or "")
    return "azure" if host.endswith((".azure.com", ".azure-api.net")) else "openai"


def _served(models: Iterable[Model], now: float) -> frozenset[str]:
    """The ids of the listed models that are not shut down by `now`."""
    today = datetime.fromtimestamp(now, tz=timezone.utc).date().isoformat()
    return frozenset(
        m.id
        for m in models
        if not (isinstance(m.shutdown_date, str) and m.shutdown_date and m.shutdown_date <= today)
    )


def served_models(client: OpenAI, now: float) -> frozenset[str]:
    """The model ids `client`'s provider serves at `now` (empty when its list can't be read).

    Added in 0.2.0.
    """
    try:
        return _served(client.models.list(), now)
    except openai.APIError:
        return frozenset()


async def aserved_models(client: AsyncOpenAI, now: float) -> frozenset[str]:
    """`served_models` for an `AsyncOpenAI` client.

    Added in 0.2.0.
    """
    try:
        return _served([m async for m in client.models.list()], now)
    except openai.APIError:
        return frozenset()


def _names_first(model: str, client: object, now: float) -> ModelNames | None:
    """The model check before the provider's list: `None` when the list must be asked."""
    where = _provider(client)
    if check_model_name(model, now=now, provider=where) is None:
        return ModelNames(where, None, now)
    return None


def _names_then(model: str, client: object, now: float, served: frozenset[str]) -> ModelNames:
    """The model check with the provider's list: raises when the name still can't be trained."""
    where = _provider(client)
    require_trainable(model, now=now, provider=where, known_remote=served)
    return ModelNames(where, served, now)


@dataclass(frozen=True, slots=True)
class _Plan:
    request: JobRequest
    training: Prepared
    validation: Prepared | None


def _plan(
    *,
    model: str,
    training: Source,
    validation: Source | None,
    method: Any,
    hyperparameters: Any,
    suffix: str | None,
    seed: int | None,
    metadata: dict[str, str] | None,
    integrations: list[dict[str, Any]] | None,
    max_cost: float | None,
    prices: dict[str, float] | None,
    training_type: str | None,
    extra_body: dict[str, Any] | None,
    force: bool,
    nonce: str | None,
    names: ModelNames,
) -> _Plan:
    """Every local check before anything is spent: parameters, data, budget."""
    check_params(
        method=method, hyperparameters=hyperparameters, suffix=suffix, seed=seed, metadata=metadata
    )
    kind = _method_type(method)
    epochs = _n_epochs(method, hyperparameters)

    def checked(source: Source) -> Prepared:
        return prepare(
            source,
            model=model,
            method_type=kind,
            n_epochs=epochs,
            prices=prices,
            force=force,
            names=names,
        )

    train = checked(training)
    valid = checked(validation) if validation is not None else None
    request = job_request(
        model=model,
        training_identity=train.identity,
        validation_identity=valid.identity if valid else None,
        method=method,
        hyperparameters=hyperparameters,
        suffix=suffix,
        seed=seed,
        metadata=metadata,
        integrations=integrations,
        training_type=training_type,
        extra_body=extra_body,
        nonce=nonce,
    )
    if max_cost is not None:
        if train.report is None:
            raise ConfigurationError(
                "max_cost needs the training data to estimate the cost: pass a Dataset or a path, "
                "not a file id"
            )
        check_budget(train.report.estimate, max_cost)
    return _Plan(request, train, valid)


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
        self._cursor = EventCursor()  # what wait(on_event=...) has handed out
        self._progress_cursor = EventCursor()  # progress() reads on its own: it takes nothing away
        self._last_metrics: MetricsEvent | None = None

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

        Added in 0.1.0.
        """
        if isinstance(client, AsyncOpenAI):
            raise ConfigurationError(
                "FineTuneJob.create takes an OpenAI client; use AsyncFineTuneJob"
            )
        when = (now or now_for(client))()
        names = _names_first(model, client, when) or _names_then(
            model, client, when, served_models(client, when)
        )
        plan = _plan(
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
            nonce=repr(time.time_ns()) if new else None,
            names=names,
        )
        do_sleep = sleep or sleep_for(client)
        options = UploadOptions(**{**_upload_kwargs(upload), "model": model, "force": True})
        training_file = _files.upload(client, plan.training.source, options, sleep=do_sleep).id
        validation_file = (
            _files.upload(client, plan.validation.source, options, sleep=do_sleep).id
            if plan.validation
            else None
        )
        params = plan.request.params(training_file, validation_file)
        fingerprint = plan.request.fingerprint
        with fingerprint_lock(fingerprint):  # callers on this machine take turns
            snapshot = cls._drive_create(client, create_flow(params, fingerprint), do_sleep)
        return cls(client, snapshot, sleep=sleep, now=now)

    @staticmethod
    def _drive_create(
        client: OpenAI, flow: CreateFlow, sleep: Callable[[float], None]
    ) -> FineTuningJob:
        once = client.with_options(max_retries=0)
        try:
            command = next(flow)
            while True:
                command = flow.send(_carry_out(once, command, sleep))
        except StopIteration as stop:
            job: FineTuningJob = stop.value
            return job

    @classmethod
    def retrieve(
        cls,
        client: OpenAI,
        job_id: str,
        *,
        sleep: Callable[[float], None] | None = None,
        now: Callable[[], float] | None = None,
    ) -> FineTuneJob:
        """Attach to an existing job by id (to re-attach after a restart, for instance).

        Added in 0.1.0.
        """
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
        """The newest `limit` jobs (optionally only those whose metadata holds `metadata`).

        Added in 0.1.0.
        """
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
        """Fetch the latest snapshot; return self.

        Added in 0.1.0.
        """
        self.snapshot = self.client.fine_tuning.jobs.retrieve(self.id)
        return self

    def cancel(self) -> FineTuneJob:
        """Cancel the job (any status but a final one); return self.

        Added in 0.1.0.
        """
        self.snapshot = self.client.fine_tuning.jobs.cancel(self.id)
        return self

    def pause(self) -> FineTuneJob:
        """Pause a running job; return self.

        Added in 0.1.0.
        """
        self.snapshot = self.client.fine_tuning.jobs.pause(self.id)
        return self

    def resume(self) -> FineTuneJob:
        """Resume a paused job; return self.

        Added in 0.1.0.
        """
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

        Added in 0.1.0.
        """
        policy = policy or PollPolicy.of(poll=poll, timeout=timeout)
        self.snapshot = self._drive_wait(wait_flow(policy), on_event)
        assert self.snapshot.fine_tuned_model is not None  # noqa: S101 - succeeded jobs name it
        return TunedModel(
            self.client,
            self.snapshot.fine_tuned_model,
            job=self.snapshot,
            sleep=self._sleep,
            now=self._now,
            fresh=fresh_from(self.client, self.snapshot, self._now()),
        )

    def _drive_wait(self, flow: WaitFlow, on_event: EventHandler | None) -> FineTuningJob:
        try:
            command = next(flow)
            while True:
                if not isinstance(command, Fetch):  # pragma: no cover
                    raise TypeError(f"unexpected command {command!r}")
                if command.delay:
                    self._sleep(command.delay)
                outcome: Fetched | FetchFailed
                try:
                    raw = self.client.fine_tuning.jobs.with_raw_response.retrieve(self.id)
                    outcome = Fetched(raw.parse(), _poll_after(raw.headers))
                    self.snapshot = outcome.job
                    if on_event is not None:
                        # Past an event only once handed out: if on_event raises, the rest
                        # of the page comes with the next wait().
                        for event in self._drain(self._cursor):
                            self._cursor.advance(event)
                            on_event(event)
                except Exception as exc:  # noqa: BLE001 - classified, then re-raised by the flow
                    outcome = FetchFailed(exc, classify(exc, operation="retrieve", now=time.time()))
                command = flow.send(outcome)
        except StopIteration as stop:
            job: FineTuningJob = stop.value
            return job

    # --- events, metrics, checkpoints ------------------------------------------------------

    def _drain(self, cursor: EventCursor) -> builtins.list[Event]:
        """The new events (oldest first); the cursor moves past each only when told (`advance`)."""
        events = _drain_all(self.client, self.id, cursor)
        for event in events:
            if isinstance(event, MetricsEvent):
                self._last_metrics = event
        return events

    def events(
        self, *, follow: bool = False, since: str | None = None, poll: Seconds | None = None
    ) -> Iterator[Event]:
        """Yield the job's events oldest first, each exactly once.

        Args:
            follow: Keep following new events until the job has finished and a last look finds
                nothing new (like `tail -f`); otherwise stop after the events there are now.
            since: Resume after this event id (events up to it are not yielded).
            poll: The interval between looks when following (default: the backoff of `wait`).

        Added in 0.1.0.
        """
        cursor = EventCursor(last_id=since)
        policy = PollPolicy.of(poll=poll, timeout=None)
        looks = errors = 0
        while True:
            try:
                if follow:
                    self.refresh()
                new = self._drain(cursor)
            except Exception as exc:  # noqa: BLE001 - classified by _retry_delay
                # Following rides out what wait() rides out; the cursor loses nothing meanwhile.
                delay = _retry_delay(exc, errors := errors + 1, policy, follow=follow)
                self._sleep(delay)
                continue
            errors = 0
            for event in new:  # past an event once handed out, as wait() does
                cursor.advance(event)
                yield event
            if not follow or (self.status in TERMINAL and not new):
                return
            looks += 1
            if self.status not in TERMINAL:  # finished: the last look goes at once
                self._sleep(
                    policy.paused_interval if self.status == "paused" else policy.backoff(looks)
                )

    def progress(self) -> Progress:
        """Where the job is: status, step/total (from the latest metrics event) and ETA.

        Added in 0.1.0.
        """
        self.refresh()
        for event in self._drain(self._progress_cursor):
            self._progress_cursor.advance(event)
        last = self._last_metrics
        finish = self.snapshot.estimated_finish
        return Progress(
            status=self.status,
            step=last.step if last else None,
            total_steps=last.total_steps if last else None,
            estimated_finish=datetime.fromtimestamp(finish, tz=timezone.utc) if finish else None,
        )

    def metrics(self) -> builtins.list[MetricPoint]:
        """The training curve: the results file once the job succeeded, else the events.

        Results files have no full-validation columns: those come from the events (merged in
        by step), so the curve has train, valid and full-valid metrics wherever they exist.

        Added in 0.1.0.
        """
        files = list(self.snapshot.result_files or [])
        points = parse_results_csv(self.client.files.content(files[0]).read()) if files else []
        if points and not (self.snapshot.validation_file and needs_events(points)):
            return points
        events = _drain_all(self.client, self.id, EventCursor())
        from_log = from_events(e for e in events if isinstance(e, MetricsEvent))
        return merge(points, from_log) if points else from_log

    def checkpoints(self) -> builtins.list[FineTuningJobCheckpoint]:
        """The job's checkpoints, newest first (the last 3 epochs, once the job succeeded).

        Added in 0.1.0.
        """
        return list(self.client.fine_tuning.jobs.checkpoints.list(self.id))


def _failed(exc: Exception, operation: str) -> CallFailed:
    return CallFailed(exc, classify(exc, operation=operation, now=time.time()))


def _carry_out(
    once: OpenAI, command: ListJobs | Create | Cancel | Sleep | Warn, sleep: Callable[[float], None]
) -> Any:
    """Carry out one command of a create flow (SDK retries off); return what goes back to it."""
    result: Any = None
    if isinstance(command, ListJobs):
        try:
            page = once.fine_tuning.jobs.list(**_list_kwargs(command))
            result = JobsPage(list(page.data), page.has_more)
        except Exception as exc:  # noqa: BLE001 - classified, then handled by the flow
            result = _failed(exc, "list")
    elif isinstance(command, Create):
        try:
            result = once.fine_tuning.jobs.create(**command.params)
        except Exception as exc:  # noqa: BLE001 - classified, then handled by the flow
            result = _failed(exc, "create")
    elif isinstance(command, Cancel):
        try:
            result = once.fine_tuning.jobs.cancel(command.job_id)
        except Exception as exc:  # noqa: BLE001 - classified, then handled by the flow
            result = _failed(exc, "cancel")
    elif isinstance(command, Sleep):
        sleep(command.seconds)
    else:
        warnings.warn(command.message, RuntimeWarning, stacklevel=4)
    return result


async def _acarry_out(
    once: AsyncOpenAI, command: ListJobs | Create | Cancel | Sleep | Warn, sleep: AsyncSleep
) -> Any:
    """The async twin of `_carry_out`."""
    result: Any = None
    if isinstance(command, ListJobs):
        try:
            page = await once.fine_tuning.jobs.list(**_list_kwargs(command))
            result = JobsPage(builtins.list(page.data), page.has_more)
        except Exception as exc:  # noqa: BLE001 - classified, then handled by the flow
            result = _failed(exc, "list")
    elif isinstance(command, Create):
        try:
            result = await once.fine_tuning.jobs.create(**command.params)
        except Exception as exc:  # noqa: BLE001 - classified, then handled by the flow
            result = _failed(exc, "create")
    elif isinstance(command, Cancel):
        try:
            result = await once.fine_tuning.jobs.cancel(command.job_id)
        except Exception as exc:  # noqa: BLE001 - classified, then handled by the flow
            result = _failed(exc, "cancel")
    elif isinstance(command, Sleep):
        await sleep(command.seconds)
    else:
        warnings.warn(command.message, RuntimeWarning, stacklevel=4)
    return result


def _list_kwargs(command: ListJobs) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"metadata": command.metadata, "limit": command.limit}
    if command.after is not None:
        kwargs["after"] = command.after
    return kwargs


def _retry_delay(exc: Exception, errors: int, policy: PollPolicy, *, follow: bool) -> float:
    """How long to wait before following again after `exc`; re-raises what can't be waited out."""
    c = classify(exc, operation="events", now=time.time())
    if not follow or not c.transient or errors > policy.max_errors:
        if c.translated is not None:
            raise c.translated from exc
        raise exc
    return c.retry_after or policy.backoff(errors)


def _drain_all(client: OpenAI, job_id: str, cursor: EventCursor) -> list[Event]:
    command: ListEvents | None = cursor.start()
    while command is not None:
        kwargs: dict[str, Any] = {"limit": command.limit}
        if command.after is not None:
            kwargs["after"] = command.after
        page = client.fine_tuning.jobs.list_events(job_id, **kwargs)
        command = cursor.feed(page.data, has_more=page.has_more)
    return cursor.peek()


def _upload_kwargs(options: UploadOptions | None) -> dict[str, Any]:
    if options is None:
        return {}
    return {name: getattr(options, name) for name in UploadOptions.__dataclass_fields__}


AsyncSleep = Callable[[float], Awaitable[None]]


class AsyncFineTuneJob:
    """The async twin of [`FineTuneJob`][finetune_kit.FineTuneJob], for `AsyncOpenAI` clients.

    Same methods, same behaviour (the same flows decide what to do), awaited; `events()` is an
    async iterator.

    Added in 0.1.0.
    """

    def __init__(
        self,
        client: AsyncOpenAI,
        snapshot: FineTuningJob,
        *,
        sleep: AsyncSleep | None = None,
        now: Callable[[], float] | None = None,
    ) -> None:
        if isinstance(client, OpenAI):
            raise ConfigurationError(
                "AsyncFineTuneJob takes an AsyncOpenAI client; use FineTuneJob with OpenAI"
            )
        self.client = client
        self.snapshot = snapshot
        self._sleep: AsyncSleep = sleep or asleep_for(client)
        self._now = now or now_for(client)
        self._cursor = EventCursor()  # what wait(on_event=...) has handed out
        self._progress_cursor = EventCursor()  # progress() reads on its own: it takes nothing away
        self._last_metrics: MetricsEvent | None = None

    def __repr__(self) -> str:
        return f"<AsyncFineTuneJob id={self.id} status={self.status} model={self.snapshot.model}>"

    @property
    def id(self) -> str:
        """The job id (`ftjob-...`)."""
        return self.snapshot.id

    @property
    def status(self) -> str:
        """The status as last seen: an open string."""
        return str(self.snapshot.status)

    @classmethod
    async def create(
        cls,
        client: AsyncOpenAI,
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
        sleep: AsyncSleep | None = None,
        now: Callable[[], float] | None = None,
    ) -> AsyncFineTuneJob:
        """Create a fine-tuning job, exactly once (see `FineTuneJob.create`).

        Added in 0.1.0.
        """
        if isinstance(client, OpenAI):
            raise ConfigurationError(
                "AsyncFineTuneJob.create takes an AsyncOpenAI client; use FineTuneJob"
            )
        when = (now or now_for(client))()
        names = _names_first(model, client, when) or _names_then(
            model, client, when, await aserved_models(client, when)
        )
        plan = await anyio.to_thread.run_sync(
            lambda: _plan(
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
                nonce=repr(time.time_ns()) if new else None,
                names=names,
            )
        )
        do_sleep = sleep or asleep_for(client)
        options = UploadOptions(**{**_upload_kwargs(upload), "model": model, "force": True})
        training_file = (
            await _files.aupload(client, plan.training.source, options, sleep=do_sleep)
        ).id
        validation_file = (
            (await _files.aupload(client, plan.validation.source, options, sleep=do_sleep)).id
            if plan.validation
            else None
        )
        params = plan.request.params(training_file, validation_file)
        fingerprint = plan.request.fingerprint
        async with afingerprint_lock(fingerprint):  # callers on this machine take turns
            snapshot = await cls._drive_create(client, create_flow(params, fingerprint), do_sleep)
        return cls(client, snapshot, sleep=sleep, now=now)

    @staticmethod
    async def _drive_create(
        client: AsyncOpenAI, flow: CreateFlow, sleep: AsyncSleep
    ) -> FineTuningJob:
        once = client.with_options(max_retries=0)
        try:
            command = next(flow)
            while True:
                command = flow.send(await _acarry_out(once, command, sleep))
        except StopIteration as stop:
            job: FineTuningJob = stop.value
            return job

    @classmethod
    async def retrieve(
        cls,
        client: AsyncOpenAI,
        job_id: str,
        *,
        sleep: AsyncSleep | None = None,
        now: Callable[[], float] | None = None,
    ) -> AsyncFineTuneJob:
        """Attach to an existing job by id.

        Added in 0.1.0.
        """
        return cls(client, await client.fine_tuning.jobs.retrieve(job_id), sleep=sleep, now=now)

    @classmethod
    async def list(
        cls,
        client: AsyncOpenAI,
        *,
        metadata: dict[str, str] | None = None,
        limit: int = 20,
        sleep: AsyncSleep | None = None,
        now: Callable[[], float] | None = None,
    ) -> builtins.list[AsyncFineTuneJob]:
        """The newest `limit` jobs (optionally only those whose metadata holds `metadata`).

        Added in 0.1.0.
        """
        jobs: builtins.list[AsyncFineTuneJob] = []
        kwargs: dict[str, Any] = {"limit": min(limit, 100)}
        if metadata:
            kwargs["metadata"] = metadata
        async for snapshot in client.fine_tuning.jobs.list(**kwargs):
            jobs.append(cls(client, snapshot, sleep=sleep, now=now))
            if len(jobs) >= limit:
                break
        return jobs

    async def refresh(self) -> AsyncFineTuneJob:
        """Fetch the latest snapshot; return self.

        Added in 0.1.0.
        """
        self.snapshot = await self.client.fine_tuning.jobs.retrieve(self.id)
        return self

    async def cancel(self) -> AsyncFineTuneJob:
        """Cancel the job; return self.

        Added in 0.1.0.
        """
        self.snapshot = await self.client.fine_tuning.jobs.cancel(self.id)
        return self

    async def pause(self) -> AsyncFineTuneJob:
        """Pause a running job; return self.

        Added in 0.1.0.
        """
        self.snapshot = await self.client.fine_tuning.jobs.pause(self.id)
        return self

    async def resume(self) -> AsyncFineTuneJob:
        """Resume a paused job; return self.

        Added in 0.1.0.
        """
        self.snapshot = await self.client.fine_tuning.jobs.resume(self.id)
        return self

    async def wait(
        self,
        *,
        timeout: Seconds | None = 24 * 3600.0,  # noqa: ASYNC109 - mirrors FineTuneJob.wait
        poll: Seconds | None = None,
        on_event: EventHandler | None = None,
        policy: PollPolicy | None = None,
    ) -> AsyncTunedModel:
        """Wait until the job finishes; return the tuned model (see `FineTuneJob.wait`).

        Added in 0.1.0.
        """
        policy = policy or PollPolicy.of(poll=poll, timeout=timeout)
        flow = wait_flow(policy)
        try:
            command = next(flow)
            while True:
                if command.delay:
                    await self._sleep(command.delay)
                outcome: Fetched | FetchFailed
                try:
                    raw = await self.client.fine_tuning.jobs.with_raw_response.retrieve(self.id)
                    outcome = Fetched(raw.parse(), _poll_after(raw.headers))
                    self.snapshot = outcome.job
                    if on_event is not None:
                        for event in await self._drain(self._cursor):
                            self._cursor.advance(event)
                            on_event(event)
                except Exception as exc:  # noqa: BLE001 - classified, then re-raised by the flow
                    outcome = FetchFailed(exc, classify(exc, operation="retrieve", now=time.time()))
                command = flow.send(outcome)
        except StopIteration as stop:
            self.snapshot = stop.value
        assert self.snapshot.fine_tuned_model is not None  # noqa: S101 - succeeded jobs name it
        return AsyncTunedModel(
            self.client,
            self.snapshot.fine_tuned_model,
            job=self.snapshot,
            sleep=self._sleep,
            now=self._now,
            fresh=fresh_from(self.client, self.snapshot, self._now()),
        )

    async def _drain(self, cursor: EventCursor) -> builtins.list[Event]:
        """The new events (oldest first); the cursor moves past each only when told (`advance`)."""
        events = await _adrain_all(self.client, self.id, cursor)
        for event in events:
            if isinstance(event, MetricsEvent):
                self._last_metrics = event
        return events

    async def events(
        self, *, follow: bool = False, since: str | None = None, poll: Seconds | None = None
    ) -> AsyncIterator[Event]:
        """Yield the job's events oldest first, each exactly once (see `FineTuneJob.events`).

        Added in 0.1.0.
        """
        cursor = EventCursor(last_id=since)
        policy = PollPolicy.of(poll=poll, timeout=None)
        looks = errors = 0
        while True:
            try:
                if follow:
                    await self.refresh()
                new = await self._drain(cursor)
            except Exception as exc:  # noqa: BLE001 - classified by _retry_delay
                delay = _retry_delay(exc, errors := errors + 1, policy, follow=follow)
                await self._sleep(delay)
                continue
            errors = 0
            for event in new:  # past an event once handed out, as wait() does
                cursor.advance(event)
                yield event
            if not follow or (self.status in TERMINAL and not new):
                return
            looks += 1
            if self.status not in TERMINAL:  # finished: the last look goes at once
                await self._sleep(
                    policy.paused_interval if self.status == "paused" else policy.backoff(looks)
                )

    async def progress(self) -> Progress:
        """Where the job is: status, step/total and ETA.

        Added in 0.1.0.
        """
        await self.refresh()
        for event in await self._drain(self._progress_cursor):
            self._progress_cursor.advance(event)
        last = self._last_metrics
        finish = self.snapshot.estimated_finish
        return Progress(
            status=self.status,
            step=last.step if last else None,
            total_steps=last.total_steps if last else None,
            estimated_finish=datetime.fromtimestamp(finish, tz=timezone.utc) if finish else None,
        )

    async def metrics(self) -> builtins.list[MetricPoint]:
        """The training curve: the results file once the job succeeded, else the events.

        Results files have no full-validation columns: those come from the events (merged in
        by step), so the curve has train, valid and full-valid metrics wherever they exist.

        Added in 0.1.0.
        """
        files = builtins.list(self.snapshot.result_files or [])
        points: builtins.list[MetricPoint] = []
        if files:
            points = parse_results_csv((await self.client.files.content(files[0])).read())
        if points and not (self.snapshot.validation_file and needs_events(points)):
            return points
        events = await _adrain_all(self.client, self.id, EventCursor())
        from_log = from_events(e for e in events if isinstance(e, MetricsEvent))
        return merge(points, from_log) if points else from_log

    async def checkpoints(self) -> builtins.list[FineTuningJobCheckpoint]:
        """The job's checkpoints, newest first.

        Added in 0.1.0.
        """
        return [c async for c in self.client.fine_tuning.jobs.checkpoints.list(self.id)]


async def _adrain_all(client: AsyncOpenAI, job_id: str, cursor: EventCursor) -> list[Event]:
    command: ListEvents | None = cursor.start()
    while command is not None:
        kwargs: dict[str, Any] = {"limit": command.limit}
        if command.after is not None:
            kwargs["after"] = command.after
        page = await client.fine_tuning.jobs.list_events(job_id, **kwargs)
        command = cursor.feed(page.data, has_more=page.has_more)
    return cursor.peek()
