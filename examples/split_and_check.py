"""Deduplicate, split into train/validation, and prove there is no leakage.

Runs offline (no API key): `uv run python examples/split_and_check.py [OUT_DIR]`.
Writes train.jsonl and valid.jsonl to OUT_DIR (default: a temporary folder).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from finetune_kit import Dataset, bundled_dataset


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path(tempfile.mkdtemp(prefix="finetune-kit-"))
    ds = Dataset.from_jsonl(bundled_dataset()).deduplicate()
    train, valid = ds.split(0.2, seed=7)
    train_path = train.to_jsonl(out / "train.jsonl")
    valid_path = valid.to_jsonl(out / "valid.jsonl")
    leaks = Dataset.from_jsonl(train_path).overlap(valid_path)
    print(f"{len(train)} training and {len(valid)} validation examples in {out}")
    print(f"overlap between them: {len(leaks)} example(s)")
    report = Dataset.from_jsonl(valid_path).validate(model="gpt-4o-mini-2024-07-18")
    print(f"validation file: {report.stats.examples} examples, {report.stats.total_tokens} tokens")
    return 0 if not leaks else 1


if __name__ == "__main__":
    sys.exit(main())
