"""`events`, `jobs` and `metrics`: looking at jobs.

Added in 0.1.0.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from openai import OpenAI

from finetune_kit._core.events import MessageEvent, MetricsEvent
from finetune_kit._core.metrics import MetricPoint
from finetune_kit.cli.context import Context
from finetune_kit.cli.errors import EXIT_INTERRUPTED, EXIT_OK
from finetune_kit.cli.flags import add_interval, add_job_arg
from finetune_kit.cli.provider import add_provider_flags
from finetune_kit.cli.tables import num, table
from finetune_kit.cli.watching import utc
from finetune_kit.exceptions import ConfigurationError
from finetune_kit.jobs import FineTuneJob
from finetune_kit.report.curves import sparkline

__all__ = ["add_job_commands"]


def add_job_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """Register `events`, `metrics` and `jobs`."""
    events = sub.add_parser("events", help="a job's events, oldest first")
    add_job_arg(events)
    events.add_argument("--follow", "-f", action="store_true", help="keep following until it ends")
    events.add_argument("--since", metavar="EVENT_ID", help="only events after this one")
    events.add_argument("--json", action="store_true", help="one JSON object per line")
    add_interval(events)
    events.set_defaults(handler=run_events)

    metrics = sub.add_parser("metrics", help="a job's training curve; --plot draws it")
    add_job_arg(metrics)
    metrics.add_argument("--plot", type=Path, metavar="FILE", help="draw loss and accuracy (PNG)")
    metrics.add_argument("--all", action="store_true", help="print every step, not a summary")
    metrics.add_argument("--json", action="store_true", help="print every step as JSON")
    metrics.set_defaults(handler=run_metrics)

    jobs = sub.add_parser("jobs", help="list, show, checkpoints, cancel, pause or resume jobs")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="SUBCOMMAND")
    listing = jobs_sub.add_parser("list", help="the newest jobs")
    listing.add_argument("--limit", type=int, default=10, help="how many (default 10)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_provider_flags(listing)
    listing.set_defaults(handler=run_jobs_list)
    show = jobs_sub.add_parser("show", help="one job in detail")
    add_job_arg(show)
    show.add_argument("--json", action="store_true", help="print the job as JSON")
    show.set_defaults(handler=run_jobs_show)
    checkpoints = jobs_sub.add_parser(
        "checkpoints", help="a job's checkpoints: step, model name and metrics"
    )
    add_job_arg(checkpoints)
    checkpoints.add_argument("--json", action="store_true", help="print them as JSON")
    checkpoints.set_defaults(handler=run_jobs_checkpoints)
    for action, text in (
        ("cancel", "cancel a job"),
        ("pause", "pause a running job"),
        ("resume", "resume a paused job"),
    ):
        cmd = jobs_sub.add_parser(action, help=text)
        add_job_arg(cmd)
        cmd.set_defaults(handler=run_jobs_control)


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
    table(("job", "status", "model", "tuned model", "created"), rows)
    return EXIT_OK


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
    table(
        ("step", "checkpoint model", "train loss", "valid loss", "full valid loss"),
        [
            (
                str(c.step_number),
                c.fine_tuned_model_checkpoint,
                num(c.metrics.train_loss),
                num(c.metrics.valid_loss),
                num(c.metrics.full_valid_loss),
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
        table(
            ("step", "train loss", "train acc", "valid loss", "valid acc", "full valid loss"),
            [
                (
                    str(p.step),
                    num(p.train_loss),
                    num(p.train_accuracy),
                    num(p.valid_loss),
                    num(p.valid_accuracy),
                    num(p.full_valid_loss),
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
