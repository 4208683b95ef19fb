"""`finetune-kit demo`: the whole workflow on the bundled dataset, offline by default.

Without `OPENAI_API_KEY` it runs against the built-in simulator (time sped up, so the job takes
seconds); with a key it does the same for real, after asking before anything is spent.

Added in 0.1.0.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openai import OpenAI

from finetune_kit._core.events import MessageEvent, MetricsEvent
from finetune_kit.dataset import Dataset
from finetune_kit.exceptions import JobError
from finetune_kit.jobs import FineTuneJob
from finetune_kit.testing import ScaledClock, Simulator

__all__ = ["DemoOptions", "run_demo"]

PROMPTS = ("Tell me about Helium", "Tell me about Gold", "What is Neon?")


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What the demo runs on."""

    dataset: Path
    model: str
    speed: float = 60.0
    yes: bool = False
    simulator: Simulator | None = None
    """Run on this simulator (tests pass one on virtual time); default: a sped-up one."""


def run_demo(options: DemoOptions, *, out: Callable[[str], None] = print) -> int:
    """Run validate → upload → train → use; return the exit code.

    Added in 0.1.0.
    """
    out(f"== 1. Prepare the data: {options.dataset.name} for {options.model}")
    report = Dataset.from_jsonl(options.dataset).validate(model=options.model)
    out(str(report))
    if not report.ok:
        out("The dataset has errors: fix them (each names its line and field) and run again.")
        return 1

    real = options.simulator is None and bool(os.environ.get("OPENAI_API_KEY"))
    if real:
        out(
            f"\nOPENAI_API_KEY is set: this will train on the real API (estimate: {report.estimate})."
        )
        if not options.yes and not _confirm("Spend it? [y/N] "):
            out("Nothing was uploaded or spent. Run with --yes to go ahead.")
            return 0
        client = OpenAI()
        sleep: Callable[[float], None] = time.sleep
    else:
        sim = options.simulator or Simulator(clock=ScaledClock(options.speed))
        out(
            "\nNo OPENAI_API_KEY: running on finetune-kit's built-in simulator "
            f"(time runs {options.speed:g}x faster; nothing leaves this machine)."
        )
        client = sim.client()
        sleep = sim.clock.sleep

    out("\n== 2. Upload and create the job (exactly once)")
    job = FineTuneJob.create(
        client,
        model=options.model,
        training=options.dataset,
        suffix="demo",
        metadata={"created_by": "finetune-kit demo"},
        sleep=sleep,
    )
    out(f"{job.id}: {job.status} (training file {job.snapshot.training_file})")

    out("\n== 3. Train: live events")
    created = job.snapshot.created_at

    def show(event: MessageEvent | MetricsEvent) -> None:
        out(f"  [{event.created_at - created:5d}s] {event.message}")

    try:
        tuned = job.wait(on_event=show)
    except JobError as exc:
        out(f"The job ended {exc.job.status}: {exc}")
        return 1
    out(f"Tuned model: {tuned.id} (billed tokens: {job.snapshot.trained_tokens or 0:,})")

    out("\n== 4. Use it: base vs tuned")
    system = "You are a helpful assistant."
    for prompt in PROMPTS:
        out(f"\nQ: {prompt}")
        for label, model in (("base ", options.model), ("tuned", tuned.id)):
            answer = _chat(client, model, system, prompt, sleep)
            out(f"  {label} ({answer[1]:>3} tokens): {answer[0]}")
    out("\nDone.")
    return 0


def _chat(
    client: OpenAI, model: str, system: str, prompt: str, sleep: Callable[[float], None]
) -> tuple[str, int]:
    from openai import NotFoundError  # noqa: PLC0415

    for attempt in range(10):
        try:
            response = client.chat.completions.create(
                model=model,
                messages=[
                    {"role": "system", "content": system},
                    {"role": "user", "content": prompt},
                ],
            )
        except NotFoundError:
            # A new model can take a few minutes to be served after its job succeeds.
            sleep(min(60.0, 5.0 * (attempt + 1)))
            continue
        usage = response.usage.completion_tokens if response.usage else 0
        return (response.choices[0].message.content or "").strip(), usage
    return "(the model was not ready in time)", 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return input(question).strip().lower() in ("y", "yes")
