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


TODAY = 1_796_126_400.0
"""2026-12-01T12:00:00Z: the date model-name checks read in every test that gives none."""


@pytest.fixture(autouse=True)
def _pinned_model_check_date(monkeypatch: pytest.MonkeyPatch) -> None:
    """Model shutdown checks given no clock read a pinned date, not the real one.

    Otherwise every test validating for gpt-4o-mini would start failing once OpenAI's
    fine-tuning winds down (2027-01-06). Tests about dates pass their own `now`.
    """
    monkeypatch.setattr("finetune_kit.dataset.catalog._clock", lambda: TODAY)
