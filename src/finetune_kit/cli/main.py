"""`finetune-kit`: validate, estimate and (soon) train from a terminal.

Every bad input gets one clear line on stderr and a non-zero exit code, never a traceback:
0 success, 1 the dataset has errors, 2 bad usage or input.

Added in 0.1.0.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Literal

from finetune_kit.dataset import Dataset, ValidationReport
from finetune_kit.exceptions import FinetuneKitError

__all__ = ["DEMO_MODEL", "bundled_dataset", "main"]

DEMO_MODEL = "gpt-4o-mini-2024-07-18"
EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def bundled_dataset() -> Path:
    """Return the path of the bundled Elle dataset (10 chat examples).

    Added in 0.1.0.
    """
    return Path(str(resources.files("finetune_kit") / "data" / "elle.jsonl"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finetune-kit",
        description="Fine-tune hosted models reliably: validate, estimate, train, compare.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the pipeline on the bundled Elle dataset")
    demo.add_argument("--dataset", type=Path, help="a JSONL file instead of the bundled one")
    demo.add_argument("--model", default=DEMO_MODEL, help=f"base model (default {DEMO_MODEL})")

    for name, text in (
        ("validate", "check a training file: findings, stats and cost (exit 1 on errors)"),
        ("estimate", "print the training cost estimate of a file"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("file", type=Path, help="the training JSONL file")
        cmd.add_argument("--model", required=True, help="the model to train, e.g. " + DEMO_MODEL)
        cmd.add_argument("--method", choices=("supervised", "dpo", "reinforcement"))
        cmd.add_argument("--n-epochs", default="auto", help="'auto' (default) or 1-50")
        cmd.add_argument("--price", type=float, help="USD per 1M training tokens (overrides)")
        cmd.add_argument("--json", action="store_true", help="print JSON instead of text")
        if name == "validate":
            cmd.add_argument("--validation", type=Path, help="validation file (overlap check)")
            cmd.add_argument(
                "--strict", action="store_true", help="exit 1 on warnings as well as errors"
            )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    Added in 0.1.0.
    """
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args)
        return _validate(args)
    except (FinetuneKitError, OSError) as exc:
        print(f"finetune-kit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("finetune-kit: interrupted", file=sys.stderr)
        return 130


def _epochs(value: str) -> int | Literal["auto"]:
    if value == "auto":
        return "auto"
    try:
        return int(value)
    except ValueError:
        raise FinetuneKitError(f"--n-epochs must be 'auto' or 1-50, not {value!r}") from None


def _validate(args: argparse.Namespace) -> int:
    ds = Dataset.from_jsonl(args.file)
    prices = {args.model: args.price} if args.price is not None else None
    n_epochs = _epochs(args.n_epochs)
    report = ds.validate(
        model=args.model,
        method=args.method,
        validation=getattr(args, "validation", None),
        n_epochs=n_epochs,
        prices=prices,
    )
    if args.command == "estimate":
        print(report.estimate.model_dump_json(indent=2) if args.json else report.estimate)
        return EXIT_OK
    print(report.to_json() if args.json else report)
    failed = not report.ok or (args.strict and report.warning_count > 0)
    return EXIT_INVALID if failed else EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    path = args.dataset or bundled_dataset()
    print(f"finetune-kit demo: step 1, prepare the data ({path.name}, model {args.model})\n")
    report: ValidationReport = Dataset.from_jsonl(path).validate(model=args.model)
    print(report)
    print()
    if not report.ok:
        print("The dataset has errors: fix them (each names its line and field) and run again.")
        return EXIT_INVALID
    print(f"Ready to upload: {report.stats.examples} examples. Nothing was sent anywhere.")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
