"""The `cli` fixture: run `finetune-kit` in-process against a simulator on virtual time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from finetune_kit.cli import main
from finetune_kit.cli.context import Context
from finetune_kit.cli.main import bundled_dataset
from finetune_kit.testing import Simulator
from tests.offline import block_network

MODEL = "gpt-4o-mini-2024-07-18"


@dataclass(frozen=True)
class Result:
    """What one invocation did."""

    code: int
    out: str
    err: str


@dataclass
class Cli:
    """Runs commands against one simulator; `ctx` can be changed between runs."""

    sim: Simulator
    ctx: Context
    capsys: pytest.CaptureFixture[str]

    def __call__(self, *argv: str) -> Result:
        self.capsys.readouterr()
        code = main(list(argv), context=self.ctx)
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def tune(self, *extra: str) -> str:
        """Create a job with `tune --detach` on the bundled data; return its id."""
        result = self("tune", str(bundled_dataset()), "--model", MODEL, "--detach", *extra)
        assert result.code == 0, result.err
        return result.out.split("Follow it with: finetune-kit watch ")[1].strip()

    def interrupt_after(self, sleeps: int) -> None:
        """Make the n+1-th wait between polls raise KeyboardInterrupt (Ctrl-C)."""
        calls = 0
        sleep: Callable[[float], None] = self.sim.clock.sleep

        def interrupting(seconds: float) -> None:
            nonlocal calls
            calls += 1
            if calls > sleeps:
                raise KeyboardInterrupt
            sleep(seconds)

        self.ctx.sleep = interrupting


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    """`finetune-kit` on a fresh simulator, offline, in a temporary working directory."""
    block_network(monkeypatch)
    monkeypatch.chdir(tmp_path)
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    sim = Simulator()
    ctx = Context.on_simulator(sim)
    return Cli(sim, ctx, capsys)
