"""`finetune-kit compare` failing loudly (exit 1), within `--deadline`, and at Ctrl-C (130).

In-process on the simulator's virtual clock, and once as a real process sent a real SIGINT.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from finetune_kit.cli.main import bundled_dataset
from finetune_kit.compare import INTERRUPTED
from finetune_kit.testing import VirtualClock
from tests.cli.conftest import MODEL, Cli

ELLE = str(bundled_dataset())
UNKNOWN = "gpt-3.5-turbo-0125"  # shut down on 2026-10-23: every call is a 404, never waited out
RATE_LIMITED = (
    "RateLimitError: Error code: 429 - Rate limit reached for requests. Please try again later."
)


@pytest.fixture
def cli0(cli: Cli) -> Cli:
    """`cli` whose client leaves every retry to compare (the SDK's would sleep for real)."""
    cli.ctx.client = cli.sim.client(max_retries=0)
    return cli


def _slept(cli: Cli) -> float:
    """Seconds waited on the simulator's virtual clock."""
    assert isinstance(cli.sim.clock, VirtualClock)
    return cli.sim.clock.slept


def _row(out: str, model: str) -> list[str]:
    line = next(line for line in out.splitlines() if line.startswith(f"| {model} |"))
    return line.split(" | ")[1:]


def test_a_model_that_never_answered_exits_1_naming_it(cli0: Cli) -> None:
    """The table is printed (n/a, not 0%); one line names the model and its first error."""
    result = cli0("compare", MODEL, UNKNOWN, "--prompts", ELLE, "--items", "0")
    assert result.code == 1
    assert _row(result.out, UNKNOWN) == ["10", "10", "n/a", "n/a", "n/a", "n/a", "n/a", "- |"]
    assert _row(result.out, MODEL)[:4] == ["10", "0", "0% [0%, 28%]", "0% [0%, 28%]"]
    assert result.err.startswith(
        f"finetune-kit: error: no answer from {UNKNOWN}: all 10 calls failed; first error: "
        "NotFoundError: "
    )
    assert result.err.count("\n") == 1


def test_json_shows_null_rates_and_still_exits_1(cli0: Cli) -> None:
    """--json: the rates of a model without answers are null; the exit code is the same."""
    result = cli0("compare", UNKNOWN, "--prompts", ELLE, "--json")
    assert result.code == 1
    summary = json.loads(result.out)["summaries"][UNKNOWN]
    assert (summary["errors"], summary["pass_rates"]) == (10, {"contains": None, "exact": None})


def test_a_never_clearing_429_stops_at_the_deadline(cli0: Cli) -> None:
    """--deadline 1000 on a 429 with Retry-After 300 forever: 900 s waited, then exit 1."""
    cli0.sim.faults.rate_limit("chat.create", retry_after=300, times=None)
    result = cli0("compare", MODEL, "--prompts", ELLE, "--concurrency", "1", "--deadline", "1000")
    assert result.code == 1
    assert _slept(cli0) == 900.0
    assert cli0.sim.calls["chat.create"] == 4 + 9  # the first item's 4 tries, one for the rest
    assert result.err == (
        f"finetune-kit: error: no answer from {MODEL}: all 10 calls failed; first error: "
        f"deadline exceeded: no answer within the 1000 s deadline (last error: {RATE_LIMITED})\n"
    )


@pytest.mark.parametrize("value", ["-1", "nan"])
def test_a_bad_deadline_is_a_usage_error(cli0: Cli, value: str) -> None:
    """A negative (or not-a-number) --deadline: exit 2 before any call."""
    result = cli0("compare", MODEL, "--prompts", ELLE, "--deadline", value)
    assert result.code == 2
    assert "--deadline must be a number of seconds (0: no limit)" in result.err
    assert cli0.sim.calls["chat.create"] == 0


def test_deadline_0_means_no_limit(cli0: Cli) -> None:
    """--deadline 0: a 429 that clears after 3 h is waited out (all 50 attempts allowed)."""
    cli0.sim.faults.rate_limit("chat.create", retry_after=300, times=36)
    result = cli0("compare", MODEL, "--prompts", ELLE, "--concurrency", "1", "--deadline", "0")
    assert result.code == 0, result.err
    assert _slept(cli0) == 36 * 300.0
    assert _row(result.out, MODEL)[:2] == ["10", "0"]


def test_ctrl_c_during_a_429_wait_prints_what_finished_and_exits_130(cli0: Cli) -> None:
    """The first item is answered; Ctrl-C while the second waits: its table, then exit 130."""
    cli0.sim.faults.rate_limit("chat.create", retry_after=300, times=None, skip=1)
    cli0.interrupt_after(0)
    result = cli0("compare", MODEL, "--prompts", ELLE, "--concurrency", "1", "--items", "3")
    assert result.code == 130
    assert result.err == "finetune-kit: error: interrupted\n"
    assert _row(result.out, MODEL)[:2] == ["10", "9"]
    items = [line for line in result.out.splitlines() if line.startswith(("| 1 |", "| 2 |"))]
    assert not items[0].endswith(f"| {INTERRUPTED} |")
    assert items[1].endswith(f"| {INTERRUPTED} |")
    assert result.out.endswith("(interrupted: 1 of 10 calls answered)\n")


SCRIPT = textwrap.dedent(
    """
    import sys, threading, time
    from finetune_kit.cli import main
    from finetune_kit.cli.context import Context
    from finetune_kit.cli.main import bundled_dataset
    from finetune_kit.testing import Simulator

    sim = Simulator()
    sim.faults.rate_limit("chat.create", retry_after=300, times=None, skip=1)

    def announce():  # once the second call got its 429, compare waits 300 s (for real)
        while sim.calls["chat.create"] < 2:
            time.sleep(0.01)
        print("waiting", file=sys.stderr, flush=True)

    threading.Thread(target=announce, daemon=True).start()
    ctx = Context(client=sim.client(max_retries=0), interactive=False, live=False)
    argv = ["compare", "gpt-4o-mini-2024-07-18", "--prompts", str(bundled_dataset()),
            "--concurrency", "1"]
    sys.exit(main(argv, context=ctx))
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a process is POSIX")
def test_a_real_sigint_ends_the_process_within_a_second_and_exits_130() -> None:
    """A real process waiting out a 429 (time.sleep, 300 s) gets SIGINT: exit 130 at once."""
    proc = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline() == "waiting\n"  # EOF ("") if the script died
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - sent
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err
    assert elapsed < 2.0
    assert err == "finetune-kit: error: interrupted\n"
    assert "(interrupted: 1 of 10 calls answered)" in out
