"""Train with validation data, then draw the curves and write a report with the comparison.

Runs offline on finetune-kit's simulator: `uv run python examples/training_report.py [OUT_DIR]`.
Writes loss.png (needs the `plot` extra) and report.html to OUT_DIR (default: a temporary
folder).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from finetune_kit import FineTuneJob, bundled_dataset
from finetune_kit.compare import compare
from finetune_kit.report import curves_svg, plot_metrics, sparkline, to_html
from finetune_kit.testing import Simulator

MODEL = "gpt-4o-mini-2024-07-18"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path(tempfile.mkdtemp(prefix="finetune-kit-"))
    out.mkdir(parents=True, exist_ok=True)
    training = bundled_dataset()
    held_out = out / "held_out.jsonl"  # the same questions, asked differently
    text = training.read_text(encoding="utf-8").replace("Tell me about", "Describe")
    held_out.write_text(text, encoding="utf-8")

    sim = Simulator()
    client = sim.client()
    job = FineTuneJob.create(
        client, model=MODEL, training=training, validation=held_out, sleep=sim.clock.sleep
    )
    tuned = job.wait()
    points = job.metrics()  # train, valid and full-valid (at each epoch's end)
    checkpoints = sorted(c.step_number for c in job.checkpoints())
    losses = [p.train_loss for p in points if p.train_loss is not None]
    print(f"{tuned.id}: {len(points)} steps, loss {sparkline(losses, 30)}")
    full = [(p.step, p.full_valid_loss) for p in points if p.full_valid_loss is not None]
    print(f"full validation loss by epoch: {', '.join(f'{v:.3f}' for _, v in full)}")

    png = plot_metrics(points, out / "loss.png", checkpoints=checkpoints, title=tuned.id)
    svg = curves_svg(points, checkpoints=checkpoints)
    result = compare(client, models=[MODEL, tuned.id], prompts=held_out, sleep=sim.clock.sleep)
    report = to_html(
        result,
        out / "report.html",
        title=f"{MODEL} vs {tuned.id}",
        metrics=points,
        checkpoints=checkpoints,
        job=f"{job.id}: {job.status}",
    )
    print(f"wrote {png} and {out / 'report.html'} ({len(report):,} characters, SVG {len(svg):,})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
