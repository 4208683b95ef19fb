"""A simulator's client brings its clock: code given no `sleep=` never hangs on virtual time.

The README's simulator snippet and the guides' `FineTuneJob.create(sim.client(), ...)` run to
the end with no `sleep=` anywhere. Each test is guarded by SIGALRM: a regression fails, it
does not hang.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from types import FrameType

import anyio
import httpx2
import openai
import pytest

from finetune_kit import AsyncFineTuneJob, Dataset, FineTuneJob, compare
from finetune_kit.cli.main import bundled_dataset
from finetune_kit.testing import Simulator, VirtualClock, clock_of

GUARD_SECONDS = 60


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    """Fail the test (instead of hanging) if it runs for more than GUARD_SECONDS."""

    def expired(_signum: int, _frame: FrameType | None) -> None:
        raise TimeoutError(f"still waiting after {GUARD_SECONDS} s: a wait on the real clock")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(GUARD_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_the_readme_snippet_and_the_guides_create_run_to_the_end() -> None:
    """README: `sim = Simulator(); client = sim.client()`, then the guides' create and wait."""
    sim = Simulator()
    client = sim.client()  # an openai.OpenAI answered by the simulator
    sim.faults.server_error("jobs.create", after=True)  # the duplicate-job trap, on demand
    job = FineTuneJob.create(client, model="gpt-4o-mini-2024-07-18", training=bundled_dataset())
    model = job.wait()
    assert job.status == "succeeded"
    assert len(sim.jobs) == 1
    assert (model.chat("Tell me about Helium").choices[0].message.content or "").startswith(
        "Helium"
    )
    assert isinstance(sim.clock, VirtualClock)
    assert sim.clock.slept > 0  # it waited, on the simulator's clock


def test_upload_and_compare_use_the_simulators_clock() -> None:
    """`Dataset.upload` (waits for processing) and `compare` too, with no sleep or timer."""
    sim = Simulator()
    client = sim.client(max_retries=0)  # the SDK's own retries sleep for real: leave them out
    sim.faults.rate_limit("chat.create", retry_after=30, times=2)
    file = Dataset.from_jsonl(bundled_dataset()).upload(client, model="gpt-4o-mini-2024-07-18")
    assert file.status == "processed"
    before = sim.clock.now()
    result = compare(client, models=["gpt-4o-mini-2024-07-18"], prompts=["Hi"], concurrency=1)
    assert result.summaries["gpt-4o-mini-2024-07-18"].errors == 0
    assert sim.clock.now() - before == 60.0  # two Retry-After: 30 waits, on virtual time


def test_the_async_twins_run_to_the_end() -> None:
    """`AsyncFineTuneJob.create(sim.async_client(), ...)` and `wait()`, no sleep given."""
    sim = Simulator()

    async def main() -> str:
        job = await AsyncFineTuneJob.create(
            sim.async_client(), model="gpt-4o-mini-2024-07-18", training=bundled_dataset()
        )
        return (await job.wait()).id

    assert anyio.run(main).startswith("ft:gpt-4o-mini-2024-07-18:")


def test_clock_of_knows_the_simulators_clients() -> None:
    """Every client the simulator makes (and copies of them) has its clock; others have none."""
    sim = Simulator()
    assert clock_of(sim.client()) is sim.clock
    assert clock_of(sim.client().with_options(max_retries=0)) is sim.clock
    assert clock_of(sim.async_client()) is sim.clock
    assert clock_of(sim.azure_client()) is sim.clock
    http = httpx2.Client(transport=sim.transport())
    assert clock_of(openai.OpenAI(api_key="sk-none", http_client=http)) is sim.clock
    assert clock_of(Simulator().client()) is not sim.clock
    assert clock_of(openai.OpenAI(api_key="sk-none")) is None
    assert clock_of(object()) is None


def test_importing_finetune_kit_does_not_import_the_simulator() -> None:
    """The seam is lazy: `import finetune_kit` loads nothing of `finetune_kit.testing`."""
    code = (
        "import sys, finetune_kit\n"
        "print(any(m.startswith('finetune_kit.testing') for m in sys.modules))"
    )
    out = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=50
    )
    assert out.stdout.strip() == "False"
