"""Secrets a provider echoes never leave, and every failure is a typed error (Python API).

Wire-level fakes (respx) stand for gateways that repeat the key, web pages instead of the API,
a network that is down; the simulator stands for rate limits. No real sleeping: every wait is
on a virtual clock or a list.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import httpx
import httpx2
import openai
import pytest
import respx

from finetune_kit import (
    AsyncTunedModel,
    IncompatibleEndpointError,
    ProviderError,
    RateLimitedError,
    TunedModel,
    compare,
)
from finetune_kit._core.errors import classify
from finetune_kit._core.ready import kind_of
from finetune_kit._core.redact import MIN_SECRET, error_text, message_of, redact, scrub
from finetune_kit.azure import Deployment, adeploy, deploy
from finetune_kit.testing import Simulator
from finetune_kit.testing.adapters import http_library

pytestmark = pytest.mark.anyio

SDK_MOCKER = "httpcore2" if http_library() == "httpx2" else "httpcore"
"""respx's mocker for the SDK's wire: httpx2 on openai>=3, httpx on 2.x (Azure deploy: httpx2)."""

BASE = "http://gateway.internal/v1"
MODEL = "ft:gpt-4o-mini-2024-07-18:acme:elle:AbC123"
GATEWAY_KEY = "gw-7f3a9c1e5b2d"
"""A key not shaped like `sk-...`: only knowing it can remove it."""
HTML = "<!DOCTYPE html><html><body>Sign in to Contoso</body></html>"


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _model(flavour: str, *, key: str = "k-unused", sleep: list[float] | None = None) -> Any:
    """A TunedModel / AsyncTunedModel on BASE whose sleeps are recorded in `sleep`."""
    slept = sleep if sleep is not None else []

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    if flavour == "sync":
        client = openai.OpenAI(api_key=key, base_url=BASE, max_retries=0)
        return TunedModel(client, MODEL, sleep=slept.append, now=lambda: 0.0)
    aclient = openai.AsyncOpenAI(api_key=key, base_url=BASE, max_retries=0)
    return AsyncTunedModel(aclient, MODEL, sleep=asleep, now=lambda: 0.0)


async def _chat(model: Any, **kwargs: Any) -> Any:
    result = model.chat("Hi", **kwargs)
    return await result if isinstance(result, Awaitable) else result


def _echo_401(key: str) -> dict[str, Any]:
    return {"error": {"message": f"Incorrect API key provided: {key}.", "code": "invalid_api_key"}}


# --- point 6: secrets never leave -------------------------------------------------------------


def test_redact_rule_known_secrets_of_four_characters_or_more() -> None:
    """Known secrets of >= 4 characters go, shorter ones stay; key-shaped text always goes."""
    assert MIN_SECRET == 4
    text = "key ab1cd, id abc, sk-proj-XYZ123, Bearer eyJhbGciOi.eyJzdWIi.c2ln"
    assert redact(text, ["ab1cd", "abc"]) == "key ***, id abc, sk-***, Bearer ***"
    assert redact("token eyJhbGciOiJI.eyJzdWIiOiIx.SflKxw in it") == "token *** in it"


def test_redact_reads_every_secret_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """OPENAI_API_KEY, AZURE_OPENAI_API_KEY (even 5 characters) and AZURE_MANAGEMENT_TOKEN."""
    monkeypatch.setenv("OPENAI_API_KEY", "openai-env-key")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az5ch")
    monkeypatch.setenv("AZURE_MANAGEMENT_TOKEN", "arm-token-9999")
    assert redact("openai-env-key / az5ch / arm-token-9999") == "*** / *** / ***"


async def test_an_echoed_key_leaves_no_trace_in_the_sdk_error(flavour: str) -> None:
    """A 401 repeating the client's key (not in the environment): str, repr, message, body clean."""
    model = _model(flavour, key=GATEWAY_KEY)
    with respx.mock(using=SDK_MOCKER) as router:
        router.post(f"{BASE}/chat/completions").respond(401, json=_echo_401(GATEWAY_KEY))
        with pytest.raises(openai.AuthenticationError) as info:
            await _chat(model)
    error = info.value
    assert str(error) == "Error code: 401 - Incorrect API key provided: ***."
    assert GATEWAY_KEY not in repr(error)
    assert error.body == {"message": "Incorrect API key provided: ***.", "code": "invalid_api_key"}


def test_scrub_cleans_the_causes_too() -> None:
    """A typed error raised from an SDK error: both are cleaned, with explicit secrets."""
    outer = ProviderError("Azure said tok-abcdef")
    outer.__cause__ = RuntimeError("refused token tok-abcdef")
    scrub(outer, ["tok-abcdef"])
    assert (str(outer), str(outer.__cause__)) == ("Azure said ***", "refused token ***")


def test_compare_reports_never_carry_an_echoed_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Markdown, JSON, HTML and DEBUG logs of a comparison against a key-echoing 401: 0 keys."""
    caplog.set_level(logging.DEBUG)
    client = openai.OpenAI(api_key=GATEWAY_KEY, base_url=BASE, max_retries=0)
    with respx.mock(using=SDK_MOCKER) as router:
        route = router.post(f"{BASE}/chat/completions").respond(401, json=_echo_401(GATEWAY_KEY))
        result = compare(client, models=["gpt-a", "gpt-b"], prompts=["one", "two", "three"])
    assert route.call_count == 6
    html = tmp_path / "report.html"
    outputs = {
        "markdown": result.to_markdown(),
        "json": result.to_json(),
        "html": result.to_html(html) + html.read_text(encoding="utf-8"),
        "logs": caplog.text,
    }
    assert {name: text.count(GATEWAY_KEY) for name, text in outputs.items()} == dict.fromkeys(
        outputs, 0
    )
    errors = {a.error for row in result.rows for a in row.answers.values()}
    assert errors == {"AuthenticationError: Error code: 401 - Incorrect API key provided: ***."}
    assert json.loads(outputs["json"])  # still whole JSON


def test_error_text_redacts_without_the_environment() -> None:
    """`error_text` (what compare stores) knows the key from the request that carried it."""
    request = httpx2.Request("POST", f"{BASE}/x", headers={"api-key": "az5ch"})
    response = httpx2.Response(401, request=request)
    error = openai.AuthenticationError(
        "Error code: 401 - bad key az5ch", response=response, body=None
    )
    assert error_text(error) == "AuthenticationError: Error code: 401 - bad key ***"


RATE = {"message": "Rate limit reached for requests.", "type": "requests", "code": "rate_limit"}


def _sdk_error(
    kind: type[openai.APIStatusError], status: int, message: str, body: object
) -> openai.APIStatusError:
    """An SDK status error as openai 2.x or 3.x makes it (`body`: the body's `error` object)."""
    request = httpx2.Request("POST", f"{BASE}/chat/completions")
    return kind(message, response=httpx2.Response(status, request=request), body=body)


@pytest.mark.parametrize(
    ("kind", "status", "message", "body", "expected"),
    [
        pytest.param(
            openai.RateLimitError,
            429,
            f"Error code: 429 - {{'error': {RATE!r}}}",
            RATE,
            "Error code: 429 - Rate limit reached for requests.",
            id="openai2-json",
        ),
        pytest.param(
            openai.RateLimitError,
            429,
            "Error code: 429 - Rate limit reached for requests.",
            RATE,
            "Error code: 429 - Rate limit reached for requests.",
            id="openai3-json",
        ),
        pytest.param(
            openai.NotFoundError,
            404,
            "Error code: 404 - {'detail': 'Not Found'}",
            {"detail": "Not Found"},
            "Error code: 404",
            id="openai2-no-message",
        ),
        pytest.param(
            openai.InternalServerError,
            502,
            HTML,
            HTML,
            "Error code: 502",
            id="openai2-page",
        ),
        pytest.param(
            openai.RateLimitError, 429, "slow down", None, "slow down", id="caller-no-body"
        ),
        pytest.param(openai.RateLimitError, 429, "bad key", RATE, "bad key", id="caller-body"),
    ],
)
def test_sdk_messages_read_the_same_on_openai_2_and_3(
    kind: type[openai.APIStatusError], status: int, message: str, body: object, expected: str
) -> None:
    """openai 2.x repeats the whole body (or a page) in the message: finetune-kit's text is
    `Error code: N - <the provider's message>` as on 3.x; a message a caller wrote stays."""
    error = _sdk_error(kind, status, message, body)
    assert (error_text(error), message_of(error)) == (f"{kind.__name__}: {expected}", expected)
    scrub(error)
    assert (str(error), error.message) == (expected, expected)


def test_a_404_without_the_apis_message_is_a_wrong_url_on_openai_2() -> None:
    """openai 2.x's `Error code: 404 - {'detail': 'Not Found'}`: not a missing model, the URL."""
    error = _sdk_error(
        openai.NotFoundError,
        404,
        "Error code: 404 - {'detail': 'Not Found'}",
        {"detail": "Not Found"},
    )
    assert kind_of(error) == "other"
    translated = classify(error, operation="chat", now=0.0).translated
    assert isinstance(translated, IncompatibleEndpointError)
    assert str(translated) == (
        f"not found (404): POST {BASE}/chat/completions does not exist: is the base URL right? "
        "(--base-url / OPENAI_BASE_URL; OpenAI-compatible APIs usually end in /v1)"
    )


# --- point 8: typed errors --------------------------------------------------------------------


async def test_chat_honours_a_retry_after_over_120_s(flavour: str) -> None:
    """Two 429s with Retry-After 130 s (the SDK gives up on those): waited out, then answered."""
    sim = Simulator()
    sim.faults.rate_limit("chat.create", retry_after=130, times=2)
    if flavour == "sync":
        model: Any = TunedModel(
            sim.client(max_retries=0), "gpt-4o-mini", sleep=sim.clock.sleep, now=sim.clock.now
        )
    else:
        model = AsyncTunedModel(
            sim.async_client(max_retries=0),
            "gpt-4o-mini",
            sleep=sim.clock.asleep,
            now=sim.clock.now,
        )
    before = sim.clock.now()
    response = await _chat(model)
    assert response.choices[0].finish_reason == "stop"
    assert sim.clock.now() - before == 260.0
    assert sim.calls["chat.create"] == 3


async def test_chat_rate_limited_past_its_retries_is_typed(flavour: str) -> None:
    """Still rate-limited after 5 waits of 130 s: RateLimitedError from the SDK's error."""
    sim = Simulator()
    sim.faults.rate_limit("chat.create", retry_after=130, times=None)
    slept: list[float] = []

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    if flavour == "sync":
        model: Any = TunedModel(sim.client(max_retries=0), "gpt-4o-mini", sleep=slept.append)
    else:
        model = AsyncTunedModel(sim.async_client(max_retries=0), "gpt-4o-mini", sleep=asleep)
    with pytest.raises(RateLimitedError) as info:
        await _chat(model)
    assert str(info.value) == "rate limited during chat"
    assert (info.value.retry_after, info.value.status_code) == (130.0, 429)
    assert isinstance(info.value.__cause__, openai.RateLimitError)
    assert slept == [130.0] * 5
    assert sim.calls["chat.create"] == 6


@pytest.mark.parametrize("status", [200, 502])
async def test_chat_against_a_web_page_names_the_url(flavour: str, status: int) -> None:
    """A login page (200) or a proxy's 502 page: IncompatibleEndpointError naming the URL."""
    model = _model(flavour)
    with respx.mock(using=SDK_MOCKER) as router:
        router.post(f"{BASE}/chat/completions").respond(
            status, text=HTML, headers={"content-type": "text/html; charset=utf-8"}
        )
        with pytest.raises(IncompatibleEndpointError) as info:
            await _chat(model)
    assert str(info.value) == (
        f"{BASE}/chat/completions did not answer like an OpenAI-compatible API (HTTP {status}, "
        "text/html): is the base URL right? (--base-url / OPENAI_BASE_URL; OpenAI's is "
        "https://api.openai.com/v1)"
    )
    assert (info.value.url, info.value.status_code) == (f"{BASE}/chat/completions", status)
    assert isinstance(info.value, ProviderError)


async def test_chat_on_a_wrong_path_names_the_url(flavour: str) -> None:
    """A 404 that is not the API's own error (a wrong base path): the URL tried, at once."""
    slept: list[float] = []
    model = _model(flavour, sleep=slept)
    with respx.mock(using=SDK_MOCKER) as router:
        router.post(f"{BASE}/chat/completions").respond(404, json={"detail": "Not Found"})
        with pytest.raises(IncompatibleEndpointError) as info:
            await _chat(model)
    assert str(info.value) == (
        f"not found (404): POST {BASE}/chat/completions does not exist: is the base URL right? "
        "(--base-url / OPENAI_BASE_URL; OpenAI-compatible APIs usually end in /v1)"
    )
    assert slept == []  # not mistaken for a model that is not served yet


TARGET = Deployment("sub-1", "rg-ml", "contoso-aoai", "elle-prod")


async def _deploy(flavour: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """`deploy(...)` or its async twin `await adeploy(...)`."""
    if flavour == "sync":
        return deploy(*args, **kwargs)
    return await adeploy(*args, **kwargs)


async def test_deploy_without_a_network_is_a_provider_error(flavour: str) -> None:
    """No route to management.azure.com: ProviderError (the transport error as its cause)."""
    with respx.mock(using="httpcore2") as router:
        router.put(url__startswith="https://management.azure.com/").mock(
            side_effect=httpx2.ConnectError("[Errno -3] Temporary failure in name resolution")
        )
        with pytest.raises(ProviderError) as info:
            await _deploy(flavour, MODEL, TARGET, token="arm-token-123")
    assert str(info.value) == (
        "cannot reach https://management.azure.com (connection failed: [Errno -3] Temporary "
        "failure in name resolution): check the network (deploying talks to the Azure "
        "management API)"
    )
    assert isinstance(info.value.__cause__, httpx2.ConnectError)


async def test_deploy_refusal_never_repeats_the_management_token(flavour: str) -> None:
    """A 401 echoing the bearer token (given as a callable): the message holds `***`."""
    token = "arm-short"
    with respx.mock(using="httpcore2") as router:
        router.put(url__startswith="https://management.azure.com/").respond(
            401, json={"error": {"code": "InvalidAuthenticationToken", "message": f"bad {token}"}}
        )
        with pytest.raises(ProviderError) as info:
            await _deploy(flavour, MODEL, TARGET, token=lambda: token)
    assert str(info.value) == "Azure refused the deployment elle-prod: bad *** (HTTP 401)"


async def test_deploy_answered_by_a_web_page_is_a_provider_error(flavour: str) -> None:
    """A 200 HTML page where the management API should be: ProviderError, not a ValueError."""
    with respx.mock(using="httpcore2") as router:
        router.put(url__startswith="https://management.azure.com/").mock(
            return_value=httpx.Response(200, text=HTML, headers={"content-type": "text/html"})
        )
        with pytest.raises(ProviderError) as info:
            await _deploy(flavour, MODEL, TARGET, token="arm-token-123")
    assert str(info.value).endswith(
        "/deployments/elle-prod did not answer like the Azure management API (HTTP 200, text/html)"
    )
