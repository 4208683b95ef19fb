"""Shared helpers of the job tests: one async harness over `FineTuneJob` and `AsyncFineTuneJob`."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Literal

import openai
import pytest
from openai import AsyncAzureOpenAI, AsyncOpenAI, AzureOpenAI, OpenAI
from openai.types.fine_tuning import FineTuningJob
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from finetune_kit import (
    AsyncFineTuneJob,
    AsyncTunedModel,
    FineTuneJob,
    MessageEvent,
    MetricPoint,
    MetricsEvent,
    Progress,
    TunedModel,
)
from finetune_kit.cli.main import bundled_dataset
from finetune_kit.testing import Simulator

Twin = Literal["sync", "async"]
Kind = Literal["openai", "azure", "azure-v1"]
Event = MessageEvent | MetricsEvent
Client = OpenAI | AsyncOpenAI

MODEL = "gpt-4o-mini-2024-07-18"
ORG_SLUG = "finetune-kit-sim"
ELLE: Path = bundled_dataset()
"""The bundled 10-example Elle dataset (100 steps: 10 epochs of 10 examples, batch 1)."""
ELLE_EVENTS = 109
"""Elle's events: created, validating, validated, started, 100 steps, 3 checkpoints, model, done."""
AZURE_V1 = "https://res.openai.azure.com/openai/v1/"


class Sleeps:
    """A sleep that records each delay and moves the simulator's virtual clock instead."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.delays: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.sim.clock.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        await self.sim.clock.asleep(seconds)


class Job:
    """A `FineTuneJob` or an `AsyncFineTuneJob` behind one awaitable interface."""

    def __init__(self, inner: FineTuneJob | AsyncFineTuneJob) -> None:
        self.inner = inner

    @property
    def id(self) -> str:
        return self.inner.id

    @property
    def status(self) -> str:
        return self.inner.status

    @property
    def snapshot(self) -> FineTuningJob:
        return self.inner.snapshot

    async def refresh(self) -> Job:
        if isinstance(self.inner, FineTuneJob):
            self.inner.refresh()
        else:
            await self.inner.refresh()
        return self

    async def cancel(self) -> Job:
        if isinstance(self.inner, FineTuneJob):
            self.inner.cancel()
        else:
            await self.inner.cancel()
        return self

    async def pause(self) -> Job:
        if isinstance(self.inner, FineTuneJob):
            self.inner.pause()
        else:
            await self.inner.pause()
        return self

    async def resume(self) -> Job:
        if isinstance(self.inner, FineTuneJob):
            self.inner.resume()
        else:
            await self.inner.resume()
        return self

    async def wait(self, **kwargs: Any) -> TunedModel | AsyncTunedModel:
        if isinstance(self.inner, FineTuneJob):
            return self.inner.wait(**kwargs)
        return await self.inner.wait(**kwargs)

    async def events(
        self,
        *,
        follow: bool = False,
        since: str | None = None,
        poll: float | None = None,
        sink: list[Event] | None = None,
    ) -> list[Event]:
        """Collect `events(...)`; each event also goes to `sink` as it comes (kept on errors)."""
        got: list[Event] = [] if sink is None else sink
        start = len(got)
        if isinstance(self.inner, FineTuneJob):
            got.extend(self.inner.events(follow=follow, since=since, poll=poll))
        else:
            async for event in self.inner.events(follow=follow, since=since, poll=poll):
                got.append(event)  # noqa: PERF401 - one by one: kept when the iterator raises
        return got[start:]

    async def progress(self) -> Progress:
        if isinstance(self.inner, FineTuneJob):
            return self.inner.progress()
        return await self.inner.progress()

    async def metrics(self) -> list[MetricPoint]:
        if isinstance(self.inner, FineTuneJob):
            return self.inner.metrics()
        return await self.inner.metrics()

    async def checkpoints(self) -> list[FineTuningJobCheckpoint]:
        if isinstance(self.inner, FineTuneJob):
            return self.inner.checkpoints()
        return await self.inner.checkpoints()


class Harness:
    """Drive `FineTuneJob` (sync client) or `AsyncFineTuneJob` (async client) with one test body.

    Every sleep goes through `sleeps` (recorded, on the simulator's virtual clock).
    """

    def __init__(self, sim: Simulator, client: Client) -> None:
        self.sim = sim
        self.client = client
        self.sleeps = Sleeps(sim)

    @property
    def flavour(self) -> Twin:
        return "sync" if isinstance(self.client, OpenAI) else "async"

    async def create(self, *, model: str = MODEL, training: Any = ELLE, **kwargs: Any) -> Job:
        """`create(client, model=..., training=..., **kwargs)` with the recording sleep."""
        if isinstance(self.client, OpenAI):
            return Job(
                FineTuneJob.create(
                    self.client, model=model, training=training, sleep=self.sleeps.sleep, **kwargs
                )
            )
        return Job(
            await AsyncFineTuneJob.create(
                self.client, model=model, training=training, sleep=self.sleeps.asleep, **kwargs
            )
        )

    async def retrieve(self, job_id: str) -> Job:
        if isinstance(self.client, OpenAI):
            return Job(FineTuneJob.retrieve(self.client, job_id, sleep=self.sleeps.sleep))
        return Job(await AsyncFineTuneJob.retrieve(self.client, job_id, sleep=self.sleeps.asleep))

    async def list(
        self, *, metadata: dict[str, str] | None = None, limit: int = 20
    ) -> builtins.list[Job]:
        if isinstance(self.client, OpenAI):
            return [Job(j) for j in FineTuneJob.list(self.client, metadata=metadata, limit=limit)]
        found = await AsyncFineTuneJob.list(self.client, metadata=metadata, limit=limit)
        return [Job(j) for j in found]

    async def aclose(self) -> None:
        if isinstance(self.client, OpenAI):
            self.client.close()
        else:
            await self.client.close()


def make_client(sim: Simulator, flavour: Twin, kind: Kind = "openai", **kwargs: Any) -> Client:
    """A sync or async SDK client answered by `sim`: OpenAI, AzureOpenAI, or Azure's v1 URL."""
    if kind == "azure-v1":
        kwargs["base_url"] = AZURE_V1
    if kind in ("openai", "azure-v1"):
        return sim.client(**kwargs) if flavour == "sync" else sim.async_client(**kwargs)
    if flavour == "sync":
        client: AzureOpenAI = sim.azure_client(**kwargs)
        return client
    aclient: AsyncAzureOpenAI = sim.async_azure_client(**kwargs)
    return aclient


HarnessFactory = Callable[..., Harness]


async def harness_factory(flavour: Twin) -> AsyncIterator[HarnessFactory]:
    """The body of a fixture: `make(sim, kind=..., **client_kwargs)`, clients closed at teardown."""
    made: list[Harness] = []

    def make(sim: Simulator, kind: Kind = "openai", **kwargs: Any) -> Harness:
        harness = Harness(sim, make_client(sim, flavour, kind, **kwargs))
        made.append(harness)
        return harness

    yield make
    for harness in made:
        await harness.aclose()


def record_ids(sim: Simulator, job_id: str) -> list[str]:
    """The ids of every event the simulator's job has emitted, oldest first."""
    return [str(e["id"]) for e in sim.jobs[job_id].events]


def no_sdk_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Make the SDK's own retry sleeps instant; return the list of delays it wanted."""
    wanted: list[float] = []
    original = openai._base_client.BaseClient._calculate_retry_timeout

    def instant(self: Any, *args: Any, **kwargs: Any) -> float:
        wanted.append(original(self, *args, **kwargs))
        return 0.0

    monkeypatch.setattr(openai._base_client.BaseClient, "_calculate_retry_timeout", instant)
    return wanted
