"""`tune` and `watch`: the training step.

Ctrl-C while watching leaves the job running and prints how to re-attach; during `tune`,
before the job exists, it leaves nothing half-made (an uploaded file is kept and reused by
the next run, which attaches to the job instead of starting a second one if the create call
got through).

With `--json`, stdout holds only the job object as the API returns it (printed once the
command is done with the job: at once with `--detach`, else when it ends), and everything else
goes to stderr, so `finetune-kit tune ... --json | jq -r .fine_tuned_model` works.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune_kit.cli.context import Context
from finetune_kit.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from finetune_kit.cli.flags import add_interval, add_job_arg, add_training_flags, epochs, positive
from finetune_kit.cli.pricing import budget_refusal, price_hint
from finetune_kit.cli.provider import add_provider_flags, describe, provider_of
from finetune_kit.cli.watching import Display, format_duration
from finetune_kit.dataset.catalog import Provider, check_model_name
from finetune_kit.exceptions import ConfigurationError, JobError

if TYPE_CHECKING:  # the heavy modules are loaded when a command runs
    from finetune_kit.dataset import Dataset
    from finetune_kit.jobs import FineTuneJob
    from finetune_kit.models import TunedModel

__all__ = ["add_training_commands", "follow"]


def add_training_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """Register `tune` and `watch`."""
    tune = sub.add_parser(
        "tune",
        help="validate, upload, create the job (exactly once) and watch it train",
        description="Validate the data, show the cost, upload it (deduplicated), create the "
        "fine-tuning job exactly once (running the same command again attaches to it) and "
        "watch it until it ends.",
    )
    tune.add_argument("file", type=Path, help="the training JSONL file")
    add_training_flags(tune)
    tune.add_argument("--validation", type=Path, help="a validation JSONL file")
    tune.add_argument(
        "--split",
        type=positive,
        metavar="FRACTION",
        help="hold out this fraction (or count, when >= 1) of FILE as validation data, "
        "reproducibly (instead of --validation)",
    )
    tune.add_argument("--split-seed", type=int, default=0, help="another split (default 0)")
    tune.add_argument("--batch-size", type=int, help="examples per step (default: auto)")
    tune.add_argument("--learning-rate-multiplier", type=float, metavar="X", help="(default: auto)")
    tune.add_argument("--beta", type=float, help="DPO's beta, 0-2 (with --method dpo)")
    tune.add_argument(
        "--training-type",
        help="Azure's trainingType: Standard, GlobalStandard or developerTier",
    )
    tune.add_argument("--suffix", help="up to 64 characters in the tuned model's name")
    tune.add_argument("--seed", type=int, help="for reproducibility")
    tune.add_argument(
        "--metadata", action="append", default=[], metavar="KEY=VALUE", help="repeatable"
    )
    tune.add_argument(
        "--max-cost", type=positive, help="refuse when the estimate is over this many USD"
    )
    tune.add_argument(
        "--new", action="store_true", help="start a new job even if these inputs already made one"
    )
    tune.add_argument("--yes", action="store_true", help="spend without asking")
    tune.add_argument("--detach", action="store_true", help="create the job, don't watch it")
    tune.add_argument("--json", action="store_true", help=_JSON_HELP)
    add_interval(tune)
    add_provider_flags(tune)
    tune.set_defaults(handler=run_tune)

    watch = sub.add_parser(
        "watch",
        help="follow a job live: progress, ETA, loss sparkline, events (Ctrl-C leaves it running)",
    )
    add_job_arg(watch)
    add_interval(watch)
    watch.add_argument("--json", action="store_true", help=_JSON_HELP)
    watch.set_defaults(handler=run_watch)


_JSON_HELP = (
    "print only the job object (JSON) on stdout once done with it, e.g. for "
    "`| jq -r .fine_tuned_model`; progress goes to stderr"
)


def _metadata(pairs: list[str]) -> dict[str, str] | None:
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"--metadata takes KEY=VALUE, not {pair!r}")
        result[key] = value
    return result or None


def _data(args: argparse.Namespace) -> tuple[Dataset, Dataset | Path | None]:
    """The training data, and the validation data: a file, a split of the training file, or none."""
    from finetune_kit.dataset import Dataset  # noqa: PLC0415 - loaded when the command runs

    training = Dataset.from_jsonl(args.file)
    if args.split is None:
        return training, args.validation
    if args.validation is not None:
        raise ConfigurationError("--split holds out validation data from FILE: drop --validation")
    size: float | int = int(args.split) if args.split >= 1 else args.split
    kept, held_out = training.split(size, seed=args.split_seed)
    print(
        f"split: {len(kept)} training and {len(held_out)} validation examples "
        f"(seed {args.split_seed}; the same split every run)"
    )
    return kept, held_out


def _as_json(args: argparse.Namespace, run: Callable[[], tuple[int, FineTuneJob | None]]) -> int:
    """Run a command; with --json, its text goes to stderr and the job object to stdout."""
    if not args.json:
        return run()[0]
    stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        code, job = run()
    if job is not None:
        print(job.snapshot.model_dump_json(indent=2), file=stdout)
    return code


def run_tune(args: argparse.Namespace, ctx: Context) -> int:
    """`tune`."""
    return _as_json(args, lambda: _tune(args, ctx))


def _tune(args: argparse.Namespace, ctx: Context) -> tuple[int, FineTuneJob | None]:
    from finetune_kit.jobs import (  # noqa: PLC0415 - loaded when the command runs
        FineTuneJob,
        served_models,
    )

    prices = {args.model: args.price} if args.price is not None else None
    n_epochs = epochs(args.n_epochs)
    metadata = _metadata(args.metadata)
    training, validation = _data(args)
    provider: Provider = "azure" if provider_of(args) == "azure" else "openai"
    client, served = None, None
    if check_model_name(args.model, now=ctx.now(), provider=provider) is not None:
        # Not a name finetune-kit knows trainable now: the provider's own list decides (Azure
        # and other endpoints have names of their own); nothing is uploaded before it does.
        client = ctx.make_client(args)
        served = served_models(client, ctx.now())
    report = training.validate(
        model=args.model,
        method=args.method,
        validation=validation,
        n_epochs=n_epochs,
        prices=prices,
        provider=provider,
        known_models=served,
        now=ctx.now,
    )
    print(report)
    if hint := price_hint(report.estimate):
        print(hint)
    if not report.ok:
        print("Nothing was uploaded: fix the errors above (each names its line) and run again.")
        return EXIT_FAILED, None
    if refusal := budget_refusal(report.estimate, args.max_cost):
        raise ConfigurationError(refusal)
    client = client or ctx.make_client(args)
    if not (args.yes or ctx.simulated):
        where = describe(args)
        estimate = report.estimate
        cost = (
            f"≈ ${estimate.cost_usd:,.2f} for {estimate.billed_tokens:,} billed tokens"
            if estimate.cost_usd is not None
            else f"{estimate.billed_tokens:,} billed tokens, price unknown (--price)"
        )
        if not ctx.can_ask():
            print(
                f"Not started: training on {where} costs money ({cost}). "
                "Run with --yes to go ahead without being asked."
            )
            return EXIT_USAGE, None
        if not ctx.ask(f"Train on {where} ({cost})? [y/N] "):
            print("Nothing was uploaded or spent.")
            return EXIT_OK, None
    chosen = {
        "n_epochs": None if n_epochs == "auto" else n_epochs,
        "batch_size": args.batch_size,
        "learning_rate_multiplier": args.learning_rate_multiplier,
        "beta": args.beta,
    }
    hyperparameters = {k: v for k, v in chosen.items() if v is not None} or None
    try:
        job = FineTuneJob.create(
            client,
            model=args.model,
            training=training,
            validation=validation,
            method=args.method,
            hyperparameters=hyperparameters,
            suffix=args.suffix,
            seed=args.seed,
            metadata=metadata,
            max_cost=args.max_cost,
            prices=prices,
            new=args.new,
            training_type=args.training_type,
            sleep=ctx.sleep,
            now=ctx.now,
        )
    except KeyboardInterrupt:
        print(
            "\nInterrupted before the job was confirmed: nothing is left half-made. Run the same "
            "command again: it attaches to the job if the create call got through, and creates "
            "it otherwise (uploaded files are reused, never uploaded twice)."
        )
        return EXIT_INTERRUPTED, None
    print(
        f"\n{job.id}: {job.status} ({job.snapshot.model}, training file "
        f"{job.snapshot.training_file})"
    )
    if args.detach:
        print(f"Follow it with: finetune-kit watch {job.id}")
        return EXIT_OK, job
    return _watch(job, args, ctx), job


def run_watch(args: argparse.Namespace, ctx: Context) -> int:
    """`watch`."""
    from finetune_kit.jobs import FineTuneJob  # noqa: PLC0415 - loaded when the command runs

    def run() -> tuple[int, FineTuneJob]:
        job = FineTuneJob.retrieve(ctx.make_client(args), args.job, sleep=ctx.sleep, now=ctx.now)
        return _watch(job, args, ctx), job

    return _as_json(args, run)


def follow(
    job: FineTuneJob,
    *,
    live: bool,
    interval: float | None = None,
    out: Callable[[str], None] = print,
) -> TunedModel | int:
    """Watch a job to its end: the tuned model, or the exit code once Ctrl-C or a failure is said.

    Ctrl-C stops watching, not the job: it prints how to re-attach and cancel (exit 130). A job
    that fails or is cancelled prints why (exit 1).
    """
    from finetune_kit._core.poll import PollPolicy  # noqa: PLC0415 - loaded when the command runs

    policy = PollPolicy.of(poll=interval, timeout=None)
    display = Display(job.id, started_at=job.snapshot.created_at, live=live, out=out)
    try:
        with display:
            display.status(f"Watching {job.id} ({job.status}); Ctrl-C stops watching, not the job.")
            return job.wait(on_event=display.event, policy=policy)
    except KeyboardInterrupt:
        out(
            f"\nStopped watching. {job.id} keeps running on the provider. Re-attach with:\n"
            f"  finetune-kit watch {job.id}\n"
            f"Cancel it with:\n  finetune-kit jobs cancel {job.id}"
        )
        return EXIT_INTERRUPTED
    except JobError as exc:
        out(f"\n{job.id} ended {exc.job.status}: {exc}")
        return EXIT_FAILED


def _watch(job: FineTuneJob, args: argparse.Namespace, ctx: Context) -> int:
    tuned = follow(job, live=ctx.wants_live(), interval=args.interval)
    if isinstance(tuned, int):
        return tuned
    trained = job.snapshot.trained_tokens or 0
    took = (job.snapshot.finished_at or 0) - job.snapshot.created_at
    print(
        f"\nTuned model: {tuned.id}\n"
        f"  {trained:,} trained tokens, {format_duration(took)} from creation to the end\n"
        f"  finetune-kit metrics {job.id} --plot loss.png\n"
        f"  finetune-kit compare {job.snapshot.model} {tuned.id} --prompts <held-out.jsonl>"
    )
    return EXIT_OK
