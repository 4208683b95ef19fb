"""Fixtures every job test shares: each test body runs against the sync and the async twin."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.jobs._helpers import HarnessFactory, Twin, harness_factory


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> Twin:
    """Which twin a test drives: `FineTuneJob` and friends, or their async twins."""
    value: Twin = request.param
    return value


@pytest.fixture
async def make(flavour: Twin) -> AsyncIterator[HarnessFactory]:
    """A factory of harnesses (simulator + client + job helpers) of the test's twin."""
    async for factory in harness_factory(flavour):
        yield factory
