"""`finetune-kit`: the whole fine-tuning workflow from a terminal.

`validate`, `estimate`, `upload`, `dedupe`, `split`, `files`, `tune`, `watch`, `events`, `jobs`,
`metrics`, `compare`, `report`, `chat`, `models`, `sim serve` and `demo`. Every bad input gets one clear line on stderr and a non-zero
exit code, never a traceback (see [`errors`][finetune_kit.cli.errors] for the codes).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from finetune_kit.cli.chat import add_chat_command
from finetune_kit.cli.context import Context
from finetune_kit.cli.data import add_data_commands
from finetune_kit.cli.datasets import add_dataset_commands
from finetune_kit.cli.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USAGE,
    explain,
    redact,
)
from finetune_kit.cli.files import add_file_commands
from finetune_kit.cli.flags import DEMO_MODEL
from finetune_kit.cli.jobs import add_job_commands
from finetune_kit.cli.local import add_local_commands
from finetune_kit.cli.provider import add_provider_flags
from finetune_kit.cli.reporting import add_report_command
from finetune_kit.cli.serving import bound, port_number
from finetune_kit.cli.training import add_training_commands
from finetune_kit.cli.using import add_using_commands
from finetune_kit.cli.waits import announce_waits
from finetune_kit.dataset.bundled import bundled_dataset  # re-exported: its old home
from finetune_kit.exceptions import FinetuneKitError

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

    from finetune_kit.testing.server import SimulatorServer

__all__ = ["DEMO_MODEL", "bundled_dataset", "main"]

SIM_HOST, SIM_PORT = "127.0.0.1", 8000


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (and where to find help) instead of a block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        """As argparse's, but a closed pipe (`--help | head`) is not ignored: main() says 141."""
        if not message:
            return
        try:
            (file or sys.stderr).write(message)
        except BrokenPipeError:
            raise
        except (AttributeError, OSError):  # no stream at all (pythonw), as argparse does
            pass


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="finetune-kit",
        description="Fine-tune hosted models reliably: validate, estimate, upload, train, watch, "
        "compare. The provider comes from the environment (OPENAI_API_KEY, or "
        "AZURE_OPENAI_ENDPOINT with AZURE_OPENAI_API_KEY or Entra ID) or from --provider, "
        "--base-url, --azure-endpoint.",
        epilog="Exit codes: 0 done; 1 the data has errors, the job failed or a compared model "
        "never answered; 2 bad usage or "
        "input; 3 the provider refused or could not be reached; 4 a bug in finetune-kit; 130 "
        "interrupted; 141 the output was closed early (| head).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="the whole pipeline on the bundled dataset (on the built-in simulator unless an "
        "API key is set): validate, upload, train, plot, compare",
    )
    demo.add_argument("--dataset", type=Path, help="a JSONL file instead of the bundled one")
    demo.add_argument(
        "--validation",
        type=Path,
        help="validation data, also the prompts compared on (default: the bundled dataset's "
        "questions reworded, or a fifth of --dataset held out of training)",
    )
    demo.add_argument("--model", default=DEMO_MODEL, help=f"base model (default {DEMO_MODEL})")
    demo.add_argument(
        "--speed", default="60", help="simulator time speed-up (default 60: a 5-minute job in 5 s)"
    )
    demo.add_argument("--yes", action="store_true", help="with an API key: spend without asking")
    demo.add_argument(
        "--report", default="report.html", help="where to write the HTML report (report.html)"
    )
    demo.add_argument(
        "--plot", default="loss.png", help="where to draw the training curves (loss.png)"
    )
    demo.add_argument(
        "--simulator",
        action="store_true",
        help="run on the built-in simulator even when an API key is set",
    )
    demo.add_argument(
        "--local",
        action="store_true",
        help="train for real on this machine (the `local` extra): a small instruct model from "
        "the Hugging Face hub, downloaded after asking (its size said), or --base-model",
    )
    demo.add_argument(
        "--base-model",
        default=None,
        metavar="ID_OR_FOLDER",
        help="with --local: a hub id or a model folder (default Qwen/Qwen2.5-0.5B-Instruct)",
    )
    demo.add_argument(
        "--root",
        type=Path,
        default=None,
        help="with --local: folder for uploads, checkpoints and the adapter (default: a "
        "temporary one, removed at the end)",
    )
    demo.add_argument(
        "--epochs", default="3", help="with --local: training epochs (default 3, batch size 2)"
    )
    add_provider_flags(demo)
    demo.set_defaults(handler=_demo)

    add_data_commands(sub)
    add_training_commands(sub)
    add_job_commands(sub)
    add_using_commands(sub)
    add_report_command(sub)
    add_file_commands(sub)
    add_chat_command(sub)
    add_dataset_commands(sub)

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
    serve.add_argument(
        "--base64-results",
        action="store_true",
        help="write jobs' results files base64-encoded, as some deployments serve them",
    )
    serve.add_argument(
        "--idle-timeout",
        default="30",
        help="close a connection idle this many seconds (default 30), so its thread ends",
    )
    serve.add_argument("--verbose", action="store_true", help="log every request to stderr")
    serve.set_defaults(handler=_sim_serve)
    add_local_commands(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("finetune-kit")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def main(argv: Sequence[str] | None = None, *, context: Context | None = None) -> int:
    """Run the command line; return the exit code.

    Args:
        argv: The arguments (default: `sys.argv[1:]`).
        context: What to run against (default: a client from flags and environment, real
            time); tests and the docs pass a simulator's client and clock.

    Output whose reader went away (`finetune-kit events JOB | head -1`) ends every command
    quietly with 141 (128 + SIGPIPE, as a shell reports a tool that SIGPIPE ended): nothing on
    stderr, no traceback.

    Added in 0.1.0.
    """
    try:
        with announce_waits():  # "waiting for ... to be served" on stderr, never a silent wait
            code = _run(argv, context)
        sys.stdout.flush()  # what is still buffered fails here, not as Python exits
    except BrokenPipeError:  # the reader went away (`| head -1`): not an error of ours
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    return code


def _discard_stdout() -> None:
    """Point the process's stdout at the null device, so the flush at exit fails quietly."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test's stand-in): nothing to do
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def _run(argv: Sequence[str] | None, context: Context | None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    ctx = context or Context()
    try:
        code: int = args.handler(args, ctx)
    except BrokenPipeError:
        raise  # main() ends quietly
    except (KeyboardInterrupt, FinetuneKitError, OSError) as exc:
        message, code = explain(exc)
        print(f"finetune-kit: error: {message}", file=sys.stderr)
    except Exception as exc:
        if _is_sdk_error(exc):
            message, code = explain(exc)
            print(f"finetune-kit: error: {message}", file=sys.stderr)
            return code
        if os.environ.get("FINETUNE_KIT_DEBUG"):
            raise
        print(
            f"finetune-kit: internal error: {redact(type(exc).__name__ + ': ' + str(exc))} "
            "(a bug: please report it; FINETUNE_KIT_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        code = EXIT_INTERNAL
    return code


def _is_sdk_error(exc: Exception) -> bool:
    """Whether `exc` is one of the SDK's errors (never, while no command has loaded the SDK)."""
    sdk = sys.modules.get("openai")
    return sdk is not None and isinstance(exc, sdk.OpenAIError)


def _demo(args: argparse.Namespace, ctx: Context) -> int:
    from finetune_kit.cli.demo import DemoOptions, run_demo  # noqa: PLC0415

    speed = _positive_float(args.speed, "--speed")
    path = args.dataset or bundled_dataset()
    validation = args.validation  # None: the demo holds prompts out itself (run_demo)
    options = DemoOptions(
        dataset=path,
        validation=validation,
        model=args.model,
        speed=speed,
        yes=args.yes,
        report=args.report,
        plot=args.plot,
        simulator_only=args.simulator,
        local=args.local,
        root=args.root,
        epochs=_positive_int(args.epochs, "--epochs"),
        **({"base_model": args.base_model} if args.base_model is not None else {}),
    )
    if not args.local and (args.base_model is not None or args.root is not None):
        raise FinetuneKitError("--base-model and --root go with --local")
    return run_demo(options, args=args, context=ctx)


def _positive_int(value: str, flag: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise FinetuneKitError(f"{flag} must be a whole number, 1 or more, not {value!r}")
    return number


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
    from finetune_kit.testing import ScaledClock, Simulator, Timing  # noqa: PLC0415 - loads the SDK
    from finetune_kit.testing.server import SimulatorServer  # noqa: PLC0415

    port = port_number(args.port)
    sim = Simulator(
        clock=ScaledClock(_positive_float(args.speed, "--speed")),
        timing=Timing(base64_results=args.base64_results),
    )
    try:
        idle_timeout = float(args.idle_timeout)
    except ValueError:
        idle_timeout = math.nan
    if not (math.isfinite(idle_timeout) and idle_timeout > 0):
        raise FinetuneKitError(
            f"--idle-timeout must be a positive number of seconds, not {args.idle_timeout!r}"
        )
    return bound(
        lambda: SimulatorServer(
            sim, host=args.host, port=port, verbose=args.verbose, idle_timeout=idle_timeout
        ),
        args.host,
        port,
    )


def _sim_serve(args: argparse.Namespace, ctx: Context) -> int:  # noqa: ARG001
    server = _sim_server(args)
    print(f"finetune-kit simulator listening on {server.base_url} (OPENAI_BASE_URL)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("finetune-kit simulator stopped", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
