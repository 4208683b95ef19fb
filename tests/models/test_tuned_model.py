"""`TunedModel` / `AsyncTunedModel`: names, chat with the not-ready retry, shutdown dates, delete."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import openai
import pytest

from finetune_kit import (
    AsyncTunedModel,
    FineTuneJob,
    ModelNotFoundError,
    ModelRetirementWarning,
    TunedModel,
)
from finetune_kit._core.names import ModelName, parse_model_name
from finetune_kit.cli.main import bundled_dataset
from finetune_kit.testing import Simulator, Timing

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "ft:gpt-4o-mini-2024-07-18:acme:elle:AbC123",
            ModelName(
                "ft:gpt-4o-mini-2024-07-18:acme:elle:AbC123",
                "openai",
                "gpt-4o-mini-2024-07-18",
                "acme",
                "elle",
                "AbC123",
                None,
            ),
        ),
        (
            "ft:gpt-4o-mini-2024-07-18:acme::AbC123",
            ModelName(
                "ft:gpt-4o-mini-2024-07-18:acme::AbC123",
                "openai",
                "gpt-4o-mini-2024-07-18",
                "acme",
                None,
                "AbC123",
                None,
            ),
        ),
        (
            "ft:gpt-4.1-2025-04-14:acme:x:Zz9:ckpt-step-40",
            ModelName(
                "ft:gpt-4.1-2025-04-14:acme:x:Zz9:ckpt-step-40",
                "openai",
                "gpt-4.1-2025-04-14",
                "acme",
                "x",
                "Zz9",
                40,
            ),
        ),
        (
            "gpt-4o-mini-2024-07-18.ft-0123456789abcdef",
            ModelName(
                "gpt-4o-mini-2024-07-18.ft-0123456789abcdef",
                "azure",
                "gpt-4o-mini-2024-07-18",
                None,
                None,
                "0123456789abcdef",
                None,
            ),
        ),
        ("ftchkpt-abc123", ModelName("ftchkpt-abc123", "azure", None, None, None, "abc123", None)),
        ("gpt-4o-mini", ModelName("gpt-4o-mini", "base", "gpt-4o-mini")),
    ],
    ids=["openai", "empty-suffix", "checkpoint", "azure", "azure-checkpoint", "base"],
)
def test_model_names_are_parsed(name: str, expected: ModelName) -> None:
    """OpenAI (empty suffix, checkpoints) and Azure names give their base and parts."""
    assert parse_model_name(name) == expected


def _tuned(sim: Simulator) -> str:
    client = sim.client(max_retries=0)
    job = FineTuneJob.create(
        client,
        model="gpt-4o-mini-2024-07-18",
        training=bundled_dataset(),
        suffix="elle",
        sleep=sim.clock.sleep,
    )
    return job.wait().id


class Harness:
    """One body for both twins: sync calls wrapped so they can be awaited."""

    def __init__(self, sim: Simulator, flavour: str, model_id: str) -> None:
        self.flavour = flavour
        if flavour == "sync":
            self.model: TunedModel | AsyncTunedModel = TunedModel(
                sim.client(max_retries=0), model_id, sleep=sim.clock.sleep, now=sim.clock.now
            )
        else:
            self.model = AsyncTunedModel(
                sim.async_client(max_retries=0), model_id, sleep=sim.clock.asleep, now=sim.clock.now
            )

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        attr = getattr(self.model, name)
        result = attr(*args, **kwargs) if callable(attr) else attr
        if isinstance(result, Awaitable):
            return await result
        return result


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_chat_answers_in_the_trained_style(flavour: str) -> None:
    """`chat("...")` sends one user message (and the system one) and returns the SDK's response."""
    sim = Simulator()
    h = Harness(sim, flavour, _tuned(sim))
    response = await h.call("chat", "Tell me about Helium", system="You are Elle.")
    assert response.choices[0].message.content.startswith("Helium a noble gas so rare")
    assert response.model == h.model.id
    assert h.model.base_model == "gpt-4o-mini-2024-07-18"


async def test_chat_waits_out_the_not_ready_race(flavour: str) -> None:
    """A model that answers 404 for 100 s after its job succeeded is retried, then answers."""
    sim = Simulator(timing=Timing(model_ready_delay=100))
    model_id = _tuned(sim)
    finished = sim.jobs[next(iter(sim.jobs))].finished_at or 0
    h = Harness(sim, flavour, model_id)
    before = sim.clock.now()
    response = await h.call("chat", "Tell me about Helium")
    assert response.choices[0].finish_reason == "stop"
    # It slept 5, 10, 20, 40... s: the first total that reaches the moment the model is served.
    totals = [5.0, 15.0, 35.0, 75.0, 135.0, 195.0]
    expected = next(t for t in totals if before + t >= finished + 100)
    assert sim.clock.now() - before == expected
    assert sim.calls["chat.create"] == totals.index(expected) + 2


async def test_chat_gives_up_after_ready_timeout(flavour: str) -> None:
    """Past `ready_timeout`, ModelNotFoundError (from the SDK's NotFoundError)."""
    sim = Simulator(timing=Timing(model_ready_delay=10_000))
    h = Harness(sim, flavour, _tuned(sim))
    with pytest.raises(ModelNotFoundError) as caught:
        await h.call("chat", "Hi", ready_timeout=30)
    assert isinstance(caught.value.__cause__, openai.NotFoundError)
    assert sim.calls["chat.create"] == 4  # at 0, 5, 15 and 30 s


async def test_shutdown_date_from_the_models_api(flavour: str) -> None:
    """The date comes from the Models API; no warning while it is more than 30 days away."""
    sim = Simulator()
    h = Harness(sim, flavour, _tuned(sim))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        date = await h.call("shutdown_date")
    assert date == dt.date(2027, 1, 14)


async def test_shutdown_date_warns_when_near(flavour: str) -> None:
    """Within 30 days of the date, reading it warns with ModelRetirementWarning."""
    sim = Simulator()
    h = Harness(sim, flavour, _tuned(sim))
    sim.clock.sleep((dt.date(2027, 1, 1) - dt.date(2026, 11, 1)).days * 86400)
    with pytest.warns(ModelRetirementWarning, match="shuts down on 2027-01-14 \\(in 13 day"):
        date = await h.call("shutdown_date")
    assert date == dt.date(2027, 1, 14)


async def test_shutdown_date_is_looked_up_once_per_model(flavour: str) -> None:
    """`shutdown_date()` asks the Models API at the first call only; later calls reuse the date
    (and still warn, on the clock of each call)."""
    sim = Simulator()
    h = Harness(sim, flavour, _tuned(sim))
    before = sim.calls["models.retrieve"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dates = [await h.call("shutdown_date") for _ in range(3)]
    assert dates == [dt.date(2027, 1, 14)] * 3
    assert sim.calls["models.retrieve"] - before == 1
    sim.clock.sleep((dt.date(2027, 1, 1) - dt.date(2026, 11, 1)).days * 86400)
    with pytest.warns(ModelRetirementWarning, match="in 13 day"):
        assert await h.call("shutdown_date") == dt.date(2027, 1, 14)
    assert sim.calls["models.retrieve"] - before == 1


async def test_shutdown_date_falls_back_to_the_published_table(flavour: str) -> None:
    """A model the Models API doesn't know gets its base's published date."""
    sim = Simulator()
    h = Harness(sim, flavour, "ft:gpt-4.1-2025-04-14:elsewhere::Qq1")
    assert await h.call("shutdown_date") == dt.date(2027, 1, 14)


async def test_delete(flavour: str) -> None:
    """`delete()` removes the model; calling it afterwards is a 404."""
    sim = Simulator()
    h = Harness(sim, flavour, _tuned(sim))
    assert await h.call("delete") is True
    with pytest.raises(ModelNotFoundError) as caught:
        await h.call("chat", "Hi", ready_timeout=0)
    assert str(caught.value).startswith(f"model '{h.model.id}' not found")


def test_from_checkpoint() -> None:
    """A kept checkpoint is a model too: it answers, and its name gives its step."""
    sim = Simulator()
    client = sim.client(max_retries=0)
    job = FineTuneJob.create(
        client, model="gpt-4o-mini-2024-07-18", training=bundled_dataset(), sleep=sim.clock.sleep
    )
    job.wait()
    newest = job.checkpoints()[0]
    model = TunedModel.from_checkpoint(client, newest)
    assert model.name.checkpoint_step == 100
    assert (model.chat("Tell me about Helium").choices[0].message.content or "").startswith(
        "Helium"
    )


def test_wait_hands_its_sleep_to_the_model() -> None:
    """The TunedModel from `wait()` waits on the same (virtual) clock as the job."""
    sim = Simulator(timing=Timing(model_ready_delay=30))
    client = sim.client(max_retries=0)
    job = FineTuneJob.create(
        client, model="gpt-4o-mini-2024-07-18", training=bundled_dataset(), sleep=sim.clock.sleep
    )
    model = job.wait()
    sleeper: Callable[[float], None] = model._sleep
    assert sleeper == sim.clock.sleep
    assert (model.chat("Tell me about Helium").choices[0].message.content or "").startswith(
        "Helium"
    )
