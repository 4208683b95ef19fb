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
from typing import Any

from openai import OpenAI

from finetune_kit.dataset import Dataset
from finetune_kit.testing import ScaledClock, Simulator

__all__ = ["DemoOptions", "run_demo"]

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
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
        now: Callable[[], float] = time.time
    else:
        sim = options.simulator or Simulator(clock=ScaledClock(options.speed))
        out(
            "\nNo OPENAI_API_KEY: running on finetune-kit's built-in simulator "
            f"(time runs {options.speed:g}x faster; nothing leaves this machine)."
        )
        client = sim.client()
        sleep, now = sim.clock.sleep, sim.clock.now

    out("\n== 2. Upload")
    with options.dataset.open("rb") as f:
        uploaded = client.files.create(file=(options.dataset.name, f.read()), purpose="fine-tune")
    while uploaded.status not in ("processed", "error"):
        sleep(1.0)
        uploaded = client.files.retrieve(uploaded.id)
    out(f"{uploaded.id}: {uploaded.bytes:,} bytes, {uploaded.status}")

    out("\n== 3. Train")
    job = client.fine_tuning.jobs.create(
        model=options.model,
        training_file=uploaded.id,
        suffix="demo",
        metadata={"created_by": "finetune-kit demo"},
    )
    out(f"{job.id}: {job.status}")
    start = now()
    seen: set[str] = set()
    while True:
        job = client.fine_tuning.jobs.retrieve(job.id)
        for event in _new_events(client, job.id, seen):
            out(f"  [{now() - start:7.0f}s] {event.message}")
        if job.status in TERMINAL:
            break
        sleep(10.0)
    if job.status != "succeeded" or not job.fine_tuned_model:
        error = job.error.message if job.error else "no details"
        out(f"The job ended {job.status}: {error}")
        return 1
    out(f"Tuned model: {job.fine_tuned_model} (billed tokens: {job.trained_tokens:,})")

    out("\n== 4. Use it: base vs tuned")
    system = "You are a helpful assistant."
    for prompt in PROMPTS:
        out(f"\nQ: {prompt}")
        for label, model in (("base ", options.model), ("tuned", job.fine_tuned_model)):
            answer = _chat(client, model, system, prompt, sleep)
            out(f"  {label} ({answer[1]:>3} tokens): {answer[0]}")
    out("\nDone.")
    return 0


def _new_events(client: OpenAI, job_id: str, seen: set[str]) -> list[Any]:
    """Events not seen yet, oldest first (the API lists newest first)."""
    fresh: list[Any] = []
    page = client.fine_tuning.jobs.list_events(job_id, limit=50)
    while True:
        batch = [e for e in page.data if e.id not in seen]
        fresh.extend(batch)
        if len(batch) < len(page.data) or not page.has_more or not page.data:
            break
        page = client.fine_tuning.jobs.list_events(job_id, limit=50, after=page.data[-1].id)
    seen.update(e.id for e in fresh)
    return list(reversed(fresh))


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
