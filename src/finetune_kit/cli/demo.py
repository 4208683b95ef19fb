"""`finetune-kit demo`: the whole workflow on the bundled dataset, offline by default.

Without an API key (`OPENAI_API_KEY`, or Azure settings) it runs against the built-in simulator
(time sped up, so the job takes seconds); with one it does the same for real, after asking
before anything is spent (unless `--yes`). It writes `loss.png` (the training curves, with the
`plot` extra) and `report.html` (the curves and the comparison, self-contained).

The comparison is on prompts the model was not trained on: the validation data when given;
for the bundled dataset its questions reworded ("Describe Helium"); for the user's own data
without validation data, a fifth of its rows held out of training (as many as leave the 10 rows
the provider needs). The user's data is graded against its own reference answers (`exact`,
`contains`); the bundled one's also for its limerick form. The report says what ran where.
Files the demo makes for itself live in a temporary folder that is removed at the end.

`--local` trains for real on this machine instead (`finetune_kit.local.LocalPlatform`, the
`local` extra): a small instruct model from the Hugging Face hub by default, asked about first
with its download size when it is not in the cache, or a model folder (`--base-model`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from openai import OpenAI

from finetune_kit._core.metrics import MetricPoint
from finetune_kit._core.scoring import Grader
from finetune_kit._io import write_text
from finetune_kit.cli import hub
from finetune_kit.cli.context import Context
from finetune_kit.cli.provider import describe
from finetune_kit.cli.training import follow
from finetune_kit.cli.watching import format_duration
from finetune_kit.compare import compare
from finetune_kit.dataset import Dataset
from finetune_kit.exceptions import ConfigurationError, FinetuneKitError
from finetune_kit.graders import contains, exact, regex
from finetune_kit.jobs import FineTuneJob
from finetune_kit.models import TunedModel
from finetune_kit.report.html import to_html
from finetune_kit.testing import ScaledClock, Simulator

__all__ = ["LOCAL_BASE_MODEL", "DemoOptions", "run_demo"]

LOCAL_BASE_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
"""The base model `demo --local` trains by default: small (about 1 GB), instruct-tuned."""
LOCAL_BATCH_SIZE = 2
LOCAL_LEARNING_RATE_MULTIPLIER = 10.0
LOCAL_MAX_TOKENS = 80
"""The most tokens a local model writes per answer in the comparison (a limerick fits)."""

HELD_OUT_SHARE = 0.2
"""The share of the user's rows held out of training for the comparison (without validation)."""
MIN_TRAINING_ROWS = 10
"""The fewest rows the provider takes in a file: held-out rows never take the training below
it, and serve as validation data too only when there are as many."""
SIMULATED = (
    "Ran on finetune-kit's built-in simulator (nothing left this machine): its tuned model "
    "answers with the reply of the closest training example, so the numbers show the workflow, "
    "not what a real fine-tune achieves."
)

SYSTEM = "Elle is a factual chatbot that answers questions about elements in the periodic table with a limerick"
FEW_SHOT = (
    (
        "Tell me about Gold",
        (
            "Gold, so precious and bright - Worn on fingers, a glittering sight - It won't rust "
            "or decay - Come what may - A treasure by day and by night"
        ),
    ),
    (
        "Tell me about Iron",
        (
            "Iron, so strong and so grey - In steel it holds bridges at bay - In your blood it "
            "will flow - Helping oxygen go - The metal we use every day"
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What the demo runs on."""

    dataset: Path
    model: str
    speed: float = 60.0
    yes: bool = False
    simulator: Simulator | None = None
    """Run on this simulator (tests pass one on virtual time); default: a sped-up one."""
    report: str = "report.html"
    """Where to write the HTML report (training curves and comparison)."""
    plot: str | None = "loss.png"
    """Where to draw the training curves (PNG; None: don't)."""
    simulator_only: bool = False
    """Use the simulator even when an API key is set."""
    validation: Path | None = None
    """Validation data (for the valid and full-valid curves, and the prompts compared on);
    None: the bundled dataset's questions reworded, or rows held out of the user's data."""
    local: bool = False
    """Train and answer on this machine (`LocalPlatform`, the `local` extra)."""
    base_model: str = LOCAL_BASE_MODEL
    """With `local`: a Hugging Face hub id or a model folder."""
    root: Path | None = None
    """With `local`: the platform's folder (uploads, checkpoints, the adapter); None: one in
    the demo's temporary folder, removed at the end."""
    epochs: int = 3
    """With `local`: training epochs (batch size 2: 5 steps an epoch on the bundled data)."""
    download_size: Callable[[str], int | None] | None = None
    """With `local`: the bytes a hub id downloads (None: unknown); default: the hub's metadata."""
    download: Callable[[str], str] | None = None
    """With `local`: download a hub id, return its folder; default: `snapshot_download`."""
    cached: Callable[[str], str | None] | None = None
    """With `local`: a hub id's folder in the Hugging Face cache, None if not there."""


@dataclass(frozen=True, slots=True)
class _Data:
    """What the demo trains on and compares on."""

    training: Path
    validation: Path | None
    prompts: Path
    """The prompts compared on (the last assistant message of each row is the reference)."""
    about: str
    """Which prompts those are, for people: "10 held-out prompts (...)"."""
    bundled: bool


def _bundled() -> Path:
    return Path(str(resources.files("finetune_kit") / "data" / "elle.jsonl"))


def _is_bundled(path: Path) -> bool:
    try:
        return path.resolve() == _bundled().resolve()
    except OSError:  # pragma: no cover - an unreadable path is not the bundled file
        return False


def _held_out(options: DemoOptions, folder: Path, out: Callable[[str], None]) -> _Data:
    """Where the prompts to compare on come from: never from the training rows when avoidable."""
    bundled = _is_bundled(options.dataset)
    if options.validation is not None:
        rows = len(Dataset.from_jsonl(options.validation))
        about = f"{rows} held-out prompts: the validation data {options.validation.name}"
        return _Data(options.dataset, options.validation, options.validation, about, bundled)
    if bundled:
        text = _bundled().read_text(encoding="utf-8").replace("Tell me about", "Describe")
        reworded = write_text(folder / "elle-held-out.jsonl", text)
        about = (
            "10 held-out prompts: the training questions reworded ('Describe Helium'), "
            "never trained on"
        )
        return _Data(options.dataset, reworded, reworded, about, bundled=True)
    data = Dataset.from_jsonl(options.dataset)
    n = len(data)
    count = min(max(1, round(n * HELD_OUT_SHARE)), n - MIN_TRAINING_ROWS)
    if count > 0:
        train, test = data.split(count)
        if len(train) >= MIN_TRAINING_ROWS:
            stem = options.dataset.stem
            training = train.to_jsonl(folder / f"{stem}-train.jsonl")
            held = test.to_jsonl(folder / f"{stem}-held-out.jsonl")
            out(
                f"Held out {len(test)} of the {n} rows for the comparison (never trained on); "
                f"training on the other {len(train)}."
            )
            about = (
                f"{len(test)} held-out prompts: rows of {options.dataset.name} kept out of training"
            )
            # Validation data too, when there is enough of it for the provider to take.
            validation = held if len(test) >= MIN_TRAINING_ROWS else None
            return _Data(training, validation, held, about, bundled=False)
    out(
        f"{options.dataset.name} has {n} rows: too few to hold any out of training (the provider "
        f"needs {MIN_TRAINING_ROWS}), so the comparison is on the training prompts: pass "
        "--validation held-out.jsonl for a fair one."
    )
    about = (
        f"the {n} training prompts of {options.dataset.name} (too few rows to hold any out: "
        "this shows what the model learnt, not how it generalises)"
    )
    return _Data(options.dataset, None, options.dataset, about, bundled=False)


def _real_provider(options: DemoOptions, args: argparse.Namespace | None) -> bool:
    if options.simulator is not None or options.simulator_only:
        return False
    flags = args is not None and any(
        getattr(args, name, None) for name in ("provider", "base_url", "azure_endpoint")
    )
    env = os.environ
    return flags or bool(env.get("OPENAI_API_KEY") or env.get("AZURE_OPENAI_ENDPOINT"))


def run_demo(
    options: DemoOptions,
    *,
    out: Callable[[str], None] = print,
    args: argparse.Namespace | None = None,
    context: Context | None = None,
) -> int:
    """Run validate → upload → train → plot → compare; return the exit code.

    The files it makes for itself (held-out prompts, a split of the user's data) live in a
    temporary folder (`finetune-kit-demo-*`) removed before it returns, whatever happens.
    """
    ctx = context or Context()
    with tempfile.TemporaryDirectory(prefix="finetune-kit-demo-") as folder:
        if options.local:
            return _run_local(options, Path(folder), out=out, context=ctx)
        return _run(options, Path(folder), out=out, args=args, context=ctx)


@dataclass(frozen=True, slots=True)
class _Local:
    """The local platform the demo runs on."""

    client: OpenAI
    location: str
    """The base model's folder, or its hub id (in the cache): what validation counts with."""
    where: str
    """What ran where, for the report."""
    intro: str
    """What it runs on, said before the job starts."""
    hyperparameters: dict[str, Any]
    params: dict[str, Any]
    """Sent with every chat request: bounded, greedy answers."""


def _served_name(base_model: str) -> str:
    """The name the platform serves the base model as: its last path part, safe in `ft:` ids."""
    last = base_model.strip().rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._-]", "-", last) or "base"


def _run_local(
    options: DemoOptions, folder: Path, *, out: Callable[[str], None], context: Context
) -> int:
    """The demo on a `LocalPlatform`: the base model trained and answering on this machine."""
    hub.require_local_stack()
    if options.epochs < 1:
        raise FinetuneKitError(f"--epochs must be 1 or more, not {options.epochs}")
    location = hub.local_model(options, context, out)
    if location is None:
        return 0
    torch: Any = importlib.import_module("torch")
    cuda = bool(torch.cuda.is_available())
    device = "GPU" if cuda else "CPU"
    if not cuda:
        out("no GPU: training on the CPU (minutes, for the bundled dataset)")
    from finetune_kit.local.platform import LocalPlatform  # noqa: PLC0415 - loads torch

    name = _served_name(options.base_model)
    epochs = f"{options.epochs} epoch{'s' if options.epochs != 1 else ''}"
    where = (
        f"Ran on this machine: {options.base_model} fine-tuned for real (LoRA, TRL) on the "
        f"{device}, {epochs} of batch {LOCAL_BATCH_SIZE}, answering with transformers; "
        "nothing left this machine."
    )
    # The device is chosen here, not left to "auto": the worker would say "no GPU" again, in
    # the job's events, which the demo prints as they come.
    with LocalPlatform(
        models={name: location},
        root=options.root or folder / "local",
        device="cuda" if cuda else "cpu",
    ) as platform:
        local = _Local(
            platform.client(),
            location,
            where,
            intro=f"Running on this machine: {name} ({location}), {epochs} of batch "
            f"{LOCAL_BATCH_SIZE}.",
            hyperparameters={
                "n_epochs": options.epochs,
                "batch_size": LOCAL_BATCH_SIZE,
                "learning_rate_multiplier": LOCAL_LEARNING_RATE_MULTIPLIER,
            },
            params={"max_tokens": LOCAL_MAX_TOKENS, "temperature": 0},
        )
        return _run(
            replace(options, model=name), folder, out=out, args=None, context=context, local=local
        )


def _run(
    options: DemoOptions,
    folder: Path,
    *,
    out: Callable[[str], None],
    args: argparse.Namespace | None,
    context: Context,
    local: _Local | None = None,
) -> int:
    ctx = context
    # Tokens are counted with what the model is: a local one's own tokenizer and template.
    counted_as = local.location if local else options.model
    out(f"== 1. Prepare the data: {options.dataset.name} for {options.model}")
    report = Dataset.from_jsonl(options.dataset).validate(
        model=counted_as, validation=options.validation
    )
    out(str(report))
    if options.validation is not None:
        out(f"validation data: {options.validation} (checked for overlap with the training data)")
    if not report.ok:
        out("The dataset has errors: fix them (each names its line and field) and run again.")
        return 1
    data = _held_out(options, folder, out)
    if data.training != options.dataset:  # the estimate of what is trained on
        report = Dataset.from_jsonl(data.training).validate(
            model=counted_as, validation=data.validation
        )

    sim: Simulator | None = None
    params: dict[str, Any] = {}
    hyperparameters: dict[str, Any] | None = None
    client: OpenAI
    sleep: Callable[[float], None]
    if local is not None:
        client, sleep, where = local.client, ctx.sleep, local.where
        params, hyperparameters = local.params, local.hyperparameters
        out(f"\n{local.intro}")
    elif options.simulator is None and ctx.client is not None:  # tests and docs pass a client
        client = ctx.client
        sleep = ctx.sleep
        where = f"Ran on the given client ({'a simulator' if ctx.simulated else 'real'})."
        out(f"\nRunning on the given client ({'a simulator' if ctx.simulated else 'real'}).")
    elif _real_provider(options, args):
        provider = describe(args or argparse.Namespace())
        out(f"\nAn API key is set: this will train on {provider} (estimate: {report.estimate}).")
        if not options.yes and not ctx.ask("Spend it? [y/N] "):
            out("Nothing was uploaded or spent. Run with --yes to go ahead, or --simulator.")
            return 0
        client = ctx.make_client(args or argparse.Namespace())
        sleep = ctx.sleep
        where = f"Ran on {provider}: a real fine-tuning job and real answers."
    else:
        sim = options.simulator or Simulator(clock=ScaledClock(options.speed))
        out(
            "\nNo API key: running on finetune-kit's built-in simulator "
            f"(time runs {options.speed:g}x faster; nothing leaves this machine)."
        )
        client = sim.client()
        sleep = sim.clock.sleep
        where = SIMULATED

    out("\n== 2. Upload and create the job (exactly once)")
    job = FineTuneJob.create(
        client,
        model=options.model,
        training=data.training,
        validation=data.validation,
        suffix="demo",
        metadata={"created_by": "finetune-kit demo"},
        hyperparameters=hyperparameters,
        sleep=sleep,
        now=sim.clock.now if sim else ctx.now,
    )
    out(f"{job.id}: {job.status} (training file {job.snapshot.training_file})")

    out("\n== 3. Train: live progress and events")
    tuned = follow(job, live=ctx.wants_live(), out=out)
    if isinstance(tuned, int):
        return tuned
    took = (job.snapshot.finished_at or 0) - job.snapshot.created_at
    out(
        f"Tuned model: {tuned.id} (billed tokens: {job.snapshot.trained_tokens or 0:,}; "
        f"{format_duration(took)} of {'simulated ' if sim or ctx.simulated else ''}training time)"
    )

    return _use(options, data, client, job, tuned, sleep, out, where, params)


def _setup(data: _Data) -> tuple[str | None, tuple[tuple[str, str], ...], Mapping[str, Grader]]:
    """The system prompt, few-shot examples and graders that fit the data compared on.

    The bundled dataset: Elle's system prompt, two hand-written limericks, and `exact` plus a
    limerick form check. The user's data: its own system messages, its first two training
    examples as the few shots, and `exact` and `contains` against its reference answers.
    """
    if data.bundled:
        return SYSTEM, FEW_SHOT, {"exact": exact(), "limerick": regex(r" - .* - .* - ")}
    shots: list[tuple[str, str]] = []
    for row in Dataset.from_jsonl(data.training):
        messages = row.get("messages") if isinstance(row, dict) else None
        if isinstance(messages, list) and len(messages) >= 2:
            question, answer = messages[-2], messages[-1]
            if (
                isinstance(question, dict)
                and isinstance(answer, dict)
                and (question.get("role"), answer.get("role")) == ("user", "assistant")
                and isinstance(question.get("content"), str)
                and isinstance(answer.get("content"), str)
            ):
                shots.append((question["content"], answer["content"]))
        if len(shots) == 2:
            break
    return None, tuple(shots), {"exact": exact(), "contains": contains()}


def _first_prompt(prompts: Path) -> list[dict[str, Any]]:
    """The first held-out row's messages, without the reference answer."""
    row: Any = next(iter(Dataset.from_jsonl(prompts)))
    messages = [m for m in row["messages"] if isinstance(m, dict)]
    return messages[:-1] if messages and messages[-1].get("role") == "assistant" else messages


def _use(  # noqa: PLR0917 - one private step of run_demo
    options: DemoOptions,
    data: _Data,
    client: OpenAI,
    job: FineTuneJob,
    tuned: TunedModel,
    sleep: Callable[[float], None],
    out: Callable[[str], None],
    where: str,
    params: Mapping[str, Any],
) -> int:
    """Steps 4 and 5: the curves, the comparison and the report.

    `params` go with every chat request (the local demo's `max_tokens` and greedy decoding).
    """
    out("\n== 4. The training curves")
    points = job.metrics()
    checkpoints = sorted(c.step_number for c in job.checkpoints())
    train = [p.train_loss for p in points if p.train_loss is not None]
    if train:
        out(
            f"{len(points)} steps, training loss {train[0]:.3f} -> {train[-1]:.3f}; "
            f"checkpoints at steps {', '.join(map(str, checkpoints)) or '-'}"
        )
    if options.plot:
        out(_plot(points, checkpoints, options.plot, f"{job.id}: {options.model}"))

    system, few_shot, graders = _setup(data)
    out(f"\n== 5. Compare: base vs base + few-shot vs tuned, on {data.about}")
    messages = _first_prompt(data.prompts)
    question = next(
        (str(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
    )
    has_system = bool(messages) and messages[0].get("role") == "system"
    reply = tuned.chat(messages, system=None if has_system else system, **params)
    out(f"tuned model, {question!r}: {reply.choices[0].message.content}")
    result = compare(
        client,
        models=[options.model, tuned.id],
        prompts=Dataset.from_jsonl(data.prompts),
        system=system,
        few_shot=few_shot or None,
        graders=graders,
        sleep=sleep,
        # Latency and the deadline in real seconds: at a sped-up simulator's pace a
        # millisecond of work would read as minutes.
        timer=time.perf_counter,
        **params,
    )
    out("")
    out(result.to_markdown(items=3))
    shots = result.summaries.get(f"{options.model} + {len(few_shot)}-shot")
    if shots is not None and shots.answered and result.summaries[tuned.id].answered:
        base = result.summaries[options.model]
        saved = shots.prompt_tokens_per_item - result.summaries[tuned.id].prompt_tokens_per_item
        out(
            f"\nThe tuned model needs {saved:.0f} fewer prompt tokens per call than the base "
            f"model given {len(few_shot)} examples (base alone: "
            f"{base.prompt_tokens_per_item:.0f})."
        )
    note = f"{where} Compared on {data.about}."
    out(f"\n{note}")
    # Written where asked, atomically: resolving first would write through a symbolic link.
    to_html(
        result,
        options.report,
        title=f"finetune-kit demo: {options.model} vs {tuned.id}",
        metrics=points,
        checkpoints=checkpoints,
        job=f"{job.id}: {job.status}, {job.snapshot.trained_tokens or 0:,} trained tokens",
        note=note,
    )
    out(f"\nHTML report (training curves and comparison): {Path(options.report).resolve()}")
    out("\nDone.")
    return 0


def _plot(points: list[MetricPoint], checkpoints: list[int], path: str, title: str) -> str:
    try:
        from finetune_kit.report.plot import plot_metrics  # noqa: PLC0415 - matplotlib

        written = plot_metrics(points, path, checkpoints=checkpoints, title=title)
    except ConfigurationError as exc:  # matplotlib missing: the rest of the demo goes on
        return f"{path} not drawn: {exc}"
    return f"Training curves: {Path(written).resolve()}"
