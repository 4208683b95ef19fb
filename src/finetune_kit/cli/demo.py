"""`finetune-kit demo`: the whole workflow on the bundled dataset, offline by default.

Without an API key (`OPENAI_API_KEY`, or Azure settings) it runs against the built-in simulator
(time sped up, so the job takes seconds); with one it does the same for real, after asking
before anything is spent (unless `--yes`). It writes `loss.png` (the training curves, with the
`plot` extra) and `report.html` (the curves and the comparison, self-contained).

Added in 0.1.0.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openai import OpenAI

from finetune_kit._core.metrics import MetricPoint
from finetune_kit.cli.context import Context
from finetune_kit.cli.provider import describe
from finetune_kit.cli.training import follow
from finetune_kit.cli.watching import format_duration
from finetune_kit.compare import compare
from finetune_kit.dataset import Dataset
from finetune_kit.exceptions import ConfigurationError
from finetune_kit.graders import exact, regex
from finetune_kit.jobs import FineTuneJob
from finetune_kit.models import TunedModel
from finetune_kit.report.html import to_html
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
    """Where to write the HTML report (training curves and comparison)."""
    plot: str | None = "loss.png"
    """Where to draw the training curves (PNG; None: don't)."""
    simulator_only: bool = False
    """Use the simulator even when an API key is set."""
    validation: Path | None = None
    """Validation data (for the valid and full-valid curves); None: no validation."""


def _real_provider(options: DemoOptions, args: argparse.Namespace | None) -> bool:
    if options.simulator is not None or options.simulator_only:
        return False
    flags = args is not None and any(
        getattr(args, name, None) for name in ("provider", "base_url", "azure_endpoint")
    )
    env = os.environ
    return flags or bool(env.get("OPENAI_API_KEY") or env.get("AZURE_OPENAI_ENDPOINT"))


def run_demo(
    options: DemoOptions,
    *,
    out: Callable[[str], None] = print,
    args: argparse.Namespace | None = None,
    context: Context | None = None,
) -> int:
    """Run validate → upload → train → plot → compare; return the exit code.

    Added in 0.1.0.
    """
    ctx = context or Context()
    out(f"== 1. Prepare the data: {options.dataset.name} for {options.model}")
    report = Dataset.from_jsonl(options.dataset).validate(
        model=options.model, validation=options.validation
    )
    out(str(report))
    if options.validation is not None:
        out(f"validation data: {options.validation} (checked for overlap with the training data)")
    if not report.ok:
        out("The dataset has errors: fix them (each names its line and field) and run again.")
        return 1

    sim: Simulator | None = None
    if options.simulator is None and ctx.client is not None:  # tests and docs pass a client
        client: OpenAI = ctx.client
        sleep: Callable[[float], None] = ctx.sleep
        out(f"\nRunning on the given client ({'a simulator' if ctx.simulated else 'real'}).")
    elif _real_provider(options, args):
        where = describe(args or argparse.Namespace())
        out(f"\nAn API key is set: this will train on {where} (estimate: {report.estimate}).")
        if not options.yes and not ctx.ask("Spend it? [y/N] "):
            out("Nothing was uploaded or spent. Run with --yes to go ahead, or --simulator.")
            return 0
        client = ctx.make_client(args or argparse.Namespace())
        sleep = ctx.sleep
    else:
        sim = options.simulator or Simulator(clock=ScaledClock(options.speed))
        out(
            "\nNo API key: running on finetune-kit's built-in simulator "
            f"(time runs {options.speed:g}x faster; nothing leaves this machine)."
        )
        client = sim.client()
        sleep = sim.clock.sleep

    out("\n== 2. Upload and create the job (exactly once)")
    job = FineTuneJob.create(
        client,
        model=options.model,
        training=options.dataset,
        validation=options.validation,
        suffix="demo",
        metadata={"created_by": "finetune-kit demo"},
        sleep=sleep,
        now=sim.clock.now if sim else ctx.now,
    )
    out(f"{job.id}: {job.status} (training file {job.snapshot.training_file})")

    out("\n== 3. Train: live progress and events")
    tuned = follow(job, live=ctx.wants_live(), out=out)
    if isinstance(tuned, int):
        return tuned
    took = (job.snapshot.finished_at or 0) - job.snapshot.created_at
    out(
        f"Tuned model: {tuned.id} (billed tokens: {job.snapshot.trained_tokens or 0:,}; "
        f"{format_duration(took)} of {'simulated ' if sim or ctx.simulated else ''}training time)"
    )

    return _use(options, client, job, tuned, sleep, out)


def _use(  # noqa: PLR0917 - one private step of run_demo
    options: DemoOptions,
    client: OpenAI,
    job: FineTuneJob,
    tuned: TunedModel,
    sleep: Callable[[float], None],
    out: Callable[[str], None],
) -> int:
    """Steps 4 and 5: the curves, the comparison and the report."""
    out("\n== 4. The training curves")
    points = job.metrics()
    checkpoints = sorted(c.step_number for c in job.checkpoints())
    train = [p.train_loss for p in points if p.train_loss is not None]
    if train:
        out(
            f"{len(points)} steps, training loss {train[0]:.3f} -> {train[-1]:.3f}; "
            f"checkpoints at steps {', '.join(map(str, checkpoints)) or '-'}"
        )
    if options.plot:
        out(_plot(points, checkpoints, options.plot, f"{job.id}: {options.model}"))

    out("\n== 5. Compare: base vs base + few-shot vs tuned, on the training prompts")
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
    base, shots = result.summaries[options.model], result.summaries[f"{options.model} + 2-shot"]
    saved = shots.prompt_tokens_per_item - result.summaries[tuned.id].prompt_tokens_per_item
    out(
        f"\nThe tuned model answers in the trained style with {saved:.0f} fewer prompt tokens per "
        f"call than the base model given 2 examples (base alone: {base.prompt_tokens_per_item:.0f})."
    )
    # Written where asked, atomically: resolving first would write through a symbolic link.
    to_html(
        result,
        options.report,
        title=f"finetune-kit demo: {options.model} vs {tuned.id}",
        metrics=points,
        checkpoints=checkpoints,
        job=f"{job.id}: {job.status}, {job.snapshot.trained_tokens or 0:,} trained tokens",
    )
    out(f"\nHTML report (training curves and comparison): {Path(options.report).resolve()}")
    out("\nDone.")
    return 0


def _plot(points: list[MetricPoint], checkpoints: list[int], path: str, title: str) -> str:
    try:
        from finetune_kit.report.plot import plot_metrics  # noqa: PLC0415 - matplotlib

        written = plot_metrics(points, path, checkpoints=checkpoints, title=title)
    except ConfigurationError as exc:  # matplotlib missing: the rest of the demo goes on
        return f"{path} not drawn: {exc}"
    return f"Training curves: {Path(written).resolve()}"
