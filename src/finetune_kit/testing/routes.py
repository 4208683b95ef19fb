"""The simulator's route handlers: one function per API operation.

Each takes the simulator, the request and its routing context, and returns a response or raises
`ApiError`. Shapes follow the official OpenAPI schema; behaviour follows OPENAI-FACTS.md.

Added in 0.1.0.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

import pydantic_core

from finetune_kit.dataset.catalog import model_info
from finetune_kit.dataset.encodings import get_encoding
from finetune_kit.dataset.engine import settings_for, sniff_format, validate_lines
from finetune_kit.testing.chat import TrainedStyle, answer_base, answer_tuned, stream_events
from finetune_kit.testing.jobs import TERMINAL, JobRecord
from finetune_kit.testing.platform import ALIASES, WIND_DOWN, day_of
from finetune_kit.testing.records import BatchRecord, DeploymentRecord, UploadRecord
from finetune_kit.testing.wire import ApiError, SimRequest, SimResponse

if TYPE_CHECKING:
    from finetune_kit.testing.simulator import Context, Simulator

ORG_SLUG = "finetune-kit-sim"
_FILE_PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision", "user_data", "evals"})
_METHODS = frozenset({"supervised", "dpo", "reinforcement"})
_REASONING = frozenset({"default", "low", "medium", "high"})
_MAX_FILE_BYTES = 512 * 1024 * 1024
_MAX_UPLOAD_BYTES = 8 * 1024 * 1024 * 1024
_MAX_PART_BYTES = 64 * 1024 * 1024


def _ok(data: Any, headers: dict[str, str] | None = None) -> SimResponse:
    return SimResponse.of_json(data, headers=headers)


def _page(
    items: list[dict[str, Any]], req: SimRequest, *, default_limit: int, ids: bool = False
) -> SimResponse:
    """Cursor pagination: items are already in API order; `after` is the id to start after."""
    limit = _int_param(req, "limit", default_limit, lo=1, hi=10_000)
    after = req.param("after")
    start = 0
    if after:
        for i, item in enumerate(items):
            if item["id"] == after:
                start = i + 1
                break
        else:
            start = len(items)
    page = items[start : start + limit]
    body: dict[str, Any] = {"object": "list", "data": page, "has_more": start + limit < len(items)}
    if ids:
        body["first_id"] = page[0]["id"] if page else None
        body["last_id"] = page[-1]["id"] if page else None
    return _ok(body)


def _int_param(req: SimRequest, name: str, default: int, *, lo: int, hi: int) -> int:
    raw = req.param(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid '{name}': expected an integer.", param=name) from None
    if not lo <= value <= hi:
        raise ApiError(400, f"Invalid '{name}': must be between {lo} and {hi}.", param=name)
    return value


def _multipart(req: SimRequest) -> dict[str, tuple[str | None, bytes]]:
    ctype = req.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise ApiError(
            400, "This endpoint expects multipart/form-data.", code="invalid_content_type"
        )
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + req.body
    )
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        fields[name] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    return fields


# --- files -----------------------------------------------------------------------------------


def files_create(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """POST /files (multipart: file, purpose)."""
    fields = _multipart(req)
    purpose = fields.get("purpose", (None, b""))[1].decode()
    if "file" not in fields:
        raise ApiError(
            400,
            "Missing required parameter: 'file'.",
            param="file",
            code="missing_required_parameter",
        )
    if purpose not in _FILE_PURPOSES:
        raise ApiError(
            400, f"Invalid value for 'purpose': {purpose!r}.", param="purpose", code="invalid_value"
        )
    filename, content = fields["file"]
    filename = filename or "upload"
    if len(content) > _MAX_FILE_BYTES:
        raise ApiError(
            413, "File is too large: the limit is 512 MB. Use the Uploads API.", param="file"
        )
    return _ok(
        sim.add_file(
            content,
            filename=filename,
            purpose=purpose,
            error=_check_file(content, purpose, filename),
        ).to_api(sim.now(), ctx.flavor)
    )


def _check_file(content: bytes, purpose: str, filename: str) -> str | None:
    if purpose not in ("fine-tune", "batch"):
        return None
    if not filename.endswith(".jsonl"):
        return f"Invalid file format for {purpose}: the file must be a .jsonl file."
    for number, line in enumerate(content.split(b"\n"), start=1):
        if line.strip():
            try:
                pydantic_core.from_json(line)
            except ValueError:
                return f"Invalid file format. Line {number} is not valid JSON."
    return None


def files_list(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """GET /files (purpose, order, after, limit)."""
    purpose = req.param("purpose")
    order = req.param("order") or "desc"
    if order not in ("asc", "desc"):
        raise ApiError(400, "Invalid 'order': expected 'asc' or 'desc'.", param="order")
    now = sim.now()
    items = [
        f for f in sim.files.values() if not f.deleted and (purpose is None or f.purpose == purpose)
    ]
    # Newest first breaks same-second ties by creation order too (dicts keep insertion order).
    if order == "desc":
        items.reverse()
    items.sort(key=lambda f: f.created_at, reverse=order == "desc")
    return _page([f.to_api(now, ctx.flavor) for f in items], req, default_limit=10_000, ids=True)


def files_retrieve(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """GET /files/{id}."""
    return _ok(sim.file(ctx.params["id"]).to_api(sim.now(), ctx.flavor))


def files_delete(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """DELETE /files/{id}."""
    record = sim.file(ctx.params["id"])
    record.deleted = True
    return _ok({"id": record.id, "object": "file", "deleted": True})


def files_content(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """GET /files/{id}/content."""
    record = sim.file(ctx.params["id"])
    return SimResponse(200, {"content-type": "application/octet-stream"}, record.content)


# --- uploads ---------------------------------------------------------------------------------


def uploads_create(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """POST /uploads."""
    body = req.json()
    for key in ("bytes", "filename", "mime_type", "purpose"):
        if key not in body:
            raise ApiError(
                400,
                f"Missing required parameter: '{key}'.",
                param=key,
                code="missing_required_parameter",
            )
    size = body["bytes"]
    if not isinstance(size, int) or not 0 < size <= _MAX_UPLOAD_BYTES:
        raise ApiError(400, "Invalid 'bytes': an Upload holds 1 byte to 8 GB.", param="bytes")
    if body["purpose"] not in _FILE_PURPOSES:
        raise ApiError(400, f"Invalid value for 'purpose': {body['purpose']!r}.", param="purpose")
    now = sim.now()
    record = UploadRecord(
        id=sim.new_id("upload_"),
        filename=str(body["filename"]),
        purpose=str(body["purpose"]),
        mime_type=str(body["mime_type"]),
        declared_bytes=size,
        created_at=int(now),
        expires_at=int(now + sim.timing.upload_expiry),
    )
    sim.uploads[record.id] = record
    return _ok(record.to_api(now))


def _upload(sim: Simulator, upload_id: str) -> UploadRecord:
    record = sim.uploads.get(upload_id)
    if record is None:
        raise ApiError(404, f"No such Upload object: {upload_id}", param="upload_id")
    status = record.current_status(sim.now())
    if status != "pending":
        raise ApiError(
            400,
            f"Upload {upload_id} is {status}: it can't be changed.",
            param="upload_id",
            code="invalid_upload_state",
        )
    return record


def uploads_parts(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """POST /uploads/{id}/parts (multipart: data)."""
    record = _upload(sim, ctx.params["id"])
    fields = _multipart(req)
    if "data" not in fields:
        raise ApiError(400, "Missing required parameter: 'data'.", param="data")
    data = fields["data"][1]
    if len(data) > _MAX_PART_BYTES:
        raise ApiError(400, "A part holds at most 64 MB.", param="data")
    part_id = sim.new_id("part_")
    record.parts[part_id] = data
    return _ok(
        {
            "id": part_id,
            "object": "upload.part",
            "created_at": int(sim.now()),
            "upload_id": record.id,
        }
    )


def uploads_complete(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """POST /uploads/{id}/complete (part_ids in order, md5 optional)."""
    record = _upload(sim, ctx.params["id"])
    body = req.json()
    part_ids = body.get("part_ids")
    if not isinstance(part_ids, list) or not part_ids:
        raise ApiError(400, "Missing required parameter: 'part_ids'.", param="part_ids")
    unknown = [p for p in part_ids if p not in record.parts]
    if unknown:
        raise ApiError(
            400, f"Unknown part id(s): {', '.join(map(str, unknown[:3]))}.", param="part_ids"
        )
    content = b"".join(record.parts[p] for p in part_ids)
    if len(content) != record.declared_bytes:
        raise ApiError(
            400,
            f"The Upload declared {record.declared_bytes} bytes but its parts hold {len(content)}.",
            param="part_ids",
        )
    md5 = body.get("md5")
    if md5 and hashlib.md5(content, usedforsecurity=False).hexdigest() != md5:
        raise ApiError(400, "The md5 checksum does not match the uploaded bytes.", param="md5")
    file = sim.add_file(
        content,
        filename=record.filename,
        purpose=record.purpose,
        error=_check_file(content, record.purpose, record.filename),
    )
    record.status = "completed"
    record.file_id = file.id
    now = sim.now()
    return _ok(record.to_api(now, file.to_api(now, ctx.flavor)))


def uploads_cancel(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """POST /uploads/{id}/cancel."""
    record = _upload(sim, ctx.params["id"])
    record.status = "cancelled"
    return _ok(record.to_api(sim.now()))


# --- fine-tuning jobs ----------------------------------------------------------------------


def resolve_base(sim: Simulator, model: str) -> str | None:
    """The base snapshot a requested model trains from, or None if it can't be fine-tuned."""
    if model.startswith("ft:"):
        try:
            _, job = _find_model(sim, model)
        except ApiError:
            return None
        return job.model if job is not None else None
    name = ALIASES.get(model, model)
    return name if name in sim.shutdown_dates else None


def _shut_down(sim: Simulator, base: str) -> bool:
    date = sim.shutdown_dates.get(base)
    return date is not None and day_of(sim.now()) >= date


def jobs_create(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """POST /fine_tuning/jobs: every parameter checked as the API does, then validation starts."""
    body = req.json()
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(
            400,
            "Missing required parameter: 'model'.",
            param="model",
            code="missing_required_parameter",
        )
    if ctx.flavor == "openai" and sim.now() >= WIND_DOWN:
        raise ApiError(
            403,
            "Self-serve fine-tuning is no longer available: new fine-tuning jobs can't be created.",
            code="permission_denied",
        )
    base = resolve_base(sim, model)
    if base is None or _shut_down(sim, base):
        raise ApiError(
            400,
            f"Model {model} is not available for fine-tuning or does not exist.",
            param="model",
            code="model_not_available",
        )
    training = _job_file(sim, body.get("training_file"), "training_file", required=True) or ""
    validation = _job_file(sim, body.get("validation_file"), "validation_file", required=False)
    method = _method(body)
    suffix = body.get("suffix")
    if suffix is not None and (not isinstance(suffix, str) or not 1 <= len(suffix) <= 64):
        raise ApiError(
            400, "Invalid 'suffix': 1 to 64 characters.", param="suffix", code="invalid_value"
        )
    metadata = _metadata(body.get("metadata"))
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
    now = sim.now()
    job = JobRecord(
        id=sim.new_id("ftjob-"),
        created_at=int(now),
        model=base,
        training_file=training,
        validation_file=validation,
        method=method,
        suffix=suffix,
        seed=seed if isinstance(seed, int) else sim.rng.randrange(1, 2**31),
        metadata=metadata,
        integrations=integrations,
        organization_id=sim.organization,
        flavor=ctx.flavor,
        timing=sim.timing,
        rng=random.Random(sim.rng.getrandbits(64)),
        fault=sim.faults.take_job_fault(),
        extra={k: body[k] for k in ("trainingType",) if k in body},
    )
    job.start(now)
    # Validation ends no sooner than the files are processed.
    for file_id in (training, validation):
        if file_id is not None:
            job.phase_until = max(job.phase_until, sim.files[file_id].ready_at)
    sim.jobs[job.id] = job
    return _ok(job.to_api())


def _job_file(sim: Simulator, file_id: Any, param: str, *, required: bool) -> str | None:
    if file_id is None:
        if required:
            raise ApiError(
                400,
                f"Missing required parameter: '{param}'.",
                param=param,
                code="missing_required_parameter",
            )
        return None
    if not isinstance(file_id, str):
        raise ApiError(400, f"Invalid '{param}': expected a file id.", param=param)
    record = sim.files.get(file_id)
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
    status = record.status(sim.now())
    # The API takes a file still being processed: the job validates it once it is. Refusing it
    # (as an older API did) is a fault: `sim.faults.file_not_ready()`.
    if status == "uploaded" and sim.faults.take_file_not_ready():
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


def _metadata(metadata: Any) -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or len(metadata) > 16:
        raise ApiError(
            400,
            "Invalid 'metadata': at most 16 key-value pairs.",
            param="metadata",
            code="invalid_value",
        )
    for key, value in metadata.items():
        if len(key) > 64 or not isinstance(value, str) or len(value) > 512:
            raise ApiError(
                400,
                "Invalid 'metadata': keys up to 64 characters, string values up to 512.",
                param="metadata",
                code="invalid_value",
            )
    return dict(metadata)


def validate_job_files(sim: Simulator, job: JobRecord) -> tuple[int, int] | dict[str, Any]:
    """Validate a job's files with `Dataset.validate`'s checks, as the server would."""
    if job.fault is not None and job.fault.kind == "invalid_file":
        return {
            "code": job.fault.code or "invalid_training_file",
            "message": job.fault.message or "The job failed due to an invalid training file.",
            "param": "training_file",
        }
    fmt_method = {"supervised": "supervised", "dpo": "dpo", "reinforcement": "reinforcement"}[
        job.method_type
    ]
    result: tuple[int, int] | None = None
    for param, file_id in (
        ("training_file", job.training_file),
        ("validation_file", job.validation_file),
    ):
        if file_id is None:
            continue
        record = sim.files[file_id]
        if record.error:  # still processing at creation; processing failed since
            return {
                "code": f"invalid_{param}",
                "message": f"The job failed due to an invalid {param.replace('_', ' ')}. "
                f"{record.error}",
                "param": param,
            }
        lines = record.content.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        fmt = sniff_format(lines[:1000], fmt_method)  # type: ignore[arg-type]
        report = validate_lines(
            lines, source=record.filename, settings=settings_for(job.model, fmt)
        )
        if not report.ok:
            first = report.errors[0]
            where = (
                f"Line {first.line}" + (f', key "{first.field}"' if first.field else "")
                if first.line
                else "File"
            )
            return {
                "code": f"invalid_{param}",
                "message": f"The job failed due to an invalid {param.replace('_', ' ')}. "
                f"Invalid file format. {where}: {first.message}",
                "param": param,
            }
        if param == "training_file":
            result = (report.stats.examples, report.estimate.tokens_per_epoch)
    assert result is not None  # noqa: S101 - training_file is required
    return result


def jobs_list(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """GET /fine_tuning/jobs (after, limit, metadata[k]=v): newest first."""
    sim.tick()
    wanted = {
        k[len("metadata[") : -1]: v
        for k, v in req.query
        if k.startswith("metadata[") and k.endswith("]")
    }
    null_metadata = req.param("metadata") == "null"
    jobs = sorted(reversed(sim.jobs.values()), key=lambda j: j.created_at, reverse=True)  # noqa: C414 - ties: newest first
    items = [
        j.to_api()
        for j in jobs
        if (not null_metadata or not j.metadata)
        and all((j.metadata or {}).get(k) == v for k, v in wanted.items())
    ]
    return _page(items, req, default_limit=20)


def _poll_headers(sim: Simulator) -> dict[str, str] | None:
    return (
        {"openai-poll-after-ms": str(sim.poll_after_ms)} if sim.poll_after_ms is not None else None
    )


def jobs_retrieve(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """GET /fine_tuning/jobs/{id}."""
    return _ok(sim.job(ctx.params["id"]).to_api(), _poll_headers(sim))


def _transition(
    sim: Simulator, ctx: Context, allowed: Callable[[str], bool], why: str
) -> JobRecord:
    """The job, if its status allows the transition (else the API's 400)."""
    job = sim.job(ctx.params["id"])
    if not allowed(job.status):
        raise ApiError(
            400,
            f"Job {job.id} is {job.status}: {why}.",
            param="fine_tuning_job_id",
            code="invalid_job_state",
        )
    return job


def jobs_cancel(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """POST /fine_tuning/jobs/{id}/cancel: any job that has not finished."""
    job = _transition(sim, ctx, lambda s: s not in TERMINAL, "finished jobs can't be cancelled")
    job.cancel(sim.now())
    return _ok(job.to_api())


def jobs_pause(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """POST /fine_tuning/jobs/{id}/pause: running jobs only."""
    job = _transition(sim, ctx, lambda s: s == "running", "only running jobs can be paused")
    job.pause(sim.now())
    return _ok(job.to_api())


def jobs_resume(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """POST /fine_tuning/jobs/{id}/resume: paused jobs only; they queue again."""
    job = _transition(sim, ctx, lambda s: s == "paused", "only paused jobs can be resumed")
    job.resume(sim.now())
    return _ok(job.to_api())


def jobs_events(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """GET /fine_tuning/jobs/{id}/events: newest first; `after` pages toward older events."""
    job = sim.job(ctx.params["id"])
    return _page(list(reversed(job.events)), req, default_limit=20)


def jobs_checkpoints(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """GET /fine_tuning/jobs/{id}/checkpoints: newest first, once the job has succeeded."""
    job = sim.job(ctx.params["id"])
    items = list(reversed(job.checkpoints)) if job.status == "succeeded" else []
    return _page(items, req, default_limit=10, ids=True)


# --- models ----------------------------------------------------------------------------------


def _tuned_models(sim: Simulator) -> dict[str, JobRecord]:
    sim.tick()
    return {
        j.fine_tuned_model: j
        for j in sim.jobs.values()
        if j.status == "succeeded"
        and j.fine_tuned_model
        and j.fine_tuned_model not in sim.deleted_models
    }


def _model_api(sim: Simulator, name: str, job: JobRecord | None) -> dict[str, Any]:
    base = job.model if job is not None else name
    return {
        "id": name,
        "object": "model",
        "created": job.finished_at if job is not None and job.finished_at else 1_700_000_000,
        "owned_by": ORG_SLUG if job is not None else "system",
        "shutdown_date": sim.shutdown_dates.get(base),
    }


def models_list(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """GET /models: base models and this organisation's tuned models."""
    items = [_model_api(sim, name, None) for name in sim.shutdown_dates]
    items += [_model_api(sim, name, job) for name, job in _tuned_models(sim).items()]
    return _ok({"object": "list", "data": items})


def _find_model(sim: Simulator, name: str) -> tuple[str, JobRecord | None]:
    tuned = _tuned_models(sim)
    if name in tuned:
        return name, tuned[name]
    for job in tuned.values():  # a checkpoint: only those kept (the last 3 epochs) exist
        if any(c["fine_tuned_model_checkpoint"] == name for c in job.checkpoints):
            return name, job
    if name in sim.shutdown_dates:
        return name, None
    raise ApiError(404, f"The model '{name}' does not exist", param="model", code="model_not_found")


def models_retrieve(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """GET /models/{model}."""
    name, job = _find_model(sim, ctx.params["id"])
    return _ok(_model_api(sim, name, job))


def models_delete(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """DELETE /models/{model}: tuned models only."""
    name, job = _find_model(sim, ctx.params["id"])
    if job is None:
        raise ApiError(
            403,
            "You have insufficient permissions for this operation.",
            code="insufficient_permissions",
        )
    sim.deleted_models.add(name)
    return _ok({"id": name, "object": "model", "deleted": True})


# --- chat completions ------------------------------------------------------------------------


def _style(sim: Simulator, job: JobRecord) -> TrainedStyle:
    style = sim.styles.get(job.id)
    if style is None:
        content = sim.files[job.training_file].content
        rows = []
        for line in content.split(b"\n"):
            if line.strip():
                try:
                    rows.append(pydantic_core.from_json(line))
                except ValueError:
                    continue
        style = TrainedStyle.from_rows(rows)
        sim.styles[job.id] = style
    return style


def chat_create(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """POST /chat/completions: tuned models answer in their training style, base models generically.

    `n` choices; `stream: true` answers server-sent events (`chat.completion.chunk`s). On Azure
    the model is a deployment name: a tuned model answers only once deployed.
    """
    body = req.json()
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    model = ctx.params.get("deployment") or body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(
            400,
            "Missing required parameter: 'model'.",
            param="model",
            code="missing_required_parameter",
        )
    if ctx.flavor == "azure":
        model = deployed_model(sim, model)
    model = ALIASES.get(model, model)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(
            400,
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    n = _choices(body)
    include_usage = _stream_options(body)
    contents = answer_for(sim, model, messages, n=n)
    completion = completion_body(sim, model, messages, contents, body)
    if body.get("stream") is not True:
        return _ok(completion)
    encoding = get_encoding(sim.counter(model).encoding)
    events = stream_events(
        completion, lambda text: token_pieces(encoding, text), include_usage=include_usage
    )
    return SimResponse(200, {"content-type": "text/event-stream; charset=utf-8"}, events)


def token_pieces(encoding: Any, text: str) -> list[str]:
    """`text` cut at token boundaries (a piece per token; bytes of one character kept together)."""
    pieces: list[str] = []
    pending = b""
    for token in encoding.encode_ordinary(text):
        pending += encoding.decode_single_token_bytes(token)
        try:
            pieces.append(pending.decode("utf-8"))
        except UnicodeDecodeError:
            continue  # a character split across tokens: wait for its other bytes
        pending = b""
    if pending:
        pieces.append(pending.decode("utf-8", errors="replace"))
    return pieces


_MAX_CHOICES = 128


def _choices(body: dict[str, Any]) -> int:
    """The `n` of a chat request (1 to 128)."""
    n = body.get("n")
    if n is None:
        return 1
    if not isinstance(n, int) or isinstance(n, bool):
        raise ApiError(
            400,
            f"Invalid type for 'n': expected an integer, but got {type(n).__name__} instead.",
            param="n",
            code="invalid_type",
        )
    if n < 1:
        raise ApiError(
            400,
            f"Invalid 'n': integer below minimum value. Expected a value >= 1, but got {n} "
            "instead.",
            param="n",
            code="integer_below_min_value",
        )
    if n > _MAX_CHOICES:
        raise ApiError(
            400,
            f"Invalid 'n': integer above maximum value. Expected a value <= {_MAX_CHOICES}, but "
            f"got {n} instead.",
            param="n",
            code="integer_above_max_value",
        )
    return n


def _stream_options(body: dict[str, Any]) -> bool:
    """Whether a streamed answer ends with a usage chunk (`stream_options.include_usage`)."""
    stream, options = body.get("stream"), body.get("stream_options")
    if stream is not None and not isinstance(stream, bool):
        raise ApiError(400, "Invalid 'stream': expected a boolean.", param="stream")
    if options is None:
        return False
    if not stream:
        raise ApiError(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
            code="invalid_value",
        )
    if not isinstance(options, dict) or not isinstance(options.get("include_usage", False), bool):
        raise ApiError(
            400,
            "Invalid 'stream_options': expected an object such as {\"include_usage\": true}.",
            param="stream_options",
            code="invalid_value",
        )
    return bool(options.get("include_usage", False))


def deployed_model(sim: Simulator, name: str) -> str:
    """The model an Azure deployment serves, or Azure's 404 `DeploymentNotFound`.

    Deployments are made through the management API (`TunedModel.deploy`, which the simulator
    also answers) or set in `sim.deployments`. A base model is served under its own name, as
    if its deployment already existed; a tuned model never is until deployed.
    """
    if sim.deployment_ready(name):
        return sim.deployments[name]
    if name not in sim.deployments:
        base = ALIASES.get(name, name)
        tuned = name.startswith(("ft:", "ftchkpt-")) or ".ft-" in name
        if not tuned and (base in sim.shutdown_dates or model_info(base).known):
            return name
    raise _azure_error(
        404,
        "DeploymentNotFound",
        "The API deployment for this resource does not exist. If you created the deployment "
        "within the last 5 minutes, please wait a moment and try again. (Simulator: no "
        f"deployment named {name!r} serves yet: deploy the model first, e.g. TunedModel.deploy.)",
    )


def _azure_error(status: int, code: str, message: str) -> ApiError:
    """An error in Azure's own shape, `{"error": {"code", "message"}}` (no type, no param)."""
    return ApiError(status, message, code=code, body={"error": {"code": code, "message": message}})


def answer_for(sim: Simulator, model: str, messages: list[Any], *, n: int = 1) -> list[str]:
    """The simulated answers (`n` choices) of `model`, or an `ApiError` as the API would give."""
    not_found = ApiError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        code="model_not_found",
    )
    if model.startswith(("ft:", "ftchkpt-")) or ".ft-" in model:
        try:
            _, job = _find_model(sim, model)
        except ApiError:
            raise not_found from None
        if job is None or (job.finished_at or 0) + sim.timing.model_ready_delay > sim.now():
            raise not_found
        if _shut_down(sim, job.model):  # fine-tuned models follow their base's schedule
            raise ApiError(404, f"The model `{model}` has been deprecated.", code="model_not_found")
        style = _style(sim, job)
        return [answer_tuned(style, messages, i) for i in range(n)]
    if model not in sim.shutdown_dates and not model_info(model).known:
        raise not_found
    if model in sim.shutdown_dates and _shut_down(sim, model):
        raise ApiError(404, f"The model `{model}` has been deprecated.", code="model_not_found")
    return [answer_base(model, messages, i) for i in range(n)]


def completion_body(
    sim: Simulator, model: str, messages: list[Any], contents: list[str], body: dict[str, Any]
) -> dict[str, Any]:
    """A `ChatCompletion` JSON (a choice per content) with usage counted by the model's tokenizer."""
    counter = sim.counter(model)
    prompt_tokens = 3
    for msg in messages:
        prompt_tokens += 3
        if isinstance(msg, dict):
            for key, value in msg.items():
                if isinstance(value, str):
                    prompt_tokens += counter.count(value) + (1 if key == "name" else 0)
                elif key == "content" and isinstance(value, list):
                    prompt_tokens += sum(
                        counter.count(str(p.get("text", ""))) for p in value if isinstance(p, dict)
                    )
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    choices: list[dict[str, Any]] = []
    completion_tokens = 0
    for index, answer in enumerate(contents):
        content, finish, tokens = answer, "stop", counter.count(answer)
        if isinstance(limit, int) and limit > 0 and tokens > limit:
            encoding = get_encoding(counter.encoding)
            content = encoding.decode(encoding.encode_ordinary(answer)[:limit])
            tokens, finish = limit, "length"
        completion_tokens += tokens
        choices.append(
            {
                "index": index,
                "message": {
                    "role": "assistant",
                    "content": content,
                    "refusal": None,
                    "annotations": [],
                },
                "finish_reason": finish,
                "logprobs": None,
            }
        )
    return {
        "id": sim.new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(sim.now()),
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": "fp_finetune_kit_sim",
        "service_tier": "default",
    }


# --- batches ---------------------------------------------------------------------------------


def batches_create(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """POST /batches: chat completions only, run when the batch completes."""
    body = req.json()
    input_id = body.get("input_file_id")
    endpoint = body.get("endpoint")
    if endpoint not in ("/v1/chat/completions", "/chat/completions"):
        raise ApiError(
            400,
            "The simulator runs batches for /v1/chat/completions only.",
            param="endpoint",
            code="invalid_value",
        )
    if body.get("completion_window", "24h") != "24h":
        raise ApiError(
            400,
            "Invalid 'completion_window': only '24h'.",
            param="completion_window",
            code="invalid_value",
        )
    record = sim.file(str(input_id), param="input_file_id")
    if record.purpose != "batch":
        raise ApiError(
            400,
            f"File {input_id} must have purpose 'batch'.",
            param="input_file_id",
            code="invalid_file",
        )
    lines = [line for line in record.content.split(b"\n") if line.strip()]
    if not lines or len(lines) > 50_000:
        raise ApiError(
            400, "A batch holds 1 to 50,000 requests.", param="input_file_id", code="invalid_file"
        )
    metadata = _metadata(body.get("metadata"))
    batch = BatchRecord(
        id=sim.new_id("batch_"),
        input_file_id=record.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        created_at=int(sim.now()),
        metadata=metadata,
        total=len(lines),
        model=_batch_model(lines[0]),
    )
    sim.batches[batch.id] = batch
    return _ok(batch.to_api(sim.now(), sim.timing.batch))


def _batch_model(line: bytes) -> str | None:
    try:
        model = json.loads(line)["body"]["model"]
    except (ValueError, KeyError, TypeError):
        return None
    return model if isinstance(model, str) else None


def _run_batch(sim: Simulator, batch: BatchRecord) -> None:
    outputs: list[bytes] = []
    errors: list[bytes] = []
    for raw in sim.files[batch.input_file_id].content.split(b"\n"):
        if not raw.strip():
            continue
        custom_id = None
        try:
            line = json.loads(raw)
            custom_id = line.get("custom_id")
            body = line["body"]
            model = body["model"]
            batch.model = batch.model or model
            contents = answer_for(sim, model, body["messages"], n=_choices(body))
            response = {
                "status_code": 200,
                "request_id": sim.new_id("req_", 32),
                "body": completion_body(sim, model, body["messages"], contents, body),
            }
            outputs.append(
                json.dumps(
                    {
                        "id": sim.new_id("batch_req_"),
                        "custom_id": custom_id,
                        "response": response,
                        "error": None,
                    }
                ).encode()
            )
            batch.completed += 1
        except ApiError as err:
            errors.append(
                json.dumps(
                    {
                        "id": sim.new_id("batch_req_"),
                        "custom_id": custom_id,
                        "response": {
                            "status_code": err.status,
                            "request_id": sim.new_id("req_", 32),
                            "body": err.response().json(),
                        },
                        "error": None,
                    }
                ).encode()
            )
            batch.failed += 1
        except (ValueError, KeyError, TypeError, AttributeError):
            errors.append(
                json.dumps(
                    {
                        "id": sim.new_id("batch_req_"),
                        "custom_id": custom_id,
                        "response": None,
                        "error": {
                            "code": "invalid_request",
                            "message": "The request line is not a valid batch request.",
                        },
                    }
                ).encode()
            )
            batch.failed += 1
    done_at = batch.created_at + 3 * sim.timing.batch
    out = sim.add_file(
        b"\n".join(outputs) + b"\n",
        filename=f"{batch.id}_output.jsonl",
        purpose="batch_output",
        at=done_at,
    )
    batch.output_file_id = out.id
    if errors:
        error_file = sim.add_file(
            b"\n".join(errors) + b"\n",
            filename=f"{batch.id}_error.jsonl",
            purpose="batch_output",
            at=done_at,
        )
        batch.error_file_id = error_file.id


def _batch(sim: Simulator, batch_id: str) -> BatchRecord:
    batch = sim.batches.get(batch_id)
    if batch is None:
        raise ApiError(
            404, f"No such Batch object: {batch_id}", param="batch_id", code="batch_not_found"
        )
    if batch.output_file_id is None and batch.status(sim.now(), sim.timing.batch) == "completed":
        _run_batch(sim, batch)
    return batch


def batches_retrieve(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """GET /batches/{id}."""
    return _ok(_batch(sim, ctx.params["id"]).to_api(sim.now(), sim.timing.batch))


def batches_list(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """GET /batches: newest first."""
    items = [_batch(sim, b).to_api(sim.now(), sim.timing.batch) for b in reversed(sim.batches)]
    items.sort(key=lambda b: b["created_at"], reverse=True)
    return _page(items, req, default_limit=20, ids=True)


def batches_cancel(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """POST /batches/{id}/cancel."""
    batch = _batch(sim, ctx.params["id"])
    status = batch.status(sim.now(), sim.timing.batch)
    if status in ("completed", "cancelling", "cancelled", "failed", "expired"):
        raise ApiError(
            400, f"Batch {batch.id} is {status}: it can't be cancelled.", param="batch_id"
        )
    batch.cancelling_at = int(sim.now())
    return _ok(batch.to_api(sim.now(), sim.timing.batch))


# --- Azure management API: deployments --------------------------------------------------------

ARM_PATH = (
    "(?i:subscriptions)/(?P<subscription>[^/]+)/(?i:resourceGroups)/(?P<group>[^/]+)/"
    "(?i:providers/Microsoft.CognitiveServices/accounts)/(?P<account>[^/]+)/"
    "(?i:deployments)/(?P<name>[^/]+)"
)
"""The path of a deployment on the management API (`management.azure.com`)."""


def _arm_resource_id(ctx: Context) -> str:
    p = ctx.params
    return (
        f"/subscriptions/{p['subscription']}/resourceGroups/{p['group']}/providers/"
        f"Microsoft.CognitiveServices/accounts/{p['account']}/deployments/{p['name']}"
    )


def _arm_checked(req: SimRequest) -> None:
    """ARM's own checks: a bearer token, an api-version."""
    auth = req.headers.get("authorization", "")
    if not (auth.startswith("Bearer ") and auth[7:].strip()):
        raise _azure_error(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        )
    if not req.param("api-version"):
        raise _azure_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )


def _deployable(sim: Simulator, model: str) -> bool:
    """Whether the resource has `model`: a tuned model, a kept checkpoint, or a base model."""
    try:
        _find_model(sim, ALIASES.get(model, model))
    except ApiError:
        return False
    return True


def deployments_put(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """PUT .../deployments/{name}: deploy a model (it serves after `Timing.deploying`)."""
    _arm_checked(req)
    body = req.json()
    properties = body.get("properties") if isinstance(body, dict) else None
    model = (properties or {}).get("model") if isinstance(properties, dict) else None
    name = model.get("name") if isinstance(model, dict) else None
    if not isinstance(name, str) or not name:
        raise _azure_error(
            400,
            "InvalidRequestContent",
            "The request content is invalid: 'properties.model.name' is required.",
        )
    if not _deployable(sim, name):
        raise _azure_error(
            400,
            "DeploymentModelNotSupported",
            f"The model '{name}' is not found on this resource, or can't be deployed.",
        )
    sku = body.get("sku") if isinstance(body.get("sku"), dict) else {"name": "Standard"}
    deployment = ctx.params["name"]
    existed = deployment in sim.arm_deployments
    record = DeploymentRecord(
        resource_id=_arm_resource_id(ctx),
        name=deployment,
        model=name,
        sku=dict(sku),
        ready_at=sim.now() + sim.timing.deploying,
    )
    sim.arm_deployments[deployment] = record
    sim.deployments[deployment] = name
    return SimResponse.of_json(record.to_api(sim.now()), status=200 if existed else 201)


def _arm_deployment(sim: Simulator, ctx: Context) -> DeploymentRecord:
    name = ctx.params["name"]
    record = sim.arm_deployments.get(name)
    if record is None and name in sim.deployments:  # set in `sim.deployments` directly
        record = DeploymentRecord(
            _arm_resource_id(ctx), name, sim.deployments[name], {"name": "Standard"}, 0.0
        )
    if record is None:
        raise _azure_error(
            404, "DeploymentNotFound", f"The deployment '{name}' was not found on this resource."
        )
    return record


def deployments_get(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """GET .../deployments/{name}: the deployment, `Creating` until it serves."""
    _arm_checked(req)
    return _ok(_arm_deployment(sim, ctx).to_api(sim.now()))


def deployments_delete(sim: Simulator, req: SimRequest, ctx: Context) -> SimResponse:
    """DELETE .../deployments/{name}: it stops serving at once (the model stays)."""
    _arm_checked(req)
    name = _arm_deployment(sim, ctx).name
    sim.arm_deployments.pop(name, None)
    sim.deployments.pop(name, None)
    return SimResponse(200, {}, b"")


def model_name_for(job: JobRecord) -> str:
    """`ft:<base>:<org>:<suffix>:<id>` on OpenAI, `<base>.ft-<hex>` on Azure."""
    if job.flavor == "azure":
        return f"{job.model}.ft-{job.rng.getrandbits(128):032x}"
    short = f"{job.rng.getrandbits(40):010x}"[:8]
    return f"ft:{job.model}:{ORG_SLUG}:{job.suffix or ''}:{short}"
