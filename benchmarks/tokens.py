"""Token counting alone: `TokenCounter` against tiktoken, on text of several kinds.

    uv run python benchmarks/tokens.py               # best of 3: about 1 min
    uv run python benchmarks/tokens.py --repeat 5

`TokenCounter` counts a new string from its words (cut at spaces, each word tokenized once), and
gives indented text, double spaces and text of ever-new words to tiktoken whole. The shapes of
`shapes.py` draw their words from a short list, the best case for a word cache; this script
shows what it does on other text too, all of it on this machine, nothing downloaded:

- (b) strings: the message contents of shape (b) (distinct strings, known words);
- prose: Python's own documentation (`pydoc_data/topics.py`), its indentation and double spaces
  taken out, in pieces of 50-1,500 characters;
- prose, indented: the same text as it is (reStructuredText: indented nearly everywhere);
- docstrings: every docstring of the standard library's top-level modules;
- code: the standard library's top-level modules, in pieces;
- CJK: text without spaces (one piece per string);
- IDs: random 64-bit hex numbers, each word new.

Each row times `sum(len(encode_ordinary(s)))` with tiktoken's core and `TokenCounter.count` over
the same strings (a fresh counter per run: its caches start empty), in rotation, best of
`--repeat`, and checks that the two totals are equal (exit 1 if not).
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shapes import SHAPES, generate_shape

from finetune_kit.dataset.encodings import get_encoding
from finetune_kit.dataset.tokens import TokenCounter

ENCODING = "o200k_base"
STDLIB = Path(sysconfig.get_paths()["stdlib"])


def _pieces(text: str, n: int, rng: random.Random) -> list[str]:
    out = []
    for _ in range(n):
        start = rng.randrange(len(text) - 1_500)
        out.append(text[start : start + rng.randint(50, 1_500)])
    return out


def _docstrings() -> list[str]:
    found = []
    for path in sorted(STDLIB.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(errors="replace"))
        except SyntaxError:  # a test file of the standard library, on purpose
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef):
                doc = ast.get_docstring(node)
                if doc:
                    found.append(doc)
    return found


def _shape_b_strings(limit: int) -> list[str]:
    found: list[str] = []
    with generate_shape(SHAPES["b"], 60_000).open(encoding="utf-8") as lines:
        for line in lines:
            found.extend(m["content"] for m in json.loads(line)["messages"])
            if len(found) >= limit:
                break
    return found[:limit]


def corpora() -> dict[str, list[str]]:
    """The strings of each row, deterministic for a given Python."""
    rng = random.Random(20261202)
    topics = (STDLIB / "pydoc_data" / "topics.py").read_text(encoding="utf-8")
    flat = re.sub(r" {2,}", " ", re.sub(r"\n +", "\n", topics))
    code = "".join(p.read_text(errors="replace") for p in sorted(STDLIB.glob("*.py"))[:200])
    cjk = "".join(chr(rng.randint(0x4E00, 0x4FFF)) for _ in range(200_000))
    ids = " ".join(f"{rng.getrandbits(64):x}" for _ in range(100_000))
    return {
        "(b) strings": _shape_b_strings(200_000),
        "prose": _pieces(flat, 30_000, rng),
        "prose, indented": _pieces(topics, 30_000, rng),
        "docstrings": _docstrings(),
        "code": _pieces(code, 30_000, rng),
        "CJK": _pieces(cjk, 10_000, rng),
        "IDs": _pieces(ids, 10_000, rng),
    }


def _timed(count: Callable[[str], int], texts: list[str], times: list[float]) -> int:
    start = time.perf_counter()
    total = sum(map(count, texts))
    times.append(time.perf_counter() - start)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    args = parser.parse_args(argv)
    core = get_encoding(ENCODING)._core_bpe.encode_ordinary  # noqa: SLF001 - no wrapper frame
    print(f"Token counting, {ENCODING}, best of {args.repeat} (x = tiktoken s / counter s)\n")
    print("| text | strings | MB | tiktoken s | counter s | x |")
    print("|---|---:|---:|---:|---:|---:|")
    ok = True
    for name, texts in corpora().items():
        plain: list[float] = []
        counted: list[float] = []
        for _ in range(args.repeat):
            want = _timed(lambda s: len(core(s)), texts, plain)
            got = _timed(TokenCounter(ENCODING).count, texts, counted)
            if got != want:
                print(f"MISMATCH on {name}: tiktoken {want:,}, counter {got:,}")
                ok = False
        mb = sum(len(s.encode("utf-8", "surrogatepass")) for s in texts) / 1e6
        print(
            f"| {name} | {len(texts):,} | {mb:.1f} | {min(plain):.2f} | {min(counted):.2f} "
            f"| {min(plain) / min(counted):.2f} |"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
