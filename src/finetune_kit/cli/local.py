"""`finetune-kit local serve`: the fine-tuning API on this machine's hardware, over HTTP.

torch and the rest of the `local` extra load only when the command runs, never for `--help`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune_kit.cli.context import Context
from finetune_kit.cli.errors import EXIT_OK
from finetune_kit.cli.serving import bound, port_number
from finetune_kit.exceptions import FinetuneKitError

if TYPE_CHECKING:
    from finetune_kit.platform.server import PlatformServer

__all__ = ["add_local_commands", "local_server"]

LOCAL_HOST, LOCAL_PORT = "127.0.0.1", 8000
DEFAULT_ROOT = "finetune-kit-local"


def add_local_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """Register `local serve`."""
    local = sub.add_parser("local", help="fine-tune and serve open-weights models on this machine")
    local_sub = local.add_subparsers(dest="local_command", required=True, metavar="SUBCOMMAND")
    serve = local_sub.add_parser(
        "serve",
        help="serve the fine-tuning API over HTTP, training with TRL on this machine",
        description="Serve the fine-tuning API (files, fine_tuning.jobs, models, "
        "chat.completions) over HTTP until Ctrl-C, training and answering with open-weights "
        "models on this machine (needs the `local` extra). Point any OpenAI client at it with "
        "OPENAI_BASE_URL=<the printed URL> and any OPENAI_API_KEY.",
    )
    serve.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="NAME=ID_OR_PATH",
        help="a base model served as NAME: a Hugging Face hub id or a model folder (repeatable)",
    )
    serve.add_argument(
        "--host",
        default=LOCAL_HOST,
        help=f"address to listen on (default {LOCAL_HOST}: this machine only)",
    )
    serve.add_argument(
        "--port", default=str(LOCAL_PORT), help=f"TCP port (default {LOCAL_PORT}; 0: a free one)"
    )
    serve.add_argument(
        "--root",
        default=DEFAULT_ROOT,
        help=f"folder for uploaded files, checkpoints and adapters (default ./{DEFAULT_ROOT})",
    )
    serve.add_argument(
        "--device", default="auto", choices=("auto", "cpu", "cuda"), help="default auto"
    )
    serve.add_argument(
        "--accelerate-config",
        metavar="FILE",
        help="train each job under `accelerate launch --config_file FILE` (several GPUs or "
        "machines: DDP, FSDP or DeepSpeed, as the config says); default: one worker process",
    )
    serve.add_argument("--verbose", action="store_true", help="log every request to stderr")
    serve.set_defaults(handler=_local_serve)


def _models(specs: list[str]) -> dict[str, str]:
    models: dict[str, str] = {}
    for spec in specs:
        name, sep, where = spec.partition("=")
        if not sep or not name.strip() or not where.strip():
            raise FinetuneKitError(
                f"--model must be NAME=ID_OR_PATH (e.g. tiny=./models/tiny), not {spec!r}"
            )
        if name in models:
            raise FinetuneKitError(f"--model {name} is given twice")
        models[name.strip()] = where.strip()
    return models


def local_server(args: argparse.Namespace) -> PlatformServer:
    """The server `local serve` runs, bound to its port but not yet serving."""
    from finetune_kit.local.platform import LocalPlatform  # noqa: PLC0415 - loads torch lazily
    from finetune_kit.platform.server import PlatformServer  # noqa: PLC0415

    port = port_number(args.port)
    platform = LocalPlatform(
        models=_models(args.model),
        root=Path(args.root),
        device=args.device,
        accelerate_config=args.accelerate_config,
    )
    try:
        return bound(
            lambda: PlatformServer(platform, host=args.host, port=port, verbose=args.verbose),
            args.host,
            port,
        )
    except FinetuneKitError:
        platform.close()
        raise


def _local_serve(args: argparse.Namespace, ctx: Context) -> int:  # noqa: ARG001
    server = local_server(args)
    platform: Any = server.platform
    try:
        platform.load_models()  # a folder that is not a causal LM fails here, clearly
        print(f"finetune-kit local listening on {server.base_url} (OPENAI_BASE_URL)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("finetune-kit local stopped", file=sys.stderr)
    finally:
        server.stop()
        platform.close()
    return EXIT_OK
