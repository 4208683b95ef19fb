"""`AsyncFineTuneJob`: the async twin of `finetune_kit.jobs.FineTuneJob` (imported from there).

The same flows decide; this shell differs from `FineTuneJob`'s only in `await`.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
from openai import AsyncOpenAI, OpenAI
from openai.types.fine_tuning import FineTuningJob
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from finetune_kit import files as _files
from finetune_kit._core.create import Cancel, Create, JobsPage, ListJobs, create_flow
from finetune_kit._core.drive import adrive
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
from finetune_kit._defaults import asleep_for, now_for
from finetune_kit._lock import afingerprint_lock
from finetune_kit._preflight import CreateSpec, aserved_models
from finetune_kit.exceptions import ConfigurationError
from finetune_kit.files import UploadOptions
from finetune_kit.models import AsyncTunedModel, fresh_from

__all__ = ["AsyncFineTuneJob", "AsyncSleep"]

AsyncSleep = Callable[[float], Awaitable[None]]
CreateCall = ListJobs | Create | Cancel


def _acreating(once: AsyncOpenAI) -> Callable[[CreateCall], Awaitable[JobsPage | FineTuningJob]]:
    """`_creating` for an `AsyncOpenAI` client."""

    async def perform(command: CreateCall) -> JobsPage | FineTuningJob:
        match command:
            case ListJobs():
                page = await once.fine_tuning.jobs.list(**command.query())
                return JobsPage(builtins.list(page.data), page.has_more)
            case Create(params=params):
                return await once.fine_tuning.jobs.create(**params)
            case Cancel(job_id=job_id):
                return await once.fine_tuning.jobs.cancel(job_id)

    return perform


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
        self._events = JobEvents()

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
        """Create a fine-tuning job, exactly once (see `FineTuneJob.create`)."""
        if isinstance(client, OpenAI):
            raise ConfigurationError(
                "AsyncFineTuneJob.create takes an AsyncOpenAI client; use FineTuneJob"
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
            client, when, await aserved_models(client, when)
        )
        plan = await anyio.to_thread.run_sync(spec.preflight, names)  # reads the data
        do_sleep = sleep or asleep_for(client)
        options = spec.upload_options()
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
        perform = _acreating(client.with_options(max_retries=0))
        async with afingerprint_lock(fingerprint):  # callers on this machine take turns
            flow = create_flow(params, fingerprint)
            snapshot = await adrive(flow, perform, sleep=do_sleep, now=clock)
        return cls(client, snapshot, sleep=sleep, now=now)

    @classmethod
    async def retrieve(
        cls,
        client: AsyncOpenAI,
        job_id: str,
        *,
        sleep: AsyncSleep | None = None,
        now: Callable[[], float] | None = None,
    ) -> AsyncFineTuneJob:
        """Attach to an existing job by id."""
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
        """The newest `limit` jobs (optionally only those whose metadata holds `metadata`)."""
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
        """Fetch the latest snapshot; return self."""
        self.snapshot = await self.client.fine_tuning.jobs.retrieve(self.id)
        return self

    async def cancel(self) -> AsyncFineTuneJob:
        """Cancel the job; return self."""
        self.snapshot = await self.client.fine_tuning.jobs.cancel(self.id)
        return self

    async def pause(self) -> AsyncFineTuneJob:
        """Pause a running job; return self."""
        self.snapshot = await self.client.fine_tuning.jobs.pause(self.id)
        return self

    async def resume(self) -> AsyncFineTuneJob:
        """Resume a paused job; return self."""
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
        """Wait until the job finishes; return the tuned model (see `FineTuneJob.wait`)."""
        flow = self._events.wait(policy or PollPolicy.of(poll=poll, timeout=timeout), on_event)
        self.snapshot = await adrive(flow, self._perform, sleep=self._sleep, now=self._now)
        assert self.snapshot.fine_tuned_model is not None  # noqa: S101 - succeeded jobs name it
        return AsyncTunedModel(
            self.client,
            self.snapshot.fine_tuned_model,
            job=self.snapshot,
            sleep=self._sleep,
            now=self._now,
            fresh=fresh_from(self.client, self.snapshot, self._now()),
        )

    async def _perform(self, command: JobCall) -> JobResult:
        """Carry out one call of a flow of `JobEvents` / `Following` on this job."""
        match command:
            case Retrieve():
                raw = await self.client.fine_tuning.jobs.with_raw_response.retrieve(self.id)
                self.snapshot = raw.parse()
                return Fetched(self.snapshot, poll_after(raw.headers))
            case ListEvents():
                query = command.query()
                page = await self.client.fine_tuning.jobs.list_events(self.id, **query)
                return EventsPage(page.data, page.has_more)
            case HandOut(event=event, to=to):
                to(event)
                return None

    async def events(
        self, *, follow: bool = False, since: str | None = None, poll: Seconds | None = None
    ) -> AsyncIterator[Event]:
        """Yield the job's events oldest first, each exactly once (see `FineTuneJob.events`)."""
        policy = PollPolicy.of(poll=poll, timeout=None)
        following = Following(self._events, EventCursor(last_id=since), policy, follow)
        while (look := following.look()) is not None:
            for event in await adrive(look, self._perform, sleep=self._sleep, now=self._now):
                following.cursor.advance(event)  # past an event once handed out
                yield event

    async def progress(self) -> Progress:
        """Where the job is: status, step/total and ETA."""
        await self.refresh()
        last = await adrive(
            self._events.catch_up(), self._perform, sleep=self._sleep, now=self._now
        )
        return progress_of(self.snapshot, last)

    async def metrics(self) -> builtins.list[MetricPoint]:
        """The training curve: the results file once the job succeeded, else the events.

        Results files have no full-validation columns: those come from the events (merged in
        by step), so the curve has train, valid and full-valid metrics wherever they exist.
        """
        files = builtins.list(self.snapshot.result_files or [])
        points: builtins.list[MetricPoint] = []
        if files:
            points = parse_results_csv((await self.client.files.content(files[0])).read())
        if needs_no_events(points, self.snapshot):
            return points
        events = await adrive(every_event(), self._perform, sleep=self._sleep, now=self._now)
        return curve(points, events)

    async def checkpoints(self) -> builtins.list[FineTuningJobCheckpoint]:
        """The job's checkpoints, newest first."""
        return [c async for c in self.client.fine_tuning.jobs.checkpoints.list(self.id)]
