"""No silent waits on the command line: a missing model fails at once (exit 3, one line); a
model not served yet is waited for, each wait said on stderr."""

from __future__ import annotations

from finetune_kit import FineTuneJob
from finetune_kit.cli.main import bundled_dataset
from finetune_kit.testing import VirtualClock
from tests.cli.conftest import MODEL, Cli

ELLE = str(bundled_dataset())
TUNED = "ft:gpt-4o-mini-2024-07-18:finetune-kit-sim::38ea64f6"
MISSING = "ft:gpt-4o-mini-2024-07-18:finetune-kit-sim::nope"


def _train(cli: Cli, *, served_in: float) -> None:
    """Train the simulator's first model; it answers 404 for `served_in` more seconds."""
    job = FineTuneJob.create(cli.sim.client(), model=MODEL, training=bundled_dataset())
    assert job.wait().id == TUNED
    finished = job.snapshot.finished_at or 0
    cli.sim.timing.model_ready_delay = cli.sim.clock.now() + served_in - finished
    assert isinstance(cli.sim.clock, VirtualClock)
    cli.sim.clock.slept = 0.0


def test_compare_on_a_missing_model_fails_at_once_in_one_line(cli: Cli) -> None:
    """`compare BASE ft:...:nope`: exit 3, one line naming the close model, 0 s waited."""
    _train(cli, served_in=0)
    result = cli("compare", MODEL, MISSING, "--prompts", ELLE)
    assert result.code == 3
    assert result.err == (
        f"finetune-kit: error: model '{MISSING}' not found; did you mean '{TUNED}'?\n"
    )
    assert result.out == ""
    assert isinstance(cli.sim.clock, VirtualClock)
    assert cli.sim.clock.slept == 0.0


def test_compare_says_what_it_waits_for(cli: Cli) -> None:
    """A tuned model not served yet (the provider knows it): each wait is a line on stderr."""
    _train(cli, served_in=30)
    result = cli("compare", TUNED, "--prompts", ELLE, "--items", "0", "--concurrency", "1")
    assert result.code == 0, result.err
    hint = "a new model can take a few minutes after its job succeeds"
    assert result.err.splitlines() == [
        f"finetune-kit: waiting for {TUNED} to be served ({hint}): trying again in {d} s "
        f"({w} of 615 s waited)"
        for d, w in ((5, 0), (10, 5), (20, 15))
    ]
