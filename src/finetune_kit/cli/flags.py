"""Flags and argument types shared by the commands."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any, Literal

from finetune_kit._core.scoring import Grader, contains, exact, is_json, regex
from finetune_kit.cli.provider import add_provider_flags
from finetune_kit.exceptions import ConfigurationError

__all__ = [
    "DEMO_MODEL",
    "GRADERS",
    "add_compare_flags",
    "add_interval",
    "add_job_arg",
    "add_training_flags",
    "compare_options",
    "epochs",
    "model_price",
    "positive",
]

DEMO_MODEL = "gpt-4o-mini-2024-07-18"
DEFAULT_DEADLINE = 3600.0
"""`compare()`'s default deadline (`finetune_kit.compare.DEFAULT_DEADLINE`), named here so that
building the command line does not load the SDK: a test holds the two equal."""


def positive(value: str) -> float:
    """An argparse type: a number above zero (seconds, dollars...)."""
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number > 0 or number == float("inf"):
        msg = f"must be a positive number, not {value!r}"
        raise argparse.ArgumentTypeError(msg)
    return number


def epochs(value: str) -> int | Literal["auto"]:
    """`--n-epochs`: 'auto' or a whole number."""
    if value == "auto":
        return "auto"
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= 50:  # the API's range
        raise ConfigurationError(f"--n-epochs must be 'auto' or 1-50, not {value!r}")
    return number


def add_training_flags(cmd: argparse.ArgumentParser, *, model_required: bool = True) -> None:
    """The flags describing a training run: --model, --method, --n-epochs, --price."""
    cmd.add_argument(
        "--model", required=model_required, help="the model to train, e.g. " + DEMO_MODEL
    )
    cmd.add_argument("--method", choices=("supervised", "dpo", "reinforcement"))
    cmd.add_argument("--n-epochs", default="auto", help="'auto' (default) or 1-50")
    cmd.add_argument("--price", type=positive, help="USD per 1M training tokens (overrides)")


def add_job_arg(cmd: argparse.ArgumentParser) -> None:
    """The JOB argument, and where to find it (the provider flags)."""
    cmd.add_argument("job", help="the job's id (ftjob-...)")
    add_provider_flags(cmd)


def add_interval(cmd: argparse.ArgumentParser) -> None:
    """--interval: seconds between looks."""
    cmd.add_argument(
        "--interval",
        type=positive,
        help="seconds between looks (default: backoff from 5 s to 60 s, as the API advises)",
    )


GRADERS = ("exact", "contains", "is_json")


def add_compare_flags(cmd: argparse.ArgumentParser) -> None:
    """How prompts are run and graded, the same for `compare` and `report --compare`.

    --system, --grader, --regex, --concurrency, --deadline, --temperature, --price (read them
    back with `compare_options`).
    """
    cmd.add_argument("--system", help="a system prompt for every item (unless it has one)")
    cmd.add_argument(
        "--grader",
        action="append",
        choices=GRADERS,
        help="repeatable (default: exact and contains, when references exist)",
    )
    cmd.add_argument("--regex", action="append", default=[], help="a regex grader (repeatable)")
    cmd.add_argument("--concurrency", type=int, default=16, help="calls in flight (default 16)")
    cmd.add_argument(
        "--deadline",
        type=float,
        default=DEFAULT_DEADLINE,
        metavar="SECONDS",
        help=f"stop calling after this long in all; what has no answer by then is kept as "
        f"failed (default {DEFAULT_DEADLINE:g}; 0: no limit)",
    )
    cmd.add_argument("--temperature", type=float, help="for every call")
    cmd.add_argument(
        "--price",
        action="append",
        default=[],
        type=model_price,
        metavar="MODEL=IN,OUT",
        help="a model's USD per 1M prompt (IN) and completion (OUT) tokens, to show what the "
        "calls cost (repeatable; a model with none shows no cost)",
    )


def model_price(value: str) -> tuple[str, tuple[float, float]]:
    """`--price MODEL=IN,OUT`: a model and its USD per 1M prompt and completion tokens."""
    model, sep, pair = value.rpartition("=")
    numbers = pair.split(",")
    if not sep or not model or len(numbers) != 2:
        msg = f"takes MODEL=IN,OUT (USD per 1M prompt and completion tokens), not {value!r}"
        raise argparse.ArgumentTypeError(msg)
    try:
        prompt, completion = (float(n) for n in numbers)
    except ValueError:
        prompt = completion = float("nan")
    if not (0 <= prompt < float("inf") and 0 <= completion < float("inf")):
        msg = f"IN and OUT must be USD amounts of 0 or more, not {pair!r}"
        raise argparse.ArgumentTypeError(msg)
    return model, (prompt, completion)


def _graders(args: argparse.Namespace) -> dict[str, Grader] | None:
    chosen: dict[str, Grader] = {}
    makers: dict[str, Callable[[], Grader]] = {
        "exact": exact,
        "contains": contains,
        "is_json": is_json,
    }
    for name in args.grader or ():
        chosen[name] = makers[name]()
    for index, pattern in enumerate(args.regex, 1):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigurationError(f"--regex {pattern!r} is not a valid pattern: {exc}") from None
        chosen[f"regex{index}" if len(args.regex) > 1 else "regex"] = regex(pattern)
    return chosen or None


def compare_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of `compare()` that `add_compare_flags` set, checked.

    Raises:
        ConfigurationError: A bad --concurrency, --deadline or --regex.
    """
    if args.concurrency < 1:
        raise ConfigurationError(f"--concurrency must be at least 1, not {args.concurrency}")
    if not args.deadline >= 0:
        raise ConfigurationError(
            f"--deadline must be a number of seconds (0: no limit), not {args.deadline}"
        )
    options: dict[str, Any] = {
        "system": args.system,
        "graders": _graders(args),
        "concurrency": args.concurrency,
        "deadline": args.deadline or None,
    }
    if args.temperature is not None:
        options["temperature"] = args.temperature
    if getattr(args, "price", None):
        options["prices"] = dict(args.price)
    return options
