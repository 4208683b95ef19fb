"""Time `compare` and `acompare` against the ideal, and the bare SDK at the same concurrency.

    uv run python benchmarks/compare.py                      # both shapes, best of 3 (~2.5 min)
    uv run python benchmarks/compare.py --shape large        # 1000 prompts x 3 models at 64
    uv run python benchmarks/compare.py --repeat 5           # best of 5
    uv run python benchmarks/compare.py --endpoint simulator # through the Simulator instead
    uv run python benchmarks/compare.py --strict             # exit 1 when a target is missed

Every call takes `--latency` (100 ms) of real wall time, so the ideal for N calls at concurrency C
is ceil(N / C) x latency. The endpoint answers in this same process, so its own CPU counts
against the library's: the default `fake` endpoint is an HTTP transport (httpx2's
`MockTransport`) that sleeps (`time.sleep` / `asyncio.sleep`) and returns one canned chat
completion, and the "bare SDK" rows send the same calls through it with nothing but the SDK (a
thread pool of C threads; an `asyncio.Semaphore(C)`): what any caller of the SDK pays. See
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import math
import platform
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import openai
from openai.types.chat import ChatCompletionMessageParam

from finetune_kit.compare import Comparison, acompare, compare
from finetune_kit.testing import ScaledClock, Simulator, VirtualClock
from finetune_kit.testing.adapters import http_library

MODELS = ("gpt-4o-mini-2024-07-18", "gpt-4.1-mini-2025-04-14", "gpt-4o-2024-08-06")
OUTPUT = "Helium is a noble gas: colourless, odourless and the second lightest element."
BASE_URL = "https://api.fake.test/v1"


@dataclass(frozen=True)
class Shape:
    name: str
    prompts: int
    models: int
    concurrency: int
    target: float

    @property
    def calls(self) -> int:
        return self.prompts * self.models


SHAPES = {
    "small": Shape("small", prompts=200, models=2, concurrency=16, target=1.2),
    "large": Shape("large", prompts=1000, models=3, concurrency=64, target=1.3),
}


# --- endpoints ---------------------------------------------------------------------------------


class Fake:
    """A chat-completions endpoint that waits `latency` seconds and answers one canned body."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.answered: list[None] = []  # appended to by every call (atomic, unlike `+= 1`)
        self.body = json.dumps(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 1_760_000_000,
                "model": MODELS[0],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": OUTPUT, "refusal": None},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {"prompt_tokens": 14, "completion_tokens": 17, "total_tokens": 31},
            }
        ).encode()
        self.http = importlib.import_module(http_library())
        self.headers = {"content-type": "application/json"}

    @property
    def calls(self) -> int:
        return len(self.answered)

    def client(self) -> openai.OpenAI:
        def handler(_request: Any) -> Any:
            self.answered.append(None)
            time.sleep(self.latency)
            return self.http.Response(200, headers=self.headers, content=self.body)

        http = self.http.Client(transport=self.http.MockTransport(handler))
        return openai.OpenAI(api_key="sk-fake", base_url=BASE_URL, max_retries=0, http_client=http)

    def async_client(self) -> openai.AsyncOpenAI:
        async def handler(_request: Any) -> Any:
            self.answered.append(None)
            await asyncio.sleep(self.latency)
            return self.http.Response(200, headers=self.headers, content=self.body)

        http = self.http.AsyncClient(transport=self.http.MockTransport(handler))
        return openai.AsyncOpenAI(
            api_key="sk-fake", base_url=BASE_URL, max_retries=0, http_client=http
        )


class Simulated:
    """The same through a `Simulator` in real time (it counts tokens, routes, logs: more CPU)."""

    def __init__(self, latency: float) -> None:
        # Start the wall clock at the simulator's default date, where every model is alive.
        self.sim = Simulator(clock=ScaledClock(speed=1.0, start=VirtualClock().now()))
        self.sim.faults.latency(latency)

    @property
    def calls(self) -> int:
        return self.sim.calls["chat.create"]

    def client(self) -> openai.OpenAI:
        return self.sim.client(max_retries=0)

    def async_client(self) -> openai.AsyncOpenAI:
        return self.sim.async_client(max_retries=0)


Endpoint = Fake | Simulated


# --- the runs ----------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    target: float | None
    walls: list[float]
    cpus: list[float]
    errors: int = 0


def _prompts(n: int) -> list[str]:
    elements = ["Helium", "Neon", "Argon", "Krypton", "Xenon", "Radon", "Gold", "Iron"]
    return [f"Tell me about {elements[i % len(elements)]} (#{i + 1})" for i in range(n)]


def _messages(prompt: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": prompt}]


def _errors_in(result: Comparison, shape: Shape, endpoint: Endpoint) -> int:
    """The number of answers with an error; exits when the comparison is not whole."""
    if len(result.rows) != shape.prompts or any(
        len(r.answers) != shape.models for r in result.rows
    ):
        raise SystemExit(f"compare returned {len(result.rows)} rows for {shape.prompts} prompts")
    if isinstance(endpoint, Fake) and any(
        a.output != OUTPUT for r in result.rows for a in r.answers.values() if a.error is None
    ):
        raise SystemExit("an answer differs from the endpoint's")
    return sum(s.errors for s in result.summaries.values())


def bare_threads(shape: Shape, endpoint: Endpoint) -> int:
    client = endpoint.client()
    models = MODELS[: shape.models]

    def call(job: tuple[str, str]) -> bool:
        response = client.chat.completions.create(model=job[1], messages=_messages(job[0]))
        return bool(response.choices and response.choices[0].message.content)

    jobs = [(p, m) for p in _prompts(shape.prompts) for m in models]
    with ThreadPoolExecutor(max_workers=shape.concurrency) as pool:
        return sum(not ok for ok in pool.map(call, jobs))


def run_compare(shape: Shape, endpoint: Endpoint) -> int:
    client = endpoint.client()
    result = compare(
        client,
        models=list(MODELS[: shape.models]),
        prompts=_prompts(shape.prompts),
        concurrency=shape.concurrency,
    )
    return _errors_in(result, shape, endpoint)


def bare_async(shape: Shape, endpoint: Endpoint) -> int:
    async def main() -> int:
        client = endpoint.async_client()
        gate = asyncio.Semaphore(shape.concurrency)

        async def call(prompt: str, model: str) -> bool:
            async with gate:
                response = await client.chat.completions.create(
                    model=model, messages=_messages(prompt)
                )
            return bool(response.choices and response.choices[0].message.content)

        jobs = [call(p, m) for p in _prompts(shape.prompts) for m in MODELS[: shape.models]]
        return sum(not ok for ok in await asyncio.gather(*jobs))

    return asyncio.run(main())


def run_acompare(shape: Shape, endpoint: Endpoint) -> int:
    async def main() -> int:
        result = await acompare(
            endpoint.async_client(),
            models=list(MODELS[: shape.models]),
            prompts=_prompts(shape.prompts),
            concurrency=shape.concurrency,
        )
        return _errors_in(result, shape, endpoint)

    return asyncio.run(main())


def sequential(shape: Shape, endpoint: Endpoint) -> int:
    """The tutorials' way: one `chat.completions.create` after the other."""
    client = endpoint.client()
    empty = 0
    for prompt in _prompts(shape.prompts):
        for model in MODELS[: shape.models]:
            response = client.chat.completions.create(model=model, messages=_messages(prompt))
            empty += not (response.choices and response.choices[0].message.content)
    return empty


RUNS: dict[str, Callable[[Shape, Endpoint], int]] = {
    "bare SDK, thread pool": bare_threads,
    "compare": run_compare,
    "bare SDK, asyncio": bare_async,
    "acompare": run_acompare,
}


def _warm_up(endpoint: Endpoint) -> None:
    """One-time imports, schema builds and first calls, so that no timed run pays for them."""
    small = Shape("warm-up", prompts=4, models=len(MODELS), concurrency=4, target=0)
    for run in RUNS.values():
        run(small, endpoint)


def _timed(
    run: Callable[[Shape, Endpoint], int], shape: Shape, endpoint: Endpoint
) -> tuple[float, float, int]:
    calls = endpoint.calls
    start, cpu = time.perf_counter(), time.process_time()
    errors = run(shape, endpoint)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    if endpoint.calls - calls != shape.calls:
        raise SystemExit(f"{endpoint.calls - calls} calls for {shape.calls}")
    return wall, cpu, errors


def measure(shape: Shape, endpoint: Endpoint, repeat: int, *, with_sequential: bool) -> list[Row]:
    rows = [
        Row(
            f"{name} ({shape.concurrency})",
            shape.target if name in ("compare", "acompare") else None,
            [],
            [],
        )
        for name in RUNS
    ]
    for _ in range(repeat):  # in rotation: a slow moment hits every row alike
        for row, run in zip(rows, RUNS.values(), strict=True):
            wall, cpu, errors = _timed(run, shape, endpoint)
            row.walls.append(wall)
            row.cpus.append(cpu)
            row.errors += errors
    if with_sequential:
        wall, cpu, errors = _timed(sequential, shape, endpoint)
        rows.append(Row("sequential loop (1)", None, [wall], [cpu], errors))
    return rows


def ideal(shape: Shape, concurrency: int, latency: float) -> float:
    return math.ceil(shape.calls / concurrency) * latency


def report(shape: Shape, rows: list[Row], latency: float) -> bool:
    print(
        f"\n{shape.prompts} prompts x {shape.models} models = {shape.calls} calls, "
        f"{latency * 1000:.0f} ms each (wall time), concurrency {shape.concurrency}; "
        f"best of {len(rows[0].walls)}"
    )
    print()
    print("| run | wall s | ideal s | ratio to ideal | CPU ms/call | target | errors |")
    print("|---|---|---|---|---|---|---|")
    met = True
    for row in rows:
        concurrency = 1 if row.name.startswith("sequential") else shape.concurrency
        best = min(range(len(row.walls)), key=row.walls.__getitem__)
        wall, cpu = row.walls[best], row.cpus[best]
        perfect = ideal(shape, concurrency, latency)
        ratio = wall / perfect
        target = "-"
        if row.target is not None:
            ok = ratio <= row.target and row.errors == 0
            met = met and ok
            target = f"<= {row.target} {'ok' if ok else 'MISSED'}"
        print(
            f"| {row.name} | {wall:.2f} | {perfect:.2f} | {ratio:.2f} | "
            f"{cpu / shape.calls * 1000:.2f} | {target} | {row.errors} |"
        )
    ratios = ", ".join(f"{w / ideal(shape, shape.concurrency, latency):.2f}" for w in rows[1].walls)
    aratios = ", ".join(
        f"{w / ideal(shape, shape.concurrency, latency):.2f}" for w in rows[3].walls
    )
    print(f"\nevery run's ratio: compare {ratios}; acompare {aratios}")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=[*SHAPES, "all"], default="all")
    parser.add_argument("--prompts", type=int, help="override the shape's number of prompts")
    parser.add_argument("--models", type=int, choices=range(1, len(MODELS) + 1))
    parser.add_argument("--concurrency", type=int, help="override the shape's concurrency")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per call (0.1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each row; best kept")
    parser.add_argument("--endpoint", choices=["fake", "simulator"], default="fake")
    parser.add_argument(
        "--sequential", action="store_true", help="add the sequential loop (small shape: 40 s)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    shapes = list(SHAPES.values()) if args.shape == "all" else [SHAPES[args.shape]]
    shapes = [
        Shape(
            s.name,
            args.prompts or s.prompts,
            args.models or s.models,
            args.concurrency or s.concurrency,
            s.target,
        )
        for s in shapes
    ]
    endpoint: Endpoint = (Fake if args.endpoint == "fake" else Simulated)(args.latency)
    print(
        f"finetune-kit {metadata.version('finetune-kit')}, openai {openai.__version__}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.machine()}; "
        f"endpoint: {args.endpoint}"
    )
    _warm_up(endpoint)
    met = True
    for shape in shapes:
        rows = measure(shape, endpoint, args.repeat, with_sequential=args.sequential)
        met = report(shape, rows, args.latency) and met
    print(f"\ntargets: {'MET' if met else 'MISSED'}")
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
