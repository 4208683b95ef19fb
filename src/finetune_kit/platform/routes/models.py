"""Models: list (base and tuned), retrieve, delete (tuned only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finetune_kit.platform.jobs import JobRecord
from finetune_kit.platform.routes._base import Context, ok, route
from finetune_kit.platform.wire import ApiError, Request, Response

if TYPE_CHECKING:
    from finetune_kit.platform.state import PlatformState

__all__: list[str] = []


def _model_api(api: PlatformState, name: str, job: JobRecord | None) -> dict[str, Any]:
    base = job.model if job is not None else name
    return {
        "id": name,
        "object": "model",
        "created": job.finished_at if job is not None and job.finished_at else 1_700_000_000,
        "owned_by": api.org_slug if job is not None else "system",
        "shutdown_date": api.shutdown_dates.get(base),
    }


@route("GET", "models", "models.list")
def models_list(api: PlatformState, req: Request, ctx: Context) -> Response:
    """GET /models: base models and this organisation's tuned models."""
    items = [_model_api(api, name, None) for name in api.shutdown_dates]
    items += [_model_api(api, name, job) for name, job in api.tuned_models().items()]
    return ok({"object": "list", "data": items})


@route("GET", "models/{id:path}", "models.retrieve")
def models_retrieve(api: PlatformState, req: Request, ctx: Context) -> Response:
    """GET /models/{model}."""
    name, job = api.find_model(ctx.params["id"])
    return ok(_model_api(api, name, job))


@route("DELETE", "models/{id:path}", "models.delete")
def models_delete(api: PlatformState, req: Request, ctx: Context) -> Response:
    """DELETE /models/{model}: tuned models only."""
    name, job = api.find_model(ctx.params["id"])
    if job is None:
        raise ApiError(
            403,
            "You have insufficient permissions for this operation.",
            code="insufficient_permissions",
        )
    api.deleted_models.add(name)
    return ok({"id": name, "object": "model", "deleted": True})
