"""Root test configuration.

`pytest_httpx2` is loaded explicitly: without it, `respx.mock(using="httpcore2")` silently mocks
nothing and requests would leave for the network. `tests/test_guards.py` checks it stays so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytest_httpx2"]

TEST_DATA = Path(__file__).resolve().parent / "data"
"""Files from other projects that the tests read (sources and licences: its README.md)."""
ELLE = Path(__file__).resolve().parents[1] / "src" / "finetune_kit" / "data" / "elle.jsonl"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
