"""Uploads: a file sent in parts (create, add parts, complete, cancel)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from finetune_kit.platform.records import UploadRecord
from finetune_kit.platform.routes._base import Context, multipart, ok, route
from finetune_kit.platform.routes.files import FILE_PURPOSES
from finetune_kit.platform.validation import check_file
from finetune_kit.platform.wire import ApiError, Request, Response

if TYPE_CHECKING:
    from finetune_kit.platform.state import PlatformState

__all__: list[str] = []

_MAX_UPLOAD_BYTES = 8 * 1024 * 1024 * 1024


_MAX_PART_BYTES = 64 * 1024 * 1024


@route("POST", "uploads", "uploads.create")
def uploads_create(api: PlatformState, req: Request, ctx: Context) -> Response:
    """POST /uploads."""
    body = req.json()
    for key in ("bytes", "filename", "mime_type", "purpose"):
        if key not in body:
            raise ApiError.missing(key)
    size = body["bytes"]
    if not isinstance(size, int) or not 0 < size <= _MAX_UPLOAD_BYTES:
        raise ApiError(400, "Invalid 'bytes': an Upload holds 1 byte to 8 GB.", param="bytes")
    if body["purpose"] not in FILE_PURPOSES:
        raise ApiError(400, f"Invalid value for 'purpose': {body['purpose']!r}.", param="purpose")
    now = api.now()
    record = UploadRecord(
        id=api.new_id("upload_"),
        filename=str(body["filename"]),
        purpose=str(body["purpose"]),
        mime_type=str(body["mime_type"]),
        declared_bytes=size,
        created_at=int(now),
        expires_at=int(now + api.timing.upload_expiry),
    )
    api.uploads[record.id] = record
    return ok(record.to_api(now))


def _upload(api: PlatformState, upload_id: str) -> UploadRecord:
    record = api.uploads.get(upload_id)
    if record is None:
        raise ApiError(404, f"No such Upload object: {upload_id}", param="upload_id")
    status = record.current_status(api.now())
    if status != "pending":
        raise ApiError(
            400,
            f"Upload {upload_id} is {status}: it can't be changed.",
            param="upload_id",
            code="invalid_upload_state",
        )
    return record


@route("POST", "uploads/{id}/parts", "uploads.parts")
def uploads_parts(api: PlatformState, req: Request, ctx: Context) -> Response:
    """POST /uploads/{id}/parts (multipart: data)."""
    record = _upload(api, ctx.params["id"])
    fields = multipart(req)
    if "data" not in fields:
        raise ApiError(400, "Missing required parameter: 'data'.", param="data")
    data = fields["data"][1]
    if len(data) > _MAX_PART_BYTES:
        raise ApiError(400, "A part holds at most 64 MB.", param="data")
    part_id = api.new_id("part_")
    record.parts[part_id] = data
    return ok(
        {
            "id": part_id,
            "object": "upload.part",
            "created_at": int(api.now()),
            "upload_id": record.id,
        }
    )


@route("POST", "uploads/{id}/complete", "uploads.complete")
def uploads_complete(api: PlatformState, req: Request, ctx: Context) -> Response:
    """POST /uploads/{id}/complete (part_ids in order, md5 optional)."""
    record = _upload(api, ctx.params["id"])
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
    file = api.add_file(
        content,
        filename=record.filename,
        purpose=record.purpose,
        error=check_file(content, record.purpose, record.filename),
    )
    record.status = "completed"
    record.file_id = file.id
    now = api.now()
    return ok(record.to_api(now, file.to_api(now, ctx.flavor)))


@route("POST", "uploads/{id}/cancel", "uploads.cancel")
def uploads_cancel(api: PlatformState, req: Request, ctx: Context) -> Response:
    """POST /uploads/{id}/cancel."""
    record = _upload(api, ctx.params["id"])
    record.status = "cancelled"
    return ok(record.to_api(api.now()))
