"""Draw the docs' pictures of training from a seeded, simulated run: `uv run python docs/pictures.py`.

The run is the bundled Elle dataset (10 examples, 10 epochs) on the offline simulator's virtual
clock, validated on a held-out copy whose prompts are reworded, so the train, valid and full-valid
curves all exist. It writes:

- `docs/assets/curves.svg`: `finetune_kit.report.curves_svg` (no dependencies). A test checks
  that it equals what the code draws now: re-run this script after changing the drawing.
- `docs/assets/loss.png`: `finetune_kit.report.plot_metrics` (needs matplotlib).
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from finetune_kit import Dataset, FineTuneJob, MetricPoint
from finetune_kit.report import curves_svg, plot_metrics
from finetune_kit.testing import Simulator, VirtualClock

ASSETS = Path(__file__).resolve().parent / "assets"
MODEL = "gpt-4o-mini-2024-07-18"
TITLE = f"Elle on {MODEL}: 10 epochs, validated on held-out prompts"


def elle() -> Path:
    """The bundled dataset."""
    return Path(str(files("finetune_kit") / "data" / "elle.jsonl"))


def held_out() -> Dataset:
    """Elle with every prompt reworded: a validation set that does not repeat the training rows."""
    rows = [
        json.loads(json.dumps(row).replace("Tell me about", "Describe"))
        for row in Dataset.from_jsonl(elle())
    ]
    return Dataset.from_records(rows)


def run() -> tuple[list[MetricPoint], list[int]]:
    """Train on the simulator; return the metric points and the checkpoint steps."""
    sim = Simulator(clock=VirtualClock(), seed=0)
    with sim.client() as client:
        job = FineTuneJob.create(
            client, model=MODEL, training=elle(), validation=held_out(), sleep=sim.clock.sleep
        )
        job.wait()
        points = job.metrics()  # results file + full-valid values from the events
        checkpoints = sorted(c.step_number for c in job.checkpoints())
    return points, checkpoints


def svg(points: list[MetricPoint], checkpoints: list[int]) -> str:
    """The committed `curves.svg`."""
    return curves_svg(points, checkpoints=checkpoints, title=TITLE)


def main() -> None:
    points, checkpoints = run()
    ASSETS.mkdir(exist_ok=True)
    target = ASSETS / "curves.svg"
    target.write_text(svg(points, checkpoints), encoding="utf-8")
    print(f"wrote {target}")
    print(
        f"wrote {plot_metrics(points, ASSETS / 'loss.png', checkpoints=checkpoints, title=TITLE)}"
    )


if __name__ == "__main__":
    main()
