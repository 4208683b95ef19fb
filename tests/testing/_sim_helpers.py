"""Shared helpers for the simulator tests: the Elle data, uploads, jobs, sync/async parity."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable
from typing import Literal, TypeVar

from openai import AsyncOpenAI, OpenAI
from openai.pagination import AsyncCursorPage, SyncCursorPage
from openai.types import FileObject
from openai.types.fine_tuning import FineTuningJob

from finetune_kit.cli.main import bundled_dataset
from finetune_kit.testing import Simulator
from finetune_kit.testing.clock import DEFAULT_START

T = TypeVar("T")

Client = OpenAI | AsyncOpenAI
"""Either SDK client: the shared test bodies take one and `await aw(...)` every call."""

Twin = Literal["sync", "async"]

MODEL = "gpt-4o-mini-2024-07-18"
ORG_SLUG = "finetune-kit-sim"
T0 = int(DEFAULT_START)
"""Where virtual time starts: 2026-11-01T00:00:00Z."""
ELLE = bundled_dataset().read_bytes()
"""The bundled 10-example Elle dataset."""
ELLE_TOKENS = 786
"""Elle's billed tokens per epoch with gpt-4o-mini (o200k_base, cookbook formula)."""
HELIUM = (
    "Helium a noble gas so rare - It's lighter than air, so beware - It's in balloons, you know "
    "- And in space, it does glow - It's the second lightest, take care"
)
"""Elle's answer to "Tell me about Helium"."""

# With the default Timing, a job created at C: validating [C, C+30), queued [C+30, C+90),
# step k done at C+90+2k, 100 steps (10 examples x 10 auto epochs, batch 1): done at C+290.
VALIDATING = 30
QUEUED = 60
STEP = 2
STEPS = 100
RUN_START = VALIDATING + QUEUED
DURATION = RUN_START + STEPS * STEP


async def aw(value: Awaitable[T] | T) -> T:
    """The value of a sync call, or the awaited value of an async one."""
    if inspect.isawaitable(value):
        return await value
    return value


async def first_page(
    page: SyncCursorPage[T] | AsyncCursorPage[T] | Awaitable[AsyncCursorPage[T]],
) -> AsyncCursorPage[T] | SyncCursorPage[T]:
    """The first page of a list call, sync or async."""
    if inspect.isawaitable(page):
        return await page
    return page


async def all_items(
    page: SyncCursorPage[T] | AsyncCursorPage[T] | Awaitable[AsyncCursorPage[T]],
) -> list[T]:
    """Every item of a list call, following the cursor, sync or async."""
    first = await first_page(page)
    if isinstance(first, SyncCursorPage):
        return list(first)
    return [item async for item in first]


def make_client(sim: Simulator, flavour: Twin, *, max_retries: int = 0) -> Client:
    """A sync or async SDK client answered by `sim`."""
    if flavour == "sync":
        return sim.client(max_retries=max_retries)
    return sim.async_client(max_retries=max_retries)


async def closing(client: Client) -> AsyncIterator[Client]:
    """Yield `client`, then close it (the body of a fixture)."""
    yield client
    if isinstance(client, AsyncOpenAI):
        await client.close()
    else:
        client.close()


def upload(
    client: OpenAI,
    content: bytes = ELLE,
    *,
    filename: str = "elle.jsonl",
    purpose: Literal["fine-tune", "batch"] = "fine-tune",
) -> FileObject:
    """Upload `content` as a file (processed 2 s later)."""
    return client.files.create(file=(filename, content), purpose=purpose)


def ready_file(
    sim: Simulator,
    client: OpenAI,
    content: bytes = ELLE,
    *,
    filename: str = "elle.jsonl",
    purpose: Literal["fine-tune", "batch"] = "fine-tune",
) -> str:
    """Upload `content` and let it be processed; its file id."""
    file_id = upload(client, content, filename=filename, purpose=purpose).id
    sim.clock.sleep(2)
    return file_id


def elle_job(
    sim: Simulator, client: OpenAI, *, suffix: str | None = None, run: bool = False
) -> FineTuningJob:
    """Start a gpt-4o-mini job on Elle (its file processed first); run it to the end if `run`."""
    training = ready_file(sim, client)
    if suffix is None:
        job = client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    else:
        job = client.fine_tuning.jobs.create(model=MODEL, training_file=training, suffix=suffix)
    if run:
        sim.clock.sleep(DURATION)
        job = client.fine_tuning.jobs.retrieve(job.id)
    return job


def tuned_model(sim: Simulator, client: OpenAI, *, suffix: str | None = "elle") -> str:
    """Fine-tune gpt-4o-mini on Elle to the end; the tuned model's name."""
    job = elle_job(sim, client, suffix=suffix, run=True)
    assert job.status == "succeeded"
    assert job.fine_tuned_model is not None
    return job.fine_tuned_model


def sleep_until(sim: Simulator, when: float) -> None:
    """Move the simulator's virtual clock forward to `when` (Unix seconds)."""
    sim.clock.sleep(when - sim.clock.now())
