"""Flags and argument types shared by the commands.

Added in 0.1.0.
"""

from __future__ import annotations

import argparse
from typing import Literal

from finetune_kit.cli.provider import add_provider_flags
from finetune_kit.exceptions import ConfigurationError

__all__ = ["DEMO_MODEL", "add_interval", "add_job_arg", "add_training_flags", "epochs", "positive"]

DEMO_MODEL = "gpt-4o-mini-2024-07-18"


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
        return int(value)
    except ValueError:
        raise ConfigurationError(f"--n-epochs must be 'auto' or 1-50, not {value!r}") from None


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
