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
from finetune_kit.compare import compare
from finetune_kit.dataset import Dataset
from finetune_kit.exceptions import JobError
from finetune_kit.graders import exact, regex
from finetune_kit.jobs import FineTuneJob
from finetune_kit.testing import ScaledClock, Simulator

__all__ = ["DemoOptions", "run_demo"]

SYSTEM = "Elle is a factual chatbot that answers questions about elements in the periodic table with a limerick"
FEW_SHOT = (
    (
        "Tell me about Gold",
        (
            "Gold, so precious and bright - Worn on fingers, a glittering sight - It won't rust "
            "or decay - Come what may - A treasure by day and by night"
        ),
    ),
    (
        "Tell me about Iron",
        (
            "Iron, so strong and so grey - In steel it holds bridges at bay - In your blood it "
            "will flow - Helping oxygen go - The metal we use every day"
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What the demo runs on."""

    dataset: Path
    model: str
    speed: float = 60.0
    yes: bool = False
    simulator: Simulator | None = None
    """Run on this simulator (tests pass one on virtual time); default: a sped-up one."""
    report: str = "report.html"
    """Where to write the HTML comparison."""


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

    out("\n== 4. Compare: base vs base + few-shot vs tuned, on the training prompts")
    reply = tuned.chat("Tell me about Helium", system=SYSTEM)
    out(f"tuned model, 'Tell me about Helium': {reply.choices[0].message.content}")
    result = compare(
        client,
        models=[options.model, tuned.id],
        prompts=Dataset.from_jsonl(options.dataset),
        system=SYSTEM,
        few_shot=FEW_SHOT,
        graders={"exact": exact(), "limerick": regex(r" - .* - .* - ")},
        sleep=sleep,
    )
    out("")
    out(result.to_markdown(items=3))
    html_path = Path(options.report).resolve()
    result.to_html(html_path, title=f"finetune-kit demo: {options.model} vs {tuned.id}")
    base, shots = result.summaries[options.model], result.summaries[f"{options.model} + 2-shot"]
    saved = shots.prompt_tokens_per_item - result.summaries[tuned.id].prompt_tokens_per_item
    out(
        f"\nThe tuned model answers in the trained style with {saved:.0f} fewer prompt tokens per "
        f"call than the base model given 2 examples (base alone: {base.prompt_tokens_per_item:.0f})."
    )
    out(f"HTML report: {html_path}")
    out("\nDone.")
    return 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return input(question).strip().lower() in ("y", "yes")
