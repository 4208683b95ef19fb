"""The ways to plug the simulator in: respx (httpx2 and legacy httpx), transports, fixtures, clocks."""

from __future__ import annotations

import httpx
import httpx2
import openai
import pytest

import finetune_kit.testing
from finetune_kit.testing import ScaledClock, Simulator, VirtualClock
from finetune_kit.testing.adapters import HttpLib, http_library, make_transport
from finetune_kit.testing.fixtures import sim, sim_async_client, sim_client
from tests.offline import block_network

__all__ = ["sim", "sim_async_client", "sim_client"]  # the fixtures, used by name below


def test_testing_exports_are_sorted_and_exist() -> None:
    """`finetune_kit.testing.__all__` is sorted (constants, classes, then the rest) and complete."""
    names = finetune_kit.testing.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    assert all(hasattr(finetune_kit.testing, name) for name in names)


def test_respx_mount_answers_an_sdk_built_by_the_code_under_test(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`sim.mock()` answers an `OpenAI()` the code builds itself, over httpx2, with the network off."""
    block_network(monkeypatch)
    simulator = Simulator()
    with simulator.mock(base_url="https://api.openai.com/v1"):
        client = openai.OpenAI(api_key="sk-test", max_retries=0)
        models = client.models.list()
    assert len(models.data) == 11
    assert simulator.calls["models.list"] == 1


def test_respx_mount_with_legacy_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    """`sim.mock(using="httpcore")` answers a client built on legacy httpx (openai 2.x style)."""
    block_network(monkeypatch)
    simulator = Simulator()
    with simulator.mock(base_url="https://api.openai.com/v1", using="httpcore"):
        # openai>=3 is typed for httpx2 clients but accepts a legacy httpx one at run time.
        legacy = httpx.Client()
        client = openai.OpenAI(api_key="sk-test", max_retries=0, http_client=legacy)  # type: ignore[arg-type]
        model = client.models.retrieve("gpt-4o-mini-2024-07-18")
    assert (model.id, model.shutdown_date) == ("gpt-4o-mini-2024-07-18", "2027-01-14")


def test_respx_mount_turns_faults_into_sdk_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through respx, timeout, disconnect and 5xx faults become the SDK's own exceptions."""
    block_network(monkeypatch)
    simulator = Simulator()
    simulator.faults.timeout("models.list")
    simulator.faults.disconnect("models.list")
    simulator.faults.server_error("models.list")
    with simulator.mock(base_url="https://api.openai.com/v1"):
        client = openai.OpenAI(api_key="sk-test", max_retries=0)
        raised = []
        for _ in range(3):
            with pytest.raises(openai.APIError) as caught:
                client.models.list()
            raised.append(type(caught.value))
    assert raised == [openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError]


@pytest.mark.parametrize("lib", ["httpx2", "httpx"])
def test_transport_of_either_library(lib: HttpLib) -> None:
    """`make_transport(sim, lib)` serves a plain client of httpx2 or of legacy httpx."""
    simulator = Simulator()
    module = httpx2 if lib == "httpx2" else httpx
    with module.Client(transport=make_transport(simulator, lib)) as http:
        response = http.get(
            "https://api.test/v1/models/gpt-4o-2024-08-06", headers={"authorization": "Bearer k"}
        )
    assert response.status_code == 200
    assert response.json()["shutdown_date"] == "2027-01-14"


@pytest.mark.parametrize("lib", ["httpx2", "httpx"])
@pytest.mark.anyio
async def test_sim_transport_of_a_chosen_library(lib: HttpLib) -> None:
    """`sim.transport(lib)` / `sim.async_transport(lib)` serve that library whatever the SDK
    speaks: finetune_kit.azure's management client is httpx2 on openai 2.x too."""
    simulator = Simulator()
    module = httpx2 if lib == "httpx2" else httpx
    url = "https://api.test/v1/models/gpt-4o-2024-08-06"
    headers = {"authorization": "Bearer k"}
    assert isinstance(simulator.transport(lib), module.MockTransport)
    with module.Client(transport=simulator.transport(lib)) as http:
        sync = http.get(url, headers=headers)
    async with module.AsyncClient(transport=simulator.async_transport(lib)) as ahttp:
        asynchronous = await ahttp.get(url, headers=headers)
    assert [r.json()["shutdown_date"] for r in (sync, asynchronous)] == ["2027-01-14"] * 2
    assert simulator.calls["models.retrieve"] == 2


def test_sim_transport_defaults_to_the_sdks_library() -> None:
    """Without a library, `sim.transport()` is of the one the installed openai speaks."""
    module = httpx2 if http_library() == "httpx2" else httpx
    assert isinstance(Simulator().transport(), module.MockTransport)
    assert isinstance(Simulator().async_transport(), module.MockTransport)


def test_fixtures_give_a_fresh_simulator_and_clients(
    sim: Simulator, sim_client: openai.OpenAI
) -> None:
    """The `sim` and `sim_client` fixtures: a fresh simulator and a client on it, retries off."""
    assert sim_client.max_retries == 0
    sim.faults.server_error("models.list")
    with pytest.raises(openai.InternalServerError):
        sim_client.models.list()
    assert sim.calls["models.list"] == 1
    assert sim.jobs == {}


@pytest.mark.anyio
async def test_async_fixture(sim: Simulator, sim_async_client: openai.AsyncOpenAI) -> None:
    """The `sim_async_client` fixture talks to the same simulator."""
    page = await sim_async_client.models.list()
    assert len(page.data) == 11
    assert sim.calls["models.list"] == 1


def test_virtual_clock_moves_only_when_told() -> None:
    """A VirtualClock starts on 2026-11-01, and sleep/advance move it instantly."""
    clock = VirtualClock()
    assert clock.now() == 1_793_491_200.0
    clock.sleep(3600)
    clock.advance(60)
    clock.sleep(-5)
    assert (clock.now() - 1_793_491_200.0, clock.slept) == (3660.0, 3600.0)


@pytest.mark.anyio
async def test_virtual_clock_asleep() -> None:
    """`asleep` moves virtual time without blocking the loop."""
    clock = VirtualClock(start=0)
    await clock.asleep(2.5)
    assert clock.now() == 2.5


def test_scaled_clock_runs_faster(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ScaledClock(60) advances 60 s per wall second and sleeps 1/60 of the asked time."""
    wall = [100.0]
    slept: list[float] = []
    monkeypatch.setattr("finetune_kit.testing.clock.time.monotonic", lambda: wall[0])
    monkeypatch.setattr("finetune_kit.testing.clock.time.sleep", slept.append)
    clock = ScaledClock(60, start=1000.0)
    wall[0] += 2.0
    clock.sleep(300)
    assert (clock.now(), slept) == (1120.0, [5.0])
    with pytest.raises(ValueError, match="speed must be positive"):
        ScaledClock(0)
