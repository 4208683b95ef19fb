"""`models show|delete|deploy` and `compare`: the using step."""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune_kit._core.names import parse_model_name
from finetune_kit.cli.context import Context
from finetune_kit.cli.errors import EXIT_OK, EXIT_USAGE, unanswered
from finetune_kit.cli.flags import add_compare_flags, compare_options
from finetune_kit.cli.provider import add_provider_flags
from finetune_kit.cli.tables import table
from finetune_kit.cli.watching import utc
from finetune_kit.dataset.catalog import SHUTDOWN_DATES
from finetune_kit.exceptions import ConfigurationError, ModelRetirementWarning

if TYPE_CHECKING:  # the heavy modules are loaded when a command runs
    from finetune_kit.compare import Comparison

__all__ = ["add_using_commands"]


def add_using_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """Register `models` and `compare`."""
    models = sub.add_parser("models", help="list, show, delete or deploy (Azure) models")
    models_sub = models.add_subparsers(dest="models_command", required=True, metavar="SUBCOMMAND")
    listing = models_sub.add_parser("list", help="the models the provider serves you, newest first")
    listing.add_argument("--tuned", action="store_true", help="only tuned models and checkpoints")
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_provider_flags(listing)
    listing.set_defaults(handler=run_models_list)
    show = models_sub.add_parser("show", help="what a model's name says, and when it shuts down")
    show.add_argument("model", help="the model's id (ft:...)")
    add_provider_flags(show)
    show.set_defaults(handler=run_models_show)
    delete = models_sub.add_parser("delete", help="delete a tuned model (asks first)")
    delete.add_argument("model", help="the model's id (ft:...)")
    delete.add_argument("--yes", action="store_true", help="delete without asking")
    add_provider_flags(delete)
    delete.set_defaults(handler=run_models_delete)
    deploy = models_sub.add_parser(
        "deploy",
        help="deploy a tuned model on Azure OpenAI (billed hourly) and wait until it serves",
        description="Create an Azure OpenAI deployment of a tuned model through the management "
        "API (a token from azure-identity or AZURE_MANAGEMENT_TOKEN) and wait until it serves. "
        "Deployments of tuned models are billed by the hour, used or not (except the developer "
        "sku, which lives 24 h).",
    )
    deploy.add_argument("model", help="the tuned model's id on the Azure resource")
    deploy.add_argument("--subscription", required=True, help="Azure subscription id")
    deploy.add_argument("--resource-group", required=True)
    deploy.add_argument("--account", required=True, help="the Azure OpenAI resource's name")
    deploy.add_argument("--name", required=True, help="the deployment's name (what you call)")
    deploy.add_argument("--sku", default="standard", help="standard (default), developer, ...")
    deploy.add_argument("--capacity", type=int, default=1, help="capacity units (default 1)")
    deploy.add_argument("--no-wait", action="store_true", help="don't wait until it serves")
    add_provider_flags(deploy)
    deploy.set_defaults(handler=run_models_deploy)

    cmp = sub.add_parser(
        "compare",
        help="run the same prompts on several models: answers, scores, latency, tokens, cost",
        description="Run held-out prompts on each model (base and tuned, checkpoints...) side "
        "by side. Prints a Markdown summary; --report writes a self-contained HTML page.",
        epilog="Exits 1 when every call to a model failed (its rates show n/a), naming it and "
        "the first error; calls still unanswered at --deadline are kept as failed; Ctrl-C "
        "prints what finished and exits 130.",
    )
    cmp.add_argument("models", nargs="+", help="two or more model ids")
    cmp.add_argument(
        "--prompts",
        type=Path,
        required=True,
        help="a JSONL file of chat examples (the last assistant message is the reference)",
    )
    add_compare_flags(cmp)  # the same as `report --compare`'s
    cmp.add_argument("--items", type=int, default=5, help="items shown in the summary (5)")
    cmp.add_argument("--report", type=Path, metavar="FILE", help="write the HTML report")
    cmp.add_argument("--json", action="store_true", help="print the comparison as JSON")
    add_provider_flags(cmp)
    cmp.set_defaults(handler=run_compare)


def run_models_list(args: argparse.Namespace, ctx: Context) -> int:
    """`models list`."""
    found = list(ctx.make_client(args).models.list())
    if args.tuned:
        found = [m for m in found if parse_model_name(m.id).kind != "base"]
    found.sort(key=lambda m: (-(getattr(m, "created", None) or 0), m.id))
    if args.json:
        print(json.dumps([m.model_dump(mode="json") for m in found], indent=2))
        return EXIT_OK
    if not found:
        print("No tuned models." if args.tuned else "No models.")
        return EXIT_OK
    rows = []
    for m in found:
        base = parse_model_name(m.id).base or ""
        shutdown = getattr(m, "shutdown_date", None) or SHUTDOWN_DATES.get(base)
        owner = getattr(m, "owned_by", None) or "-"
        rows.append((m.id, owner, utc(getattr(m, "created", None)), str(shutdown or "-")))
    table(("model", "owner", "created", "shutdown"), rows)
    return EXIT_OK


def run_models_show(args: argparse.Namespace, ctx: Context) -> int:
    """`models show`."""
    from finetune_kit.models import TunedModel  # noqa: PLC0415 - loaded when the command runs

    client = ctx.make_client(args)
    model = TunedModel(client, args.model, sleep=ctx.sleep, now=ctx.now)
    info = client.models.retrieve(args.model)  # 404 -> one line, exit 3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ModelRetirementWarning)
        shutdown = model.shutdown_date()
    name = model.name
    lines = [
        f"model      {info.id}",
        f"base       {name.base or '-'}",
        f"owner      {info.owned_by}",
        f"suffix     {name.suffix or '-'}" if name.suffix else "",
        f"checkpoint step {name.checkpoint_step}" if name.checkpoint_step else "",
        f"shutdown   {shutdown or 'not announced'}",
    ]
    print("\n".join(line for line in lines if line))
    for warning in caught:
        print(f"warning: {warning.message}")
    return EXIT_OK


def run_models_delete(args: argparse.Namespace, ctx: Context) -> int:
    """`models delete`."""
    from finetune_kit.models import TunedModel  # noqa: PLC0415 - loaded when the command runs

    client = ctx.make_client(args)
    if not (args.yes or ctx.simulated):
        if not ctx.can_ask():
            print(f"Not deleted: run with --yes to delete {args.model} without being asked.")
            return EXIT_USAGE
        if not ctx.ask(f"Delete {args.model}? This cannot be undone. [y/N] "):
            print("Nothing was deleted.")
            return EXIT_OK
    deleted = TunedModel(client, args.model, sleep=ctx.sleep, now=ctx.now).delete()
    print(f"{args.model}: {'deleted' if deleted else 'not deleted'}")
    return EXIT_OK


def run_models_deploy(args: argparse.Namespace, ctx: Context) -> int:
    """`models deploy`."""
    import os  # noqa: PLC0415

    from finetune_kit.azure import Deployment  # noqa: PLC0415 - loaded when the command runs
    from finetune_kit.models import TunedModel  # noqa: PLC0415 - loaded when the command runs

    if args.capacity < 1:
        raise ConfigurationError(f"--capacity must be at least 1, not {args.capacity}")
    target = Deployment(
        subscription_id=args.subscription,
        resource_group=args.resource_group,
        account=args.account,
        name=args.name,
        sku=args.sku,
        capacity=args.capacity,
    )
    client = ctx.make_client(args)
    token = os.environ.get("AZURE_MANAGEMENT_TOKEN") or None
    print(f"Deploying {args.model} as {args.name} ({args.sku}, capacity {args.capacity})...")
    deployed = TunedModel(client, args.model, sleep=ctx.sleep, now=ctx.now).deploy(
        target, token=token, wait=not args.no_wait
    )
    state = "created" if args.no_wait else "serving"
    print(f"{deployed.id}: {state}. Call it with model={deployed.id!r}.")
    return EXIT_OK


def run_compare(args: argparse.Namespace, ctx: Context) -> int:
    """`compare`."""
    from finetune_kit.compare import (  # noqa: PLC0415 - loaded when the command runs
        CompareInterrupted,
        compare,
    )

    options = compare_options(args)  # the flags `report --compare` shares
    if not args.prompts.is_file():
        raise ConfigurationError(f"{args.prompts}: no such file")
    try:
        result = compare(
            ctx.make_client(args),
            models=args.models,
            prompts=args.prompts,
            sleep=ctx.sleep,
            timer=ctx.now,
            **options,
        )
    except CompareInterrupted as stopped:  # print what finished; main() exits 130
        _print_comparison(stopped.comparison, args)
        if not args.json:
            print(f"({stopped})")
        raise
    _print_comparison(result, args)
    if args.report:
        result.to_html(args.report, title="finetune-kit compare: " + " vs ".join(args.models))
        print(f"HTML report: {args.report.resolve()}")
    return unanswered(result)


def _print_comparison(result: Comparison, args: argparse.Namespace) -> None:
    if args.json:
        print(result.to_json())
    else:
        print(result.to_markdown(items=args.items))
