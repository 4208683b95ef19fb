"""The file-processing wait, sync and async alike: long Retry-After waited out, then typed."""

from __future__ import annotations

from typing import Literal

import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types import FileObject

from finetune_kit.cli.main import bundled_dataset
from finetune_kit.exceptions import RateLimitedError, WaitTimeoutError
from finetune_kit.files import MAX_POLL_ERRORS, UploadOptions, aupload, upload
from finetune_kit.testing import Simulator
from finetune_kit.testing.clock import VirtualClock

pytestmark = pytest.mark.anyio

Twin = Literal["sync", "async"]


async def _upload(sim: Simulator, flavour: Twin, **options: float) -> FileObject:
    opts = UploadOptions(**options)  # type: ignore[arg-type]
    if flavour == "sync":
        with sim.client(max_retries=0) as client:
            assert isinstance(client, OpenAI)
            return upload(client, bundled_dataset(), opts, sleep=sim.clock.sleep)
    async with sim.async_client(max_retries=0) as aclient:
        assert isinstance(aclient, AsyncOpenAI)
        return await aupload(aclient, bundled_dataset(), opts, sleep=sim.clock.asleep)


def _slept(sim: Simulator) -> float:
    assert isinstance(sim.clock, VirtualClock)
    return sim.clock.slept


async def test_a_retry_after_over_120_s_is_waited_out(flavour: Twin) -> None:
    """Two 429s with Retry-After 130 s (the SDK gives up on those): slept 1 + 130 + 130 s."""
    sim = Simulator()
    sim.faults.rate_limit("files.retrieve", retry_after=130, times=2)
    file = await _upload(sim, flavour)
    assert file.status == "processed"
    assert _slept(sim) == 261.0
    assert sim.calls["files.retrieve"] == 3


async def test_rate_limited_at_every_look_is_a_typed_error(flavour: Twin) -> None:
    """Past MAX_POLL_ERRORS failed looks in a row: RateLimitedError, the SDK's error its cause."""
    sim = Simulator()
    sim.faults.rate_limit("files.retrieve", retry_after=130, times=None)
    with pytest.raises(RateLimitedError) as info:
        await _upload(sim, flavour)
    assert str(info.value) == "rate limited during file processing"
    assert info.value.retry_after == 130.0
    assert isinstance(info.value.__cause__, openai.RateLimitError)
    assert MAX_POLL_ERRORS == 10
    assert sim.calls["files.retrieve"] == 11
    assert _slept(sim) == 1.0 + 130.0 * 10


async def test_failed_looks_count_against_the_timeout(flavour: Twin) -> None:
    """A Retry-After longer than the time left: WaitTimeoutError at the deadline, not after."""
    sim = Simulator()
    sim.faults.rate_limit("files.retrieve", retry_after=130, times=None)
    with pytest.raises(WaitTimeoutError) as info:
        await _upload(sim, flavour, timeout=200.0)
    assert info.value.waited == 200.0
    assert str(info.value).endswith("after 200 s (the last look failed: RateLimitError)")
    assert _slept(sim) == 200.0


async def test_a_non_transient_error_is_raised_at_once(flavour: Twin) -> None:
    """A 404 while processing is not waited out: the SDK's NotFoundError, after one look."""
    sim = Simulator()
    sim.faults.server_error("files.retrieve", status=404, times=None)
    with pytest.raises(openai.NotFoundError):
        await _upload(sim, flavour)
    assert sim.calls["files.retrieve"] == 1
