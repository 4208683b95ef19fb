"""The Jobs guide's code runs as written, on the simulator, in order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.offline import block_network

GUIDES = Path(__file__).resolve().parents[1] / "docs" / "guides"
GUIDE = GUIDES / "jobs.md"


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


def test_models_guide_code_blocks_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every python block of docs/guides/models.md executes, offline, sharing one namespace."""
    block_network(monkeypatch)
    guide = GUIDES / "models.md"
    blocks = re.findall(r"```python\n(.*?)```", guide.read_text(encoding="utf-8"), re.DOTALL)
    namespace: dict[str, object] = {"__name__": "models_guide"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"{guide.name}[{index}]", "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    assert "gpt-4o-mini-2024-07-18\n" in out
    assert "2027-01-14" in out


def test_comparing_guide_code_blocks_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Comparing guide's example runs offline and names the tuned model best."""
    block_network(monkeypatch)
    guide = GUIDES / "comparing.md"
    blocks = re.findall(r"```python\n(.*?)```", guide.read_text(encoding="utf-8"), re.DOTALL)
    namespace: dict[str, object] = {"__name__": "comparing_guide"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"{guide.name}[{index}]", "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    assert "| gpt-4o-mini-2024-07-18 + 1-shot |" in out
    assert f"\n{namespace['tuned']}\n" in out  # best("exact") is the tuned model
    assert out.rstrip().endswith("(1.0, 1.0, 1.0)")
