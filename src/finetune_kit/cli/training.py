"""`tune`, `watch`, `events`, `jobs` and `metrics`: the training step.

Ctrl-C while watching leaves the job running and prints how to re-attach; during `tune`,
before the job exists, it leaves nothing half-made (an uploaded file is kept and reused by
the next run, which attaches to the job instead of starting a second one if the create call
got through).

Added in 0.1.0.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openai import OpenAI

from finetune_kit._core.events import MessageEvent, MetricsEvent
from finetune_kit._core.metrics import MetricPoint
from finetune_kit._core.poll import PollPolicy
from finetune_kit.cli.context import Context
from finetune_kit.cli.data import add_training_flags, epochs, positive
from finetune_kit.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from finetune_kit.cli.provider import add_provider_flags, describe
from finetune_kit.cli.watching import Display, format_duration, utc
from finetune_kit.dataset import Dataset
from finetune_kit.exceptions import ConfigurationError, JobError
from finetune_kit.jobs import FineTuneJob
from finetune_kit.report.curves import sparkline

__all__ = ["add_training_commands"]


def _job_arg(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("job", help="the job's id (ftjob-...)")
    add_provider_flags(cmd)


def _interval(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--interval",
        type=positive,
        help="seconds between looks (default: backoff from 5 s to 60 s, as the API advises)",
    )


def add_training_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """Register `tune`, `watch`, `events`, `jobs` and `metrics`."""
    _add_tune(sub)
    _add_follow(sub)
    _add_jobs(sub)


def _add_tune(sub: argparse._SubParsersAction[Any]) -> None:
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
    _interval(tune)
    add_provider_flags(tune)
    tune.set_defaults(handler=run_tune)


def _add_follow(sub: argparse._SubParsersAction[Any]) -> None:
    watch = sub.add_parser(
        "watch",
        help="follow a job live: progress, ETA, loss sparkline, events (Ctrl-C leaves it running)",
    )
    _job_arg(watch)
    _interval(watch)
    watch.set_defaults(handler=run_watch)

    events = sub.add_parser("events", help="a job's events, oldest first")
    _job_arg(events)
    events.add_argument("--follow", "-f", action="store_true", help="keep following until it ends")
    events.add_argument("--since", metavar="EVENT_ID", help="only events after this one")
    events.add_argument("--json", action="store_true", help="one JSON object per line")
    _interval(events)
    events.set_defaults(handler=run_events)

    metrics = sub.add_parser("metrics", help="a job's training curve; --plot draws it")
    _job_arg(metrics)
    metrics.add_argument("--plot", type=Path, metavar="FILE", help="draw loss and accuracy (PNG)")
    metrics.add_argument("--all", action="store_true", help="print every step, not a summary")
    metrics.add_argument("--json", action="store_true", help="print every step as JSON")
    metrics.set_defaults(handler=run_metrics)


def _add_jobs(sub: argparse._SubParsersAction[Any]) -> None:
    jobs = sub.add_parser("jobs", help="list, show, checkpoints, cancel, pause or resume jobs")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="SUBCOMMAND")
    listing = jobs_sub.add_parser("list", help="the newest jobs")
    listing.add_argument("--limit", type=int, default=10, help="how many (default 10)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_provider_flags(listing)
    listing.set_defaults(handler=run_jobs_list)
    show = jobs_sub.add_parser("show", help="one job in detail")
    _job_arg(show)
    show.add_argument("--json", action="store_true", help="print the job as JSON")
    show.set_defaults(handler=run_jobs_show)
    checkpoints = jobs_sub.add_parser(
        "checkpoints", help="a job's checkpoints: step, model name and metrics"
    )
    _job_arg(checkpoints)
    checkpoints.add_argument("--json", action="store_true", help="print them as JSON")
    checkpoints.set_defaults(handler=run_jobs_checkpoints)
    for action, text in (
        ("cancel", "cancel a job"),
        ("pause", "pause a running job"),
        ("resume", "resume a paused job"),
    ):
        cmd = jobs_sub.add_parser(action, help=text)
        _job_arg(cmd)
        cmd.set_defaults(handler=run_jobs_control)


# --- tune / watch ---------------------------------------------------------------------------


def _metadata(pairs: list[str]) -> dict[str, str] | None:
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"--metadata takes KEY=VALUE, not {pair!r}")
        result[key] = value
    return result or None


def run_tune(args: argparse.Namespace, ctx: Context) -> int:
    """`tune`."""
    prices = {args.model: args.price} if args.price is not None else None
    n_epochs = epochs(args.n_epochs)
    metadata = _metadata(args.metadata)
    report = Dataset.from_jsonl(args.file).validate(
        model=args.model,
        method=args.method,
        validation=args.validation,
        n_epochs=n_epochs,
        prices=prices,
    )
    print(report)
    if not report.ok:
        print("Nothing was uploaded: fix the errors above (each names its line) and run again.")
        return EXIT_FAILED
    client = ctx.make_client(args)
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
            return EXIT_USAGE
        if not ctx.ask(f"Train on {where} ({cost})? [y/N] "):
            print("Nothing was uploaded or spent.")
            return EXIT_OK
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
            training=args.file,
            validation=args.validation,
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
        return EXIT_INTERRUPTED
    print(
        f"\n{job.id}: {job.status} ({job.snapshot.model}, training file "
        f"{job.snapshot.training_file})"
    )
    if args.detach:
        print(f"Follow it with: finetune-kit watch {job.id}")
        return EXIT_OK
    return _watch(job, args, ctx)


def run_watch(args: argparse.Namespace, ctx: Context) -> int:
    """`watch`."""
    job = FineTuneJob.retrieve(ctx.make_client(args), args.job, sleep=ctx.sleep, now=ctx.now)
    return _watch(job, args, ctx)


def _watch(job: FineTuneJob, args: argparse.Namespace, ctx: Context) -> int:
    policy = PollPolicy.of(poll=args.interval, timeout=None)
    display = Display(job.id, started_at=job.snapshot.created_at, live=ctx.wants_live())
    try:
        with display:
            display.status(f"Watching {job.id} ({job.status}); Ctrl-C stops watching, not the job.")
            tuned = job.wait(on_event=display.event, policy=policy)
    except KeyboardInterrupt:
        print(
            f"\nStopped watching. {job.id} keeps running on the provider. Re-attach with:\n"
            f"  finetune-kit watch {job.id}\n"
            f"Cancel it with:\n  finetune-kit jobs cancel {job.id}"
        )
        return EXIT_INTERRUPTED
    except JobError as exc:
        print(f"\n{job.id} ended {exc.job.status}: {exc}")
        return EXIT_FAILED
    trained = job.snapshot.trained_tokens or 0
    took = (job.snapshot.finished_at or 0) - job.snapshot.created_at
    print(
        f"\nTuned model: {tuned.id}\n"
        f"  {trained:,} trained tokens, {format_duration(took)} from creation to the end\n"
        f"  finetune-kit metrics {job.id} --plot loss.png\n"
        f"  finetune-kit compare {job.snapshot.model} {tuned.id} --prompts <held-out.jsonl>"
    )
    return EXIT_OK


# --- events ---------------------------------------------------------------------------------


def run_events(args: argparse.Namespace, ctx: Context) -> int:
    """`events`."""
    job = FineTuneJob.retrieve(ctx.make_client(args), args.job, sleep=ctx.sleep, now=ctx.now)
    try:
        for event in job.events(follow=args.follow, since=args.since, poll=args.interval):
            print(event.model_dump_json() if args.json else _event_line(event), flush=True)
    except KeyboardInterrupt:
        if not args.follow:
            raise
        print(f"\nStopped following; {job.id} goes on. Again: finetune-kit events {job.id} -f")
        return EXIT_INTERRUPTED
    return EXIT_OK


def _event_line(event: MessageEvent | MetricsEvent) -> str:
    when = utc(event.created_at).removesuffix(" UTC")
    return f"{when}  {event.level:<5}  {event.message}"


# --- jobs -----------------------------------------------------------------------------------


def run_jobs_list(args: argparse.Namespace, ctx: Context) -> int:
    """`jobs list`."""
    if args.limit < 1:
        raise ConfigurationError(f"--limit must be at least 1, not {args.limit}")
    jobs = FineTuneJob.list(ctx.make_client(args), limit=args.limit)
    if args.json:
        print(json.dumps([j.snapshot.model_dump(mode="json") for j in jobs], indent=2))
        return EXIT_OK
    if not jobs:
        print("No fine-tuning jobs.")
        return EXIT_OK
    rows = [
        (
            j.id,
            j.status,
            j.snapshot.model,
            j.snapshot.fine_tuned_model or "-",
            utc(j.snapshot.created_at),
        )
        for j in jobs
    ]
    _table(("job", "status", "model", "tuned model", "created"), rows)
    return EXIT_OK


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows, strict=False)]
    for row in (head, *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def run_jobs_show(args: argparse.Namespace, ctx: Context) -> int:
    """`jobs show`."""
    job = FineTuneJob.retrieve(ctx.make_client(args), args.job, sleep=ctx.sleep, now=ctx.now)
    snap = job.snapshot
    if args.json:
        print(snap.model_dump_json(indent=2))
        return EXIT_OK
    progress = job.progress()
    method = snap.method.type if snap.method else "supervised"
    lines = [
        f"job            {snap.id}",
        f"status         {progress}",
        f"model          {snap.model}",
        f"method         {method}",
        f"tuned model    {snap.fine_tuned_model or '-'}",
        f"training file  {snap.training_file}",
        f"validation     {snap.validation_file or '-'}",
        f"created        {utc(snap.created_at)}",
        f"finished       {utc(snap.finished_at)}",
        f"trained tokens {snap.trained_tokens or 0:,}" if snap.trained_tokens else "",
    ]
    if snap.error and getattr(snap.error, "message", None):
        lines.append(f"error          {snap.error.message} [{snap.error.code}]")
    print("\n".join(line for line in lines if line))
    return EXIT_OK


def run_jobs_checkpoints(args: argparse.Namespace, ctx: Context) -> int:
    """`jobs checkpoints`."""
    job = FineTuneJob.retrieve(ctx.make_client(args), args.job, sleep=ctx.sleep, now=ctx.now)
    found = sorted(job.checkpoints(), key=lambda c: c.step_number)
    if args.json:
        print(json.dumps([c.model_dump(mode="json") for c in found], indent=2))
        return EXIT_OK
    if not found:
        print(f"{job.id} has no checkpoints yet ({job.status}).")
        return EXIT_OK
    _table(
        ("step", "checkpoint model", "train loss", "valid loss", "full valid loss"),
        [
            (
                str(c.step_number),
                c.fine_tuned_model_checkpoint,
                _num(c.metrics.train_loss),
                _num(c.metrics.valid_loss),
                _num(c.metrics.full_valid_loss),
            )
            for c in found
        ],
    )
    return EXIT_OK


def run_jobs_control(args: argparse.Namespace, ctx: Context) -> int:
    """`jobs cancel|pause|resume`."""
    job = FineTuneJob.retrieve(ctx.make_client(args), args.job, sleep=ctx.sleep, now=ctx.now)
    getattr(job, args.jobs_command)()
    print(f"{job.id}: {job.status}")
    return EXIT_OK


# --- metrics --------------------------------------------------------------------------------


def run_metrics(args: argparse.Namespace, ctx: Context) -> int:
    """`metrics`."""
    client: OpenAI = ctx.make_client(args)
    job = FineTuneJob.retrieve(client, args.job, sleep=ctx.sleep, now=ctx.now)
    points = job.metrics()
    if args.json:
        print(json.dumps([p.model_dump() for p in points], indent=2))
    elif not points:
        print(f"{job.id} has no metrics yet ({job.status}).")
    elif args.all:
        _table(
            ("step", "train loss", "train acc", "valid loss", "valid acc", "full valid loss"),
            [
                (
                    str(p.step),
                    _num(p.train_loss),
                    _num(p.train_accuracy),
                    _num(p.valid_loss),
                    _num(p.valid_accuracy),
                    _num(p.full_valid_loss),
                )
                for p in points
            ],
        )
    else:
        _summary(job.id, points)
    if args.plot:
        from finetune_kit.report.plot import plot_metrics  # noqa: PLC0415 - matplotlib

        steps = sorted(c.step_number for c in job.checkpoints())
        path = plot_metrics(points, args.plot, checkpoints=steps, title=f"{job.id} ({job.status})")
        print(f"Plot: {Path(path).resolve()}")
    return EXIT_OK


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _summary(job_id: str, points: list[MetricPoint]) -> None:
    train = [p.train_loss for p in points if p.train_loss is not None]
    valid = [p.valid_loss for p in points if p.valid_loss is not None]
    full = [p for p in points if p.full_valid_loss is not None]
    print(f"{job_id}: {len(points)} steps")
    if train:
        print(f"  train loss  {train[0]:.4f} -> {train[-1]:.4f}  {sparkline(train, 30)}")
    if valid:
        print(f"  valid loss  {valid[0]:.4f} -> {valid[-1]:.4f}  {sparkline(valid, 30)}")
    if full:
        last = full[-1]
        print(f"  full valid loss {last.full_valid_loss:.4f} at step {last.step}")
    accuracy = [p.train_accuracy for p in points if p.train_accuracy is not None]
    if accuracy:
        print(f"  train token accuracy {accuracy[-1]:.1%}")
