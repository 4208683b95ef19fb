"""Time `compare(..., concurrency=16)` against a sequential loop, on a simulator with latency.

    uv run python benchmarks/compare.py                  # 200 prompts x 2 models (~45 s)
    uv run python benchmarks/compare.py --prompts 50     # quicker
    uv run python benchmarks/compare.py --strict         # exit 1 when the target is missed

Both runs use a fresh `Simulator(clock=ScaledClock(speed=1.0))` with `faults.latency(0.1)`: every
call takes 100 ms of real wall time, so the ideal for N calls at concurrency C is N * 0.1 / C.
The sequential loop is the tutorials' way: `client.chat.completions.create` one after the other.
Each run starts with one untimed call per model (imports, SDK schema builds).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from importlib import metadata

from finetune_kit.compare import compare
from finetune_kit.testing import ScaledClock, Simulator, VirtualClock

MODELS = ("gpt-4o-mini-2024-07-18", "gpt-4.1-mini-2025-04-14")
LATENCY = 0.1
TARGET_RATIO = 1.2


def _simulator() -> Simulator:
    # Start the wall clock at the simulator's default date, where both models are alive.
    sim = Simulator(clock=ScaledClock(speed=1.0, start=VirtualClock().now()))
    sim.faults.latency(LATENCY)
    return sim


def _prompts(n: int) -> list[str]:
    elements = ["Helium", "Neon", "Argon", "Krypton", "Xenon", "Radon", "Gold", "Iron"]
    return [f"Tell me about {elements[i % len(elements)]} (#{i + 1})" for i in range(n)]


def _warm_up(sim: Simulator) -> None:
    """One untimed call per model, so one-time imports and schema builds aren't timed."""
    client = sim.client(max_retries=0)
    for model in MODELS:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])


def run_compare(prompts: list[str], concurrency: int) -> tuple[float, int]:
    """Wall seconds for `compare`, and the number of answers with an error."""
    sim = _simulator()
    _warm_up(sim)
    client = sim.client(max_retries=0)
    start = time.perf_counter()
    result = compare(client, models=list(MODELS), prompts=prompts, concurrency=concurrency)
    wall = time.perf_counter() - start
    errors = sum(s.errors for s in result.summaries.values())
    if len(result.rows) != len(prompts):
        raise SystemExit(f"compare returned {len(result.rows)} rows for {len(prompts)} prompts")
    return wall, errors


def run_sequential(prompts: list[str]) -> tuple[float, int]:
    """Wall seconds for one `chat.completions.create` after the other, and empty answers."""
    sim = _simulator()
    _warm_up(sim)
    client = sim.client(max_retries=0)
    empty = 0
    start = time.perf_counter()
    for prompt in prompts:
        for model in MODELS:
            response = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": prompt}]
            )
            empty += not (response.choices and response.choices[0].message.content)
    return time.perf_counter() - start, empty


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--skip-sequential", action="store_true")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args()

    prompts = _prompts(args.prompts)
    calls = len(prompts) * len(MODELS)
    ideal = calls * LATENCY / args.concurrency

    wall, errors = run_compare(prompts, args.concurrency)
    seq, empty = (float("nan"), 0) if args.skip_sequential else run_sequential(prompts)
    ratio = wall / ideal

    print(
        f"finetune-kit {metadata.version('finetune-kit')}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}"
    )
    print(
        f"{len(prompts)} prompts x {len(MODELS)} models = {calls} calls, "
        f"{LATENCY * 1000:.0f} ms each (wall time), concurrency {args.concurrency}"
    )
    print()
    print("| run | wall s | ideal s | ratio to ideal | target | errors |")
    print("|---|---|---|---|---|---|")
    ok = ratio <= TARGET_RATIO and errors == 0
    print(
        f"| compare(concurrency={args.concurrency}) | {wall:.2f} | {ideal:.2f} | {ratio:.2f} | "
        f"<= {TARGET_RATIO} {'ok' if ok else 'MISSED'} | {errors} |"
    )
    seq_ideal = calls * LATENCY
    print(
        f"| sequential loop | {seq:.2f} | {seq_ideal:.2f} | {seq / seq_ideal:.2f} | - | {empty} |"
    )
    print()
    print(f"speed-up of compare over the sequential loop: {seq / wall:.1f}x")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
