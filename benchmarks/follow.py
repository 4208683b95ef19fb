"""Requests needed to follow a 2-hour fine-tuning job with all its events: ours vs the tutorials' loop.

Runs on the simulator (virtual time: a 2-hour job takes seconds). Every run uses a fresh
simulator with the same seed, so the job and its events are identical; only the follower
differs. Both followers look every `--poll` seconds (the same freshness of events).

- tutorial: every N s, `jobs.retrieve` + the FULL event list (auto-pagination through every
  page, as the cookbook and the Microsoft tutorial do), reversed, new ones printed (deduped by id).
- finetune-kit: `FineTuneJob.wait(policy=PollPolicy(interval=N), on_event=...)`: one retrieve
  and one drain per look, the drain reading only pages holding new events.

Usage: `uv run python benchmarks/follow.py [--poll 60] [--page 100]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

from openai import OpenAI

from finetune_kit import Dataset, FineTuneJob, PollPolicy
from finetune_kit.testing import Simulator, Timing

SEED = 7
EXAMPLES = 600
EPOCHS = 50
STEP_SECONDS = 0.24
"""30,000 steps of 0.24 s: 2 hours of training, 250 metrics events a minute."""
TARGET_RATIO = 5.0


@dataclass(frozen=True, slots=True)
class Run:
    name: str
    requests: int
    looks: int
    events: int
    duplicated: int
    missed: int
    max_new_per_look: int
    seconds: float


def _dataset() -> Dataset:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Question {i}: what is {i} plus {i}?"},
                {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."},
            ]
        }
        for i in range(EXAMPLES)
    ]
    return Dataset.from_records(rows)


def _start() -> tuple[Simulator, OpenAI, str]:
    sim = Simulator(seed=SEED, timing=Timing(step=STEP_SECONDS))
    client = sim.client(max_retries=0)
    job = FineTuneJob.create(
        client,
        model="gpt-4o-mini-2024-07-18",
        training=_dataset(),
        hyperparameters={"n_epochs": EPOCHS, "batch_size": 1},
        sleep=sim.clock.sleep,
    )
    return sim, client, job.id


def _score(
    name: str,
    sim: Simulator,
    job_id: str,
    seen: list[str],
    *,
    first_request: int,
    looks: int,
    max_new: int,
    started: float,
) -> Run:
    truth = [e["id"] for e in sim.jobs[job_id].events]
    duplicated = len(seen) - len(set(seen))
    missed = len(set(truth) - set(seen))
    if seen != truth[: len(seen)] or missed:
        missed = max(missed, 1)
    return Run(
        name=name,
        requests=len(sim.log) - first_request,
        looks=looks,
        events=len(set(seen)),
        duplicated=duplicated,
        missed=missed,
        max_new_per_look=max_new,
        seconds=time.perf_counter() - started,
    )


def tutorial(poll: float, page: int) -> Run:
    """The tutorials' loop: retrieve + the whole event list every `poll` seconds."""
    started = time.perf_counter()
    sim, client, job_id = _start()
    first = len(sim.log)
    seen: list[str] = []
    known: set[str] = set()
    looks = max_new = 0
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        events = list(client.fine_tuning.jobs.list_events(job_id, limit=page))  # every page
        events.reverse()
        new = [e.id for e in events if e.id not in known]
        known.update(new)
        seen.extend(new)
        looks += 1
        max_new = max(max_new, len(new))
        if job.status in ("succeeded", "failed", "cancelled"):
            break
        sim.clock.sleep(poll)
    return _score(
        "tutorial loop (retrieve + full list_events)",
        sim,
        job_id,
        seen,
        first_request=first,
        looks=looks,
        max_new=max_new,
        started=started,
    )


def ours(poll: float | None) -> Run:
    """finetune-kit: wait() with on_event, at a fixed interval (or the default backoff)."""
    started = time.perf_counter()
    sim, client, job_id = _start()
    first = len(sim.log)
    job = FineTuneJob.retrieve(client, job_id, sleep=sim.clock.sleep)
    seen: list[str] = []
    retrieves = sim.calls["jobs.retrieve"]
    policy = PollPolicy(interval=poll, jitter=0) if poll is not None else PollPolicy(jitter=0)
    job.wait(policy=policy, on_event=lambda event: seen.append(event.id))
    name = (
        f"finetune-kit wait(on_event) every {poll:g} s"
        if poll
        else "finetune-kit wait(on_event), default backoff 5-60 s"
    )
    return _score(
        name,
        sim,
        job_id,
        seen,
        first_request=first,
        looks=sim.calls["jobs.retrieve"] - retrieves,
        max_new=_max_new_between_looks(sim, job_id, poll or 60.0),
        started=started,
    )


def _max_new_between_looks(sim: Simulator, job_id: str, poll: float) -> int:
    """The most events created within one polling interval (what one look must catch up on)."""
    times = sorted(e["created_at"] for e in sim.jobs[job_id].events)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - poll:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--poll", type=float, default=60.0, help="seconds between looks (default 60)"
    )
    parser.add_argument(
        "--page", type=int, default=100, help="events per page for the tutorial (default 100)"
    )
    args = parser.parse_args()

    runs = [tutorial(args.poll, args.page), ours(args.poll), ours(None)]
    base = runs[0].requests
    print(
        f"Following a 2-hour job: {EXAMPLES} examples x {EPOCHS} epochs = {EXAMPLES * EPOCHS:,} steps of "
        f"{STEP_SECONDS} s, {runs[0].events:,} events; looks every {args.poll:g} s (virtual time)\n"
    )
    header = f"{'follower':<58} {'requests':>9} {'looks':>6} {'events':>7} {'dup':>4} {'missed':>6} {'x fewer':>8} {'wall s':>7}"
    print(header)
    print("-" * len(header))
    for run in runs:
        ratio = base / run.requests if run.requests else float("inf")
        print(
            f"{run.name:<58} {run.requests:>9,} {run.looks:>6} {run.events:>7,} {run.duplicated:>4} "
            f"{run.missed:>6} {ratio:>8.1f} {run.seconds:>7.1f}"
        )
    ours_fixed = runs[1]
    ratio = base / ours_fixed.requests
    clean = all(r.duplicated == 0 and r.missed == 0 for r in runs)
    print(
        f"\nmost events created within one {args.poll:g} s interval: {ours_fixed.max_new_per_look:,}"
    )
    met = ratio >= TARGET_RATIO and clean and ours_fixed.max_new_per_look >= 250
    print(
        f"target: >= {TARGET_RATIO:g}x fewer requests at the same freshness, 0 duplicated, 0 missed, "
        f">= 250 events between looks -> {ratio:.1f}x, "
        f"{'0 duplicated and 0 missed' if clean else 'EVENTS LOST OR DUPLICATED'} -> {'MET' if met else 'MISSED'}"
    )
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
