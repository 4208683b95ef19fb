"""`LocalPlatform`: the fine-tuning API on your own hardware, behind the OpenAI SDK.

```python
platform = LocalPlatform(models={"tiny": "path/to/model"}, root="finetune-root")
client = platform.client()              # an openai.OpenAI answered in process
f = client.files.create(file=open("train.jsonl", "rb"), purpose="fine-tune")
job = client.fine_tuning.jobs.create(model="tiny", training_file=f.id, suffix="echo")
# poll client.fine_tuning.jobs.retrieve(job.id) until it succeeds, then chat with
# job.fine_tuned_model: "ft:tiny:local:echo:<8 hex>"
platform.close()
```

It is `finetune_kit.platform.Platform` (the API's routes, wire shapes and job states, the
same as the simulator's) on the wall clock, with the local engines behind it: TRL in a
worker process trains (`finetune_kit.local.TrainingEngine`), transformers answers
(`finetune_kit.local.InferenceEngine`). Jobs' events are taken from the training engine
whenever a job is looked at (retrieve, list, events, checkpoints).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune_kit._io import write_text
from finetune_kit.exceptions import ConfigurationError
from finetune_kit.local import events as local
from finetune_kit.local.launch import check_accelerate_config
from finetune_kit.local.options import TrainOptions
from finetune_kit.local.worker import latest_checkpoint
from finetune_kit.platform import engine as seam
from finetune_kit.platform.clock import SystemClock
from finetune_kit.platform.core import Platform
from finetune_kit.platform.disk_store import DiskStore
from finetune_kit.platform.jobs import TERMINAL, JobRecord
from finetune_kit.platform.lifecycle import advance
from finetune_kit.platform.records import Timing
from finetune_kit.platform.validation import validate_job_files
from finetune_kit.platform.wire import ApiError, Request, Response

if TYPE_CHECKING:
    from finetune_kit.dataset.hf_tokens import OpenWeights
    from finetune_kit.local.inference import InferenceEngine
    from finetune_kit.local.training import TrainingEngine
    from finetune_kit.platform.routes._base import Context, Handler
    from finetune_kit.platform.state import PlatformState

__all__ = ["METADATA_PREFIX", "ORG_SLUG", "LocalPlatform", "job_options"]

STOPPED_JOBS = "stopped-jobs.json"
"""In `root`: the ids of the jobs `close()` paused, resumed by the next platform over it."""

ORG_SLUG = "local"
"""The organisation slug in tuned models' names: `ft:<base>:local:<suffix>:<id>`."""

METADATA_PREFIX = "local."
"""A job's `metadata` keys with this prefix are its local training knobs (`local.lora_rank`)."""

_OPTION_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainOptions)}


def _knob_value(name: str, text: str) -> Any:
    """A knob's metadata string as the value `TrainOptions.parse` takes (ValueError if not)."""
    default = _OPTION_DEFAULTS[name]
    if name == "lora_targets":
        names = tuple(part.strip() for part in text.split(","))
        return "all-linear" if names == ("all-linear",) else names
    if isinstance(default, bool):
        if text.strip().lower() not in ("true", "false"):
            raise ValueError
        return text.strip().lower() == "true"
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float) or default is None:
        return float(text)
    return text.strip()


def job_options(metadata: Mapping[str, str] | None) -> dict[str, Any]:
    """The local training knobs a job's `metadata` carries (`local.<option>` keys), parsed.

    Values are strings, as metadata's are: integers and numbers as written (`"16"`, `"1e-4"`),
    `"true"` / `"false"`, `lora_targets` as `all-linear` or module names separated by commas.
    Other metadata keys are the user's and ignored.

    Raises:
        ApiError: 400 (param `metadata`, code `invalid_value`) naming the first bad key: an
            unknown option, or a value of the wrong type or out of range.
    """
    out: dict[str, Any] = {}
    for key, text in (metadata or {}).items():
        if not key.startswith(METADATA_PREFIX):
            continue
        name = key[len(METADATA_PREFIX) :]
        if name not in _OPTION_DEFAULTS:
            known = ", ".join(METADATA_PREFIX + n for n in sorted(_OPTION_DEFAULTS))
            raise ApiError(
                400,
                f"Invalid 'metadata' key {key}: not a local training option; known: {known}.",
                param="metadata",
                code="invalid_value",
            )
        try:
            value = _knob_value(name, text)
            TrainOptions.parse({name: value})
        except (ValueError, ConfigurationError) as exc:
            why = str(exc) if isinstance(exc, ConfigurationError) else f"not a valid {name}"
            raise ApiError(
                400,
                f"Invalid 'metadata' key {key} = {text!r}: {why}.",
                param="metadata",
                code="invalid_value",
            ) from None
        out[name] = value
    return out


class LocalTraining:
    """The platform's `TrainingEngine` over the local one: served names become folders.

    The local engine reports the platform's own event types; they are passed on as they are.
    """

    queues = True
    """Jobs wait in the engine's own queue: the platform says `queued` until `Started`."""

    def __init__(
        self, engine: TrainingEngine, locations: Mapping[str, str], options: Mapping[str, Any]
    ) -> None:
        self.engine = engine
        self.locations = dict(locations)
        self.options = dict(options)
        self._jobs: dict[str, seam.TrainingJob] = {}
        self._early: dict[str, list[seam.EngineEvent]] = {}
        self._up_to: dict[str, int] = {}

    def _task(self, job: seam.TrainingJob) -> seam.TrainingJob:
        """`job` as the local engine takes it: the base model's location, knobs merged."""
        numbers = {
            k: v
            for k, v in job.hyperparameters.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        return dataclasses.replace(
            job,
            model=self.locations[job.model],
            hyperparameters=numbers,
            options={**self.options, **job.options},
        )

    def adopt(self, job: seam.TrainingJob, *, up_to: int | None = None) -> None:
        """Know `job` without training it (a job a restarted server takes up).

        The next `resume` continues it from its latest checkpoint, at or before step `up_to`
        when given.
        """
        self._jobs[job.id] = self._task(job)
        if up_to is not None:
            self._up_to[job.id] = up_to

    def submit(self, job: seam.TrainingJob, now: float) -> None:  # noqa: ARG002 - wall clock
        """Queue `job` on the local engine (a method it can't train fails the job)."""
        if job.method not in ("supervised", "dpo"):
            self._early[job.id] = [
                seam.Failed(
                    "invalid_method",
                    f"The local backend trains supervised and dpo jobs, not {job.method}.",
                )
            ]
            return
        task = self._task(job)
        self._jobs[job.id] = task
        try:
            self.engine.submit(task)
        except (RuntimeError, ValueError) as exc:
            self._early[job.id] = [seam.Failed("training_error", str(exc))]

    def job(self, job_id: str) -> seam.TrainingJob:
        """What the local engine was asked to train for `job_id` (its `options` merged).

        Raises:
            KeyError: The job was never handed to the engine.
        """
        return self._jobs[job_id]

    def poll(self, job_id: str, now: float) -> list[seam.EngineEvent]:  # noqa: ARG002
        """The local engine's new events for `job_id`, as the platform's."""
        early = self._early.pop(job_id, None)
        if early is not None:
            return early
        try:
            return self.engine.poll(job_id)
        except KeyError:
            return []

    def cancel(self, job_id: str, now: float) -> None:  # noqa: ARG002
        """Stop `job_id` at its next step."""
        with contextlib.suppress(KeyError):
            self.engine.cancel(job_id)

    def pause(self, job_id: str, now: float) -> None:  # noqa: ARG002
        """Stop `job_id` at its next step, through a checkpoint."""
        with contextlib.suppress(KeyError):
            self.engine.pause(job_id)

    def resume(self, job_id: str, now: float) -> None:  # noqa: ARG002
        """Queue `job_id` again, from its latest checkpoint."""
        try:
            self.engine.resume(job_id, self._jobs.get(job_id), up_to=self._up_to.pop(job_id, None))
        except (KeyError, RuntimeError) as exc:
            self._early[job_id] = [seam.Failed("training_error", str(exc).strip("'\""))]


def _forget_after(job: JobRecord, step: int) -> None:
    """Drop what a job reported after `step` (training goes on from there and reports it again)."""
    job.steps_done = step
    job.metrics_rows = [r for r in job.metrics_rows if (r.get("step") or 0) <= step]
    job.events = [
        e for e in job.events if e.get("type") != "metrics" or e["data"].get("step", 0) <= step
    ]
    job.checkpoints = [c for c in job.checkpoints if c["step_number"] <= step]
    job.checkpoint_paths = {n: p for n, p in job.checkpoint_paths.items() if n <= step}
    job.last_metrics = {}
    if step == 0:
        job.total_steps = 0


def _chat_params(params: Mapping[str, Any]) -> local.ChatParams:
    stop = params.get("stop")
    stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
    max_tokens = params.get("max_completion_tokens", params.get("max_tokens"))
    temperature = params.get("temperature")
    top_p = params.get("top_p")
    seed = params.get("seed")
    return local.ChatParams(
        n=int(params.get("n") or 1),
        max_tokens=int(max_tokens) if isinstance(max_tokens, int) else None,
        stop=stops,
        temperature=1.0 if temperature is None else float(temperature),
        top_p=1.0 if top_p is None else float(top_p),
        seed=seed if isinstance(seed, int) else None,
    )


def _refuse_unsupported(params: Mapping[str, Any]) -> None:
    """A 400 for the output options the local engine can't honour yet (never ignore them)."""
    remedy = (
        "leave it out, or serve the tuned adapter with vLLM's OpenAI server (docs/guides/local.md, "
        "'Serving the tuned adapters with vLLM')."
    )
    fmt = params.get("response_format")
    if fmt:
        raise ApiError(
            400,
            f"finetune-kit's local engine can't constrain answers to 'response_format' of type "
            f"{fmt.get('type')!r} yet: {remedy}",
            param="response_format",
            code="unsupported_parameter",
        )
    if params.get("logprobs"):
        raise ApiError(
            400,
            f"finetune-kit's local engine doesn't return 'logprobs' yet: {remedy}",
            param="logprobs",
            code="unsupported_parameter",
        )


class LocalInference:
    """The platform's `InferenceEngine` over the local one (served names become folders)."""

    def __init__(self, engine: InferenceEngine, locations: Mapping[str, str]) -> None:
        self.engine = engine
        self.locations = dict(locations)

    def served(self, model: seam.ServedModel) -> local.ServedModel:
        """The local engine's view of `model`: its base's folder or hub id, and the adapter."""
        return local.ServedModel(model.name, self.locations[model.base], model.adapter)

    def complete(
        self, model: seam.ServedModel, messages: list[Any], params: dict[str, Any]
    ) -> seam.Completion:
        """Answer `messages` with `params["n"]` choices."""
        _refuse_unsupported(params)
        choices = self.engine.complete(
            self.served(model), messages, _chat_params(params), tools=params.get("tools")
        )
        return seam.Completion(
            [seam.Choice(c.text, c.finish_reason, c.completion_tokens) for c in choices],
            choices[0].prompt_tokens if choices else 0,
        )

    def stream(
        self, model: seam.ServedModel, messages: list[Any], params: dict[str, Any]
    ) -> Iterator[seam.Piece | seam.Completion]:
        """Each choice's pieces as they are generated (one choice after the other), then all."""
        _refuse_unsupported(params)
        chat = _chat_params(params)
        finished: list[local.Choice] = []
        for index in range(chat.n):
            for text in self.engine.stream(
                self.served(model),
                messages,
                chat,
                tools=params.get("tools"),
                on_finish=finished.append,
            ):
                if text:
                    yield seam.Piece(index, text)
        yield seam.Completion(
            [seam.Choice(c.text, c.finish_reason, c.completion_tokens) for c in finished],
            finished[0].prompt_tokens if finished else 0,
        )


class LocalPlatform(Platform):
    """The fine-tuning API over open-weights models trained and served on this machine.

    Every route the simulator answers (files, uploads, fine-tuning jobs with events, metrics,
    checkpoints and results, models, chat completions), in the same wire shapes, on the wall
    clock. Training runs in a worker process with TRL (LoRA by default), one job at a time;
    chat answers with transformers in this process.

    Args:
        models: The base models served, by the name clients use: `{"name": "<hub id or
            folder>"}`. A hub id must already be in the Hugging Face cache (nothing is
            downloaded while validating).
        root: A folder for what the engines read and write: uploaded files, and each job's
            checkpoints and tuned adapter (`<root>/jobs/<job id>`). Made if missing.
        device: `"auto"` (a GPU when torch sees one, else the CPU, with one line saying so in
            the job's events), `"cpu"` or `"cuda"`.
        options: Local training knobs for every job (`finetune_kit.local.TrainOptions`:
            `lora_rank`, `max_length`, `full_fine_tuning`, `precision`, ...). A job overrides
            them through its `metadata`: `{"local.lora_rank": "8"}` (see `job_options`); a
            bad one is a 400 when the job is created.
        max_concurrent_jobs: Jobs that train at once (one worker each); others wait queued.
        seed: Seeds ids and job seeds.
        accelerate_config: An accelerate config file (`accelerate config` writes one): each
            job then trains under `accelerate launch --config_file accelerate_config`, across
            the GPUs (and machines) it names, with DDP, FSDP or DeepSpeed as it says; events
            and cancel / pause go through files in the job's folder (see
            `finetune_kit.local.launch`). None (the default): a worker process of our own.

    Raises:
        ConfigurationError: No models, an unknown or badly typed option, or an
            `accelerate_config` that is missing, unreadable or not an accelerate config.

    Call `close()` (or use it as a context manager) to stop the training worker.
    """

    base_url = "http://local.invalid/v1"
    api_key = "sk-local"

    def __init__(
        self,
        *,
        models: Mapping[str, str | os.PathLike[str]],
        root: str | os.PathLike[str],
        device: str = "auto",
        options: Mapping[str, Any] | None = None,
        max_concurrent_jobs: int = 1,
        seed: int | None = None,
        accelerate_config: str | os.PathLike[str] | None = None,
    ) -> None:
        from finetune_kit.local.inference import InferenceEngine  # noqa: PLC0415 - lazy torch
        from finetune_kit.local.training import TrainingEngine  # noqa: PLC0415

        if not models:
            raise ConfigurationError("LocalPlatform needs at least one model: models={name: id}")
        self.locations = {name: os.fspath(where) for name, where in models.items()}
        self.options = dict(options or {})
        TrainOptions.parse(self.options)  # unknown names and wrong types fail here, not in a job
        self.accelerate_config = (
            None if accelerate_config is None else check_accelerate_config(accelerate_config)
        )
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._open_weights: dict[str, OpenWeights] = {}
        self.training_engine = TrainingEngine(
            device=device,
            max_concurrent_jobs=max_concurrent_jobs,
            accelerate_config=self.accelerate_config,
        )
        self.inference_engine = InferenceEngine(device=device)
        self.local_training = LocalTraining(self.training_engine, self.locations, self.options)
        """The platform's training engine (`training`), typed as what it is."""
        super().__init__(
            clock=SystemClock(),
            training=self.local_training,
            inference=LocalInference(self.inference_engine, self.locations),
            base_models=dict.fromkeys(self.locations),
            timing=Timing(file_processing=0.0, validating=0.0, queued=0.0),
            store=DiskStore(self.root),
            seed=int.from_bytes(os.urandom(8), "big") if seed is None else seed,
            organization="org-local",
            org_slug=ORG_SLUG,
            system_fingerprint="fp_finetune_kit_local",
        )

    def load_models(self) -> None:
        """Load every base model now: a clear `ConfigurationError` for one that can't answer."""
        for name, where in self.locations.items():
            self.inference_engine.load(local.ServedModel(name, where))

    def resolve_base(self, model: str) -> str | None:
        """A served base model's name; an unknown one is a 400 listing the served models."""
        base = super().resolve_base(model)
        if base is None and not model.startswith("ft:"):
            served = ", ".join(sorted(self.locations))
            raise ApiError(
                400,
                f"Model {model} is not served here; the base models served are: {served}.",
                param="model",
                code="model_not_available",
            )
        return base

    def _route(self, request: Request) -> tuple[Context, Handler]:
        ctx, handler = super()._route(request)
        if ctx.route != "jobs.create":
            return ctx, handler

        def create(api: PlatformState, req: Request, context: Context) -> Response:
            body = req.json()
            metadata = body.get("metadata") if isinstance(body, dict) else None
            if isinstance(metadata, dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
            ):
                job_options(metadata)  # a bad knob is a 400 now, not a failed job later
            return handler(api, req, context)

        return ctx, create

    def training_job(self, job: JobRecord) -> seam.TrainingJob:
        """The platform's `TrainingJob`, with the knobs of the job's `local.*` metadata."""
        task = super().training_job(job)
        return dataclasses.replace(task, options={**task.options, **job_options(job.metadata)})

    def validate_files(self, job: JobRecord) -> tuple[int, int] | dict[str, Any]:
        """`Dataset.validate`'s checks, tokens counted with the base model's chat template."""
        weights = self._open_weights.get(job.model)
        if weights is None:
            from finetune_kit.dataset.hf_tokens import open_weights  # noqa: PLC0415

            try:
                weights = open_weights(self.locations[job.model])
            except (ConfigurationError, LookupError) as exc:
                return {"code": "invalid_model", "message": str(exc), "param": "model"}
            self._open_weights[job.model] = weights
        return validate_job_files(self.files, job, open_weights=weights)

    def fail_interrupted_jobs(self) -> None:
        """Take up, rather than fail, the jobs a restarted server finds unfinished in `root`.

        Called when the platform is made (the base class fails them all with `server_stopped`):

        - a job running when the server stopped (a crash, a killed process) goes back to
          `queued` and continues from its latest checkpoint at or before the last step it
          reported; steps after it are trained again (their metrics are replaced). Without a
          checkpoint it trains again from the start;
        - a job `close()` paused (Ctrl-C on `local serve`) is resumed the same way;
        - a job handed to the training engine that had not started yet queues again;
        - a job paused through the API stays paused (resume it when you like);
        - a job still validating or queued carries on.

        Each says so in its events. A job whose base model is no longer served fails with
        `server_stopped` and a message naming the model to serve.
        """
        now = self.now()
        marker = self.root / STOPPED_JOBS
        try:
            paused_by_close = set(json.loads(marker.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            paused_by_close = set()
        changed = False
        for job in self.jobs.values():
            if job.status in TERMINAL or job.status == "validating_files":
                continue
            if job.status == "queued" and not job.submitted:
                continue
            if job.status == "paused" and job.id not in paused_by_close:
                if job.model in self.locations:  # paused through the API: resumed through it
                    self.local_training.adopt(self.training_job(job))
                continue
            changed = True
            if job.model not in self.locations:
                message = (
                    f"The server stopped while this job was {job.status}, and its base model "
                    f"{job.model} is not served any more: serve it again (local serve --model "
                    f"{job.model}=<hub id or folder>) and create a new job; the job's "
                    f"checkpoints are kept in {self.store.workdir(job.id)}."
                )
                job.fail(now, {"code": "server_stopped", "message": message, "param": None})
            elif job.status == "paused":
                self.local_training.adopt(self.training_job(job))
                job.event(now, "The server restarted: resuming the job it paused on stopping")
                job.resume(now, 0.0)
            else:
                self._take_up(job, now)
        if changed:
            self.store.flush()
        marker.unlink(missing_ok=True)

    def _take_up(self, job: JobRecord, now: float) -> None:
        """Queue a job the last server ran (or had handed to its engine) again."""
        was = job.status
        found = latest_checkpoint(self.store.workdir(job.id), job.steps_done)
        step = found[0] if found else 0
        _forget_after(job, step)
        job.status, job.awaiting_start, job.phase_until = "queued", False, now
        if found is None:
            job.submitted = False  # handed over afresh, hyperparameters resolved again
            job.event(
                now,
                f"The server restarted while this job was {was}, before any checkpoint: "
                "training starts again from the beginning",
            )
            return
        self.local_training.adopt(self.training_job(job), up_to=step)
        job.event(
            now,
            f"The server restarted while this job was {was}: training resumes from the "
            f"checkpoint of step {step}",
        )

    def close(self) -> None:
        """Stop the training worker: a running job is paused through a checkpoint.

        Its last events and the pause are recorded, and a platform made later over the same
        `root` resumes it (see `fail_interrupted_jobs`).
        """
        with self._lock:  # running, or started by the engine since the platform last looked
            running = [j for j in self.jobs.values() if j.status == "running" or j.awaiting_start]
        self.training_engine.close()
        with self._lock:
            now = self.now()
            for job in running:
                advance(job, now, self)  # the events the worker sent before it stopped
            stopped = sorted(j.id for j in running if j.status == "paused")
            if stopped:
                write_text(self.root / STOPPED_JOBS, json.dumps(stopped) + "\n")
            self.store.flush()
        self.inference_engine.close()

    def __enter__(self) -> LocalPlatform:  # noqa: PYI034 - Self is 3.11+
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
