"""The simulator's Azure flavour: a tuned model serves only through a deployment.

Deployments are made through Azure's management API, which the simulator answers too (the
`PUT .../deployments/{name}` that `TunedModel.deploy` sends), or set in `sim.deployments`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletion

from finetune_kit import AsyncTunedModel, ModelNotFoundError, TunedModel
from finetune_kit.azure import Deployment, deployment_url
from finetune_kit.testing import Simulator, Timing
from tests.testing._sim_helpers import HELIUM, MODEL, ready_file

AZURE_ENDPOINT = "https://simulator.openai.azure.com"
HELIUM_Q: list[Any] = [{"role": "user", "content": "Tell me about Helium"}]
TARGET = Deployment("sub-1", "rg-ml", "contoso-aoai", "elle-prod", sku="developer")
RESOURCE_ID = (
    "/subscriptions/sub-1/resourceGroups/rg-ml/providers/Microsoft.CognitiveServices/accounts/"
    "contoso-aoai/deployments/elle-prod"
)
NOT_FOUND_MESSAGE = (
    "The API deployment for this resource does not exist. If you created the deployment within "
    "the last 5 minutes, please wait a moment and try again. (Simulator: no deployment named "
    "{name!r} serves yet: deploy the model first, e.g. TunedModel.deploy.)"
)
ARM = {"api-version": "2024-10-21"}
BEARER = {"authorization": "Bearer arm-token"}


def _tuned_on_azure(sim: Simulator) -> str:
    """Train Elle on the Azure paths; the tuned model's `<base>.ft-<hex>` name."""
    azure = sim.azure_client(max_retries=0)
    job = azure.fine_tuning.jobs.create(model=MODEL, training_file=ready_file(sim, azure))
    sim.clock.sleep(1000)
    done = azure.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    assert done.fine_tuned_model is not None
    return done.fine_tuned_model


def _not_found(err: openai.NotFoundError, name: str) -> None:
    """Azure's 404 for a missing deployment, exactly: its own shape (no type, no param)."""
    assert err.status_code == 404
    assert err.code == "DeploymentNotFound"
    assert err.response.json() == {
        "error": {"code": "DeploymentNotFound", "message": NOT_FOUND_MESSAGE.format(name=name)}
    }


def test_a_tuned_model_does_not_answer_before_it_is_deployed() -> None:
    """Chat with the tuned model's name, or an unknown deployment: 404 DeploymentNotFound."""
    sim = Simulator()
    tuned = _tuned_on_azure(sim)
    azure = sim.azure_client(max_retries=0)
    for name in (tuned, "elle-prod"):
        with pytest.raises(openai.NotFoundError) as err:
            azure.chat.completions.create(model=name, messages=HELIUM_Q)
        _not_found(err.value, name)
    assert {path for _, path, _ in sim.log[-2:]} == {"chat.create"}


def test_the_v1_surface_needs_the_deployment_too() -> None:
    """`OpenAI(base_url=<resource>/openai/v1/)`: the model is a deployment name as well."""
    sim = Simulator()
    tuned = _tuned_on_azure(sim)
    v1 = sim.client(base_url=f"{AZURE_ENDPOINT}/openai/v1/", max_retries=0)
    with pytest.raises(openai.NotFoundError) as err:
        v1.chat.completions.create(model=tuned, messages=HELIUM_Q)
    _not_found(err.value, tuned)
    sim.deployments["elle-prod"] = tuned
    reply = v1.chat.completions.create(model="elle-prod", messages=HELIUM_Q)
    assert (reply.model, reply.choices[0].message.content) == (tuned, HELIUM)


def test_openai_paths_need_no_deployment() -> None:
    """On OpenAI's paths a tuned model answers by its name, as it does there."""
    sim = Simulator()
    tuned = _tuned_on_azure(sim)
    reply = sim.client(max_retries=0).chat.completions.create(model=tuned, messages=HELIUM_Q)
    assert reply.choices[0].message.content == HELIUM


def test_base_models_are_deployed_under_their_own_names() -> None:
    """A base model answers on Azure by its name (or alias), as if deployed under it."""
    sim = Simulator()
    azure = sim.azure_client(max_retries=0)
    for name, model in ((MODEL, MODEL), ("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14")):
        reply = azure.chat.completions.create(model=name, messages=HELIUM_Q)
        assert reply.model == model
    with pytest.raises(openai.NotFoundError) as err:
        azure.chat.completions.create(model="gpt-9-ultra", messages=HELIUM_Q)
    _not_found(err.value, "gpt-9-ultra")


@pytest.mark.anyio
@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_tuned_model_deploy_through_the_simulated_management_api(flavour: str) -> None:
    """`TunedModel.deploy` (and `AsyncTunedModel.deploy`) PUTs, polls until `Succeeded` (60 s),
    then chats via the deployment."""
    sim = Simulator()
    tuned = _tuned_on_azure(sim)
    before = sim.clock.now()
    if flavour == "sync":
        model = TunedModel(sim.azure_client(max_retries=0), tuned, sleep=sim.clock.sleep)
        with httpx2.Client(transport=sim.transport("httpx2")) as management:
            deployed: TunedModel | AsyncTunedModel = model.deploy(
                TARGET, token="arm-token", http_client=management
            )
    else:
        amodel = AsyncTunedModel(
            sim.async_azure_client(max_retries=0), tuned, sleep=sim.clock.asleep
        )
        async with httpx2.AsyncClient(transport=sim.async_transport("httpx2")) as management:
            deployed = await amodel.deploy(TARGET, token="arm-token", http_client=management)
    assert (deployed.id, deployed.fresh) == ("elle-prod", True)
    assert sim.clock.now() - before == 60  # 4 polls of 15 s
    assert [route for _, route, _ in sim.log[-5:]] == [
        "deployments.create",
        *["deployments.retrieve"] * 4,
    ]
    assert [status for _, _, status in sim.log[-5:]] == [201, 200, 200, 200, 200]
    assert sim.deployments == {"elle-prod": tuned}
    reply = deployed.chat("Tell me about Helium")
    if not isinstance(reply, ChatCompletion):
        reply = await reply
    assert (reply.model, reply.choices[0].message.content) == (tuned, HELIUM)


def test_the_deployment_serves_only_once_provisioned() -> None:
    """`Creating` for `Timing.deploying` seconds, answering 404 meanwhile; then `Succeeded`."""
    sim = Simulator(timing=Timing(deploying=300))
    tuned = _tuned_on_azure(sim)
    azure = sim.azure_client(max_retries=0)
    body = {
        "sku": {"name": "developer", "capacity": 1},
        "properties": {"model": {"format": "OpenAI", "name": tuned, "version": "1"}},
    }
    resource = {
        "id": RESOURCE_ID,
        "type": "Microsoft.CognitiveServices/accounts/deployments",
        "name": "elle-prod",
        "sku": {"name": "developer", "capacity": 1},
        "properties": {
            "model": {"format": "OpenAI", "name": tuned, "version": "1"},
            "provisioningState": "Creating",
        },
    }
    url = deployment_url(TARGET)
    with httpx2.Client(transport=sim.transport("httpx2")) as arm:
        created = arm.put(url, params=ARM, headers=BEARER, json=body)
        assert (created.status_code, created.json()) == (201, resource)
        sim.clock.sleep(299)
        with pytest.raises(openai.NotFoundError) as err:
            azure.chat.completions.create(model="elle-prod", messages=HELIUM_Q)
        _not_found(err.value, "elle-prod")
        assert arm.get(url, params=ARM, headers=BEARER).json() == resource
        sim.clock.sleep(1)
        done = arm.get(url, params=ARM, headers=BEARER).json()
        assert done["properties"]["provisioningState"] == "Succeeded"
        reply = azure.chat.completions.create(model="elle-prod", messages=HELIUM_Q)
        assert reply.choices[0].message.content == HELIUM
        again = arm.put(url, params=ARM, headers=BEARER, json=body)
        assert again.status_code == 200  # an update


def test_deleting_the_deployment_stops_it_serving() -> None:
    """DELETE: chat answers 404 again, GET too; the model itself stays."""
    sim = Simulator()
    tuned = _tuned_on_azure(sim)
    sim.deployments["elle-prod"] = tuned
    url = deployment_url(TARGET)
    with httpx2.Client(transport=sim.transport("httpx2")) as arm:
        assert arm.get(url, params=ARM, headers=BEARER).json()["properties"] == {
            "model": {"format": "OpenAI", "name": tuned, "version": "1"},
            "provisioningState": "Succeeded",
        }
        assert arm.delete(url, params=ARM, headers=BEARER).status_code == 200
        gone = arm.get(url, params=ARM, headers=BEARER)
    assert (gone.status_code, gone.json()) == (
        404,
        {
            "error": {
                "code": "DeploymentNotFound",
                "message": "The deployment 'elle-prod' was not found on this resource.",
            }
        },
    )
    with pytest.raises(openai.NotFoundError):
        sim.azure_client(max_retries=0).chat.completions.create(
            model="elle-prod", messages=HELIUM_Q
        )
    assert sim.azure_client().models.retrieve(tuned).id == tuned


@pytest.mark.parametrize(
    ("headers", "params", "body", "status", "error"),
    [
        ({}, ARM, {}, 401, {"code": "AuthenticationFailed",
         "message": "Authentication failed. The 'Authorization' header is missing."}),
        (BEARER, {}, {}, 400, {"code": "MissingApiVersionParameter",
         "message": "The api-version query parameter (?api-version=) is required for all "
         "requests."}),
        (BEARER, ARM, {"sku": {"name": "standard"}}, 400, {"code": "InvalidRequestContent",
         "message": "The request content is invalid: 'properties.model.name' is required."}),
        (BEARER, ARM, {"properties": {"model": {"name": "gpt-4o-mini.ft-nope"}}}, 400,
         {"code": "DeploymentModelNotSupported", "message": "The model 'gpt-4o-mini.ft-nope' is "
          "not found on this resource, or can't be deployed."}),
    ],
)  # fmt: skip
def test_management_api_refusals(
    headers: dict[str, str],
    params: dict[str, str],
    body: dict[str, Any],
    status: int,
    error: dict[str, str],
) -> None:
    """No bearer token, no api-version, no model, an unknown model: ARM's errors, nothing made."""
    sim = Simulator()
    with httpx2.Client(transport=sim.transport("httpx2")) as arm:
        response = arm.put(deployment_url(TARGET), params=params, headers=headers, json=body)
    assert (response.status_code, response.json()) == (status, {"error": error})
    assert (sim.deployments, sim.arm_deployments) == ({}, {})


def test_forgetting_to_deploy_fails_tuned_model_chat() -> None:
    """`TunedModel.chat` on Azure without a deployment: ModelNotFoundError at once, from
    Azure's NotFoundError (as for real), never waited out."""
    sim = Simulator()
    tuned = _tuned_on_azure(sim)
    model = TunedModel(sim.azure_client(max_retries=0), tuned, sleep=sim.clock.sleep)
    with pytest.raises(ModelNotFoundError) as caught:
        model.chat("Tell me about Helium")
    err = caught.value.__cause__
    assert isinstance(err, openai.NotFoundError)
    _not_found(err, tuned)
    assert json.loads(err.response.text)["error"]["code"] == "DeploymentNotFound"
    assert caught.value.code == "DeploymentNotFound"
