"""Create a fine-tuning job exactly once, follow its events, and read its metrics.

Runs offline on finetune-kit's simulator: `uv run python examples/train_on_simulator.py`.
With a real client (`openai.OpenAI()` and OPENAI_API_KEY), the same code trains for real.
"""

from __future__ import annotations

import sys

from finetune_kit import FineTuneJob, MetricsEvent, bundled_dataset
from finetune_kit.testing import Simulator


def main(argv: list[str] | None = None) -> int:
    del argv
    sim = Simulator()
    client = sim.client()
    sim.faults.server_error("jobs.create", after=True)  # the job is created, the reply is lost

    job = FineTuneJob.create(
        client,
        model="gpt-4o-mini-2024-07-18",
        training=bundled_dataset(),
        suffix="elle",
        sleep=sim.clock.sleep,
    )
    print(f"{job.id}: {job.status}; jobs on the server: {len(sim.jobs)}")

    def on_event(event: object) -> None:
        if isinstance(event, MetricsEvent) and event.step and event.step % 25 == 0:
            print(f"  step {event.step}/{event.total_steps}: loss {event.train_loss}")

    model = job.wait(on_event=on_event)
    curve = job.metrics()
    print(f"tuned model: {model.id}")
    print(
        f"loss: {curve[0].train_loss} at step 1 -> {curve[-1].train_loss} at step {curve[-1].step}"
    )
    print(f"checkpoints: {[c.fine_tuned_model_checkpoint for c in job.checkpoints()]}")
    return 0 if len(sim.jobs) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
