"""`run_batch` / `arun_batch` on the simulator's Batch API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from finetune_kit import FineTuneJob
from finetune_kit.batch import MISSING, _parse, arun_batch, run_batch
from finetune_kit.cli.main import bundled_dataset
from finetune_kit.exceptions import ConfigurationError, ProviderError, WaitTimeoutError
from finetune_kit.testing import Simulator

BASE = "gpt-4o-mini-2024-07-18"
UNKNOWN = "ft:gpt-4o-mini-2024-07-18:nobody::zzz"
PHASE = 60.0


@pytest.fixture
def trained() -> tuple[Simulator, str]:
    sim = Simulator()
    client = sim.client(max_retries=0)
    job = FineTuneJob.create(client, model=BASE, training=bundled_dataset(), sleep=sim.clock.sleep)
    return sim, job.wait().id


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def _requests(tuned: str) -> list[tuple[str, str, list[dict[str, Any]]]]:
    return [
        ("base-1", BASE, _user("Tell me about Helium")),
        ("tuned-1", tuned, _user("Tell me about Helium")),
        ("tuned-2", tuned, _user("Tell me about Neon")),
        ("bad-1", UNKNOWN, _user("Tell me about Argon")),
    ]


def _batch_inputs(sim: Simulator) -> list[bytes]:
    return [f.content for f in sim.files.values() if f.purpose == "batch"]


def test_results_match_custom_ids_and_time_is_three_phases(
    trained: tuple[Simulator, str],
) -> None:
    """Each custom_id gets its own model's answer; the unknown model's line has an error."""
    sim, tuned = trained
    start = sim.clock.now()
    results = run_batch(sim.client(max_retries=0), _requests(tuned), sleep=sim.clock.sleep)
    elapsed = sim.clock.now() - start
    assert set(results) == {"base-1", "tuned-1", "tuned-2", "bad-1"}
    for custom_id, model in [("base-1", BASE), ("tuned-1", tuned), ("tuned-2", tuned)]:
        completion, error = results[custom_id]
        assert error is None
        assert completion is not None
        assert completion.model.startswith(model)
        assert completion.choices[0].message.content
    assert results["tuned-1"][0] is not None
    assert results["tuned-2"][0] is not None
    assert (
        results["tuned-1"][0].choices[0].message.content
        != results["tuned-2"][0].choices[0].message.content
    )
    completion, error = results["bad-1"]
    assert completion is None
    assert error is not None
    assert "404" in error
    assert 3 * PHASE <= elapsed <= 3 * PHASE + 30.0


def test_input_file_has_one_line_per_request(trained: tuple[Simulator, str]) -> None:
    """The uploaded JSONL holds one chat-completions request line per request, with params."""
    sim, tuned = trained
    requests = _requests(tuned)
    run_batch(sim.client(max_retries=0), requests, params={"temperature": 0}, sleep=sim.clock.sleep)
    (content,) = _batch_inputs(sim)
    lines = [json.loads(line) for line in content.splitlines()]
    assert len(lines) == len(requests)
    for line, (custom_id, model, messages) in zip(lines, requests, strict=True):
        assert line == {
            "custom_id": custom_id,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"temperature": 0, "model": model, "messages": messages},
        }
    (record,) = [f for f in sim.files.values() if f.purpose == "batch"]
    assert record.filename == "finetune-kit-compare.jsonl"


def test_timeout_raises_wait_timeout() -> None:
    """A batch that outlasts the timeout raises WaitTimeoutError."""
    sim = Simulator()
    with pytest.raises(WaitTimeoutError, match="batch_"):
        run_batch(
            sim.client(max_retries=0),
            [("a", BASE, _user("hi"))],
            sleep=sim.clock.sleep,
            timeout=90.0,
        )


def test_cancelled_batch_raises_provider_error() -> None:
    """A batch cancelled while it runs raises ProviderError naming the batch."""
    sim = Simulator()
    client = sim.client(max_retries=0)

    def sleep_and_cancel(seconds: float) -> None:
        for batch in client.batches.list():
            if batch.status == "in_progress":
                client.batches.cancel(batch.id)
        sim.clock.sleep(seconds)

    with pytest.raises(ProviderError, match=r"batch_\w+ ended cancelled"):
        run_batch(client, [("a", BASE, _user("hi"))], sleep=sleep_and_cancel)


def test_bad_requests_are_refused_before_upload() -> None:
    """No requests, or a repeated custom_id, raise ConfigurationError and upload nothing."""
    sim = Simulator()
    with pytest.raises(ConfigurationError):
        run_batch(sim.client(max_retries=0), [], sleep=sim.clock.sleep)
    with pytest.raises(ConfigurationError):
        run_batch(
            sim.client(max_retries=0),
            [("a", BASE, _user("x")), ("a", BASE, _user("y"))],
            sleep=sim.clock.sleep,
        )
    assert _batch_inputs(sim) == []


def test_missing_lines_get_an_error() -> None:
    """A custom_id in neither file comes back with the 'missing' error."""
    assert _parse(["x"], b"\n", None) == {"x": (None, MISSING)}


@pytest.mark.anyio
async def test_async_twin_matches(trained: tuple[Simulator, str]) -> None:
    """`arun_batch` returns the same outputs and errors as `run_batch`."""
    sim, tuned = trained
    sync = run_batch(sim.client(max_retries=0), _requests(tuned), sleep=sim.clock.sleep)
    start = sim.clock.now()
    aio = await arun_batch(
        sim.async_client(max_retries=0), _requests(tuned), sleep=sim.clock.asleep
    )
    assert 3 * PHASE <= sim.clock.now() - start <= 3 * PHASE + 30.0

    def view(
        results: dict[str, Any],
    ) -> dict[str, tuple[str | None, bool]]:
        return {
            k: (c.choices[0].message.content if c else None, e is None)
            for k, (c, e) in results.items()
        }

    assert view(aio) == view(sync)
