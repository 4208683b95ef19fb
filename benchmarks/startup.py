"""Time start-up: each command in fresh processes, best of N, against `python -c pass`.

    uv run python benchmarks/startup.py               # best of 15
    uv run python benchmarks/startup.py --repeat 30   # best of 30 (a noisy machine: more)
    uv run python benchmarks/startup.py --strict      # exit 1 when a target is missed

The commands run in turn, round after round (not all of one, then all of the next), so that a
burst of load on a shared machine hurts every row alike; each row keeps its best round. A row
also says which of the heavy modules (`openai`, `httpx2`, `pydantic`, `tiktoken`) it loaded, read
from `sys.modules` in one more run. Targets (issue 12): `import finetune_kit` <= 50 ms over
`import openai`; `from finetune_kit import Dataset` and `finetune-kit validate` never import
openai; `finetune-kit --help` within 0.3 s of `python -c pass`. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "src" / "finetune_kit" / "data" / "elle.jsonl"
MODEL = "gpt-4o-mini-2024-07-18"
HEAVY = ("openai", "httpx2", "pydantic", "tiktoken")
CLI = (
    "import sys\nfrom finetune_kit.cli import main\ncode = main(sys.argv[1:])\nsys.stdout.flush()\n"
)
"""What the `finetune-kit` script runs (its entry point), as `python -c`: the same imports."""


@dataclass(frozen=True)
class Row:
    name: str
    argv: tuple[str, ...]


def _rows() -> list[Row]:
    py = sys.executable
    script = Path(py).parent / "finetune-kit"
    cli = (str(script),) if script.exists() else (py, "-c", CLI)
    return [
        Row("python -c pass", (py, "-c", "pass")),
        Row("import openai", (py, "-c", "import openai")),
        Row("import finetune_kit", (py, "-c", "import finetune_kit")),
        Row("from finetune_kit import Dataset", (py, "-c", "from finetune_kit import Dataset")),
        Row("finetune-kit --help", (*cli, "--help")),
        Row(
            f"finetune-kit validate {SMALL.name}", (*cli, "validate", str(SMALL), "--model", MODEL)
        ),
    ]


def _time(argv: tuple[str, ...]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def _loaded(row: Row) -> list[str]:
    """The heavy modules the row's command had imported when it ended."""
    probe = (
        "import atexit, json, os, sys\n"
        f"heavy = {HEAVY!r}\n"
        "atexit.register(lambda: os.write(2, ('\\n@@' + json.dumps("
        "[m for m in heavy if m in sys.modules])).encode()))\n"
    )
    argv = row.argv
    if argv[0] == sys.executable and argv[1] == "-c":
        code, rest = argv[2], argv[3:]
    else:  # the console script: its entry point, run the same way
        code, rest = CLI, argv[1:]
    done = subprocess.run(
        (sys.executable, "-c", probe + code, *rest),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    return json.loads(done.stderr.rsplit("@@", 1)[1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=15, help="rounds; each row keeps its best")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    rows = _rows()
    for row in rows:  # warm the file cache and the bytecode cache: not what is measured
        _time(row.argv)
    best = {row.name: float("inf") for row in rows}
    for _ in range(args.repeat):
        for row in rows:
            best[row.name] = min(best[row.name], _time(row.argv))
    loaded = {row.name: _loaded(row) for row in rows}

    base, sdk = best["python -c pass"], best["import openai"]
    print(
        f"Python {platform.python_version()} on {platform.system()}, best of {args.repeat} "
        "fresh processes"
    )
    print()
    print("| command | best (ms) | over `python -c pass` | over `import openai` | loads |")
    print("|---|---:|---:|---:|---|")
    for row in rows:
        t = best[row.name]
        print(
            f"| `{row.name}` | {t * 1e3:.0f} | {(t - base) * 1e3:+.0f} | {(t - sdk) * 1e3:+.0f} "
            f"| {', '.join(loaded[row.name]) or '-'} |"
        )

    validate = rows[-1].name
    targets = [
        (
            "`import finetune_kit` <= 50 ms over `import openai`",
            best["import finetune_kit"] - sdk <= 0.050,
        ),
        (
            "`from finetune_kit import Dataset` does not import openai",
            "openai" not in loaded["from finetune_kit import Dataset"],
        ),
        ("`finetune-kit validate` does not import openai", "openai" not in loaded[validate]),
        (
            "`finetune-kit --help` within 0.3 s of `python -c pass`",
            best["finetune-kit --help"] - base <= 0.3,
        ),
    ]
    print()
    for text, met in targets:
        print(f"- {text}: {'met' if met else 'MISSED'}")
    return 1 if args.strict and not all(met for _, met in targets) else 0


if __name__ == "__main__":
    sys.exit(main())
