"""`validate()` on five shapes of data, against a single-process cookbook-style reference.

    uv run python benchmarks/run.py --shape all              # (a)-(e), best of 3: about 5 min
    uv run python benchmarks/run.py --shape all --scale 0.1  # a tenth of the examples: ~30 s
    uv run python benchmarks/run.py --shape b --repeat 5
    uv run python benchmarks/shapes.py --shape all           # the same, without run.py

The shapes (issue 12), each generated deterministically (seeded `random.Random`):

- (a) 100k short chats, one shared system prompt (the `generate.py` data);
- (b) 60k multi-turn chats (2-6 turns), no system prompt, distinct text;
- (c) 60k tool-calling examples: `tools`, a user question, an assistant tool call, the tool's
  answer and the final answer; the reference counts the tools the same way (compact JSON);
- (d) 100k chats with 5% malformed lines (cut short: not valid JSON);
- (e) 60k DPO pairs; the reference counts both answers.

Each shape is timed in one process, in rotation (best of `--repeat`):

- reference: `json.loads` and each string encoded once with tiktoken, one line at a time;
- `validate()` default (processes when the file is large enough);
- `validate(workers=1)`;
- threaded: `validate()` default while another thread of this process is alive (as in a Jupyter
  kernel or a web app).

Counts are checked, not assumed: rows, examples, total tokens, the distributions of tokens,
assistant tokens and messages per example and the malformed lines must equal the reference's,
and the three `validate()` reports must be identical (`model_dump()`), or the run exits 1.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import DATA_DIR, SYSTEM_PROMPT, TextMaker, make_example

from finetune_kit import Dataset
from finetune_kit.dataset import Distribution, ValidationReport, get_encoding
from finetune_kit.dataset.catalog import model_info

MODEL = "gpt-4o-mini-2024-07-18"
ENCODING = "o200k_base"
SEED = 20240718
DEFAULT_TARGET = 2.0
WORKERS1_TARGET = 1.3

# --- data -------------------------------------------------------------------------------------

_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_order_status",
            "description": "Look up the status of a customer's order by its number.",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {
                        "type": "string",
                        "description": "The order number, e.g. #1234567.",
                    }
                },
                "required": ["order_id"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "track_shipment",
            "description": "Track a parcel with the courier and return its last known position.",
            "parameters": {
                "type": "object",
                "properties": {
                    "tracking_number": {"type": "string"},
                    "courier": {"type": "string", "enum": ["dhl", "ups", "gls", "post"]},
                },
                "required": ["tracking_number"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "issue_refund",
            "description": "Refund an order in full or in part, in EUR.",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string"},
                    "amount": {"type": "number", "minimum": 0},
                    "reason": {"type": "string"},
                },
                "required": ["order_id", "amount"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search_products",
            "description": "Search the catalogue; returns up to 5 products with their prices.",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string"},
                    "max_price": {"type": "number"},
                    "in_stock": {"type": "boolean"},
                },
                "required": ["query"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather forecast for a place and a date (YYYY-MM-DD).",
            "parameters": {
                "type": "object",
                "properties": {"place": {"type": "string"}, "date": {"type": "string"}},
                "required": ["place"],
            },
        },
    },
]
# Rows declare one of a few tool sets, as a real application's rows do.
_TOOL_SETS = [[0, 1, 2], [0, 1, 2, 3], [3, 4], [0, 1, 2, 3, 4], [1], [2, 3]]


def _chat_multi_turn(rng: random.Random, texts: TextMaker) -> dict[str, object]:
    turns = rng.randint(2, 6)
    messages: list[dict[str, object]] = []
    for _ in range(turns):
        messages.append({"role": "user", "content": texts.text(18)})
        messages.append({"role": "assistant", "content": texts.text(36)})
    return {"messages": messages}


def _arguments(rng: random.Random, texts: TextMaker, name: str) -> str:
    if name in ("get_order_status", "issue_refund"):
        args: dict[str, object] = {"order_id": f"#{rng.randrange(10**6, 10**7)}"}
        if name == "issue_refund":
            args["amount"] = round(rng.uniform(1, 300), 2)
            args["reason"] = texts.text(6)
    elif name == "track_shipment":
        args = {"tracking_number": f"JD{rng.randrange(10**11, 10**12)}", "courier": "dhl"}
    elif name == "search_products":
        args = {"query": texts.text(3), "in_stock": rng.random() < 0.5}
    else:
        args = {"place": rng.choice(["Zürich", "Kraków", "Åre", "Chamonix"]), "date": "2026-07-01"}
    return json.dumps(args, ensure_ascii=False)


def _tool_calling(rng: random.Random, texts: TextMaker) -> dict[str, object]:
    tools = [_TOOLS[i] for i in rng.choice(_TOOL_SETS)]
    messages: list[dict[str, object]] = []
    if rng.random() < 0.5:
        messages.append({"role": "system", "content": SYSTEM_PROMPT})
    messages.append({"role": "user", "content": texts.text(20)})
    calls = []
    for k in range(rng.choice((1, 1, 1, 2))):
        name = str(rng.choice(tools)["function"]["name"])
        calls.append(
            {
                "id": f"call_{rng.randrange(16**12):012x}{k}",
                "type": "function",
                "function": {"name": name, "arguments": _arguments(rng, texts, name)},
            }
        )
    messages.append({"role": "assistant", "content": None, "tool_calls": calls})
    for call in calls:
        answer = json.dumps({"result": texts.text(12)}, ensure_ascii=False)
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": answer})
    messages.append({"role": "assistant", "content": texts.text(40)})
    return {"tools": tools, "messages": messages}


def _dpo(rng: random.Random, texts: TextMaker) -> dict[str, object]:
    messages: list[dict[str, object]] = []
    if rng.random() < 0.5:
        messages.append({"role": "system", "content": SYSTEM_PROMPT})
    messages.append({"role": "user", "content": texts.text(25)})
    return {
        "input": {"messages": messages},
        "preferred_output": [{"role": "assistant", "content": texts.text(50)}],
        "non_preferred_output": [{"role": "assistant", "content": texts.text(35)}],
    }


@dataclass(frozen=True)
class Shape:
    key: str
    title: str
    examples: int
    make: Callable[[random.Random, TextMaker], dict[str, object]]
    malformed: float = 0.0


SHAPES: dict[str, Shape] = {
    s.key: s
    for s in (
        Shape("a", "100k short chats, one shared system prompt", 100_000, make_example),
        Shape("b", "60k multi-turn chats, no system prompt", 60_000, _chat_multi_turn),
        Shape("c", "60k tool-calling examples", 60_000, _tool_calling),
        Shape("d", "100k chats, 5% malformed lines", 100_000, make_example, malformed=0.05),
        Shape("e", "60k DPO pairs", 60_000, _dpo),
    )
}


def shape_path(shape: Shape, examples: int) -> Path:
    return DATA_DIR / f"shape-{shape.key}-{examples}.jsonl"


def generate_shape(shape: Shape, examples: int) -> Path:
    """Write the shape's file unless it exists; a given size always gives the same bytes."""
    path = shape_path(shape, examples)
    if path.is_file():
        return path
    t0 = time.perf_counter()
    rng = random.Random(SEED)
    texts = TextMaker(rng)
    broken = random.Random(SEED + 1)
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        batch: list[str] = []
        for _ in range(examples):
            line = dumps(shape.make(rng, texts))
            if shape.malformed and broken.random() < shape.malformed:
                line = line[: broken.randrange(1, len(line) - 1)]  # cut short: never valid JSON
            batch.append(line + "\n")
            if len(batch) >= 10_000:
                f.write("".join(batch).encode())
                batch.clear()
        f.write("".join(batch).encode())
    tmp.replace(path)
    print(
        f"generated {path} ({examples:,} examples, {path.stat().st_size / 1e6:,.1f} MB) in "
        f"{time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    return path


# --- the reference ------------------------------------------------------------------------------

_CHAT_KEYS = frozenset({"role", "content", "name", "weight", "tool_calls", "tool_call_id"})
_ROLES = frozenset({"system", "user", "assistant", "tool"})


@dataclass
class Counts:
    rows: int = 0
    malformed: int = 0
    format_errors: int = 0
    tokens: list[int] = field(default_factory=list)
    assistant: list[int] = field(default_factory=list)
    messages: list[int] = field(default_factory=list)


def _messages(
    messages: list[dict[str, Any]], encode: Callable[[str], list[int]]
) -> tuple[int, int]:
    """The cookbook's count (3 per message, each string value, 1 per name), plus tool calls."""
    tokens = 0
    assistant = 0
    for message in messages:
        tokens += 3
        for key, value in message.items():
            if isinstance(value, str):
                n = len(encode(value))
                tokens += n
                if key == "content" and message.get("role") == "assistant":
                    assistant += n
            if key == "name":
                tokens += 1
        for call in message.get("tool_calls") or ():
            fn = call["function"]
            tokens += 3 + len(encode(fn["name"])) + len(encode(fn["arguments"]))
    return tokens, assistant


def _format_errors(messages: object) -> int:
    """The cookbook's format checks, with the tool-calling keys allowed."""
    if not isinstance(messages, list) or not messages:
        return 1
    errors = 0
    for message in messages:
        if "role" not in message or ("content" not in message and "tool_calls" not in message):
            errors += 1
        if any(k not in _CHAT_KEYS for k in message):
            errors += 1
        if message.get("role") not in _ROLES:
            errors += 1
        content = message.get("content")
        if content is not None and (not isinstance(content, str) or not content):
            errors += 1
    if not any(m.get("role") == "assistant" for m in messages):
        errors += 1
    return errors


def reference(path: Path) -> Counts:
    """One line at a time, `json.loads`, each string encoded once: the cookbook, single process."""
    encode = get_encoding(ENCODING).encode_ordinary
    tools_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    res = Counts()
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            res.rows += 1
            try:
                ex = json.loads(line)
            except json.JSONDecodeError:
                res.malformed += 1
                continue
            if "input" in ex:  # DPO: the input, then both answers
                messages = ex["input"]["messages"]
                answers = ex["preferred_output"] + ex["non_preferred_output"]
                res.format_errors += _format_errors(messages + answers)
                tokens, _ = _messages(messages, encode)
                out, assistant = _messages(answers, encode)
                tokens += out + 3
                n_messages = len(messages) + len(answers)
                tools = ex["input"].get("tools")
            else:
                messages = ex["messages"]
                res.format_errors += _format_errors(messages)
                tokens, assistant = _messages(messages, encode)
                tokens += 3
                n_messages = len(messages)
                tools = ex.get("tools")
            if tools is not None:
                tokens += len(encode(tools_json(tools)))
            res.tokens.append(tokens)
            res.assistant.append(assistant)
            res.messages.append(n_messages)
    return res


# --- checking and timing ----------------------------------------------------------------------


class BenchmarkError(Exception):
    """A count differs from the reference's, or the reports differ."""


def verify(ref: Counts, reports: dict[str, ValidationReport]) -> str:
    """Compare every count with the reference; raise BenchmarkError on a difference."""

    def require(ok: bool, what: str) -> None:  # noqa: FBT001
        if not ok:
            raise BenchmarkError(f"MISMATCH: {what}")

    require(not ref.format_errors, f"the reference found {ref.format_errors} format errors")
    first_name, first = next(iter(reports.items()))
    for name, rep in reports.items():
        s = rep.stats
        require(s.rows == ref.rows, f"{name}: rows {s.rows:,} != reference {ref.rows:,}")
        require(s.examples == len(ref.tokens), f"{name}: examples {s.examples:,}")
        require(
            s.total_tokens == sum(ref.tokens),
            f"{name}: total tokens {s.total_tokens:,} != reference {sum(ref.tokens):,}",
        )
        for label, ours, theirs in (
            ("tokens per example", s.tokens_per_example, ref.tokens),
            ("assistant tokens", s.assistant_tokens_per_example, ref.assistant),
            ("messages per example", s.messages_per_example, ref.messages),
        ):
            require(ours == Distribution.of(theirs), f"{name}: {label} {ours}")
        malformed = rep.counts.get("invalid_json", 0)
        require(malformed == ref.malformed, f"{name}: {malformed} malformed != {ref.malformed}")
        other = {k: v for k, v in rep.counts.items() if k != "invalid_json"}
        require(not other, f"{name}: findings other than invalid_json: {other}")
        require(
            rep.model_dump() == first.model_dump(),
            f"{name}: the report differs from {first_name}'s",
        )
    return (
        f"rows {ref.rows:,}, examples {len(ref.tokens):,}, tokens {sum(ref.tokens):,} "
        f"(assistant {sum(ref.assistant):,}), malformed {ref.malformed:,}: identical; "
        "the three reports are equal"
    )


def validate(path: Path, workers: int | None) -> ValidationReport:
    return Dataset.from_jsonl(path).validate(model=MODEL, workers=workers)


def validate_threaded(path: Path) -> ValidationReport:
    """`validate()` default while another thread of this process is alive."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="busy-app-thread", daemon=True)
    thread.start()
    try:
        return validate(path, None)
    finally:
        stop.set()
        thread.join()


@dataclass
class Row:
    shape: Shape
    examples: int
    size: int
    best: dict[str, float]
    check: str


NAMES = ("reference", "default", "workers=1", "threaded")


def run_shape(shape: Shape, examples: int, repeat: int) -> Row:
    path = generate_shape(shape, examples)
    measures: dict[str, Callable[[], Any]] = {
        "reference": lambda: reference(path),
        "default": lambda: validate(path, None),
        "workers=1": lambda: validate(path, 1),
        "threaded": lambda: validate_threaded(path),
    }
    runs: dict[str, list[float]] = {name: [] for name in NAMES}
    results: dict[str, Any] = {}
    print(f"({shape.key}) {shape.title}: {path.name}, {path.stat().st_size / 1e6:,.1f} MB")
    for r in range(repeat):
        for name in NAMES:
            gc.collect()
            t0 = time.perf_counter()
            out = measures[name]()
            dt = time.perf_counter() - t0
            runs[name].append(dt)
            results.setdefault(name, out)
            del out
            print(f"  run {r + 1}/{repeat}  {name:<10} {dt:7.2f} s", flush=True)
    check = verify(results.pop("reference"), results)
    print(f"  OK {check}")
    best = {name: min(times) for name, times in runs.items()}
    return Row(shape, examples, path.stat().st_size, best, check)


def print_table(rows: list[Row], repeat: int) -> bool:
    print(
        f"\nvalidate() against the reference (best of {repeat}; x = reference s / row s, "
        f"> 1 is faster; {os.cpu_count()} CPUs; counts identical for every row):\n"
    )
    print(
        "| shape | examples | MB | reference s | default s | x | workers=1 s | x "
        "| threaded s | x | goals |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    met_all = True
    for row in rows:
        b = row.best
        ref = b["reference"]
        x = {name: ref / b[name] for name in NAMES}
        met = x["default"] >= DEFAULT_TARGET
        goal = f">= {DEFAULT_TARGET:g}x {'met' if met else 'MISSED'}"
        if row.shape.key in "ab":
            met1 = x["workers=1"] >= WORKERS1_TARGET
            goal += f"; w=1 >= {WORKERS1_TARGET:g}x {'met' if met1 else 'MISSED'}"
            met = met and met1
        met_all = met_all and met
        print(
            f"| ({row.shape.key}) {row.shape.title} | {row.examples:,} | {row.size / 1e6:,.1f} "
            f"| {ref:.2f} | {b['default']:.2f} | {x['default']:.2f} | {b['workers=1']:.2f} "
            f"| {x['workers=1']:.2f} | {b['threaded']:.2f} | {x['threaded']:.2f} | {goal} |"
        )
    return met_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run(args)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shape",
        default=None,
        help="a, b, c, d, e, a comma-separated list of them, or all",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every shape's examples (e.g. 0.1 for a quick run; default 1)",
    )
    if not any(a.dest == "repeat" for a in parser._actions):  # noqa: SLF001
        parser.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    if not any(a.dest == "strict" for a in parser._actions):  # noqa: SLF001
        parser.add_argument("--strict", action="store_true", help="exit 1 if a goal is missed")


def run(args: argparse.Namespace) -> int:
    keys = "abcde" if args.shape in (None, "all") else args.shape.replace(",", "")
    unknown = set(keys) - set(SHAPES)
    if unknown:
        print(f"unknown shape(s): {', '.join(sorted(unknown))} (use a-e or all)", file=sys.stderr)
        return 2
    get_encoding(ENCODING)  # load once, outside every timing
    model_info(MODEL)
    rows: list[Row] = []
    try:
        for key in keys:
            shape = SHAPES[key]
            rows.append(run_shape(shape, max(100, round(shape.examples * args.scale)), args.repeat))
    except BenchmarkError as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 1
    met = print_table(rows, args.repeat)
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
