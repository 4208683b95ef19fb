"""`validate`, `estimate` and `upload`: the data step."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune_kit.cli.context import Context
from finetune_kit.cli.errors import EXIT_FAILED, EXIT_OK
from finetune_kit.cli.flags import add_training_flags, epochs
from finetune_kit.cli.pricing import price_hint
from finetune_kit.cli.provider import add_provider_flags, provider_of

if TYPE_CHECKING:  # the heavy modules are loaded when a command runs
    pass

__all__ = ["add_data_commands"]


def add_data_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """Register `validate`, `estimate` and `upload`."""
    for name, text in (
        ("validate", "check a training file: findings, stats and cost (exit 1 on errors)"),
        ("estimate", "print the training cost estimate of a file"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument("file", type=Path, help="the training JSONL file (or .jsonl.gz)")
        add_training_flags(cmd)
        cmd.add_argument(
            "--provider",
            choices=("openai", "azure"),
            help="where it will train, for the model's shutdown date (default: azure when "
            "AZURE_OPENAI_ENDPOINT is set, else openai)",
        )
        cmd.add_argument("--json", action="store_true", help="print JSON instead of text")
        if name == "validate":
            cmd.add_argument("--validation", type=Path, help="validation file (overlap check)")
            cmd.add_argument(
                "--strict", action="store_true", help="exit 1 on warnings as well as errors"
            )
        cmd.set_defaults(handler=run_validate)

    upload = sub.add_parser(
        "upload",
        help="validate a file, then upload it (deduplicated by content); print its id",
        description="Validate a training file, then upload it for fine-tuning. The same bytes "
        "uploaded again (from any machine) reuse the processed file instead of a new upload.",
    )
    upload.add_argument("file", type=Path, help="the JSONL file")
    upload.add_argument("--model", help="the model it is for (validates with its tokenizer)")
    upload.add_argument(
        "--force", action="store_true", help="upload even if validation finds errors"
    )
    upload.add_argument("--json", action="store_true", help="print the FileObject as JSON")
    add_provider_flags(upload)
    upload.set_defaults(handler=run_upload)


def run_validate(args: argparse.Namespace, ctx: Context) -> int:
    """`validate` / `estimate`.

    Offline: a model name finetune-kit doesn't know, or one shut down, is a usage error
    (`tune` and `upload` also ask the provider's model list).
    """
    from finetune_kit.dataset import Dataset  # noqa: PLC0415 - loaded when the command runs

    ds = Dataset.from_jsonl(args.file)
    prices = {args.model: args.price} if args.price is not None else None
    report = ds.validate(
        model=args.model,
        method=args.method,
        validation=getattr(args, "validation", None),
        n_epochs=epochs(args.n_epochs),
        prices=prices,
        provider="azure" if provider_of(args) == "azure" else "openai",
        now=ctx.now,
    )
    hint = None if args.json else price_hint(report.estimate)
    if args.command == "estimate":
        if "not_jsonl_text" in report.counts:  # nothing to count: an error, not "0 tokens"
            report.raise_for_errors()
        print(report.estimate.model_dump_json(indent=2) if args.json else report.estimate)
        if hint:
            print(hint)
        return EXIT_OK
    print(report.to_json() if args.json else report)
    if hint:
        print(hint)
    failed = not report.ok or (args.strict and report.warning_count > 0)
    return EXIT_FAILED if failed else EXIT_OK


def run_upload(args: argparse.Namespace, ctx: Context) -> int:
    """`upload`."""
    from finetune_kit.dataset import Dataset  # noqa: PLC0415 - loaded when the command runs

    ds = Dataset.from_jsonl(args.file)
    client = ctx.make_client(args)
    uploaded = ds.upload(client, model=args.model, force=args.force, sleep=ctx.sleep)
    if args.json:
        print(uploaded.model_dump_json(indent=2))
    else:
        print(f"{uploaded.id}  {uploaded.filename}  {uploaded.bytes:,} bytes  {uploaded.status}")
    return EXIT_OK
