"""pytest fixtures for testing code that fine-tunes: add this module to your `pytest_plugins`.

```python
# conftest.py
pytest_plugins = ["finetune_kit.testing.fixtures"]

# test_mine.py
def test_my_pipeline(sim, sim_client):
    my_pipeline(sim_client)                  # your code, given an openai.OpenAI
    assert sim.calls["jobs.create"] == 1
```
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from openai import AsyncOpenAI, OpenAI

from finetune_kit.testing.simulator import Simulator

__all__ = ["sim", "sim_async_client", "sim_client"]


@pytest.fixture
def sim() -> Simulator:
    """A fresh simulator on virtual time (seed 0)."""
    return Simulator()


@pytest.fixture
def sim_client(sim: Simulator) -> Iterator[OpenAI]:
    """An `openai.OpenAI` answered by `sim`, with SDK retries off (so call counts are exact)."""
    client = sim.client(max_retries=0)
    yield client
    client.close()


@pytest.fixture
async def sim_async_client(sim: Simulator) -> AsyncIterator[AsyncOpenAI]:
    """An `openai.AsyncOpenAI` answered by `sim`, with SDK retries off."""
    client = sim.async_client(max_retries=0)
    yield client
    await client.close()
