"""The Jobs guide's code runs as written, on the simulator, in order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.offline import block_network

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guides" / "jobs.md"


def test_jobs_guide_code_blocks_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every python block of docs/guides/jobs.md executes, offline, sharing one namespace."""
    block_network(monkeypatch)
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) >= 10
    namespace: dict[str, object] = {"__name__": "jobs_guide"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"{GUIDE.name}[{index}]", "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    assert "succeeded step 30/30" in out
    assert "gpt-4o-mini-2024-07-18.ft-" in out
