"""`events`, `jobs` and `metrics`: looking at jobs."""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune_kit._io import write_bytes
from finetune_kit.cli.context import Context
from finetune_kit.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from finetune_kit.cli.flags import add_interval, add_job_arg
from finetune_kit.cli.provider import add_provider_flags
from finetune_kit.cli.tables import num, table
from finetune_kit.cli.watching import utc
from finetune_kit.exceptions import ConfigurationError

if TYPE_CHECKING:  # the heavy modules are loaded when a command runs
    from openai import OpenAI
    from openai.types.fine_tuning import FineTuningJob

    from finetune_kit._core.events import MessageEvent, MetricsEvent
    from finetune_kit._core.metrics import MetricPoint
    from finetune_kit.jobs import FineTuneJob

__all__ = ["STATUSES", "add_job_commands"]

STATUSES = (
    "validating_files",
    "queued",
    "running",
    "paused",
    "succeeded",
    "failed",
    "cancelled",
    "pending",  # Azure's, before a job is queued
)
"""The statuses `jobs list --status` knows."""


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
    listing = jobs_sub.add_parser("list", help="the newest jobs (--status: only those)")
    listing.add_argument("--limit", type=int, default=10, help="how many (default 10)")
    listing.add_argument(
        "--status",
        action="append",
        choices=STATUSES,
        metavar="STATUS",
        help=f"only jobs in this status (repeatable): {', '.join(STATUSES)}",
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_provider_flags(listing)
    listing.set_defaults(handler=run_jobs_list)
    show = jobs_sub.add_parser(
        "show",
        help="one job in detail: hyperparameters, tokens, result files, checkpoints, error",
    )
    add_job_arg(show)
    show.add_argument(
        "--json", action="store_true", help="print the job object as the API returns it"
    )
    show.set_defaults(handler=run_jobs_show)
    results = jobs_sub.add_parser(
        "results",
        help="download a job's results file (the per-step metrics CSV)",
        description="Download the results file of a job that succeeded: the CSV of its "
        "per-step metrics (decoded when the provider serves it base64-encoded). Printed, "
        "or written whole with -o.",
    )
    add_job_arg(results)
    results.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write it to FILE instead of printing it"
    )
    results.set_defaults(handler=run_jobs_results)
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
    from finetune_kit.jobs import FineTuneJob  # noqa: PLC0415 - loaded when the command runs

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
    from finetune_kit.jobs import FineTuneJob  # noqa: PLC0415 - loaded when the command runs

    if args.limit < 1:
        raise ConfigurationError(f"--limit must be at least 1, not {args.limit}")
    client = ctx.make_client(args)
    if args.status:  # the API has no such filter: page through until enough match
        jobs: list[FineTuneJob] = []
        for snapshot in client.fine_tuning.jobs.list(limit=100):
            if snapshot.status in args.status:
                jobs.append(FineTuneJob(client, snapshot, sleep=ctx.sleep, now=ctx.now))
                if len(jobs) >= args.limit:
                    break
    else:
        jobs = FineTuneJob.list(client, limit=args.limit, sleep=ctx.sleep, now=ctx.now)
    if args.json:
        print(json.dumps([j.snapshot.model_dump(mode="json") for j in jobs], indent=2))
        return EXIT_OK
    if not jobs:
        which = f" {' or '.join(args.status)}" if args.status else ""
        print(f"No{which} fine-tuning jobs.")
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
    from finetune_kit.jobs import FineTuneJob  # noqa: PLC0415 - loaded when the command runs

    job = FineTuneJob.retrieve(ctx.make_client(args), args.job, sleep=ctx.sleep, now=ctx.now)
    snap = job.snapshot
    if args.json:
        print(snap.model_dump_json(indent=2))
        return EXIT_OK
    progress = job.progress()
    snap = job.snapshot  # progress() refreshed it
    method = snap.method.type if snap.method else "supervised"
    hyperparameters = " ".join(f"{k}={v}" for k, v in _hyperparameters(snap).items())
    results = ", ".join(snap.result_files or [])
    finish = progress.estimated_finish
    lines = [
        f"job            {snap.id}",
        f"status         {progress}",
        f"model          {snap.model}",
        f"method         {method}",
        f"hyperparams    {hyperparameters or '-'}",
        f"tuned model    {snap.fine_tuned_model or '-'}",
        f"training file  {snap.training_file}",
        f"validation     {snap.validation_file or '-'}",
        f"created        {utc(snap.created_at)}",
        f"finishes       {finish:%Y-%m-%d %H:%M:%S} UTC (estimated)" if finish else "",
        "" if finish and not snap.finished_at else f"finished       {utc(snap.finished_at)}",
        f"trained tokens {snap.trained_tokens:,}" if snap.trained_tokens else "",
        f"result files   {results} (finetune-kit jobs results {snap.id})" if results else "",
        _checkpoints_line(job),
    ]
    error = snap.error
    if error is not None and error.message:
        param = f" (param: {error.param})" if error.param else ""
        lines.append(f"error          {error.message} [{error.code}]{param}")
    print("\n".join(line for line in lines if line))
    return EXIT_OK


def _hyperparameters(snap: FineTuningJob) -> dict[str, Any]:
    """The hyperparameters the job's method section holds (else the deprecated top level)."""
    section = getattr(snap.method, snap.method.type, None) if snap.method else None
    chosen = getattr(section, "hyperparameters", None) or snap.hyperparameters
    if chosen is None:
        return {}
    return {k: v for k, v in chosen.model_dump().items() if v is not None}


def _checkpoints_line(job: FineTuneJob) -> str:
    """`checkpoints    3 (finetune-kit jobs checkpoints JOB)`; nothing if there are none."""
    import openai  # noqa: PLC0415 - loaded when the command runs

    try:
        count = len(job.checkpoints())
    except openai.NotFoundError:  # an endpoint without the checkpoints route
        return ""
    if not count:
        return ""
    return f"checkpoints    {count} (finetune-kit jobs checkpoints {job.id})"


def run_jobs_results(args: argparse.Namespace, ctx: Context) -> int:
    """`jobs results`."""
    from finetune_kit._core.metrics import parse_results_csv  # noqa: PLC0415 - loaded when the command runs
    from finetune_kit.jobs import FineTuneJob  # noqa: PLC0415 - loaded when the command runs

    client = ctx.make_client(args)
    job = FineTuneJob.retrieve(client, args.job, sleep=ctx.sleep, now=ctx.now)
    files = list(job.snapshot.result_files or [])
    if not files:
        print(
            f"finetune-kit: error: {job.id} has no results file ({job.status}): one is written "
            "when a job succeeds",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if len(files) > 1:
        print(
            f"{job.id} has {len(files)} results files: this is the first, {files[0]}",
            file=sys.stderr,
        )
    data = results_csv(client.files.content(files[0]).read())
    if args.output is None:
        sys.stdout.write(data.decode("utf-8", errors="replace"))
        return EXIT_OK
    path = write_bytes(args.output, data)  # whole or not at all
    steps = len(parse_results_csv(data))
    print(f"Results: {path.resolve()} ({steps} steps, {files[0]})")
    return EXIT_OK


def results_csv(content: bytes) -> bytes:
    """A results file as CSV: decoded when the provider served it base64-encoded."""
    if content.lstrip()[:4].lower() == b"step":
        return content
    try:
        decoded = base64.b64decode(content.strip(), validate=False)
    except (binascii.Error, ValueError):
        return content
    return decoded if decoded.lstrip()[:4].lower() == b"step" else content


def run_jobs_checkpoints(args: argparse.Namespace, ctx: Context) -> int:
    """`jobs checkpoints`."""
    from finetune_kit.jobs import FineTuneJob  # noqa: PLC0415 - loaded when the command runs

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
    from finetune_kit.jobs import FineTuneJob  # noqa: PLC0415 - loaded when the command runs

    job = FineTuneJob.retrieve(ctx.make_client(args), args.job, sleep=ctx.sleep, now=ctx.now)
    getattr(job, args.jobs_command)()
    print(f"{job.id}: {job.status}")
    return EXIT_OK


def run_metrics(args: argparse.Namespace, ctx: Context) -> int:
    """`metrics`."""
    from finetune_kit.jobs import FineTuneJob  # noqa: PLC0415 - loaded when the command runs

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
    from finetune_kit.report.curves import sparkline  # noqa: PLC0415 - loaded when the command runs

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
