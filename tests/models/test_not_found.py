"""No silent waits: a model that doesn't exist fails at once; only a model known to exist is
waited for, and each wait says what it waits for.

Every timing is on the simulator's virtual clock (`clock.slept`: seconds waited).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

import openai
import pytest

from finetune_kit import (
    AsyncFineTuneJob,
    AsyncTunedModel,
    FineTuneJob,
    ModelNotFoundError,
    ProviderError,
    TunedModel,
    acompare,
    compare,
)
from finetune_kit.cli.main import bundled_dataset
from finetune_kit.testing import Simulator, VirtualClock

pytestmark = pytest.mark.anyio

BASE = "gpt-4o-mini-2024-07-18"
TUNED = "ft:gpt-4o-mini-2024-07-18:finetune-kit-sim::38ea64f6"  # what Simulator() trains first
MISSING = "ft:gpt-4o-mini-2024-07-18:finetune-kit-sim::nope"
RETIRED = "gpt-3.5-turbo-0125"  # shut down on 2026-10-23; the simulator starts on 2026-11-01
HINT = "a new model can take a few minutes after its job succeeds"


def _wait_line(delay: float, waited: float, budget: float = 600) -> str:
    return (
        f"waiting for {TUNED} to be served ({HINT}): trying again in {delay:g} s "
        f"({waited:g} of {budget:g} s waited)"
    )


def _trained(sim: Simulator, *, served_in: float = 0.0) -> TunedModel:
    """A model fresh from its job (its `wait()`), served `served_in` s from now; the clock's
    `slept` then counts only the test's waits."""
    job = FineTuneJob.create(sim.client(max_retries=0), model=BASE, training=bundled_dataset())
    model = job.wait()
    assert model.id == TUNED
    _ready_in(sim, served_in)
    _clock(sim).slept = 0.0
    return model


def _ready_in(sim: Simulator, seconds: float) -> None:
    """Make the simulator's tuned model answer 404 for `seconds` more (virtual) seconds."""
    finished = next(iter(sim.jobs.values())).finished_at or 0
    sim.timing.model_ready_delay = sim.clock.now() + seconds - finished


def _clock(sim: Simulator) -> VirtualClock:
    assert isinstance(sim.clock, VirtualClock)
    return sim.clock


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _model(sim: Simulator, flavour: str, model_id: str, **kwargs: Any) -> Any:
    """A model made from a name (sync or async), with no sleep: the simulator's clock is used."""
    if flavour == "sync":
        return TunedModel(sim.client(max_retries=0), model_id, **kwargs)
    return AsyncTunedModel(sim.async_client(max_retries=0), model_id, **kwargs)


async def _chat(model: Any, prompt: str = "Tell me about Helium", **kwargs: Any) -> Any:
    result = model.chat(prompt, **kwargs)
    return await result if isinstance(result, Awaitable) else result


async def test_a_model_that_does_not_exist_fails_at_once_with_close_names(flavour: str) -> None:
    """A 404 of a name the provider doesn't know: ModelNotFoundError, 0 s waited, one call."""
    sim = Simulator()
    _trained(sim)
    lines: list[str] = []
    model = _model(sim, flavour, MISSING, on_wait=lines.append)
    with pytest.raises(ModelNotFoundError) as caught:
        await _chat(model)
    assert str(caught.value) == f"model '{MISSING}' not found; did you mean '{TUNED}'?"
    assert (caught.value.model, caught.value.suggestions) == (MISSING, (TUNED,))
    assert (caught.value.status_code, caught.value.code) == (404, "model_not_found")
    assert isinstance(caught.value, ProviderError)
    assert isinstance(caught.value.__cause__, openai.NotFoundError)
    assert _clock(sim).slept == 0.0
    assert lines == []
    assert (sim.calls["chat.create"], sim.calls["models.retrieve"], sim.calls["models.list"]) == (
        1,
        1,
        1,
    )


async def test_without_the_models_list_it_just_says_not_found(flavour: str) -> None:
    """Listing the models fails: no suggestions, still at once."""
    sim = Simulator()
    sim.faults.server_error("models.list", times=None)
    with pytest.raises(ModelNotFoundError) as caught:
        await _chat(_model(sim, flavour, MISSING))
    assert str(caught.value) == f"model '{MISSING}' not found"
    assert caught.value.suggestions == ()
    assert _clock(sim).slept == 0.0


async def test_a_retired_model_fails_at_once(flavour: str) -> None:
    """A model the provider knows but no longer serves is not waited for either."""
    sim = Simulator()
    with pytest.raises(ModelNotFoundError) as caught:
        await _chat(_model(sim, flavour, RETIRED))
    assert str(caught.value) == (
        f"model '{RETIRED}' is no longer served: The model `{RETIRED}` has been deprecated."
    )
    assert _clock(sim).slept == 0.0
    assert sim.calls["chat.create"] == 1


def test_a_fresh_model_is_waited_for_and_each_wait_is_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`job.wait()`'s model is fresh: its 404 is waited out (no look-up), each wait announced."""
    sim = Simulator()
    model = _trained(sim, served_in=30)
    assert model.fresh is True
    lines: list[str] = []
    model.on_wait = lines.append
    with caplog.at_level(logging.INFO, logger="finetune_kit.waits"):
        answer = model.chat("Tell me about Helium")
    assert (answer.choices[0].message.content or "").startswith("Helium")
    assert lines == [_wait_line(5, 0), _wait_line(10, 5), _wait_line(20, 15)]
    assert [r.getMessage() for r in caplog.records] == lines
    assert _clock(sim).slept == 35.0
    assert sim.calls["models.retrieve"] == 0


async def test_a_fresh_async_model_is_waited_for_too() -> None:
    """The async twin: `AsyncFineTuneJob.wait()` gives a fresh model, waited for on its clock."""
    sim = Simulator()
    client = sim.async_client(max_retries=0)
    job = await AsyncFineTuneJob.create(client, model=BASE, training=bundled_dataset())
    model = await job.wait()
    assert model.fresh is True
    _ready_in(sim, 30)
    _clock(sim).slept = 0.0
    lines: list[str] = []
    model.on_wait = lines.append
    answer = await model.chat("Tell me about Helium")
    assert (answer.choices[0].message.content or "").startswith("Helium")
    assert lines == [_wait_line(5, 0), _wait_line(10, 5), _wait_line(20, 15)]
    assert _clock(sim).slept == 35.0


async def test_a_name_the_provider_knows_is_waited_for(flavour: str) -> None:
    """Made from a string: the first 404 looks the model up; known, it is waited for."""
    sim = Simulator()
    _trained(sim, served_in=30)
    lines: list[str] = []
    model = _model(sim, flavour, TUNED, on_wait=lines.append)
    assert model.fresh is False
    answer = await _chat(model)
    assert (answer.choices[0].message.content or "").startswith("Helium")
    assert lines == [_wait_line(5, 0), _wait_line(10, 5), _wait_line(20, 15)]
    assert sim.calls["models.retrieve"] == 1


async def test_a_fresh_model_still_not_served_gives_up_at_ready_timeout(flavour: str) -> None:
    """Past `ready_timeout` (30 s: 5 + 10 + 15), ModelNotFoundError saying how long it waited."""
    sim = Simulator()
    _trained(sim, served_in=10_000)
    model = _model(sim, flavour, TUNED, fresh=True)
    with pytest.raises(ModelNotFoundError) as caught:
        await _chat(model, "Hi", ready_timeout=30)
    assert str(caught.value) == (
        f"model '{TUNED}' not found: still not served after 30 s of waiting; {HINT}: "
        "try again later"
    )
    assert _clock(sim).slept == 30.0
    assert sim.calls["chat.create"] == 4  # at 0, 5, 15 and 30 s


def test_an_old_job_gives_a_model_that_is_not_fresh() -> None:
    """Re-attaching to a job that ended more than 10 minutes ago: its model is looked up."""
    sim = Simulator()
    first = FineTuneJob.create(sim.client(max_retries=0), model=BASE, training=bundled_dataset())
    assert first.wait().fresh is True
    sim.clock.sleep(601)
    again = FineTuneJob.retrieve(sim.client(max_retries=0), first.id).wait()
    assert again.fresh is False


def test_on_azure_the_job_model_is_not_waited_for() -> None:
    """Azure calls deployments: the job's model name answers DeploymentNotFound, at once."""
    sim = Simulator()
    azure = sim.azure_client(max_retries=0)
    model = FineTuneJob.create(azure, model=BASE, training=bundled_dataset()).wait()
    assert model.fresh is False
    _clock(sim).slept = 0.0
    with pytest.raises(ModelNotFoundError) as caught:
        model.chat("Tell me about Helium")
    assert str(caught.value) == (
        f"deployment '{model.id}' not found: on Azure OpenAI a model answers through a "
        "deployment of it (TunedModel.deploy, or the Azure portal)"
    )
    assert caught.value.code == "DeploymentNotFound"
    assert _clock(sim).slept == 0.0


async def _compare(flavour: str, sim: Simulator, **kwargs: Any) -> Any:
    """`compare` or `acompare` with no sleep or timer: the simulator's clock is picked up."""
    if flavour == "sync":
        return compare(sim.client(max_retries=0), **kwargs)
    return await acompare(sim.async_client(max_retries=0), **kwargs)


async def test_compare_on_a_model_that_does_not_exist_fails_at_once(flavour: str) -> None:
    """One missing model stops the comparison with ModelNotFoundError, nothing waited."""
    sim = Simulator()
    _trained(sim)
    with pytest.raises(ModelNotFoundError) as caught:
        await _compare(
            flavour,
            sim,
            models=[BASE, MISSING],
            prompts=["Tell me about Helium", "Tell me about Neon"],
            concurrency=4,
        )
    assert str(caught.value) == f"model '{MISSING}' not found; did you mean '{TUNED}'?"
    assert _clock(sim).slept == 0.0
    assert sim.calls["models.retrieve"] == 1  # looked up once, however many items failed


async def test_compare_waits_for_a_fresh_model_and_says_so(flavour: str) -> None:
    """A TunedModel fresh from its job: compare waits for it, each new wait said once."""
    sim = Simulator()
    model = _trained(sim, served_in=30)
    lines: list[str] = []
    result = await _compare(
        flavour,
        sim,
        models=[model],
        prompts=["Tell me about Helium", "Tell me about Neon"],
        concurrency=1,
        on_wait=lines.append,
    )
    assert result.summaries[TUNED].errors == 0
    assert lines == [
        _wait_line(5, 0, 615),
        _wait_line(10, 5, 615),
        _wait_line(20, 15, 615),
    ]
    assert sim.calls["models.retrieve"] == 0
