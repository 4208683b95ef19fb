"""Every script in examples/ runs offline and succeeds."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.offline import block_network

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


def _load_main(path: Path) -> Callable[[list[str]], int]:
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    main: Callable[[list[str]], int] = module.main
    return main


def test_there_are_examples() -> None:
    """The examples folder is not empty (a glob that finds nothing would test nothing)."""
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_offline(
    path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each example's main() returns 0 with the network blocked and prints something."""
    block_network(monkeypatch)
    main = _load_main(path)
    args = [str(tmp_path)] if path.stem in ("split_and_check", "training_report") else []
    assert main(args) == 0
    assert capsys.readouterr().out.strip()
