"""Which endpoint the command line talks to: OpenAI, Azure OpenAI or any compatible one.

Resolution, first match wins:

1. `--provider azure`, or `--azure-endpoint` / `AZURE_OPENAI_ENDPOINT` set (and no
   `--provider openai`): an `AzureOpenAI` client; the key from `AZURE_OPENAI_API_KEY`, else a
   Microsoft Entra ID token through azure-identity (`pip install 'finetune-kit[azure]'`);
   `--api-version` / `OPENAI_API_VERSION` (default `2025-04-01-preview`).
2. Otherwise an `OpenAI` client: `--base-url` / `OPENAI_BASE_URL` (any endpoint speaking the
   API, e.g. `finetune-kit sim serve`), the key from `OPENAI_API_KEY`.

Keys are read from the environment only (never from a flag: it would end up in shell
history and process listings).

Added in 0.1.0.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from openai import AzureOpenAI, OpenAI

from finetune_kit.exceptions import ConfigurationError

__all__ = ["AZURE_API_VERSION", "add_provider_flags", "client_from", "describe", "provider_of"]

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


def client_from(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> OpenAI:
    """Build the client the flags and environment ask for.

    Raises:
        ConfigurationError: No key, or no Azure endpoint, with what to set.
    """
    env = os.environ if environ is None else environ
    if provider_of(args, env) == "azure":
        return _azure(args, env)
    key = env.get("OPENAI_API_KEY")
    if not key:
        raise ConfigurationError(NO_KEY)
    base_url = _flag(args, "base_url") or env.get("OPENAI_BASE_URL") or None
    return OpenAI(api_key=key, base_url=base_url)


def _azure(args: argparse.Namespace, env: Mapping[str, str]) -> AzureOpenAI:
    endpoint = _flag(args, "azure_endpoint") or env.get("AZURE_OPENAI_ENDPOINT")
    if not endpoint:
        raise ConfigurationError(
            "--provider azure needs the resource's endpoint: --azure-endpoint or "
            "AZURE_OPENAI_ENDPOINT (https://<resource>.openai.azure.com)"
        )
    version = _flag(args, "api_version") or env.get("OPENAI_API_VERSION") or AZURE_API_VERSION
    key = env.get("AZURE_OPENAI_API_KEY")
    if key:
        return AzureOpenAI(api_key=key, azure_endpoint=endpoint, api_version=version)
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
        azure_ad_token_provider=provider, azure_endpoint=endpoint, api_version=version
    )
