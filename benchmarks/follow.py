"""Count the requests it takes to follow a fine-tuning job and every one of its events.

    uv run python benchmarks/follow.py                  # 2-hour job, a look every 120 s (~50 s)
    uv run python benchmarks/follow.py --interval 60    # a look every 60 s: 30,000 events (~4 min)
    uv run python benchmarks/follow.py --tutorial-limit 100   # the tutorial loop, largest pages
    uv run python benchmarks/follow.py --strict         # exit 1 when a target is missed, too

The same simulated job (same simulator seed, so the same ids, events and timings) is followed
from creation to success by the tutorials' loop and by `FineTuneJob.wait(on_event=...)`, each on
a fresh simulator in this one process, with virtual time. Requests are counted by the simulator
(`sim.calls`), not estimated. Events are checked, not assumed: the run fails (exit 1) if a loop
that should deliver every event duplicates, misses or reorders one. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import platform
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

from openai import OpenAI

from finetune_kit import FineTuneJob, MessageEvent, MetricsEvent, PollPolicy
from finetune_kit.testing import Simulator, Timing

MODEL = "gpt-4o-mini-2024-07-18"
VALIDATING = 30.0
QUEUED = 60.0
N_EPOCHS = 10
TERMINAL = ("succeeded", "failed", "cancelled")
REQUESTS_TARGET = 5.0


class BenchmarkError(Exception):
    """An event is duplicated, missed or out of order, or the runs followed different jobs."""


def _require(ok: bool, what: str) -> None:  # noqa: FBT001
    if not ok:
        raise BenchmarkError(f"MISMATCH: {what}")


# --- the job ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    hours: float
    interval: float
    events_per_poll: int
    tutorial_limit: int
    seed: int

    @property
    def step(self) -> float:
        """Seconds per training step: one metrics event per step, `events_per_poll` per look."""
        return self.interval / self.events_per_poll

    @property
    def examples(self) -> int:
        """Training examples so that validation + queue + training last `hours`."""
        running = self.hours * 3600 - VALIDATING - QUEUED
        return max(10, round(running / self.step / N_EPOCHS))

    @property
    def total_steps(self) -> int:
        return self.examples * N_EPOCHS  # batch_size 1


def training_bytes(n: int) -> bytes:
    """`n` small, distinct, valid chat examples as JSONL."""
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "You answer questions about orders."},
                    {"role": "user", "content": f"Where is order {i}?"},
                    {"role": "assistant", "content": f"Order {i} left the warehouse today."},
                ]
            }
        )
        for i in range(n)
    ]
    return ("\n".join(lines) + "\n").encode()


@dataclass
class Run:
    """One fresh simulator with the job just created; counting starts after `jobs.create`."""

    sim: Simulator
    client: OpenAI
    job_id: str
    created_at: float


def start(setup: Setup, data: bytes) -> Run:
    """Upload, wait for processing, create the job: the same requests (not counted) every run."""
    sim = Simulator(
        timing=Timing(validating=VALIDATING, queued=QUEUED, step=setup.step, metrics_every=1),
        seed=setup.seed,
    )
    client = sim.client()
    file = client.files.create(file=("requests-benchmark.jsonl", data), purpose="fine-tune")
    sim.clock.sleep(sim.timing.file_processing)
    job = client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=file.id,
        hyperparameters={"n_epochs": N_EPOCHS, "batch_size": 1},
    )
    sim.calls.clear()
    sim.log.clear()
    return Run(sim, client, job.id, sim.clock.now())


# --- the measured loops -------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    calls: Counter[str]
    delivered: list[str]
    expected: list[str]
    per_poll: list[int]
    """New events handed out at each look (0 included)."""
    gaps: list[float]
    """Seconds between consecutive looks."""
    virtual: float
    wall: float
    complete: bool = True
    """Whether this loop is meant to deliver every event (checked when True)."""
    final_status: str = ""

    @property
    def requests(self) -> int:
        return sum(self.calls.values())

    @property
    def polls(self) -> int:
        return len(self.per_poll)

    @property
    def duplicated(self) -> int:
        return len(self.delivered) - len(set(self.delivered))

    @property
    def missed(self) -> int:
        return len(set(self.expected) - set(self.delivered))

    @property
    def unknown(self) -> int:
        return len(set(self.delivered) - set(self.expected))

    @property
    def in_order(self) -> bool:
        return self.delivered == self.expected


def tutorial(setup: Setup, data: bytes, *, paginate: bool) -> Result:
    """The cookbook / Microsoft tutorial loop, made into a loop (OPENAI-FACTS.md §5, PEERS.md TUT).

    Every `interval` seconds: `jobs.retrieve`, then `list_events` (newest first) reversed, and
    the events not printed before (deduplicated by id, locally) printed; until a final status.
    With `paginate`, the SDK's auto-pagination reads every page, so no event is missed; without
    it, only the first page is read (`list_events(job_id).data`, as the tutorials write it).
    """
    run = start(setup, data)
    sim, client = run.sim, run.client
    seen: set[str] = set()
    delivered: list[str] = []
    per_poll: list[int] = []
    gaps: list[float] = []
    t0 = time.perf_counter()
    while True:
        job = client.fine_tuning.jobs.retrieve(run.job_id)
        page = client.fine_tuning.jobs.list_events(run.job_id, limit=setup.tutorial_limit)
        events = list(page) if paginate else list(page.data)
        events.reverse()
        new = 0
        for event in events:
            if event.id not in seen:
                seen.add(event.id)
                delivered.append(event.id)  # the tutorials print event.message here
                new += 1
        per_poll.append(new)
        if job.status in TERMINAL:
            break
        sim.clock.sleep(setup.interval)
        gaps.append(setup.interval)
    wall = time.perf_counter() - t0
    name = (
        f"(a) tutorial loop, every page (limit={setup.tutorial_limit})"
        if paginate
        else f"(a') tutorial as written: first page (limit={setup.tutorial_limit})"
    )
    return Result(
        name,
        Counter(sim.calls),
        delivered,
        [e["id"] for e in sim.jobs[run.job_id].events],
        per_poll,
        gaps,
        sim.clock.now() - run.created_at,
        wall,
        complete=paginate,
        final_status=job.status,
    )


def ours(setup: Setup, data: bytes, *, policy: PollPolicy | None, name: str) -> Result:
    """`FineTuneJob.retrieve(...).wait(policy=..., on_event=...)`: the library follows the job."""
    run = start(setup, data)
    sim = run.sim
    random.seed(setup.seed)  # the backoff's jitter (tenacity's wait_random): the same every run
    delivered: list[str] = []
    at: list[float] = []
    looks: list[float] = [sim.clock.now()]

    def sleep(seconds: float) -> None:
        sim.clock.sleep(seconds)
        looks.append(sim.clock.now())

    def collect(event: MessageEvent | MetricsEvent) -> None:
        delivered.append(event.id)
        at.append(sim.clock.now())  # no virtual time passes within a look

    t0 = time.perf_counter()
    job = FineTuneJob.retrieve(run.client, run.job_id, sleep=sleep)
    job.wait(policy=policy, on_event=collect)
    wall = time.perf_counter() - t0
    by_look = Counter(at)
    return Result(
        name,
        Counter(sim.calls),
        delivered,
        [e["id"] for e in sim.jobs[run.job_id].events],
        [by_look.get(t, 0) for t in looks],
        [b - a for a, b in itertools.pairwise(looks)],
        sim.clock.now() - run.created_at,
        wall,
        final_status=job.status,
    )


# --- verification -----------------------------------------------------------------------------


def verify(results: list[Result]) -> list[str]:
    """Check every loop meant to be complete; return what was checked (raises on a mismatch)."""
    first = results[0]
    for r in results:
        _require(r.final_status == "succeeded", f"{r.name}: ended {r.final_status!r}")
        _require(
            r.expected == first.expected, f"{r.name}: followed a different job than {first.name}"
        )
        _require(r.unknown == 0, f"{r.name}: {r.unknown} events that the job does not have")
        if r.complete:
            _require(r.duplicated == 0, f"{r.name}: {r.duplicated} events duplicated")
            _require(r.missed == 0, f"{r.name}: {r.missed} events missed")
            _require(r.in_order, f"{r.name}: events out of order")
    complete = [r.name.split(" ", 1)[0] for r in results if r.complete]
    return [
        f"every run followed the same job: {len(first.expected):,} events, same ids, same order",
        (
            f"{', '.join(complete)}: every event delivered exactly once, oldest first "
            "(0 duplicated, 0 missed, compared id by id with the simulator's own list)"
        ),
    ]


# --- output -------------------------------------------------------------------------------------


def print_table(results: list[Result], baseline: Result) -> None:
    header = (
        f"{'run':<50} {'max gap':>7} {'polls':>5} {'retrieve':>8} {'events':>6} "
        f"{'requests':>8} {'x fewer':>7} {'dup':>4} {'missed':>6} {'max new':>7} {'wall s':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        gap = max(r.gaps, default=0.0)
        fewer = f"{baseline.requests / r.requests:7.1f}" if r.complete else f"{'-':>7}"
        print(
            f"{r.name:<50} {gap:6.0f}s {r.polls:5,} {r.calls['jobs.retrieve']:8,} "
            f"{r.calls['jobs.events']:6,} {r.requests:8,} {fewer} "
            f"{r.duplicated:4,} {r.missed:6,} {max(r.per_poll, default=0):7,} {r.wall:6.1f}"
        )
    print(
        "max gap: the longest wait between two looks (the events' worst staleness). "
        "polls: looks at the job.\n"
        "retrieve / events: GET /fine_tuning/jobs/{id} and GET .../events requests. requests: "
        "every request after\njobs.create (ours: FineTuneJob.retrieve included). x fewer: (a)'s "
        "requests / this row's, for rows that\ndeliver every event. dup / missed: events "
        "delivered twice / never. max new: most new events handed out\nby one look. wall s: "
        "this process's time for the run."
    )


# --- main -------------------------------------------------------------------------------------


def bench(setup: Setup) -> bool:
    data = training_bytes(setup.examples)
    print(
        f"\nfinetune-kit {metadata.version('finetune-kit')}, openai {metadata.version('openai')}, "
        f"Python {platform.python_version()}"
    )
    print(
        f"job: {setup.examples:,} examples x {N_EPOCHS} epochs, batch_size 1 = "
        f"{setup.total_steps:,} steps of {setup.step:g} s, a metrics event every step; "
        f"validating {VALIDATING:g} s, queued {QUEUED:g} s"
    )
    print(
        f"looks every {setup.interval:g} s (so {setup.events_per_poll} new events between two "
        f"looks while training); the tutorial reads pages of {setup.tutorial_limit}, "
        "finetune-kit pages of 100"
    )
    runs: list[tuple[str, Callable[[], Result]]] = [
        ("tutorial loop, every page", lambda: tutorial(setup, data, paginate=True)),
        ("tutorial as written, first page", lambda: tutorial(setup, data, paginate=False)),
        (
            "ours, fixed interval",
            lambda: ours(
                setup,
                data,
                policy=PollPolicy(interval=setup.interval, jitter=0),
                name=f"(b) wait(policy=PollPolicy(interval={setup.interval:g}))",
            ),
        ),
        (
            "ours, default backoff",
            lambda: ours(setup, data, policy=None, name="(c) wait(): default backoff 5 s -> 60 s"),
        ),
    ]
    results: list[Result] = []
    for label, fn in runs:
        r = fn()
        results.append(r)
        print(
            f"  {label:<34} {r.requests:8,} requests  {r.virtual / 3600:5.2f} h virtual  "
            f"{r.wall:6.1f} s",
            flush=True,
        )
    print("\nverifying events...")
    for line in verify(results):
        print(f"  OK {line}")
    tut, _written, fixed, backoff = results
    print(
        f"\nResults (a {fixed.virtual / 3600:.2f}-hour job, {len(fixed.expected):,} events, "
        f"a look every {setup.interval:g} s):"
    )
    print_table(results, tut)
    ratio = tut.requests / fixed.requests
    met = ratio >= REQUESTS_TARGET
    print(
        f"target: >= {REQUESTS_TARGET:g}x fewer requests than the tutorial loop at the same "
        f"freshness, every event once -> {ratio:.1f}x, {'MET' if met else 'MISSED'} "
        f"(default backoff: {tut.requests / backoff.requests:.1f}x)"
    )
    most = max(fixed.per_poll)
    burst = most >= setup.events_per_poll and fixed.missed == 0
    print(
        f"check: >= {setup.events_per_poll} new events between two looks, none missed -> "
        f"{most} at most in one look of (b), {fixed.missed} missed, "
        f"{'MET' if burst else 'MISSED'}"
    )
    return met and burst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Count the requests to follow a job and its events (see benchmarks/README.md)."
    )
    parser.add_argument("--hours", type=float, default=2.0, help="job length (default 2)")
    parser.add_argument(
        "--interval", type=float, default=120.0, help="seconds between looks (default 120)"
    )
    parser.add_argument(
        "--events-per-poll",
        type=int,
        default=250,
        help="metrics events between two looks while training (default 250)",
    )
    parser.add_argument(
        "--tutorial-limit",
        type=int,
        default=20,
        help="the tutorial's list_events page size (default 20, the API's default)",
    )
    parser.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed, too")
    args = parser.parse_args(argv)
    setup = Setup(args.hours, args.interval, args.events_per_poll, args.tutorial_limit, args.seed)
    if setup.interval <= 0 or setup.events_per_poll <= 0 or not math.isfinite(setup.step):
        parser.error("--interval and --events-per-poll must be positive")
    try:
        met = bench(setup)
    except BenchmarkError as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 1
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
