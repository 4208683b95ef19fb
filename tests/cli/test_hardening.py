"""Command line: echoed keys never printed, every failure one typed line with its exit code.

Commands run in-process (`main(argv, context=...)`), offline; the wire is faked with respx
where the request or the answer's shape matters, the simulator for whole flows.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import httpx2
import openai
import pytest
import respx

from finetune_kit import IncompatibleEndpointError
from finetune_kit.cli import main, provider
from finetune_kit.cli.context import Context
from finetune_kit.cli.main import bundled_dataset
from finetune_kit.cli.provider import client_from
from finetune_kit.testing import Simulator
from tests.cli.conftest import Cli
from tests.offline import block_network

BASE = "http://gateway.internal/v1"
AZURE = "https://contoso.openai.azure.com"
GATEWAY_KEY = "gw-7f3a9c1e5b2d"
HTML = "<!DOCTYPE html><html><body>Sign in to Contoso</body></html>"
ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_KEY",
    "AZURE_MANAGEMENT_TOKEN",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No provider settings, no network, a temporary working directory."""
    block_network(monkeypatch)
    monkeypatch.chdir(tmp_path)
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), context=Context(interactive=False, live=False))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _echo_401(key: str) -> dict[str, object]:
    return {"error": {"message": f"Incorrect API key provided: {key}.", "code": "invalid_api_key"}}


# --- point 6: secrets never leave -------------------------------------------------------------


def test_compare_prints_and_writes_no_echoed_key(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Terminal table, --json, report.html and stderr of a 401 that repeats the key: 0 keys."""
    env.setenv("OPENAI_API_KEY", GATEWAY_KEY)
    prompts = tmp_path / "held-out.jsonl"
    prompts.write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": q},
                        {"role": "assistant", "content": "a"},
                    ]
                }
            )
            + "\n"
            for q in ("one", "two")
        ),
        encoding="utf-8",
    )
    report = tmp_path / "report.html"
    with respx.mock(using="httpcore2") as router:
        router.post(f"{BASE}/chat/completions").respond(401, json=_echo_401(GATEWAY_KEY))
        base = ["compare", "gpt-a", "gpt-b", "--prompts", str(prompts), "--base-url", BASE]
        table = _run(capsys, *base, "--report", str(report))
        as_json = _run(capsys, *base, "--json")
    assert table[0] == as_json[0] != 4  # whether all-failed is exit 0 or 1 is compare's call
    outputs = {
        "table": table[1],
        "table stderr": table[2],
        "json": as_json[1],
        "json stderr": as_json[2],
        "report.html": report.read_text(encoding="utf-8"),
    }
    assert {k: v.count(GATEWAY_KEY) for k, v in outputs.items()} == dict.fromkeys(outputs, 0)
    assert "Incorrect API key provided: ***." in outputs["json"]


def test_a_short_azure_key_echoed_is_not_printed(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 5-character AZURE_OPENAI_API_KEY repeated by a 401: `***` in the one line, exit 3."""
    env.setenv("AZURE_OPENAI_ENDPOINT", AZURE)
    env.setenv("AZURE_OPENAI_API_KEY", "az5ch")
    with respx.mock(using="httpcore2") as router:
        router.get(url__startswith=f"{AZURE}/openai/fine_tuning/jobs").respond(
            401, json=_echo_401("az5ch")
        )
        code, _, err = _run(capsys, "jobs", "list")
    assert code == 3
    assert err == (
        "finetune-kit: error: the API key was refused (401): check OPENAI_API_KEY / "
        "AZURE_OPENAI_API_KEY (Incorrect API key provided: ***.)\n"
    )


def test_deploy_never_prints_the_management_token(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AZURE_MANAGEMENT_TOKEN repeated by the management API's 401: `***`, exit 3."""
    monkeypatch.setenv("AZURE_MANAGEMENT_TOKEN", "arm-9f8e7d")
    with respx.mock(using="httpcore2") as router:
        router.put(url__startswith="https://management.azure.com/").respond(
            401,
            json={"error": {"code": "ExpiredAuthenticationToken", "message": "arm-9f8e7d expired"}},
        )
        result = cli(*_DEPLOY)
    assert result.code == 3
    assert result.err == (
        "finetune-kit: error: Azure refused the deployment elle-prod: *** expired (HTTP 401)\n"
    )


# --- point 8: typed errors, never "a bug" -----------------------------------------------------

_DEPLOY = (
    "models",
    "deploy",
    "gpt-4o-mini-2024-07-18.ft-0123456789abcdef",
    "--subscription",
    "sub-1",
    "--resource-group",
    "rg-ml",
    "--account",
    "contoso-aoai",
    "--name",
    "elle-prod",
)


def test_deploy_without_a_network_is_exit_3(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """No network for the management API: one line naming it, exit 3 (not "a bug", exit 4)."""
    monkeypatch.setenv("AZURE_MANAGEMENT_TOKEN", "arm-token-123")
    with respx.mock(using="httpcore2") as router:
        router.put(url__startswith="https://management.azure.com/").mock(
            side_effect=httpx2.ConnectError("[Errno 101] Network is unreachable")
        )
        result = cli(*_DEPLOY)
    assert result.code == 3
    assert result.err == (
        "finetune-kit: error: cannot reach https://management.azure.com (connection failed: "
        "[Errno 101] Network is unreachable): check the network (deploying talks to the Azure "
        "management API)\n"
    )


@pytest.mark.parametrize("status", [200, 502])
def test_a_web_page_instead_of_the_api_is_named(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], status: int
) -> None:
    """A login page (200) or a proxy's 502 page: the URL, "OpenAI-compatible", exit 3."""
    env.setenv("OPENAI_API_KEY", "sk-anything")
    with respx.mock(using="httpcore2") as router:
        route = router.get(f"{BASE}/fine_tuning/jobs").respond(
            status, text=HTML, headers={"content-type": "text/html", "x-should-retry": "false"}
        )
        code, out, err = _run(capsys, "jobs", "list", "--base-url", BASE)
    assert (code, out, route.call_count) == (3, "", 1)
    assert err == (
        f"finetune-kit: error: {BASE}/fine_tuning/jobs did not answer like an OpenAI-compatible "
        f"API (HTTP {status}, text/html): is the base URL right? (--base-url / OPENAI_BASE_URL; "
        "OpenAI's is https://api.openai.com/v1)\n"
    )


@pytest.mark.parametrize(
    ("flag", "variable", "expected"),
    [
        (
            "127.0.0.1:8000",
            None,
            (
                "--base-url '127.0.0.1:8000' has no scheme (http:// or https://): did you mean "
                "http://127.0.0.1:8000?"
            ),
        ),
        (
            None,
            "notaurl",
            (
                "OPENAI_BASE_URL 'notaurl' has no scheme (http:// or https://): did you mean "
                "https://notaurl?"
            ),
        ),
        (
            "ftp://files.example/v1",
            None,
            (
                "--base-url 'ftp://files.example/v1' is not an http:// or https:// URL with a host "
                "(e.g. https://api.openai.com/v1)"
            ),
        ),
    ],
    ids=["flag", "variable", "other-scheme"],
)
def test_a_url_without_its_scheme_is_a_usage_error(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    flag: str | None,
    variable: str | None,
    expected: str,
) -> None:
    """`--base-url 127.0.0.1:8000` / `OPENAI_BASE_URL=notaurl`: exit 2 naming the scheme."""
    env.setenv("OPENAI_API_KEY", "sk-anything")
    if variable is not None:
        env.setenv("OPENAI_BASE_URL", variable)
    argv = ["jobs", "list"] + (["--base-url", flag] if flag is not None else [])
    assert _run(capsys, *argv) == (2, "", f"finetune-kit: error: {expected}\n")


def test_an_azure_endpoint_without_its_scheme_is_a_usage_error(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same for --azure-endpoint."""
    env.setenv("AZURE_OPENAI_API_KEY", "azure-key")
    code, _, err = _run(capsys, "jobs", "list", "--azure-endpoint", "contoso.openai.azure.com")
    assert (code, err) == (
        2,
        (
            "finetune-kit: error: --azure-endpoint 'contoso.openai.azure.com' has no scheme "
            "(http:// or https://): did you mean https://contoso.openai.azure.com?\n"
        ),
    )


@pytest.mark.parametrize("lets_errors_out", [True, False], ids=["openai3", "openai2"])
def test_the_web_page_hook_raises_what_every_openai_lets_out(
    monkeypatch: pytest.MonkeyPatch, *, lets_errors_out: bool
) -> None:
    """openai 2.x retries any exception an event hook raises but its own, then wraps it in
    APIConnectionError ("cannot reach"): there the hook's error is an `OpenAIError` too."""
    monkeypatch.setattr(provider, "_SDK_LETS_ERRORS_OUT", lets_errors_out)
    request = httpx2.Request("GET", f"{BASE}/fine_tuning/jobs?limit=10")
    page = httpx2.Response(200, headers={"content-type": "text/html"}, request=request)
    with pytest.raises(IncompatibleEndpointError) as info:
        provider._refuse_web_pages(page)
    assert isinstance(info.value, openai.OpenAIError) is not lets_errors_out
    assert (info.value.url, info.value.status_code) == (f"{BASE}/fine_tuning/jobs", 200)
    assert str(info.value) == (
        f"{BASE}/fine_tuning/jobs did not answer like an OpenAI-compatible API (HTTP 200, "
        "text/html): is the base URL right? (--base-url / OPENAI_BASE_URL; OpenAI's is "
        "https://api.openai.com/v1)"
    )


def test_a_wrong_path_names_the_url_tried(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 404 that is not the API's own error (a base URL without /v1): the URL, exit 3."""
    env.setenv("OPENAI_API_KEY", "sk-anything")
    with respx.mock(using="httpcore2") as router:
        router.get("http://gateway.internal/fine_tuning/jobs").respond(
            404, json={"detail": "Not Found"}
        )
        code, _, err = _run(capsys, "jobs", "list", "--base-url", "http://gateway.internal")
    assert code == 3
    assert err == (
        "finetune-kit: error: not found (404): GET http://gateway.internal/fine_tuning/jobs "
        "does not exist: is the base URL right? (--base-url / OPENAI_BASE_URL; "
        "OpenAI-compatible APIs usually end in /v1)\n"
    )


def test_the_api_own_404_keeps_its_message(cli: Cli) -> None:
    """A 404 the API explains ("no such job") is printed as before."""
    result = cli("jobs", "show", "ftjob-missing")
    assert result.code == 3
    assert result.err.startswith("finetune-kit: error: not found (404): ")
    assert "does not exist: is the base URL right?" not in result.err


def test_upload_waits_out_a_long_retry_after(cli: Cli) -> None:
    """`upload`: 429s with Retry-After 130 s while the file is processed are waited out."""
    cli.sim.faults.rate_limit("files.retrieve", retry_after=130, times=2)
    before = cli.sim.clock.now()
    result = cli("upload", str(bundled_dataset()))
    assert result.code == 0, result.err
    assert cli.sim.clock.now() - before == 261.0  # 1 s, then 130 s twice
    assert cli.sim.calls["files.retrieve"] == 3


def test_upload_rate_limited_for_ever_is_exit_3(cli: Cli) -> None:
    """Rate-limited at every look: one typed line, exit 3 (not the SDK's RateLimitError)."""
    cli.sim.faults.rate_limit("files.retrieve", retry_after=130, times=None)
    result = cli("upload", str(bundled_dataset()))
    assert (result.code, result.err) == (
        3,
        "finetune-kit: error: rate limited during file processing\n",
    )


def test_simulator_runs_unaffected_by_the_page_check() -> None:
    """The web-page check does not touch JSON answers (a smoke test on the simulator's wire)."""
    sim = Simulator()
    args = argparse.Namespace(provider=None, base_url=BASE, azure_endpoint=None, api_version=None)
    with sim.mock(base_url=BASE, using="httpcore2"):  # the command line speaks httpx2 on any openai
        client = client_from(args, {"OPENAI_API_KEY": "sk-anything"})
        assert list(client.fine_tuning.jobs.list()) == []
