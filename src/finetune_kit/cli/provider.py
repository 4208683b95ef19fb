"""Which endpoint the command line talks to: OpenAI, Azure OpenAI or any compatible one.

Resolution, first match wins:

1. `--provider azure`, or `--azure-endpoint` / `AZURE_OPENAI_ENDPOINT` set (and no
   `--provider openai`): an `AzureOpenAI` client; the key from `AZURE_OPENAI_API_KEY`, else a
   Microsoft Entra ID token through azure-identity (`pip install 'finetune-kit[azure]'`);
   `--api-version` / `OPENAI_API_VERSION` (default `2025-04-01-preview`).
2. Otherwise an `OpenAI` client: `--base-url` / `OPENAI_BASE_URL` (any endpoint speaking the
   API, e.g. `finetune-kit sim serve`), the key from `OPENAI_API_KEY`.

Keys are read from the environment only (never from a flag: it would end up in shell
history and process listings). URLs must carry their scheme (`http://` or `https://`): one that
doesn't is a usage error naming the fix. An answer that is a web page (a login portal, a
proxy's page) instead of the API is refused at once, naming the URL
([`IncompatibleEndpointError`][finetune_kit.IncompatibleEndpointError]).
"""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from finetune_kit.exceptions import ConfigurationError, IncompatibleEndpointError

if TYPE_CHECKING:  # the SDK is loaded when a client is built, not to parse the command line
    import httpx2
    from openai import AzureOpenAI, OpenAI

__all__ = [
    "AZURE_API_VERSION",
    "add_provider_flags",
    "checked_url",
    "client_from",
    "describe",
    "provider_of",
]

AZURE_API_VERSION = "2025-04-01-preview"
NO_KEY = (
    "no API key: set OPENAI_API_KEY (or AZURE_OPENAI_ENDPOINT with AZURE_OPENAI_API_KEY), "
    "or point --base-url at a compatible endpoint such as `finetune-kit sim serve`"
)


def add_provider_flags(parser: argparse.ArgumentParser) -> None:
    """Add --provider, --base-url, --azure-endpoint and --api-version to a command."""
    group = parser.add_argument_group("provider (default: from the environment)")
    group.add_argument(
        "--provider",
        choices=("openai", "azure"),
        help="openai (OPENAI_API_KEY) or azure (AZURE_OPENAI_ENDPOINT + AZURE_OPENAI_API_KEY or "
        "Entra ID); default: azure when an Azure endpoint is set, else openai",
    )
    group.add_argument(
        "--base-url", help="any endpoint speaking the OpenAI API (default: OPENAI_BASE_URL)"
    )
    group.add_argument(
        "--azure-endpoint", help="https://<resource>.openai.azure.com (AZURE_OPENAI_ENDPOINT)"
    )
    group.add_argument(
        "--api-version",
        help=f"Azure API version (OPENAI_API_VERSION, default {AZURE_API_VERSION})",
    )


def _flag(args: argparse.Namespace, name: str) -> Any:
    return getattr(args, name, None)


def provider_of(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> str:
    """`"azure"` or `"openai"`, from the flags and the environment."""
    env = os.environ if environ is None else environ
    chosen = _flag(args, "provider")
    if chosen:
        return str(chosen)
    if _flag(args, "base_url"):
        return "openai"
    if _flag(args, "azure_endpoint") or env.get("AZURE_OPENAI_ENDPOINT"):
        return "azure"
    return "openai"


def describe(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> str:
    """Where requests go, for messages: `OpenAI`, `Azure OpenAI at https://...`, or a URL."""
    env = os.environ if environ is None else environ
    if provider_of(args, env) == "azure":
        endpoint = _flag(args, "azure_endpoint") or env.get("AZURE_OPENAI_ENDPOINT", "?")
        return f"Azure OpenAI at {endpoint}"
    url = _flag(args, "base_url") or env.get("OPENAI_BASE_URL")
    return url or "OpenAI"


_LOCAL = ("localhost", "127.", "0.0.0.0", "[::1]", "10.", "192.168.")  # noqa: S104 - a prefix


def checked_url(value: str, setting: str) -> str:
    """`value` if it is an http(s) URL with a host; else a usage error naming the fix.

    Raises:
        ConfigurationError: `--base-url '127.0.0.1:8000' has no scheme: did you mean
            http://127.0.0.1:8000?`
    """
    parts = urlsplit(value)
    if "://" not in value:
        scheme = "http" if value.startswith(_LOCAL) else "https"
        raise ConfigurationError(
            f"{setting} {value!r} has no scheme (http:// or https://): did you mean "
            f"{scheme}://{value}?"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{setting} {value!r} is not an http:// or https:// URL with a host "
            "(e.g. https://api.openai.com/v1)"
        )
    return value


@functools.cache
def _refused_page_error() -> type[IncompatibleEndpointError]:
    """The `IncompatibleEndpointError` of `_refuse_web_pages` on openai 2.x.

    openai 2.x retries any exception but its own that sending raises, then wraps it in
    `APIConnectionError` ("cannot reach ..."); as an `OpenAIError` too, this one comes out at
    once, as it is, the way openai>=3 lets out the plain error. Made on first use: the SDK is
    loaded only to talk to a provider.
    """
    import openai  # noqa: PLC0415

    class _RefusedPageError(IncompatibleEndpointError, openai.OpenAIError):
        __doc__ = _refused_page_error.__doc__

    return _RefusedPageError


_SDK_LETS_ERRORS_OUT: bool | None = None
"""Whether the SDK lets an event hook's own exception out of a call as it is (openai>=3; see
`_refused_page_error`); None: ask the SDK when it matters."""


def _sdk_lets_errors_out() -> bool:
    if _SDK_LETS_ERRORS_OUT is not None:
        return _SDK_LETS_ERRORS_OUT
    import openai  # noqa: PLC0415

    return int(openai.__version__.split(".", 1)[0]) >= 3


def _refuse_web_pages(response: httpx2.Response) -> None:
    """An event hook: a web page instead of the API is refused at once, naming the URL.

    5xx pages (a gateway's) are left to the SDK's retries; what comes of them is named the same
    way when the command fails.
    """
    from finetune_kit._core.errors import incompatible, is_html  # noqa: PLC0415 - loads the SDK

    content_type = response.headers.get("content-type")
    if response.status_code < 500 and is_html(content_type, None):
        url = str(response.request.url).split("?", 1)[0]
        error = incompatible(url, status=response.status_code, content_type=content_type)
        if _sdk_lets_errors_out():
            raise error
        raise _refused_page_error()(
            str(error), url=url, code=error.code, status_code=error.status_code
        )


def _http_client() -> httpx2.Client:
    from openai import DefaultHttpx2Client  # noqa: PLC0415

    return DefaultHttpx2Client(event_hooks={"response": [_refuse_web_pages]})


def client_from(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> OpenAI:
    """Build the client the flags and environment ask for.

    Raises:
        ConfigurationError: No key, no Azure endpoint, or a URL without its scheme, with what
            to set.
    """
    from openai import OpenAI  # noqa: PLC0415 - the SDK, loaded when a client is made

    env = os.environ if environ is None else environ
    if provider_of(args, env) == "azure":
        return _azure(args, env)
    base_url: str | None = None
    if flag := _flag(args, "base_url"):
        base_url = checked_url(flag, "--base-url")
    elif variable := env.get("OPENAI_BASE_URL"):
        base_url = checked_url(variable, "OPENAI_BASE_URL")
    key = env.get("OPENAI_API_KEY")
    if not key:
        raise ConfigurationError(NO_KEY)
    return OpenAI(api_key=key, base_url=base_url, http_client=_http_client())


def _azure(args: argparse.Namespace, env: Mapping[str, str]) -> AzureOpenAI:
    from openai import AzureOpenAI  # noqa: PLC0415

    endpoint = _flag(args, "azure_endpoint")
    if endpoint:
        endpoint = checked_url(endpoint, "--azure-endpoint")
    elif endpoint := env.get("AZURE_OPENAI_ENDPOINT"):
        endpoint = checked_url(endpoint, "AZURE_OPENAI_ENDPOINT")
    else:
        raise ConfigurationError(
            "--provider azure needs the resource's endpoint: --azure-endpoint or "
            "AZURE_OPENAI_ENDPOINT (https://<resource>.openai.azure.com)"
        )
    version = _flag(args, "api_version") or env.get("OPENAI_API_VERSION") or AZURE_API_VERSION
    key = env.get("AZURE_OPENAI_API_KEY")
    if key:
        return AzureOpenAI(
            api_key=key, azure_endpoint=endpoint, api_version=version, http_client=_http_client()
        )
    try:
        from azure.identity import (  # noqa: PLC0415 - the `azure` extra
            DefaultAzureCredential,
            get_bearer_token_provider,
        )
    except ImportError:
        raise ConfigurationError(
            "Azure without AZURE_OPENAI_API_KEY signs in with Microsoft Entra ID, which needs "
            "azure-identity: pip install 'finetune-kit[azure]' (or set AZURE_OPENAI_API_KEY)"
        ) from None
    provider = get_bearer_token_provider(
        DefaultAzureCredential(), "https://cognitiveservices.azure.com/.default"
    )
    return AzureOpenAI(
        azure_ad_token_provider=provider,
        azure_endpoint=endpoint,
        api_version=version,
        http_client=_http_client(),
    )
