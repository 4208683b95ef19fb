"""Where the command line sends requests: flags and environment, OpenAI, Azure, any base URL."""

from __future__ import annotations

import argparse
import importlib.util

import pytest
from openai import AzureOpenAI, OpenAI

from finetune_kit.cli import main
from finetune_kit.cli.context import Context
from finetune_kit.cli.errors import redact
from finetune_kit.cli.provider import AZURE_API_VERSION, client_from, describe, provider_of
from finetune_kit.exceptions import ConfigurationError
from finetune_kit.testing import Fault, Simulator
from tests.offline import block_network


def _args(**flags: str) -> argparse.Namespace:
    base = {"provider": None, "base_url": None, "azure_endpoint": None, "api_version": None}
    return argparse.Namespace(**{**base, **flags})


AZURE = "https://contoso.openai.azure.com"
CLI_MOCKER = "httpcore2"
"""The command line speaks httpx2 on every openai, 2.x included (`sim.mock()` picks the SDK's)."""


@pytest.mark.parametrize(
    ("flags", "env", "provider", "where"),
    [
        ({}, {"OPENAI_API_KEY": "k"}, "openai", "OpenAI"),
        ({}, {"OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"}, "openai", "http://127.0.0.1:8000/v1"),
        ({}, {"AZURE_OPENAI_ENDPOINT": AZURE}, "azure", f"Azure OpenAI at {AZURE}"),
        ({"azure_endpoint": AZURE}, {}, "azure", f"Azure OpenAI at {AZURE}"),
        ({"provider": "openai"}, {"AZURE_OPENAI_ENDPOINT": AZURE}, "openai", "OpenAI"),
        ({"base_url": "http://x/v1"}, {"AZURE_OPENAI_ENDPOINT": AZURE}, "openai", "http://x/v1"),
        ({"provider": "azure", "azure_endpoint": AZURE}, {}, "azure", f"Azure OpenAI at {AZURE}"),
    ],
)
def test_provider_resolution(
    flags: dict[str, str], env: dict[str, str], provider: str, where: str
) -> None:
    """Flags win over the environment; an Azure endpoint means Azure unless told otherwise."""
    assert provider_of(_args(**flags), env) == provider
    assert describe(_args(**flags), env) == where


def test_clients_are_built_from_the_environment() -> None:
    """OpenAI with its base URL; Azure with endpoint, key and the default api-version."""
    openai_client = client_from(
        _args(base_url="http://127.0.0.1:9/v1"), {"OPENAI_API_KEY": "sk-local"}
    )
    assert isinstance(openai_client, OpenAI)
    assert str(openai_client.base_url) == "http://127.0.0.1:9/v1/"
    azure = client_from(
        _args(), {"AZURE_OPENAI_ENDPOINT": AZURE, "AZURE_OPENAI_API_KEY": "azure-key"}
    )
    assert isinstance(azure, AzureOpenAI)
    assert str(azure.base_url) == f"{AZURE}/openai/"
    assert azure._custom_query == {"api-version": AZURE_API_VERSION}


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        ({}, {}, "no API key: set OPENAI_API_KEY (or AZURE_OPENAI_ENDPOINT"),
        ({"provider": "azure"}, {}, "--provider azure needs the resource's endpoint"),
    ],
)
def test_missing_settings_say_what_to_set(
    flags: dict[str, str], env: dict[str, str], message: str
) -> None:
    """No key, no endpoint: a ConfigurationError naming the variables."""
    with pytest.raises(ConfigurationError, match="^" + message.replace("(", r"\(")):
        client_from(_args(**flags), env)


def _has_azure_identity() -> bool:
    try:
        return importlib.util.find_spec("azure.identity") is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.skipif(_has_azure_identity(), reason="azure-identity is installed")
def test_azure_without_key_or_identity_names_the_extra() -> None:
    """No Azure key and no azure-identity: how to install the extra."""
    with pytest.raises(ConfigurationError, match=r"pip install 'finetune-kit\[azure\]'"):
        client_from(_args(), {"AZURE_OPENAI_ENDPOINT": AZURE})


def test_a_command_without_a_key_is_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`jobs list` with nothing configured: one line, exit 2, no request made."""
    block_network(monkeypatch)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert main(["jobs", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("finetune-kit: error: no API key: set OPENAI_API_KEY")
    assert err.count("\n") == 1


def test_base_url_and_key_reach_the_wire(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--base-url and OPENAI_API_KEY: the request goes there with the bearer key (respx)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-1234567890")
    sim = Simulator()
    with sim.mock(base_url="http://finetune.internal/v1", using=CLI_MOCKER) as router:
        code = main(
            ["jobs", "list", "--base-url", "http://finetune.internal/v1"], context=Context()
        )
        request = router.calls.last.request
    assert code == 0
    assert str(request.url) == "http://finetune.internal/v1/fine_tuning/jobs?limit=10"
    assert request.headers["authorization"] == "Bearer sk-live-1234567890"
    assert capsys.readouterr().out == "No fine-tuning jobs.\n"


def test_azure_settings_reach_the_wire(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """AZURE_OPENAI_ENDPOINT + key: Azure's path, api-version and api-key header (respx)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", AZURE)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-secret-key")
    sim = Simulator()
    with sim.mock(base_url=AZURE, using=CLI_MOCKER) as router:
        code = main(["jobs", "list", "--api-version", "2025-04-01-preview"], context=Context())
        request = router.calls.last.request
    assert code == 0, capsys.readouterr().err
    assert request.url.path == "/openai/fine_tuning/jobs"
    assert request.url.params["api-version"] == "2025-04-01-preview"
    assert request.headers["api-key"] == "azure-secret-key"


def test_a_refused_key_is_never_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 401 is one line, exit 3, and neither the key nor anything like it is printed."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-SECRETSECRET")
    sim = Simulator()
    body = {"error": {"message": "Incorrect API key provided: sk-proj-SECRETSECRET.", "code": None}}
    sim.faults.add(Fault("*", status=401, body=body, times=None))
    with sim.mock(using=CLI_MOCKER):
        assert main(["jobs", "list"], context=Context()) == 3
    err = capsys.readouterr().err
    assert err == (
        "finetune-kit: error: the API key was refused (401): check OPENAI_API_KEY / "
        "AZURE_OPENAI_API_KEY (Incorrect API key provided: ***.)\n"
    )


def test_redact_removes_keys() -> None:
    """Anything shaped like a key becomes sk-***."""
    assert redact("bad key sk-abc123XYZ_-def and sk-proj-***1234") == "bad key sk-*** and sk-***"
