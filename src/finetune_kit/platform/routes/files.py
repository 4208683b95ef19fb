"""Files: upload (multipart), list, retrieve, content, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from finetune_kit.platform.routes._base import Context, multipart, ok, page, route
from finetune_kit.platform.validation import check_file
from finetune_kit.platform.wire import ApiError, Request, Response

if TYPE_CHECKING:
    from finetune_kit.platform.state import PlatformState

__all__ = ["FILE_PURPOSES"]

FILE_PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision", "user_data", "evals"})


_MAX_FILE_BYTES = 512 * 1024 * 1024


@route("POST", "files", "files.create")
def files_create(api: PlatformState, req: Request, ctx: Context) -> Response:
    """POST /files (multipart: file, purpose)."""
    fields = multipart(req)
    purpose = fields.get("purpose", (None, b""))[1].decode()
    if "file" not in fields:
        raise ApiError.missing("file")
    if purpose not in FILE_PURPOSES:
        raise ApiError(
            400, f"Invalid value for 'purpose': {purpose!r}.", param="purpose", code="invalid_value"
        )
    filename, content = fields["file"]
    filename = filename or "upload"
    if len(content) > _MAX_FILE_BYTES:
        raise ApiError(
            413, "File is too large: the limit is 512 MB. Use the Uploads API.", param="file"
        )
    return ok(
        api.add_file(
            content,
            filename=filename,
            purpose=purpose,
            error=check_file(content, purpose, filename),
        ).to_api(api.now(), ctx.flavor)
    )


@route("GET", "files", "files.list")
def files_list(api: PlatformState, req: Request, ctx: Context) -> Response:
    """GET /files (purpose, order, after, limit)."""
    purpose = req.param("purpose")
    order = req.param("order") or "desc"
    if order not in ("asc", "desc"):
        raise ApiError(400, "Invalid 'order': expected 'asc' or 'desc'.", param="order")
    now = api.now()
    items = [
        f for f in api.files.values() if not f.deleted and (purpose is None or f.purpose == purpose)
    ]
    # Newest first breaks same-second ties by creation order too (dicts keep insertion order).
    if order == "desc":
        items.reverse()
    items.sort(key=lambda f: f.created_at, reverse=order == "desc")
    return page([f.to_api(now, ctx.flavor) for f in items], req, default_limit=10_000, ids=True)


@route("GET", "files/{id}", "files.retrieve")
def files_retrieve(api: PlatformState, req: Request, ctx: Context) -> Response:
    """GET /files/{id}."""
    return ok(api.file(ctx.params["id"]).to_api(api.now(), ctx.flavor))


@route("DELETE", "files/{id}", "files.delete")
def files_delete(api: PlatformState, req: Request, ctx: Context) -> Response:
    """DELETE /files/{id}."""
    record = api.file(ctx.params["id"])
    record.deleted = True
    return ok({"id": record.id, "object": "file", "deleted": True})


@route("GET", "files/{id}/content", "files.content")
def files_content(api: PlatformState, req: Request, ctx: Context) -> Response:
    """GET /files/{id}/content."""
    record = api.file(ctx.params["id"])
    return Response(200, {"content-type": "application/octet-stream"}, record.content)
