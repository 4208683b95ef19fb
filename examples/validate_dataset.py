"""Validate a training file and print the report and the cost estimate.

Runs offline (no API key): `uv run python examples/validate_dataset.py [FILE] [MODEL]`.
Without arguments it uses the Elle dataset bundled with finetune-kit.
"""

from __future__ import annotations

import sys

from finetune_kit import Dataset, bundled_dataset


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = args[0] if args else bundled_dataset()
    model = args[1] if len(args) > 1 else "gpt-4o-mini-2024-07-18"
    report = Dataset.from_jsonl(path).validate(model=model)
    print(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
