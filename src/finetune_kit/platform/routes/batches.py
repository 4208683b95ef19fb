"""Batches of chat completions: create, list, retrieve, cancel; run when they complete."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from finetune_kit.platform.answering import answer, choices_param, completion_body
from finetune_kit.platform.records import BatchRecord
from finetune_kit.platform.routes._base import Context, metadata_param, ok, page, route
from finetune_kit.platform.wire import ApiError, Request, Response

if TYPE_CHECKING:
    from finetune_kit.platform.state import PlatformState

__all__: list[str] = []


@route("POST", "batches", "batches.create")
def batches_create(api: PlatformState, req: Request, ctx: Context) -> Response:
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
    record = api.file(str(input_id), param="input_file_id")
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
    metadata = metadata_param(body.get("metadata"))
    batch = BatchRecord(
        id=api.new_id("batch_"),
        input_file_id=record.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        created_at=int(api.now()),
        metadata=metadata,
        total=len(lines),
        model=_batch_model(lines[0]),
    )
    api.batches[batch.id] = batch
    return ok(batch.to_api(api.now(), api.timing.batch))


def _batch_model(line: bytes) -> str | None:
    try:
        model = json.loads(line)["body"]["model"]
    except (ValueError, KeyError, TypeError):
        return None
    return model if isinstance(model, str) else None


def _run_batch(api: PlatformState, batch: BatchRecord) -> None:
    outputs: list[bytes] = []
    errors: list[bytes] = []
    for raw in api.files[batch.input_file_id].content.split(b"\n"):
        if not raw.strip():
            continue
        custom_id = None
        try:
            line = json.loads(raw)
            custom_id = line.get("custom_id")
            body = line["body"]
            model = body["model"]
            batch.model = batch.model or model
            completion = answer(api, model, body["messages"], body, n=choices_param(body))
            response = {
                "status_code": 200,
                "request_id": api.new_id("req_", 32),
                "body": completion_body(api, model, completion),
            }
            outputs.append(
                json.dumps(
                    {
                        "id": api.new_id("batch_req_"),
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
                        "id": api.new_id("batch_req_"),
                        "custom_id": custom_id,
                        "response": {
                            "status_code": err.status,
                            "request_id": api.new_id("req_", 32),
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
                        "id": api.new_id("batch_req_"),
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
    done_at = batch.created_at + 3 * api.timing.batch
    out = api.add_file(
        b"\n".join(outputs) + b"\n",
        filename=f"{batch.id}_output.jsonl",
        purpose="batch_output",
        at=done_at,
    )
    batch.output_file_id = out.id
    if errors:
        error_file = api.add_file(
            b"\n".join(errors) + b"\n",
            filename=f"{batch.id}_error.jsonl",
            purpose="batch_output",
            at=done_at,
        )
        batch.error_file_id = error_file.id


def _batch(api: PlatformState, batch_id: str) -> BatchRecord:
    batch = api.batches.get(batch_id)
    if batch is None:
        raise ApiError(
            404, f"No such Batch object: {batch_id}", param="batch_id", code="batch_not_found"
        )
    if batch.output_file_id is None and batch.status(api.now(), api.timing.batch) == "completed":
        _run_batch(api, batch)
    return batch


@route("GET", "batches/{id}", "batches.retrieve")
def batches_retrieve(api: PlatformState, req: Request, ctx: Context) -> Response:
    """GET /batches/{id}."""
    return ok(_batch(api, ctx.params["id"]).to_api(api.now(), api.timing.batch))


@route("GET", "batches", "batches.list")
def batches_list(api: PlatformState, req: Request, ctx: Context) -> Response:
    """GET /batches: newest first."""
    items = [_batch(api, b).to_api(api.now(), api.timing.batch) for b in list(api.batches)[::-1]]
    items.sort(key=lambda b: b["created_at"], reverse=True)
    return page(items, req, default_limit=20, ids=True)


@route("POST", "batches/{id}/cancel", "batches.cancel")
def batches_cancel(api: PlatformState, req: Request, ctx: Context) -> Response:
    """POST /batches/{id}/cancel."""
    batch = _batch(api, ctx.params["id"])
    status = batch.status(api.now(), api.timing.batch)
    if status in ("completed", "cancelling", "cancelled", "failed", "expired"):
        raise ApiError(
            400, f"Batch {batch.id} is {status}: it can't be cancelled.", param="batch_id"
        )
    batch.cancelling_at = int(api.now())
    return ok(batch.to_api(api.now(), api.timing.batch))
