"""Fixtures shared by the simulator's behaviour tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from openai import OpenAI

from finetune_kit.testing import Simulator
from tests.testing._sim_helpers import Client, Twin, closing, make_client


@pytest.fixture
def sim() -> Simulator:
    """A fresh simulator on virtual time."""
    return Simulator()


@pytest.fixture
def client(sim: Simulator) -> OpenAI:
    """A sync client on `sim`, SDK retries off."""
    return sim.client(max_retries=0)


@pytest.fixture(params=["sync", "async"])
async def api(request: pytest.FixtureRequest, sim: Simulator) -> AsyncIterator[Client]:
    """The same test body through the sync and the async client."""
    flavour: Twin = request.param
    async for c in closing(make_client(sim, flavour)):
        yield c
