"""Deploying a fine-tuned model on Azure OpenAI, through the Azure management API.

On Azure a tuned model serves nothing until it is deployed. Deployments of fine-tuned models
(except the Developer tier) are billed by the hour whether used or not, and a deployment that
gets no completion calls for 15 days is deleted automatically (the model itself stays).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2

from finetune_kit._core.redact import redact
from finetune_kit.exceptions import ConfigurationError, ProviderError, WaitTimeoutError

__all__ = [
    "MANAGEMENT_URL",
    "Deployment",
    "adeploy",
    "deploy",
    "deployment_url",
    "management_token",
]

MANAGEMENT_URL = "https://management.azure.com"
API_VERSION = "2024-10-21"
SCOPE = "https://management.azure.com/.default"
TokenSource = str | Callable[[], str] | None


@dataclass(frozen=True, slots=True)
class Deployment:
    """Where to deploy: the Azure resource and the deployment's name and size."""

    subscription_id: str
    resource_group: str
    account: str
    """The Azure OpenAI (Foundry) resource name."""
    name: str
    """The deployment name: what `chat.completions.create(model=...)` will take."""
    sku: str = "standard"
    """`standard`, `globalstandard`, `developer` (no hosting fee, 24 h lifetime), ..."""
    capacity: int = 1


def deployment_url(target: Deployment, *, base: str = MANAGEMENT_URL) -> str:
    """The management API URL of a deployment."""
    return (
        f"{base.rstrip('/')}/subscriptions/{target.subscription_id}/resourceGroups/"
        f"{target.resource_group}/providers/Microsoft.CognitiveServices/accounts/"
        f"{target.account}/deployments/{target.name}"
    )


def deployment_body(model_id: str, target: Deployment) -> dict[str, Any]:
    """The PUT body that deploys `model_id` (a fine-tuned model or an `ftchkpt-` checkpoint)."""
    return {
        "sku": {"name": target.sku, "capacity": target.capacity},
        "properties": {"model": {"format": "OpenAI", "name": model_id, "version": "1"}},
    }


def management_token(token: TokenSource) -> str:
    """A bearer token for the management API: given, from a callable, or from azure-identity.

    Raises:
        ConfigurationError: No token given and azure-identity is not installed.
    """
    if isinstance(token, str):
        return token
    if token is not None:
        return token()
    try:
        from azure.identity import DefaultAzureCredential  # noqa: PLC0415 - an optional extra
    except ImportError:
        raise ConfigurationError(
            "deploying needs an Azure management token: pass token= (a string, or a callable "
            "returning one, e.g. from `az account get-access-token`), or install azure-identity "
            "(`pip install 'finetune-kit[azure]'`)"
        ) from None
    return str(DefaultAzureCredential().get_token(SCOPE).token)


class _Plan:
    """The deployment's requests and waits, free of I/O: the same for `deploy` and `adeploy`."""

    def __init__(
        self,
        model_id: str,
        target: Deployment,
        *,
        token: TokenSource,
        timeout: float,
        poll: float,
        api_version: str,
        base_url: str,
    ) -> None:
        self.model_id = model_id
        self.target = target
        self.url = deployment_url(target, base=base_url)
        self.bearer = management_token(token)
        self.headers = {
            "authorization": f"Bearer {self.bearer}",
            "content-type": "application/json",
        }
        self.params = {"api-version": api_version}
        self.timeout = timeout
        self.poll = poll
        self.waited = 0.0

    def request(self, method: str, **kwargs: Any) -> dict[str, Any]:
        """The keyword arguments of `client.request` for `method`."""
        return {
            "method": method,
            "url": self.url,
            "params": self.params,
            "headers": self.headers,
            **kwargs,
        }

    def create(self) -> dict[str, Any]:
        """The PUT that creates (or updates) the deployment."""
        return self.request("PUT", json=deployment_body(self.model_id, self.target))

    def unreachable(self, exc: httpx2.TransportError) -> ProviderError:
        """The error for a request that got no answer."""
        return _unreachable(exc, self.url, self.bearer)

    def checked(self, response: httpx2.Response) -> dict[str, Any]:
        """The resource an answer carries (or `ProviderError`)."""
        return _arm_body(response, self.target, self.bearer)

    def next_wait(self, resource: dict[str, Any]) -> float | None:
        """Seconds to wait before polling again; None: done (`Succeeded`).

        Raises:
            ProviderError: The deployment ended `Failed` or `Canceled`.
            WaitTimeoutError: Still not `Succeeded` after `timeout`.
        """
        state = _state(resource)
        if state == "Succeeded":
            return None
        if state in ("Failed", "Canceled"):
            raise ProviderError(
                f"the deployment {self.target.name} of {self.model_id} ended {state}", code=state
            )
        if self.waited >= self.timeout:
            raise WaitTimeoutError(
                f"the deployment {self.target.name} was still {state} after {self.waited:,.0f} s",
                job=None,
                waited=self.waited,
            )
        step = min(self.poll, self.timeout - self.waited)
        self.waited += step
        return step


def deploy(
    model_id: str,
    target: Deployment,
    *,
    token: TokenSource = None,
    wait: bool = True,
    timeout: float = 1800.0,
    poll: float = 15.0,
    api_version: str = API_VERSION,
    base_url: str = MANAGEMENT_URL,
    http_client: httpx2.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Create (or update) the deployment of a tuned model; return the deployment resource.

    With `wait`, polls until `provisioningState` is `Succeeded` (raising `ProviderError` on
    `Failed`/`Canceled` and `WaitTimeoutError` after `timeout`).

    Raises:
        ProviderError: Azure refused, answered something else than the management API, or
            could not be reached (no network, DNS, timeout); the token never appears in it.
        WaitTimeoutError: Still not `Succeeded` after `timeout`.
    """
    plan = _Plan(
        model_id,
        target,
        token=token,
        timeout=timeout,
        poll=poll,
        api_version=api_version,
        base_url=base_url,
    )
    client = http_client or httpx2.Client(timeout=60.0)

    def call(request: dict[str, Any]) -> dict[str, Any]:
        try:
            response = client.request(**request)
        except httpx2.TransportError as exc:
            raise plan.unreachable(exc) from exc
        return plan.checked(response)

    try:
        resource = call(plan.create())
        while wait and (step := plan.next_wait(resource)) is not None:
            sleep(step)
            resource = call(plan.request("GET"))
        return resource
    finally:
        if http_client is None:
            client.close()


async def adeploy(
    model_id: str,
    target: Deployment,
    *,
    token: TokenSource = None,
    wait: bool = True,
    timeout: float = 1800.0,  # noqa: ASYNC109 - bounds the polling, as in `deploy`
    poll: float = 15.0,
    api_version: str = API_VERSION,
    base_url: str = MANAGEMENT_URL,
    http_client: httpx2.AsyncClient | None = None,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> dict[str, Any]:
    """The async twin of `deploy`: the same requests, through an `httpx2.AsyncClient`.

    The token (a string, a callable, or azure-identity's `DefaultAzureCredential`) is read
    synchronously, once, before the first request.

    Raises:
        ProviderError: As `deploy`.
        WaitTimeoutError: Still not `Succeeded` after `timeout`.
    """
    plan = _Plan(
        model_id,
        target,
        token=token,
        timeout=timeout,
        poll=poll,
        api_version=api_version,
        base_url=base_url,
    )
    client = http_client or httpx2.AsyncClient(timeout=60.0)

    async def call(request: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await client.request(**request)
        except httpx2.TransportError as exc:
            raise plan.unreachable(exc) from exc
        return plan.checked(response)

    try:
        resource = await call(plan.create())
        while wait and (step := plan.next_wait(resource)) is not None:
            await sleep(step)
            resource = await call(plan.request("GET"))
        return resource
    finally:
        if http_client is None:
            await client.aclose()


def _state(resource: dict[str, Any]) -> str:
    return str((resource.get("properties") or {}).get("provisioningState", "Unknown"))


def _unreachable(exc: httpx2.TransportError, url: str, bearer: str) -> ProviderError:
    """No answer at all: no network, a name that does not resolve, a timeout..."""
    parts = httpx2.URL(url)
    kind = "timed out" if isinstance(exc, httpx2.TimeoutException) else "connection failed"
    detail = redact(str(exc), [bearer])
    return ProviderError(
        f"cannot reach {parts.scheme}://{parts.host} ({kind}"
        + (f": {detail}" if detail else "")
        + "): check the network (deploying talks to the Azure management API)"
    )


def _arm_body(response: httpx2.Response, target: Deployment, bearer: str) -> dict[str, Any]:
    """The JSON object an Azure management (ARM) answer carries; else its `ProviderError`."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code >= 400:
        error = data.get("error") if isinstance(data, dict) else None
        error = error if isinstance(error, dict) else {}
        message = redact(str(error.get("message") or response.reason_phrase), [bearer])
        raise ProviderError(
            f"Azure refused the deployment {target.name}: {message} (HTTP {response.status_code})",
            code=error.get("code"),
            status_code=response.status_code,
        )
    if not isinstance(data, dict):
        content_type = response.headers.get("content-type") or "no content type"
        raise ProviderError(
            f"{str(response.request.url).split('?', 1)[0]} did not answer like the Azure "
            f"management API (HTTP {response.status_code}, {content_type.split(';')[0]})",
            status_code=response.status_code,
        )
    return data
