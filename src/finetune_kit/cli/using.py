"""`models show|delete|deploy` and `compare`: the using step.

Added in 0.1.0.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finetune_kit.azure import Deployment
from finetune_kit.cli.context import Context
from finetune_kit.cli.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, redact
from finetune_kit.cli.provider import add_provider_flags
from finetune_kit.compare import DEFAULT_DEADLINE, CompareInterrupted, Comparison, compare
from finetune_kit.exceptions import ConfigurationError, ModelRetirementWarning
from finetune_kit.graders import Grader, contains, exact, is_json
from finetune_kit.models import TunedModel

__all__ = ["add_using_commands"]

GRADERS = ("exact", "contains", "is_json")


def add_using_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """Register `models` and `compare`."""
    models = sub.add_parser("models", help="show, delete or deploy (Azure) a tuned model")
    models_sub = models.add_subparsers(dest="models_command", required=True, metavar="SUBCOMMAND")
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
    cmp.add_argument("--system", help="a system prompt for every item (unless it has one)")
    cmp.add_argument(
        "--grader",
        action="append",
        choices=GRADERS,
        help="repeatable (default: exact and contains, when references exist)",
    )
    cmp.add_argument("--regex", action="append", default=[], help="a regex grader (repeatable)")
    cmp.add_argument("--concurrency", type=int, default=16, help="calls in flight (default 16)")
    cmp.add_argument(
        "--deadline",
        type=float,
        default=DEFAULT_DEADLINE,
        metavar="SECONDS",
        help=f"stop calling after this long in all; what has no answer by then is kept as "
        f"failed (default {DEFAULT_DEADLINE:g}; 0: no limit)",
    )
    cmp.add_argument("--temperature", type=float, help="for every call")
    cmp.add_argument("--items", type=int, default=5, help="items shown in the summary (5)")
    cmp.add_argument("--report", type=Path, metavar="FILE", help="write the HTML report")
    cmp.add_argument("--json", action="store_true", help="print the comparison as JSON")
    add_provider_flags(cmp)
    cmp.set_defaults(handler=run_compare)


def run_models_show(args: argparse.Namespace, ctx: Context) -> int:
    """`models show`."""
    client = ctx.make_client(args)
    model = TunedModel(client, args.model, sleep=ctx.sleep, now=ctx.now)
    info = client.models.retrieve(args.model)  # 404 -> one line, exit 3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ModelRetirementWarning)
        shutdown = model.shutdown_date
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
        from finetune_kit.graders import regex  # noqa: PLC0415

        chosen[f"regex{index}" if len(args.regex) > 1 else "regex"] = regex(pattern)
    return chosen or None


def run_compare(args: argparse.Namespace, ctx: Context) -> int:
    """`compare`."""
    if args.concurrency < 1:
        raise ConfigurationError(f"--concurrency must be at least 1, not {args.concurrency}")
    if not args.deadline >= 0:
        raise ConfigurationError(
            f"--deadline must be a number of seconds (0: no limit), not {args.deadline}"
        )
    if not args.prompts.is_file():
        raise ConfigurationError(f"{args.prompts}: no such file")
    graders = _graders(args)
    params = {"temperature": args.temperature} if args.temperature is not None else {}
    try:
        result = compare(
            ctx.make_client(args),
            models=args.models,
            prompts=args.prompts,
            system=args.system,
            graders=graders,
            concurrency=args.concurrency,
            deadline=args.deadline or None,
            sleep=ctx.sleep,
            timer=ctx.now,
            **params,
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
    failed = result.failed_models
    if failed:
        calls = result.summaries[failed[0]].items
        first = " ".join((result.first_error(failed[0]) or "-").split())  # one line
        print(
            f"finetune-kit: error: no answer from {', '.join(failed)}: all {calls} calls "
            f"failed; first error: {redact(first)}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def _print_comparison(result: Comparison, args: argparse.Namespace) -> None:
    if args.json:
        print(result.to_json())
    else:
        print(result.to_markdown(items=args.items))
