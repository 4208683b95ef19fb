"""Deploying on Azure: the exact management-API request, waiting, and clear failures (respx)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from finetune_kit import ConfigurationError, ProviderError, TunedModel, WaitTimeoutError
from finetune_kit.azure import Deployment, deploy, management_token
from finetune_kit.testing import Simulator

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


def _resource(state: str) -> dict[str, object]:
    return {
        "id": "/subscriptions/sub-1/.../elle-prod",
        "name": "elle-prod",
        "properties": {"provisioningState": state},
    }


def test_put_has_the_exact_url_api_version_body_and_bearer_token() -> None:
    """One PUT to the deployment's ARM URL, api-version 2024-10-21, the model in the body."""
    slept: list[float] = []
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
        resource = deploy(MODEL, TARGET, token="arm-token-123", sleep=slept.append)
    request = put.calls.last.request
    assert request.headers["authorization"] == "Bearer arm-token-123"
    assert json.loads(request.content) == {
        "sku": {"name": "developer", "capacity": 2},
        "properties": {"model": {"format": "OpenAI", "name": MODEL, "version": "1"}},
    }
    assert get.call_count == 2
    assert slept == [15.0, 15.0]
    assert resource["properties"] == {"provisioningState": "Succeeded"}


def test_tuned_model_deploy_returns_a_model_bound_to_the_deployment() -> None:
    """`TunedModel.deploy()` returns a model whose id is the deployment name (what Azure calls)."""
    sim = Simulator()
    model = TunedModel(sim.azure_client(max_retries=0), MODEL, sleep=sim.clock.sleep)
    with respx.mock(using="httpcore2") as router:
        router.put(URL, params={"api-version": "2024-10-21"}).respond(
            200, json=_resource("Succeeded")
        )
        deployed = model.deploy(TARGET, token=lambda: "from-a-callable")
        assert router.calls.last.request.headers["authorization"] == "Bearer from-a-callable"
    assert deployed.id == "elle-prod"


def test_a_failed_deployment_raises_with_the_state() -> None:
    """`provisioningState: Failed` raises ProviderError naming the deployment and the model."""
    with respx.mock(using="httpcore2") as router:
        router.put(URL, params={"api-version": "2024-10-21"}).respond(200, json=_resource("Failed"))
        with pytest.raises(ProviderError, match=r"deployment elle-prod of .* ended Failed"):
            deploy(MODEL, TARGET, token="t", sleep=lambda _s: None)


def test_an_arm_error_is_explained() -> None:
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
            deploy(MODEL, TARGET, token="secret-arm-token")
    assert caught.value.code == "AuthorizationFailed"
    assert caught.value.status_code == 403
    assert "does not have authorization (HTTP 403)" in str(caught.value)
    assert "secret-arm-token" not in str(caught.value)


def test_waiting_has_a_cap() -> None:
    """A deployment stuck in Creating past `timeout` raises WaitTimeoutError."""
    slept: list[float] = []
    with respx.mock(using="httpcore2") as router:
        router.put(URL, params={"api-version": "2024-10-21"}).respond(
            201, json=_resource("Creating")
        )
        router.get(URL, params={"api-version": "2024-10-21"}).respond(
            200, json=_resource("Creating")
        )
        with pytest.raises(WaitTimeoutError) as caught:
            deploy(MODEL, TARGET, token="t", timeout=40, sleep=slept.append)
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
