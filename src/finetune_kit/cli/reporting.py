"""`report`: a job's training curves and, with `--compare`, a comparison, in one HTML page."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune_kit.cli.context import Context
from finetune_kit.cli.errors import EXIT_OK, unanswered
from finetune_kit.cli.flags import add_compare_flags, add_job_arg, compare_options
from finetune_kit.exceptions import ConfigurationError

if TYPE_CHECKING:  # the heavy modules are loaded when a command runs
    from finetune_kit.compare import Comparison

__all__ = ["add_report_command"]


def add_report_command(sub: argparse._SubParsersAction[Any]) -> None:
    """Register `report`."""
    report = sub.add_parser(
        "report",
        help="one HTML page: a job's training curves and (--compare) its model against the base",
        description="Write one self-contained HTML page holding a job's training curves (loss "
        "and token accuracy, checkpoints marked) and, with --compare, a comparison of its "
        "tuned model with the base model on held-out prompts (the same grading as `compare`).",
        epilog="Exits 1 when a compared model answered no call at all (the page is written "
        "all the same); Ctrl-C during the comparison writes nothing and exits 130.",
    )
    add_job_arg(report)
    report.add_argument(
        "--compare",
        type=Path,
        metavar="PROMPTS",
        help="held-out prompts (JSONL chat examples; the last assistant message is the "
        "reference): compare the tuned model with --base on them",
    )
    report.add_argument(
        "--base",
        action="append",
        metavar="MODEL",
        help="the model(s) to compare with (repeatable; default: the job's base model; on "
        "Azure, a deployment's name)",
    )
    add_compare_flags(report)
    report.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("report.html"),
        metavar="FILE",
        help="where to write the page (default report.html)",
    )
    report.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace, ctx: Context) -> int:
    """`report`."""
    from finetune_kit.compare import compare  # noqa: PLC0415 - loaded when the command runs
    from finetune_kit.jobs import FineTuneJob  # noqa: PLC0415 - loaded when the command runs
    from finetune_kit.report.html import to_html  # noqa: PLC0415 - loaded when the command runs

    if args.compare is None and (
        args.base or args.grader or args.regex or args.system or getattr(args, "price", None)
    ):
        raise ConfigurationError(
            "--base, --grader, --regex, --system and --price go with --compare"
        )
    options = compare_options(args)
    if args.compare is not None and not args.compare.is_file():
        raise ConfigurationError(f"{args.compare}: no such file")
    client = ctx.make_client(args)
    job = FineTuneJob.retrieve(client, args.job, sleep=ctx.sleep, now=ctx.now)
    snap = job.snapshot
    tuned = snap.fine_tuned_model
    if args.compare is not None and not tuned:
        raise ConfigurationError(
            f"{job.id} has no tuned model to compare ({job.status}): drop --compare for its "
            f"curves alone, or wait for it: finetune-kit watch {job.id}"
        )
    points = job.metrics()
    checkpoints = sorted(c.step_number for c in job.checkpoints())
    result: Comparison | None = None
    if args.compare is not None and tuned:
        result = compare(
            client,
            models=[*(args.base or [snap.model]), tuned],
            prompts=args.compare,
            sleep=ctx.sleep,
            timer=ctx.now,
            **options,
        )
    trained = f", {snap.trained_tokens:,} trained tokens" if snap.trained_tokens else ""
    # Written where asked, atomically: a failure keeps the old page; a link is replaced.
    to_html(
        result,
        args.output,
        title=f"finetune-kit report: {job.id}",
        metrics=points,
        checkpoints=checkpoints,
        job=f"{job.id}: {snap.model} -> {tuned or '-'} ({job.status}{trained})",
    )
    marks = f"; checkpoints at steps {', '.join(map(str, checkpoints))}" if checkpoints else ""
    print(f"{job.id}: {len(points)} steps with metrics{marks}")
    if result is not None:
        print(f"Compared on {len(result.rows)} prompts from {args.compare}:")
        for grader in result.graders:
            print(f"- {result.verdict(grader)}")
    print(f"HTML report: {args.output.resolve()}")
    return EXIT_OK if result is None else unanswered(result)
