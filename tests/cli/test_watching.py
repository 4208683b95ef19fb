"""The progress of `watch`: pure state from events, plain lines, and rich's live display."""

from __future__ import annotations

import pytest

from finetune_kit._core.events import MessageEvent, MetricsEvent
from finetune_kit.cli.main import bundled_dataset
from finetune_kit.cli.watching import WatchState, format_duration
from tests.cli.conftest import MODEL, Cli


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.4, "59s"), (60, "1m00s"), (185, "3m05s"), (3600, "1h00m"), (3725, "1h02m")],
)
def test_format_duration(seconds: float, text: str) -> None:
    """Seconds, minutes and seconds, hours and minutes."""
    assert format_duration(seconds) == text


def _metrics(step: int, at: int, loss: float, valid: float | None = None) -> MetricsEvent:
    return MetricsEvent(
        id=f"e{step}",
        created_at=at,
        level="info",
        message=f"Step {step}/10",
        step=step,
        total_steps=10,
        train_loss=loss,
        valid_loss=valid,
    )


def test_state_from_events_step_eta_and_sparkline() -> None:
    """Step and total from the last metrics event; ETA from the pace between the first and last."""
    state = WatchState()
    assert state.summary() == "waiting for the first step"
    state.update(MessageEvent(id="m", created_at=1000, level="info", message="started"))
    state.update(_metrics(1, 1010, 2.0))
    assert state.eta_seconds() is None  # one step: no pace yet
    assert state.summary() == "step 1/10 (10%)  loss 2.000 ▄"
    state.update(_metrics(2, 1020, 1.5))
    state.update(_metrics(4, 1040, 1.0, valid=1.2))
    assert state.eta_seconds() == 60.0  # 3 steps in 30 s; 6 to go
    assert state.summary() == "step 4/10 (40%)  loss 1.000 █▅▁  valid 1.200  ETA 1m00s"
    state.update(_metrics(10, 1100, 0.5))
    assert state.summary().endswith("valid 1.200")  # done: no ETA
    assert state.offset(_metrics(10, 1100, 0.5)) == "[+ 1m40s]"


def test_live_display_draws_a_bar_and_keeps_the_events(cli: Cli) -> None:
    """With live on (a terminal with rich), events scroll above a bar with step/total and loss."""
    cli.ctx.live = True
    result = cli("tune", str(bundled_dataset()), "--model", MODEL)
    assert result.code == 0
    assert "  [+ 1m30s] Fine-tuning job started\n" in result.out
    final = next(line for line in result.out.splitlines() if line.startswith("training "))
    assert "━" in final
    assert "step 100/100 (100%)  loss 0.192 " in final
    assert "\nTuned model: ft:gpt-4o-mini-2024-07-18:finetune-kit-sim::" in result.out


def test_live_needs_a_terminal(cli: Cli) -> None:
    """By default (live=None) output that is not a terminal gets plain lines."""
    cli.ctx.live = None
    assert cli.ctx.wants_live() is False


COMMANDS = [
    ["demo"], ["validate"], ["estimate"], ["upload"], ["tune"], ["watch"], ["events"],
    ["jobs", "list"], ["jobs", "show"], ["jobs", "checkpoints"], ["jobs", "cancel"], ["jobs", "pause"], ["jobs", "resume"],
    ["metrics"], ["compare"], ["models", "show"], ["models", "delete"], ["models", "deploy"],
    ["sim", "serve"],
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(cli: Cli, command: list[str]) -> None:
    """`--help` on every command exits 0 with its usage."""
    result = cli(*command, "--help")
    assert result.code == 0
    assert result.out.startswith(f"usage: finetune-kit {' '.join(command)}")


def test_version_and_no_command(cli: Cli) -> None:
    """--version prints the version; no command is a one-line usage error."""
    assert cli("--version").out == "finetune-kit 0.1.0\n"
    result = cli()
    assert result.code == 2
    assert result.err == (
        "finetune-kit: error: the following arguments are required: COMMAND "
        "(see finetune-kit --help)\n"
    )
