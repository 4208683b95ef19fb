"""What a command runs against: the client, the clock and whether someone can answer a prompt.

The command line builds its client from flags and the environment (see
[`provider`][finetune_kit.cli.provider]); tests and the docs pass a `Context` holding a
simulator's client and its virtual clock instead, so every command runs offline and instantly.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openai import OpenAI

    from finetune_kit.testing import Simulator

__all__ = ["Context"]


@dataclass(slots=True)
class Context:
    """The environment of one `finetune-kit` invocation."""

    client: OpenAI | None = None
    """Use this client instead of one built from flags and the environment."""
    sleep: Callable[[float], None] = time.sleep
    """How waiting between polls is done (a simulator's clock in tests)."""
    now: Callable[[], float] = time.time
    """The current time, for shutdown warnings (a simulator's clock in tests)."""
    interactive: bool | None = None
    """Whether a person can answer questions (default: stdin is a terminal)."""
    live: bool | None = None
    """Draw a live progress display (default: stdout is a terminal and rich is installed)."""
    simulated: bool = False
    """The client talks to a simulator: nothing is spent, so nothing needs confirming."""

    @classmethod
    def on_simulator(cls, sim: Simulator) -> Context:
        """Run commands against `sim` on its clock: offline, instant, nothing to confirm.

        Example:
            ```python
            sim = Simulator()
            main(["jobs", "list"], context=Context.on_simulator(sim))
            ```
        """
        return cls(
            client=sim.client(),
            sleep=sim.clock.sleep,
            now=sim.clock.now,
            simulated=True,
            interactive=False,
            live=False,
        )

    def make_client(self, args: argparse.Namespace) -> OpenAI:
        """The client for this invocation: the given one, else one from flags and environment."""
        if self.client is not None:
            return self.client
        from finetune_kit.cli.provider import client_from  # noqa: PLC0415 - loads the SDK

        return client_from(args)

    def can_ask(self) -> bool:
        """Whether a question can be put to a person."""
        return sys.stdin.isatty() if self.interactive is None else self.interactive

    def ask(self, question: str) -> bool:
        """Ask a yes/no question (False when nobody can answer)."""
        if not self.can_ask():
            return False
        try:
            answer = input(question)
        except EOFError:  # stdin closed: nobody answered
            return False
        return answer.strip().lower() in ("y", "yes")

    def wants_live(self) -> bool:
        """Whether to draw a live display rather than print plain lines."""
        if self.live is not None:
            return self.live
        if not sys.stdout.isatty():
            return False
        try:
            import rich  # noqa: F401, PLC0415 - the `cli` extra
        except ImportError:
            return False
        return True
