"""`dedupe` and `split`: reshape a dataset from the terminal.

Both read the whole file first and write each output whole or not at all (a temporary file
renamed into place), so an output may be the input itself.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune_kit.cli.context import Context
from finetune_kit.cli.errors import EXIT_OK
from finetune_kit.exceptions import ConfigurationError

if TYPE_CHECKING:  # the heavy modules are loaded when a command runs
    pass

__all__ = ["add_dataset_commands"]


def add_dataset_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """Register `dedupe` and `split`."""
    dedupe = sub.add_parser(
        "dedupe",
        help="copy a dataset without its repeated examples (the first copy of each is kept)",
        description="Write IN to OUT without repeated examples: the first copy of each is kept, "
        "in order. Rows are written as compact JSON, one per line. OUT may be IN.",
    )
    dedupe.add_argument("input", metavar="IN", type=Path, help="the JSONL file")
    dedupe.add_argument("output", metavar="OUT", type=Path, help="where to write (may be IN)")
    dedupe.set_defaults(handler=run_dedupe)

    split = sub.add_parser(
        "split",
        help="split a dataset into training and validation files, reproducibly",
        description="Hold out a fraction of IN as validation data. The split depends only on "
        "the examples and --seed (the same as `tune --split`): the same on every run and "
        "machine. Copies of an example stay on one side. Either output may be IN.",
    )
    split.add_argument("input", metavar="IN", type=Path, help="the JSONL file")
    split.add_argument("--train", required=True, type=Path, metavar="OUT", help="training file")
    split.add_argument(
        "--validation", required=True, type=Path, metavar="OUT", help="validation file"
    )
    split.add_argument(
        "--fraction", default="0.1", help="the share held out for validation (default 0.1)"
    )
    split.add_argument("--seed", type=int, default=0, help="another split (default 0)")
    split.set_defaults(handler=run_split)


def run_dedupe(args: argparse.Namespace, ctx: Context) -> int:  # noqa: ARG001
    """`dedupe`."""
    from finetune_kit.dataset import Dataset  # noqa: PLC0415 - loaded when the command runs

    source = Dataset.from_jsonl(args.input)
    kept = source.deduplicate()  # read whole: writing onto IN is safe
    total, left = len(source), len(kept)
    kept.to_jsonl(args.output)
    print(
        f"{args.input}: {total:,} example(s), {total - left:,} repeated copies removed; "
        f"{left:,} written to {args.output}"
    )
    return EXIT_OK


def _fraction(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0 < number < 1:
        raise ConfigurationError(
            f"--fraction must be between 0 and 1 (0.1 holds out a tenth), not {value!r}"
        )
    return number


def _same(a: Path, b: Path) -> bool:
    return os.path.abspath(a) == os.path.abspath(b) or (  # noqa: PTH100
        a.exists() and b.exists() and a.samefile(b)
    )


def run_split(args: argparse.Namespace, ctx: Context) -> int:  # noqa: ARG001
    """`split`."""
    from finetune_kit.dataset import Dataset  # noqa: PLC0415 - loaded when the command runs

    fraction = _fraction(args.fraction)
    if _same(args.train, args.validation):
        raise ConfigurationError(
            f"--train and --validation are the same file ({args.train}): name two files"
        )
    source = Dataset.from_jsonl(args.input)
    train, held_out = source.split(fraction, seed=args.seed)  # read whole: OUT may be IN
    total = len(train) + len(held_out)
    if not held_out or not train:
        side = "validation" if not held_out else "training"
        raise ConfigurationError(
            f"--fraction {args.fraction} of {total:,} example(s) leaves no {side} example: "
            "choose another fraction"
        )
    outputs = [(train, args.train), (held_out, args.validation)]
    # The input last: if writing another output fails, IN still holds every example.
    for part, path in sorted(outputs, key=lambda out: _same(out[1], args.input)):
        part.to_jsonl(path)
    print(
        f"{args.input}: {total:,} example(s): {len(train):,} to {args.train}, "
        f"{len(held_out):,} to {args.validation} (seed {args.seed}; the same split every run)"
    )
    return EXIT_OK
