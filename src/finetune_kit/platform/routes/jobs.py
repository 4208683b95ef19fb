"""Fine-tuning jobs: create, list, retrieve, cancel, pause, resume, events, checkpoints."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from finetune_kit.platform.jobs import TERMINAL, JobRecord
from finetune_kit.platform.routes._base import Context, metadata_param, ok, page, route
from finetune_kit.platform.wire import ApiError, Request, Response

if TYPE_CHECKING:
    from finetune_kit.platform.state import PlatformState

__all__: list[str] = []

_METHODS = frozenset({"supervised", "dpo", "reinforcement"})
_REASONING = frozenset({"default", "low", "medium", "high"})


@route("POST", "fine_tuning/jobs", "jobs.create")
def jobs_create(api: PlatformState, req: Request, ctx: Context) -> Response:
    """POST /fine_tuning/jobs: every parameter checked as the API does, then validation starts."""
    body = req.json()
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError.missing("model")
    if ctx.flavor == "openai" and api.wind_down is not None and api.now() >= api.wind_down:
        raise ApiError(
            403,
            "Self-serve fine-tuning is no longer available: new fine-tuning jobs can't be created.",
            code="permission_denied",
        )
    base = api.resolve_base(model)
    if base is None or api.shut_down(base):
        raise ApiError(
            400,
            f"Model {model} is not available for fine-tuning or does not exist.",
            param="model",
            code="model_not_available",
        )
    training = _job_file(api, body.get("training_file"), "training_file", required=True) or ""
    validation = _job_file(api, body.get("validation_file"), "validation_file", required=False)
    method = _method(body)
    suffix = body.get("suffix")
    if suffix is not None and (not isinstance(suffix, str) or not 1 <= len(suffix) <= 64):
        raise ApiError(
            400, "Invalid 'suffix': 1 to 64 characters.", param="suffix", code="invalid_value"
        )
    metadata = metadata_param(body.get("metadata"))
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ApiError(400, "Invalid 'seed': expected an integer.", param="seed")
    integrations = body.get("integrations")
    if integrations is not None and (
        not isinstance(integrations, list)
        or any(
            not isinstance(i, dict)
            or i.get("type") != "wandb"
            or not isinstance(i.get("wandb"), dict)
            or "project" not in i["wandb"]
            for i in integrations
        )
    ):
        raise ApiError(
            400, "Invalid 'integrations': only wandb, with a project.", param="integrations"
        )
    now = api.now()
    job = JobRecord(
        id=api.new_id("ftjob-"),
        created_at=int(now),
        model=base,
        training_file=training,
        validation_file=validation,
        method=method,
        suffix=suffix,
        seed=seed if isinstance(seed, int) else api.rng.randrange(1, 2**31),
        metadata=metadata,
        integrations=integrations,
        organization_id=api.organization,
        flavor=ctx.flavor,
        rng=random.Random(api.rng.getrandbits(64)),
        fault=api.faults.take_job_fault(),
        extra={k: body[k] for k in ("trainingType",) if k in body},
    )
    job.start(now, api.timing.validating)
    # Validation ends no sooner than the files are processed.
    for file_id in (training, validation):
        if file_id is not None:
            job.phase_until = max(job.phase_until, api.files[file_id].ready_at)
    api.jobs[job.id] = job
    return ok(job.to_api())


def _job_file(api: PlatformState, file_id: Any, param: str, *, required: bool) -> str | None:
    if file_id is None:
        if required:
            raise ApiError.missing(param)
        return None
    if not isinstance(file_id, str):
        raise ApiError(400, f"Invalid '{param}': expected a file id.", param=param)
    record = api.files.get(file_id)
    if record is None or record.deleted:
        raise ApiError(
            400, f"Invalid file id {file_id!r}: no such file.", param=param, code="invalid_file"
        )
    if record.purpose != "fine-tune":
        raise ApiError(
            400,
            f"File {file_id} has purpose {record.purpose!r}; fine-tuning needs 'fine-tune'.",
            param=param,
            code="invalid_file",
        )
    status = record.status(api.now())
    # The API takes a file still being processed: the job validates it once it is. Refusing it
    # (as an older API did) is a fault: `api.faults.file_not_ready()`.
    if status == "uploaded" and api.faults.take_file_not_ready():
        raise ApiError(
            400,
            f"File {file_id} is not ready: it is still being processed. Try again when its status is 'processed'.",
            param=param,
            code="file_not_ready",
        )
    if status == "error":
        raise ApiError(
            400,
            f"File {file_id} failed processing: {record.error}",
            param=param,
            code="invalid_file",
        )
    return file_id


_RANGES: dict[str, dict[str, tuple[type, float | None, float | None, bool]]] = {
    # field: (type, low, high, low exclusive)
    "supervised": {
        "n_epochs": (int, 1, 50, False),
        "batch_size": (int, 1, 256, False),
        "learning_rate_multiplier": (float, 0, None, True),
    },
    "dpo": {
        "n_epochs": (int, 1, 50, False),
        "batch_size": (int, 1, 256, False),
        "learning_rate_multiplier": (float, 0, None, True),
        "beta": (float, 0, 2, True),
    },
    "reinforcement": {
        "n_epochs": (int, 1, 50, False),
        "batch_size": (int, 1, 256, False),
        "learning_rate_multiplier": (float, 0, None, True),
        "compute_multiplier": (float, 0.00001, 10, True),
        "eval_interval": (int, 1, None, False),
        "eval_samples": (int, 1, None, False),
    },
}


def _method(body: dict[str, Any]) -> dict[str, Any]:
    method = body.get("method")
    legacy = body.get("hyperparameters")
    if method is None:
        method = {"type": "supervised", "supervised": {"hyperparameters": legacy or {}}}
    if not isinstance(method, dict) or method.get("type") not in _METHODS:
        raise ApiError(
            400,
            "Invalid 'method.type': supervised, dpo or reinforcement.",
            param="method.type",
            code="invalid_value",
        )
    kind = method["type"]
    section = method.get(kind) or {}
    if not isinstance(section, dict):
        raise ApiError(400, f"Invalid 'method.{kind}': expected an object.", param=f"method.{kind}")
    hp = section.get("hyperparameters") or {}
    if not isinstance(hp, dict):
        raise ApiError(
            400,
            "Invalid hyperparameters: expected an object.",
            param=f"method.{kind}.hyperparameters",
        )
    for name, value in hp.items():
        param = f"method.{kind}.hyperparameters.{name}"
        if name == "reasoning_effort" and kind == "reinforcement":
            if value not in _REASONING:
                raise ApiError(
                    400,
                    f"Invalid '{name}': default, low, medium or high.",
                    param=param,
                    code="invalid_value",
                )
            continue
        rule = _RANGES[kind].get(name)
        if rule is None:
            raise ApiError(
                400,
                f"Unknown hyperparameter '{name}' for {kind}.",
                param=param,
                code="invalid_value",
            )
        if value == "auto":
            continue
        typ, lo, hi, lo_open = rule
        ok_type = isinstance(value, int) if typ is int else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type:
            raise ApiError(
                400,
                f"Invalid '{name}': expected 'auto' or a number.",
                param=param,
                code="invalid_value",
            )
        if (lo is not None and (value <= lo if lo_open else value < lo)) or (
            hi is not None and value > hi
        ):
            raise ApiError(
                400,
                f"Invalid '{name}': {value} is out of range.",
                param=param,
                code="invalid_value",
            )
    if kind == "reinforcement" and not isinstance(section.get("grader"), dict):
        raise ApiError(
            400,
            "Reinforcement fine-tuning needs a 'grader'.",
            param="method.reinforcement.grader",
            code="missing_required_parameter",
        )
    return {"type": kind, kind: {**section, "hyperparameters": hp}}


@route("GET", "fine_tuning/jobs", "jobs.list")
def jobs_list(api: PlatformState, req: Request, ctx: Context) -> Response:
    """GET /fine_tuning/jobs (after, limit, metadata[k]=v): newest first."""
    api.tick()
    wanted = {
        k[len("metadata[") : -1]: v
        for k, v in req.query
        if k.startswith("metadata[") and k.endswith("]")
    }
    null_metadata = req.param("metadata") == "null"
    newest_first = list(api.jobs.values())[::-1]  # ties: newest first
    jobs = sorted(newest_first, key=lambda j: j.created_at, reverse=True)
    items = [
        j.to_api()
        for j in jobs
        if (not null_metadata or not j.metadata)
        and all((j.metadata or {}).get(k) == v for k, v in wanted.items())
    ]
    return page(items, req, default_limit=20)


def _poll_headers(api: PlatformState) -> dict[str, str] | None:
    return (
        {"openai-poll-after-ms": str(api.poll_after_ms)} if api.poll_after_ms is not None else None
    )


@route("GET", "fine_tuning/jobs/{id}", "jobs.retrieve")
def jobs_retrieve(api: PlatformState, req: Request, ctx: Context) -> Response:
    """GET /fine_tuning/jobs/{id}."""
    return ok(api.job(ctx.params["id"]).to_api(), _poll_headers(api))


def _transition(
    api: PlatformState, ctx: Context, allowed: Callable[[str], bool], why: str
) -> JobRecord:
    """The job, if its status allows the transition (else the API's 400)."""
    job = api.job(ctx.params["id"])
    if not allowed(job.status):
        raise ApiError(
            400,
            f"Job {job.id} is {job.status}: {why}.",
            param="fine_tuning_job_id",
            code="invalid_job_state",
        )
    return job


@route("POST", "fine_tuning/jobs/{id}/cancel", "jobs.cancel")
def jobs_cancel(api: PlatformState, req: Request, ctx: Context) -> Response:
    """POST /fine_tuning/jobs/{id}/cancel: any job that has not finished."""
    job = _transition(api, ctx, lambda s: s not in TERMINAL, "finished jobs can't be cancelled")
    now = api.now()
    job.cancel(now)
    if job.submitted:
        api.training.cancel(job.id, now)
    return ok(job.to_api())


@route("POST", "fine_tuning/jobs/{id}/pause", "jobs.pause")
def jobs_pause(api: PlatformState, req: Request, ctx: Context) -> Response:
    """POST /fine_tuning/jobs/{id}/pause: running jobs only."""
    job = _transition(api, ctx, lambda s: s == "running", "only running jobs can be paused")
    now = api.now()
    job.pause(now)
    api.training.pause(job.id, now)
    return ok(job.to_api())


@route("POST", "fine_tuning/jobs/{id}/resume", "jobs.resume")
def jobs_resume(api: PlatformState, req: Request, ctx: Context) -> Response:
    """POST /fine_tuning/jobs/{id}/resume: paused jobs only; they queue again."""
    job = _transition(api, ctx, lambda s: s == "paused", "only paused jobs can be resumed")
    job.resume(api.now(), api.timing.queued)
    return ok(job.to_api())


@route("GET", "fine_tuning/jobs/{id}/events", "jobs.events")
def jobs_events(api: PlatformState, req: Request, ctx: Context) -> Response:
    """GET /fine_tuning/jobs/{id}/events: newest first; `after` pages toward older events."""
    job = api.job(ctx.params["id"])
    return page(list(reversed(job.events)), req, default_limit=20)


@route("GET", "fine_tuning/jobs/{id}/checkpoints", "jobs.checkpoints")
def jobs_checkpoints(api: PlatformState, req: Request, ctx: Context) -> Response:
    """GET /fine_tuning/jobs/{id}/checkpoints: newest first, once the job has succeeded."""
    job = api.job(ctx.params["id"])
    items = list(reversed(job.checkpoints)) if job.status == "succeeded" else []
    return page(items, req, default_limit=10, ids=True)
