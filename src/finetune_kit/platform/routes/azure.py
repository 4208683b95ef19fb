"""Azure's management API (management.azure.com): deployments, put, get, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from finetune_kit.platform.answering import azure_error
from finetune_kit.platform.records import DeploymentRecord
from finetune_kit.platform.routes._base import Context, ok, route
from finetune_kit.platform.wire import ApiError, Request, Response

if TYPE_CHECKING:
    from finetune_kit.platform.state import PlatformState

__all__ = ["ARM_PATH"]

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


def _arm_checked(req: Request) -> None:
    """ARM's own checks: a bearer token, an api-version."""
    auth = req.headers.get("authorization", "")
    if not (auth.startswith("Bearer ") and auth[7:].strip()):
        raise azure_error(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        )
    if not req.param("api-version"):
        raise azure_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )


def _deployable(api: PlatformState, model: str) -> bool:
    """Whether the resource has `model`: a tuned model, a kept checkpoint, or a base model."""
    try:
        api.find_model(api.aliases.get(model, model))
    except ApiError:
        return False
    return True


@route("PUT", ARM_PATH, "deployments.create")
def deployments_put(api: PlatformState, req: Request, ctx: Context) -> Response:
    """PUT .../deployments/{name}: deploy a model (it serves after `Timing.deploying`)."""
    _arm_checked(req)
    body = req.json()
    properties = body.get("properties") if isinstance(body, dict) else None
    model = (properties or {}).get("model") if isinstance(properties, dict) else None
    name = model.get("name") if isinstance(model, dict) else None
    if not isinstance(name, str) or not name:
        raise azure_error(
            400,
            "InvalidRequestContent",
            "The request content is invalid: 'properties.model.name' is required.",
        )
    if not _deployable(api, name):
        raise azure_error(
            400,
            "DeploymentModelNotSupported",
            f"The model '{name}' is not found on this resource, or can't be deployed.",
        )
    sku = body.get("sku") if isinstance(body.get("sku"), dict) else {"name": "Standard"}
    deployment = ctx.params["name"]
    existed = deployment in api.arm_deployments
    record = DeploymentRecord(
        resource_id=_arm_resource_id(ctx),
        name=deployment,
        model=name,
        sku=dict(sku),
        ready_at=api.now() + api.timing.deploying,
    )
    api.arm_deployments[deployment] = record
    api.deployments[deployment] = name
    return Response.of_json(record.to_api(api.now()), status=200 if existed else 201)


def _arm_deployment(api: PlatformState, ctx: Context) -> DeploymentRecord:
    name = ctx.params["name"]
    record = api.arm_deployments.get(name)
    if record is None and name in api.deployments:  # set in `api.deployments` directly
        record = DeploymentRecord(
            _arm_resource_id(ctx), name, api.deployments[name], {"name": "Standard"}, 0.0
        )
    if record is None:
        raise azure_error(
            404, "DeploymentNotFound", f"The deployment '{name}' was not found on this resource."
        )
    return record


@route("GET", ARM_PATH, "deployments.retrieve")
def deployments_get(api: PlatformState, req: Request, ctx: Context) -> Response:
    """GET .../deployments/{name}: the deployment, `Creating` until it serves."""
    _arm_checked(req)
    return ok(_arm_deployment(api, ctx).to_api(api.now()))


@route("DELETE", ARM_PATH, "deployments.delete")
def deployments_delete(api: PlatformState, req: Request, ctx: Context) -> Response:
    """DELETE .../deployments/{name}: it stops serving at once (the model stays)."""
    _arm_checked(req)
    name = _arm_deployment(api, ctx).name
    api.arm_deployments.pop(name, None)
    api.deployments.pop(name, None)
    return Response(200, {}, b"")
