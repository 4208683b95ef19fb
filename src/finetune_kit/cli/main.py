"""`finetune-kit`: validate, estimate and (soon) train from a terminal.

Every bad input gets one clear line on stderr and a non-zero exit code, never a traceback:
0 success, 1 the dataset has errors, 2 bad usage or input.

Added in 0.1.0.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from finetune_kit.dataset import Dataset
from finetune_kit.exceptions import FinetuneKitError

if TYPE_CHECKING:
    from finetune_kit.testing.server import SimulatorServer

__all__ = ["DEMO_MODEL", "bundled_dataset", "main"]

DEMO_MODEL = "gpt-4o-mini-2024-07-18"
EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
SIM_HOST, SIM_PORT = "127.0.0.1", 8000


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

    demo = sub.add_parser(
        "demo",
        help="validate, upload, train and try a model on the bundled dataset "
        "(on the built-in simulator unless OPENAI_API_KEY is set)",
    )
    demo.add_argument("--dataset", type=Path, help="a JSONL file instead of the bundled one")
    demo.add_argument("--model", default=DEMO_MODEL, help=f"base model (default {DEMO_MODEL})")
    demo.add_argument(
        "--speed", default="60", help="simulator time speed-up (default 60: a 5-minute job in 5 s)"
    )
    demo.add_argument(
        "--yes", action="store_true", help="with OPENAI_API_KEY: spend without asking"
    )
    demo.add_argument(
        "--report", default="report.html", help="where to write the HTML comparison (report.html)"
    )

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

    sim = sub.add_parser("sim", help="the offline simulator of the fine-tuning API")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True, metavar="SUBCOMMAND")
    serve = sim_sub.add_parser(
        "serve",
        help="serve the simulator over HTTP, for any client in any language",
        description="Serve the offline simulator of the fine-tuning API over HTTP until Ctrl-C. "
        "Point a client at it with OPENAI_BASE_URL=<the printed URL> and any OPENAI_API_KEY. "
        "State lives in memory: it is gone when the server stops.",
    )
    serve.add_argument(
        "--host",
        default=SIM_HOST,
        help=f"address to listen on (default {SIM_HOST}: this machine only)",
    )
    serve.add_argument(
        "--port", default=str(SIM_PORT), help=f"TCP port (default {SIM_PORT}; 0 picks a free one)"
    )
    serve.add_argument(
        "--speed",
        default="1",
        help="how many times faster than real time the simulated clock runs (default 1): "
        "with --speed 60, a 5-minute fine-tuning job takes 5 seconds",
    )
    serve.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    Added in 0.1.0.
    """
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "sim":
            return _sim_serve(args)
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
    from finetune_kit.cli.demo import DemoOptions, run_demo  # noqa: PLC0415 - loads the SDK

    speed = _positive_float(args.speed, "--speed")
    path = args.dataset or bundled_dataset()
    options = DemoOptions(
        dataset=path, model=args.model, speed=speed, yes=args.yes, report=args.report
    )
    return run_demo(options)


def _positive_float(value: str, flag: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise FinetuneKitError(
            f"{flag} must be a positive number (60 runs 60 times faster), not {value!r}"
        )
    return number


def _sim_server(args: argparse.Namespace) -> SimulatorServer:
    """The server `sim serve` runs, bound to its port but not yet serving."""
    from finetune_kit.testing import ScaledClock, Simulator  # noqa: PLC0415 - loads the SDK
    from finetune_kit.testing.server import SimulatorServer  # noqa: PLC0415

    try:
        port = int(args.port)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise FinetuneKitError(f"--port must be a number from 0 to 65535, not {args.port!r}")
    sim = Simulator(clock=ScaledClock(_positive_float(args.speed, "--speed")))
    try:
        return SimulatorServer(sim, host=args.host, port=port, verbose=args.verbose)
    except OSError as exc:
        hint = " (try another --port, or --port 0)" if port else ""
        reason = exc.strerror or str(exc)
        raise FinetuneKitError(f"cannot listen on {args.host}:{port}: {reason}{hint}") from None


def _sim_serve(args: argparse.Namespace) -> int:
    server = _sim_server(args)
    print(f"finetune-kit simulator listening on {server.base_url} (OPENAI_BASE_URL)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("finetune-kit simulator stopped", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
