"""Benchmark `Dataset.validate()` against the cookbook reference and the bare tokenizer.

    uv run python benchmarks/run.py                 # 100k examples (~100 MB), best of 3
    uv run python benchmarks/run.py --quick         # 10k examples (~10 MB)
    uv run python benchmarks/run.py --repeat 5
    uv run python benchmarks/run.py --stages        # + where the single-process time goes
    uv run python benchmarks/run.py --profile       # + cProfile of the workers=1 path
    uv run python benchmarks/run.py --memory        # peak memory on a ~1 GB file
    uv run python benchmarks/run.py --shape all     # the shapes (a)-(e) of issue 12 (shapes.py)

Everything is timed in this one process, on the same file, with the same tokenizer object.
Counts are checked, not assumed: the run fails (exit 1) if finetune-kit's token counts differ
from the reference's. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import platform
import pstats
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pydantic_core

sys.path.insert(0, str(Path(__file__).resolve().parent))

import shapes as shape_bench
from generate import DATA_DIR, default_path, ensure
from reference import (
    TOKENS_PER_EXAMPLE,
    TOKENS_PER_MESSAGE,
    TOKENS_PER_NAME,
    ReferenceResult,
    reference_validate,
)

from finetune_kit import Dataset
from finetune_kit.dataset import Distribution, ValidationReport, get_encoding
from finetune_kit.dataset.catalog import model_info

MODEL = "gpt-4o-mini-2024-07-18"
ENCODING = "o200k_base"
MEMORY_TARGET_MB = 300.0
SPEEDUP_TARGET = 2.0


class BenchmarkError(Exception):
    """A count differs, or a target is missed (with --strict)."""


def _require(ok: bool, what: str) -> None:  # noqa: FBT001
    if not ok:
        raise BenchmarkError(f"MISMATCH: {what}")


# --- the measured things --------------------------------------------------------------------


def run_reference(path: Path) -> ReferenceResult:
    return reference_validate(path, encoding=ENCODING, max_tokens=_context())


def run_reference_once(path: Path) -> ReferenceResult:
    return reference_validate(
        path, encoding=ENCODING, max_tokens=_context(), encode_assistant_twice=False
    )


def run_ours(path: Path, workers: int | None) -> ValidationReport:
    return Dataset.from_jsonl(path).validate(model=MODEL, workers=workers)


def extract_strings(path: Path) -> tuple[list[str], int]:
    """Every string value of every message, in file order; and the formula's constant part."""
    strings: list[str] = []
    const = 0
    with path.open("rb") as f:
        for line in f:
            if not line.strip():
                continue
            const += TOKENS_PER_EXAMPLE
            for message in json.loads(line)["messages"]:
                const += TOKENS_PER_MESSAGE
                for key, value in message.items():
                    if isinstance(value, str):
                        strings.append(value)
                    if key == "name":
                        const += TOKENS_PER_NAME
    return strings, const


def run_floor(strings: list[str]) -> int:
    """Bare tiktoken: encode every string, no parsing, no checks, no caching."""
    encode = get_encoding(ENCODING).encode_ordinary
    total = 0
    for s in strings:
        total += len(encode(s))
    return total


def _context() -> int | None:
    return model_info(MODEL).training_context


# --- verification ---------------------------------------------------------------------------


def our_per_example(path: Path) -> tuple[list[int], list[int], list[int]] | None:
    """Per-example (tokens, assistant tokens, messages) from the engine's single-process worker.

    This reaches into engine internals (not timed); if they have moved, the per-example check is
    skipped and only the report's totals and distributions are compared.
    """
    try:
        from finetune_kit.dataset import engine  # noqa: PLC0415
        from finetune_kit.dataset.lines import LineWorker  # noqa: PLC0415

        settings = engine.settings_for(MODEL, "chat")
        worker = LineWorker(settings)
        res = worker.run(engine.iter_file_lines(path), first=True)
        return list(res.tokens), list(res.assistant), list(res.messages)
    except Exception as exc:  # noqa: BLE001 - any refactor of the internals just skips this
        print(f"  (per-example check skipped: {type(exc).__name__}: {exc})")
        return None


def verify(
    path: Path,
    *,
    ref: ReferenceResult,
    ref_once: ReferenceResult,
    reports: dict[str, ValidationReport],
    floor_tokens: int,
    floor_const: int,
) -> list[str]:
    """Compare every count; return what was checked (raises BenchmarkError on a mismatch)."""
    checked: list[str] = []
    _require(not ref.format_errors, f"the reference found format errors {ref.format_errors}")
    _require(ref.tokens == ref_once.tokens, "reference token lists differ between variants")
    _require(ref.assistant_tokens == ref_once.assistant_tokens, "reference assistant lists differ")
    for name, rep in reports.items():
        s = rep.stats
        _require(rep.ok, f"{name}: the report has errors: {rep.counts}")
        _require(s.rows == ref.rows, f"{name}: rows {s.rows} != reference {ref.rows}")
        _require(s.examples == ref.examples, f"{name}: examples {s.examples} != {ref.examples}")
        _require(
            s.total_tokens == ref.total_tokens,
            f"{name}: total tokens {s.total_tokens} != reference {ref.total_tokens}",
        )
        for label, ours, theirs in (
            ("tokens per example", s.tokens_per_example, ref.tokens),
            ("assistant tokens", s.assistant_tokens_per_example, ref.assistant_tokens),
            ("messages per example", s.messages_per_example, ref.n_messages),
        ):
            expected = Distribution.of(theirs)
            _require(ours == expected, f"{name}: {label} {ours} != reference {expected}")
        _require(
            s.examples_without_system == ref.n_missing_system,
            f"{name}: without system {s.examples_without_system} != {ref.n_missing_system}",
        )
        _require(
            s.examples_without_user == ref.n_missing_user,
            f"{name}: without user {s.examples_without_user} != {ref.n_missing_user}",
        )
        _require(
            s.examples_over_context == ref.n_too_long,
            f"{name}: over context {s.examples_over_context} != {ref.n_too_long}",
        )
    checked.append(
        f"rows, examples ({ref.examples:,}), total tokens ({ref.total_tokens:,}), "
        "distributions of tokens / assistant tokens / messages (min, mean, p50, p90, p95, max), "
        "examples without system/user, over context: identical for " + ", ".join(reports)
    )
    per_example = our_per_example(path)
    if per_example is not None:
        tokens, assistant, messages = per_example
        _require(tokens == ref.tokens, "per-example tokens differ from the reference")
        _require(assistant == ref.assistant_tokens, "per-example assistant tokens differ")
        _require(messages == ref.n_messages, "per-example message counts differ")
        checked.append(
            f"per-example tokens, assistant tokens ({sum(assistant):,} in all) and message "
            f"counts: identical for all {len(tokens):,} examples"
        )
    _require(
        floor_tokens + floor_const == ref.total_tokens,
        f"floor tokens {floor_tokens} + formula {floor_const} != reference {ref.total_tokens}",
    )
    checked.append(
        f"floor: {floor_tokens:,} content tokens + {floor_const:,} formula tokens = reference total"
    )
    return checked


# --- timing ---------------------------------------------------------------------------------


@dataclass
class Timing:
    name: str
    best: float
    runs: list[float]


def best_of(
    measures: list[tuple[str, Callable[[], Any]]], repeat: int
) -> tuple[list[Timing], dict[str, Any]]:
    """Time each measure `repeat` times, round-robin (so drift hits all alike); keep the best."""
    runs: dict[str, list[float]] = {name: [] for name, _ in measures}
    results: dict[str, Any] = {}
    for r in range(repeat):
        for name, fn in measures:
            gc.collect()
            t0 = time.perf_counter()
            out = fn()
            dt = time.perf_counter() - t0
            runs[name].append(dt)
            if r == 0:
                results[name] = out
            del out
            print(f"  run {r + 1}/{repeat}  {name:<46} {dt:8.2f} s", flush=True)
    return [Timing(name, min(runs[name]), runs[name]) for name, _ in measures], results


def print_table(
    timings: list[Timing], *, examples: int, size: int, ref_name: str, ref1_name: str, floor: str
) -> None:
    by = {t.name: t.best for t in timings}
    header = (
        f"{'name':<46} {'seconds':>8} {'examples/s':>11} {'MB/s':>7} "
        f"{'x ref':>6} {'x ref1':>7} {'x floor':>8}"
    )
    print(header)
    print("-" * len(header))
    for t in timings:
        print(
            f"{t.name:<46} {t.best:8.2f} {examples / t.best:11,.0f} {size / 1e6 / t.best:7.1f} "
            f"{by[ref_name] / t.best:6.2f} {by[ref1_name] / t.best:7.2f} {by[floor] / t.best:8.2f}"
        )
    print(
        "x ref / x ref1 / x floor: throughput multiple (that row's speed ÷ the other's; > 1 is "
        "faster). MB/s and examples/s are over the whole file for every row, floor included.\n"
        "(e) is what a perfect string cache would leave to the tokenizer: the bound for (c)."
    )


# --- where the time goes --------------------------------------------------------------------


def stages(path: Path) -> None:
    """Time the single-process pipeline stage by stage, each stage adding one step."""
    from finetune_kit.dataset.checks import LineChecker  # noqa: PLC0415
    from finetune_kit.dataset.engine import example_key, iter_file_lines  # noqa: PLC0415
    from finetune_kit.dataset.report import Finding  # noqa: PLC0415
    from finetune_kit.dataset.tokens import TokenCounter  # noqa: PLC0415

    from_json = pydantic_core.from_json

    def read() -> int:
        return sum(1 for _ in iter_file_lines(path))

    def parse() -> int:
        n = 0
        for raw in iter_file_lines(path):
            from_json(raw, allow_inf_nan=False)
            n += 1
        return n

    def check() -> int:
        checker = LineChecker("chat")
        out: list[Finding] = []
        n = 0
        for raw in iter_file_lines(path):
            n += 1
            checker.check(from_json(raw, allow_inf_nan=False), n, out)
        return n

    def count() -> int:
        counter = TokenCounter(ENCODING)
        checker = LineChecker("chat", role_tokens=counter.role_tokens())
        out: list[Finding] = []
        n = 0
        for raw in iter_file_lines(path):
            n += 1
            plan = checker.check(from_json(raw, allow_inf_nan=False), n, out)
            if plan is not None:
                counter.plan(plan)
        return n

    def count_hash() -> int:
        counter = TokenCounter(ENCODING)
        checker = LineChecker("chat", role_tokens=counter.role_tokens())
        out: list[Finding] = []
        n = 0
        for raw in iter_file_lines(path):
            n += 1
            plan = checker.check(from_json(raw, allow_inf_nan=False), n, out)
            if plan is not None:
                counter.plan(plan)
            example_key(raw)
        return n

    steps: list[tuple[str, Callable[[], object]]] = [
        ("read lines (iter_file_lines)", read),
        ("+ parse (pydantic_core.from_json)", parse),
        ("+ checks (LineChecker.check)", check),
        ("+ token counting (TokenCounter.plan)", count),
        ("+ duplicate key (blake2b)", count_hash),
        ("full validate(workers=1)", lambda: run_ours(path, 1)),
    ]
    print("\nWhere the single-process time goes (each row adds one step; best of 2):")
    prev = 0.0
    for name, fn in steps:
        best = float("inf")
        for _ in range(2):
            gc.collect()
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        print(f"  {name:<40} {best:7.2f} s   (+{best - prev:6.2f} s)")
        prev = best


_CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("tokenizer (tiktoken encode_ordinary)", ("encode_ordinary",)),
    ("JSON parsing (pydantic_core.from_json)", ("from_json",)),
    ("hashing (blake2b)", ("blake2b", "digest", "from_bytes", "example_key")),
    ("pydantic (Finding/report models)", ("pydantic", "BaseModel", "model_")),
    ("checks", ("checks.py", "fields.py", "formats.py")),
    ("token counter (tokens.py)", ("tokens.py",)),
    ("engine loop and merge", ("engine.py", "lines.py", "merge.py")),
    ("file reading", ("readline", "read of", "<method 'read'", "split")),
]


def profile(path: Path, top: int) -> None:
    """cProfile `validate(workers=1)` and group self time by what it is spent on."""
    prof = cProfile.Profile()
    prof.enable()
    run_ours(path, 1)
    prof.disable()
    stats = pstats.Stats(prof)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    groups: dict[str, float] = {}
    for (filename, _line, func), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        where = f"{filename}:{func}"
        label = "other (list/dict/str builtins, etc.)"
        for cat, needles in _CATEGORIES:
            if any(n in where for n in needles):
                label = cat
                break
        groups[label] = groups.get(label, 0.0) + tottime
    print(
        f"\ncProfile of validate(workers=1): {total:.2f} s of self time (profiler overhead incl.)"
    )
    for label, t in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {label:<42} {t:7.2f} s  {100 * t / total:5.1f} %")
    print(f"\nTop {top} functions by self time:")
    stats.sort_stats("tottime").print_stats(top)


# --- memory ---------------------------------------------------------------------------------


_SHORT_TEXT = (
    "order refund parcel tent boots jacket size color price today tomorrow week store online "
    "return label invoice code discount stock delivery address account password email phone "
    "hello thanks please sorry yes no maybe soon late early blue red green black small large"
)
SHORT_WORDS = _SHORT_TEXT.split()


def short_path(directory: Path, target_bytes: int) -> Path:
    """Where the file of short examples for `target_bytes` is written."""
    return directory / f"short-{target_bytes / 1e9:g}GB.jsonl"


def ensure_short(path: Path, target_bytes: int, seed: int = 7) -> Path:
    """Generate (once) distinct two-message chats of about 120 bytes: 1 GB is ~8.2M examples.

    The shape of the issue's worst case for memory: as many examples per byte as a real file
    has, every one distinct (so every example's duplicate key is kept).
    """
    if path.is_file():
        return path
    t0 = time.perf_counter()
    rng = random.Random(seed)
    words = SHORT_WORDS
    tmp = path.with_suffix(".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    n = size = 0
    with tmp.open("wb") as f:
        while size < target_bytes:
            batch = []
            for _ in range(10_000):
                n += 1
                user = " ".join(rng.choices(words, k=rng.randrange(1, 4)))
                answer = " ".join(rng.choices(words, k=rng.randrange(1, 5)))
                batch.append(
                    f'{{"messages": [{{"role": "user", "content": "#{n} {user}?"}}, '
                    f'{{"role": "assistant", "content": "{answer.capitalize()}."}}]}}\n'
                )
            data = "".join(batch).encode()
            f.write(data)
            size += len(data)
    tmp.replace(path)
    print(
        f"generated {path} ({n:,} examples, {size / 1e6:,.1f} MB) "
        f"in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    return path


def memory_child(path: Path, workers: int | None, mode: str) -> int:
    """Run in a fresh process: validate `path` and print peak RSS of self and children."""
    t0 = time.perf_counter()
    tokens = 0
    if mode == "baseline":
        get_encoding(ENCODING)
    else:
        tokens = run_ours(path, workers).stats.total_tokens
    elapsed = time.perf_counter() - t0
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {
                "self_mb": self_kb / 1024,
                "children_mb": children_kb / 1024,
                "seconds": elapsed,
                "tokens": tokens,
            }
        )
    )
    return 0


def _tree(pid: int) -> list[int]:
    out = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                out.extend(_tree(int(child)))
    except OSError:
        pass
    return out


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def measure_memory(
    path: Path, workers: int | None, mode: str, interval: float = 1.0
) -> dict[str, float]:
    """Validate in a fresh subprocess; its own peaks, plus the peak PSS of its process tree."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child", str(path), mode]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        peak_pss = 0
        start = time.perf_counter()
        while proc.poll() is None:
            peak_pss = max(peak_pss, sum(_pss_kb(p) for p in _tree(proc.pid)))
            # Fine sampling while the process starts, then coarse: reading smaps_rollup takes the
            # target's mmap lock, and frequent reads slow a busy process down measurably.
            time.sleep(0.05 if time.perf_counter() - start < 3 else interval)
        out, _ = proc.communicate()
    if proc.returncode:
        raise BenchmarkError(f"memory child failed ({proc.returncode}): {out}")
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    result["tree_pss_mb"] = peak_pss / 1024
    return result


def _count_lines(path: Path) -> int:
    n = 0
    with path.open("rb") as f:
        while block := f.read(16 << 20):
            n += block.count(b"\n")
    return n


def memory(target_bytes: int, workers: int | None, shapes: str, directory: Path) -> bool:
    """Peak memory on a file of long examples and/or one of short examples (see README)."""
    ok = True
    if shapes in ("long", "both"):
        long_path = directory / default_path(None, target_bytes).name
        path = ensure(long_path, examples=None, target_bytes=target_bytes)
        ok = memory_table(path, workers, "long examples (generate.py)") and ok
    if shapes in ("short", "both"):
        path = ensure_short(short_path(directory, target_bytes), target_bytes)
        ok = memory_table(path, workers, "short examples") and ok
    return ok


def memory_table(path: Path, workers: int | None, what: str) -> bool:
    size = path.stat().st_size
    examples = _count_lines(path)
    print(
        f"\nPeak memory validating {path.name}: {what}, {size / 1e6:,.0f} MB, {examples:,} "
        f"examples ({size / examples:,.0f} bytes each); each run in a fresh process"
    )
    rows = [
        ("baseline: import + load tokenizer", "baseline", None),
        (f"validate() default ({workers or os.cpu_count()} workers)", "validate", workers),
        ("validate(workers=1)", "validate", 1),
    ]
    header = (
        f"{'run':<38} {'seconds':>8} {'MB/s':>7} {'main peak':>10} {'worker peak':>12} "
        f"{'tree PSS':>9}  {'< ' + str(int(MEMORY_TARGET_MB)) + ' MB':>8}"
    )
    print(header)
    print("-" * len(header))
    ok = True
    tokens: set[int] = set()
    for label, mode, w in rows:
        r = measure_memory(path, w, mode)
        parallel = mode == "validate" and w != 1
        worker_peak = f"{r['children_mb']:.0f} MB" if parallel else "-"
        mbps = f"{size / 1e6 / r['seconds']:.1f}" if mode == "validate" else "-"
        peak = max(r["self_mb"], r["children_mb"] if parallel else 0.0)
        met = peak < MEMORY_TARGET_MB
        if mode == "validate":
            tokens.add(int(r["tokens"]))
            ok = ok and met
        print(
            f"{label:<38} {r['seconds']:8.1f} {mbps:>7} {r['self_mb']:7.0f} MB "
            f"{worker_peak:>12} {r['tree_pss_mb']:6.0f} MB  {'yes' if met else 'NO':>8}"
        )
    print(
        "main / worker peak: getrusage ru_maxrss (RUSAGE_SELF / RUSAGE_CHILDREN = the largest "
        "worker); RSS counts the tokenizer pages workers share with the main process after fork.\n"
        "tree PSS: peak proportional set size of the whole process tree (shared pages split "
        "between processes), sampled every 50 ms for 3 s, then every second: a lower bound, as a "
        "short peak can fall between samples.\n"
        f"< {MEMORY_TARGET_MB:.0f} MB: whether the largest single-process peak is under the target."
    )
    _require(len(tokens) == 1, f"parallel and single-process token totals differ: {tokens}")
    print(
        f"total tokens (both runs): {tokens.pop():,}; target: every process under "
        f"{MEMORY_TARGET_MB:.0f} MB in both runs -> {'MET' if ok else 'MISSED'}"
    )
    return ok


# --- main -----------------------------------------------------------------------------------


def speed(args: argparse.Namespace) -> bool:
    examples: int = 10_000 if args.quick else args.examples
    path = ensure(default_path(examples, None), examples=examples)
    size = path.stat().st_size
    get_encoding(ENCODING)  # load once, outside every timing
    print(
        f"\nfinetune-kit {metadata.version('finetune-kit')}, tiktoken {metadata.version('tiktoken')}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    print(f"file: {path} ({examples:,} examples, {size / 1e6:,.1f} MB); model {MODEL}")
    strings, floor_const = extract_strings(path)
    print(
        f"floor input: {len(strings):,} strings, {sum(map(len, strings)) / 1e6:,.1f} M characters "
        f"({len(set(strings)):,} distinct)"
    )
    ref_name = "(a) reference (cookbook, json.loads)"
    ref1_name = "(a') reference, assistant encoded once"
    par_name = f"(b) validate() default ({args.workers or os.cpu_count()} workers)"
    one_name = "(c) validate(workers=1)"
    floor_name = "(d) floor: bare encode_ordinary"
    distinct_name = "(e) floor, each distinct string once"
    distinct = list(dict.fromkeys(strings))
    measures: list[tuple[str, Callable[[], Any]]] = [
        (ref_name, lambda: run_reference(path)),
        (ref1_name, lambda: run_reference_once(path)),
        (par_name, lambda: run_ours(path, args.workers)),
        (one_name, lambda: run_ours(path, 1)),
        (floor_name, lambda: run_floor(strings)),
        (distinct_name, lambda: run_floor(distinct)),
    ]
    print(f"timing, best of {args.repeat}:")
    timings, results = best_of(measures, args.repeat)
    print("\nverifying counts...")
    checked = verify(
        path,
        ref=results[ref_name],
        ref_once=results[ref1_name],
        reports={par_name: results[par_name], one_name: results[one_name]},
        floor_tokens=results[floor_name],
        floor_const=floor_const,
    )
    for line in checked:
        print(f"  OK {line}")
    print(f"\nResults ({examples:,} examples, {size / 1e6:,.1f} MB, best of {args.repeat}):")
    print_table(
        timings,
        examples=examples,
        size=size,
        ref_name=ref_name,
        ref1_name=ref1_name,
        floor=floor_name,
    )
    by = {t.name: t.best for t in timings}
    multiple = by[ref_name] / by[par_name]
    met = multiple >= SPEEDUP_TARGET
    print(
        f"target: validate() >= {SPEEDUP_TARGET:g}x the reference's throughput with identical "
        f"counts -> {multiple:.2f}x, {'MET' if met else 'MISSED'}"
    )
    strings.clear()
    distinct.clear()
    if args.stages:
        stages(path)
    if args.profile:
        profile(path, args.top)
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark Dataset.validate() (see benchmarks/README.md)."
    )
    parser.add_argument(
        "--examples",
        type=lambda s: int(s.replace("_", "")),
        default=100_000,
        help="examples in the timed file (default 100,000, about 100 MB)",
    )
    parser.add_argument("--quick", action="store_true", help="use a 10,000-example file")
    parser.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    parser.add_argument(
        "--workers", type=int, default=None, help="workers for (b) (default: the library's)"
    )
    parser.add_argument("--stages", action="store_true", help="time the pipeline stage by stage")
    parser.add_argument("--profile", action="store_true", help="cProfile validate(workers=1)")
    parser.add_argument("--top", type=int, default=25, help="functions listed by --profile")
    parser.add_argument("--memory", action="store_true", help="peak memory on a ~1 GB file")
    parser.add_argument(
        "--memory-shape",
        choices=("long", "short", "both"),
        default="both",
        help="--memory on long examples (generate.py), short ones (~120 bytes), or both",
    )
    parser.add_argument(
        "--memory-dir",
        type=Path,
        default=DATA_DIR,
        help="where the --memory files are generated (default benchmarks/.data)",
    )
    parser.add_argument(
        "--memory-bytes",
        type=lambda s: int(float(s.replace("_", ""))),
        default=1_000_000_000,
        help="size of the --memory file (default 1e9)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed, too")
    parser.add_argument("--memory-child", nargs=2, metavar=("PATH", "MODE"), help=argparse.SUPPRESS)
    shape_bench.add_arguments(parser)  # --shape, --scale: the five shapes of issue 12 (shapes.py)
    args = parser.parse_args(argv)
    if args.shape is not None:
        return shape_bench.run(args)
    if args.memory_child:
        return memory_child(Path(args.memory_child[0]), args.workers, args.memory_child[1])
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    try:
        met = (
            memory(args.memory_bytes, args.workers, args.memory_shape, args.memory_dir)
            if args.memory
            else speed(args)
        )
    except BenchmarkError as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 1
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
