"""The guides' code runs as written, on the simulator, in order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.offline import block_network

GUIDES = Path(__file__).resolve().parents[1] / "docs" / "guides"


def _run_guide(name: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Execute every python block of a guide, in order, offline, in one namespace."""
    block_network(monkeypatch)
    guide = GUIDES / name
    blocks = re.findall(r"```python\n(.*?)```", guide.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks, f"{name} has no python blocks"
    namespace: dict[str, object] = {"__name__": name}
    for index, block in enumerate(blocks):
        exec(compile(block, f"{name}[{index}]", "exec"), namespace)  # noqa: S102
    return namespace


def test_jobs_guide_code_blocks_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every python block of docs/guides/jobs.md executes, offline, sharing one namespace."""
    namespace = _run_guide("jobs.md", monkeypatch)
    out = capsys.readouterr().out
    assert len([k for k in namespace if not k.startswith("__")]) >= 10
    assert "succeeded step 30/30" in out
    assert "gpt-4o-mini-2024-07-18.ft-" in out


def test_models_guide_code_blocks_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every python block of docs/guides/models.md executes, offline, sharing one namespace."""
    _run_guide("models.md", monkeypatch)
    out = capsys.readouterr().out
    assert "gpt-4o-mini-2024-07-18\n" in out
    assert "2027-01-14" in out


def test_comparing_guide_code_blocks_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Comparing guide's example runs offline and names the tuned model best."""
    namespace = _run_guide("comparing.md", monkeypatch)
    out = capsys.readouterr().out
    assert "| gpt-4o-mini-2024-07-18 + 1-shot |" in out
    assert f"\n{namespace['tuned']}\n" in out  # best("exact") is the tuned model
    assert out.rstrip().endswith("(1.0, 1.0, 1.0)")
