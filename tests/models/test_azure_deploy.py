"""Deploying on Azure: the exact management-API request, waiting, and clear failures (respx).

Each test runs `deploy` and its async twin `adeploy` (and `TunedModel.deploy` and
`AsyncTunedModel.deploy`) through one body.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from finetune_kit import (
    AsyncTunedModel,
    ConfigurationError,
    ProviderError,
    TunedModel,
    WaitTimeoutError,
)
from finetune_kit.azure import Deployment, adeploy, deploy, management_token
from finetune_kit.testing import Simulator

FLAVOURS = pytest.mark.parametrize("flavour", ["sync", "async"])

TARGET = Deployment(
    subscription_id="sub-1",
    resource_group="rg-ml",
    account="contoso-aoai",
    name="elle-prod",
    sku="developer",
    capacity=2,
)
URL = (
    "https://management.azure.com/subscriptions/sub-1/resourceGroups/rg-ml/providers/"
    "Microsoft.CognitiveServices/accounts/contoso-aoai/deployments/elle-prod"
)
MODEL = "gpt-4o-mini-2024-07-18.ft-0123456789abcdef0123456789abcdef"


class Sleeps(list[float]):
    """The waits asked for, recorded instead of slept (`sync` or `asleep`, by flavour)."""

    def sync(self, seconds: float) -> None:
        self.append(seconds)

    async def asleep(self, seconds: float) -> None:
        self.append(seconds)


async def _deploy(
    flavour: str, *args: Any, sleep: Sleeps | None = None, **kwargs: Any
) -> dict[str, Any]:
    """`deploy(...)` or `await adeploy(...)`, waits recorded in `sleep`."""
    sleep = Sleeps() if sleep is None else sleep
    if flavour == "sync":
        return deploy(*args, sleep=sleep.sync, **kwargs)
    return await adeploy(*args, sleep=sleep.asleep, **kwargs)


def _resource(state: str) -> dict[str, object]:
    return {
        "id": "/subscriptions/sub-1/.../elle-prod",
        "name": "elle-prod",
        "properties": {"provisioningState": state},
    }


@pytest.mark.anyio
@FLAVOURS
async def test_put_has_the_exact_url_api_version_body_and_bearer_token(flavour: str) -> None:
    """One PUT to the deployment's ARM URL, api-version 2024-10-21, the model in the body."""
    slept = Sleeps()
    with respx.mock(using="httpcore2", assert_all_called=True) as router:
        put = router.put(URL, params={"api-version": "2024-10-21"}).respond(
            201, json=_resource("Creating")
        )
        get = router.get(URL, params={"api-version": "2024-10-21"}).mock(
            side_effect=[
                httpx.Response(200, json=_resource("Creating")),
                httpx.Response(200, json=_resource("Succeeded")),
            ]
        )
        resource = await _deploy(flavour, MODEL, TARGET, token="arm-token-123", sleep=slept)
    request = put.calls.last.request
    assert request.headers["authorization"] == "Bearer arm-token-123"
    assert json.loads(request.content) == {
        "sku": {"name": "developer", "capacity": 2},
        "properties": {"model": {"format": "OpenAI", "name": MODEL, "version": "1"}},
    }
    assert get.call_count == 2
    assert slept == [15.0, 15.0]
    assert resource["properties"] == {"provisioningState": "Succeeded"}


@pytest.mark.anyio
@FLAVOURS
async def test_tuned_model_deploy_returns_a_model_bound_to_the_deployment(flavour: str) -> None:
    """`TunedModel.deploy()` returns a fresh model of the same kind whose id is the deployment
    name (what Azure calls), keeping the job and `on_wait`."""
    sim = Simulator()
    on_wait = print
    with respx.mock(using="httpcore2") as router:
        router.put(URL, params={"api-version": "2024-10-21"}).respond(
            200, json=_resource("Succeeded")
        )
        if flavour == "sync":
            model = TunedModel(
                sim.azure_client(max_retries=0), MODEL, sleep=sim.clock.sleep, on_wait=on_wait
            )
            deployed: TunedModel | AsyncTunedModel = model.deploy(
                TARGET, token=lambda: "from-a-callable"
            )
        else:
            amodel = AsyncTunedModel(
                sim.async_azure_client(max_retries=0),
                MODEL,
                sleep=sim.clock.asleep,
                on_wait=on_wait,
            )
            deployed = await amodel.deploy(TARGET, token=lambda: "from-a-callable")
        assert router.calls.last.request.headers["authorization"] == "Bearer from-a-callable"
    assert type(deployed) is (TunedModel if flavour == "sync" else AsyncTunedModel)
    assert (deployed.id, deployed.fresh, deployed.on_wait) == ("elle-prod", True, on_wait)


@pytest.mark.anyio
@FLAVOURS
async def test_a_failed_deployment_raises_with_the_state(flavour: str) -> None:
    """`provisioningState: Failed` raises ProviderError naming the deployment and the model."""
    with respx.mock(using="httpcore2") as router:
        router.put(URL, params={"api-version": "2024-10-21"}).respond(200, json=_resource("Failed"))
        with pytest.raises(ProviderError, match=r"deployment elle-prod of .* ended Failed"):
            await _deploy(flavour, MODEL, TARGET, token="t")


@pytest.mark.anyio
@FLAVOURS
async def test_an_arm_error_is_explained(flavour: str) -> None:
    """A 403 from the management API becomes ProviderError with Azure's code and message."""
    body = {
        "error": {
            "code": "AuthorizationFailed",
            "message": "The client does not have authorization",
        }
    }
    with respx.mock(using="httpcore2") as router:
        router.put(URL, params={"api-version": "2024-10-21"}).respond(403, json=body)
        with pytest.raises(ProviderError) as caught:
            await _deploy(flavour, MODEL, TARGET, token="secret-arm-token")
    assert caught.value.code == "AuthorizationFailed"
    assert caught.value.status_code == 403
    assert "does not have authorization (HTTP 403)" in str(caught.value)
    assert "secret-arm-token" not in str(caught.value)


@pytest.mark.anyio
@FLAVOURS
async def test_waiting_has_a_cap(flavour: str) -> None:
    """A deployment stuck in Creating past `timeout` raises WaitTimeoutError."""
    slept = Sleeps()
    with respx.mock(using="httpcore2") as router:
        router.put(URL, params={"api-version": "2024-10-21"}).respond(
            201, json=_resource("Creating")
        )
        router.get(URL, params={"api-version": "2024-10-21"}).respond(
            200, json=_resource("Creating")
        )
        with pytest.raises(WaitTimeoutError) as caught:
            await _deploy(flavour, MODEL, TARGET, token="t", timeout=40, sleep=slept)
    assert slept == [15.0, 15.0, 10.0]
    assert caught.value.waited == 40.0


def test_no_token_and_no_azure_identity_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without token= and without azure-identity, the error names both fixes."""
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("azure"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ConfigurationError, match=r"pass token=.*install azure-identity"):
        management_token(None)
