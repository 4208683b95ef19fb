"""`upload`, `compare` and `models show|delete|deploy` on the simulator (deploy at the wire)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pytest
import respx

from finetune_kit.cli.main import bundled_dataset
from finetune_kit.testing import VirtualClock
from tests.cli.conftest import MODEL, Cli

ELLE = str(bundled_dataset())
AZURE_MODEL = "gpt-4o-mini-2024-07-18.ft-0123456789abcdef0123456789abcdef"
DEPLOYMENT_URL = (
    "https://management.azure.com/subscriptions/sub-1/resourceGroups/rg-ml/providers/"
    "Microsoft.CognitiveServices/accounts/contoso-aoai/deployments/elle-prod"
)


def _tuned(cli: Cli) -> str:
    job_id = cli.tune("--suffix", "elle")
    out = cli("watch", job_id).out
    return out.split("\nTuned model: ")[1].split("\n")[0]


def test_upload_prints_the_file_id_and_reuses_identical_bytes(cli: Cli) -> None:
    """Validate then upload; the same content again is the same file, not a second upload."""
    first = cli("upload", ELLE, "--model", MODEL)
    assert first.code == 0
    file_id, name, size, unit, status = first.out.split()
    assert (name, unit, status) == ("elle.ftk-" + name.split("ftk-")[1], "bytes", "processed")
    assert size == f"{Path(ELLE).stat().st_size:,}"
    second = cli("upload", ELLE, "--json")
    assert json.loads(second.out)["id"] == file_id
    assert cli.sim.calls["files.create"] == 1


def test_upload_refuses_errors_unless_forced(cli: Cli, tmp_path: Path) -> None:
    """A file with errors is not uploaded (exit 1, the first finding named); --force uploads."""
    bad = tmp_path / "few.jsonl"
    bad.write_text("\n".join(Path(ELLE).read_text(encoding="utf-8").splitlines()[:3]) + "\n")
    refused = cli("upload", str(bad), "--model", MODEL)
    assert refused.code == 1
    assert refused.err.startswith("finetune-kit: error: ")
    assert "too_few_examples" in refused.err
    assert refused.err.count("\n") == 1
    assert cli.sim.calls["files.create"] == 0
    assert cli("upload", str(bad), "--model", MODEL, "--force").code == 0
    assert cli.sim.calls["files.create"] == 1


def test_compare_base_and_tuned_prints_the_table_and_writes_the_report(
    cli: Cli, tmp_path: Path
) -> None:
    """The tuned model passes every reference answer; the base none; the report is HTML."""
    tuned = _tuned(cli)
    report = tmp_path / "compare.html"
    result = cli("compare", MODEL, tuned, "--prompts", ELLE, "--report", str(report))
    assert result.code == 0, result.err
    rows = [line for line in result.out.splitlines() if line.startswith(f"| {MODEL} |")]
    assert rows[0].split(" | ")[1:5] == ["10", "0", "0% [0%, 28%]", "0% [0%, 28%]"]
    tuned_row = next(line for line in result.out.splitlines() if line.startswith(f"| {tuned} |"))
    assert tuned_row.split(" | ")[1:5] == ["10", "0", "100% [72%, 100%]", "100% [72%, 100%]"]
    assert (
        f"\n- {tuned} wins on exact: 100% vs 0% for {MODEL} (+100 points, 95% CI +61 to +100)\n"
    ) in result.out
    assert result.out.endswith(f"HTML report: {report}\n")
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")

    as_json = json.loads(cli("compare", MODEL, tuned, "--prompts", ELLE, "--json").out)
    assert as_json["models"] == [MODEL, tuned]
    assert len(as_json["rows"]) == 10


def test_compare_with_chosen_graders(cli: Cli) -> None:
    """--grader and --regex choose what is scored."""
    tuned = _tuned(cli)
    result = cli(
        "compare", tuned, "--prompts", ELLE, "--grader", "is_json", "--regex", " - .* - ", "--items", "0"
    )  # fmt: skip
    assert result.code == 0
    head = result.out.splitlines()[0]
    assert "| is_json pass | regex pass |" in head


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["compare", MODEL, "--prompts", "nowhere.jsonl"], "nowhere.jsonl: no such file"),
        (["compare", MODEL, "--prompts", ELLE, "--regex", "("], "--regex '(' is not a valid"),
        (["compare", MODEL, "--prompts", ELLE, "--concurrency", "0"], "--concurrency must be"),
        (["compare", MODEL], "the following arguments are required: --prompts"),
        (["compare", MODEL, "--prompts", ELLE, "--grader", "vibes"], "invalid choice: 'vibes'"),
        (["models", "deploy", AZURE_MODEL, "--subscription", "s"], "arguments are required"),
        (["upload", "nowhere.jsonl"], "no such training file: nowhere.jsonl"),
    ],
)
def test_bad_input_is_one_line_exit_2(cli: Cli, argv: list[str], expected: str) -> None:
    """One line on stderr, exit 2, nothing called."""
    result = cli(*argv)
    assert result.code == 2
    assert result.err.count("\n") == 1, result.err
    assert expected in result.err
    assert cli.sim.calls["chat.completions"] == 0


def test_models_show_says_base_suffix_and_shutdown(cli: Cli) -> None:
    """The name parsed, and the shutdown date of the base (OpenAI's wind-down)."""
    tuned = _tuned(cli)
    lines = cli("models", "show", tuned).out.splitlines()
    assert lines == [
        f"model      {tuned}",
        f"base       {MODEL}",
        "owner      finetune-kit-sim",
        "suffix     elle",
        "shutdown   2027-01-14",
    ]


def test_models_show_warns_within_30_days_of_the_shutdown(cli: Cli) -> None:
    """On 2027-01-01 (the simulator's clock), the tuned model's shutdown is 13 days away."""
    tuned = _tuned(cli)
    clock = cli.sim.clock
    assert isinstance(clock, VirtualClock)
    clock.advance(dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc).timestamp() - clock.now())
    lines = cli("models", "show", tuned).out.splitlines()
    assert lines[-2] == "shutdown   2027-01-14"
    assert lines[-1].startswith(f"warning: {tuned} shuts down on 2027-01-14 (in 13 day(s)): ")


def test_models_show_unknown_is_exit_3(cli: Cli) -> None:
    """A model the provider doesn't know: one line, exit 3."""
    result = cli("models", "show", "ft:gpt-4o-mini-2024-07-18:nobody::nothing")
    assert result.code == 3
    assert result.err.startswith("finetune-kit: error: not found (404): ")


def test_models_delete_asks_unless_yes(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not on a simulator, no terminal: refused without --yes; "n" keeps it; --yes deletes."""
    tuned = _tuned(cli)
    cli.ctx.simulated = False
    refused = cli("models", "delete", tuned)
    assert (refused.code, refused.out) == (
        2,
        f"Not deleted: run with --yes to delete {tuned} without being asked.\n",
    )
    cli.ctx.interactive = True
    monkeypatch.setattr("builtins.input", lambda _: "n")
    assert cli("models", "delete", tuned).out == "Nothing was deleted.\n"
    assert cli("models", "delete", tuned, "--yes").out == f"{tuned}: deleted\n"
    assert cli("models", "show", tuned).code == 3


def test_models_deploy_puts_the_deployment_and_waits(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The management API gets the exact PUT (token from AZURE_MANAGEMENT_TOKEN); then it serves."""
    monkeypatch.setenv("AZURE_MANAGEMENT_TOKEN", "arm-token-123")
    cli.ctx.client = cli.sim.azure_client(max_retries=0)
    resource = {"name": "elle-prod", "properties": {"provisioningState": "Creating"}}
    done = {"name": "elle-prod", "properties": {"provisioningState": "Succeeded"}}
    with respx.mock(using="httpcore2", assert_all_called=True) as router:
        put = router.put(DEPLOYMENT_URL, params={"api-version": "2024-10-21"}).respond(
            201, json=resource
        )
        router.get(DEPLOYMENT_URL, params={"api-version": "2024-10-21"}).mock(
            side_effect=[httpx.Response(200, json=done)]
        )
        result = cli(
            "models", "deploy", AZURE_MODEL, "--subscription", "sub-1", "--resource-group",
            "rg-ml", "--account", "contoso-aoai", "--name", "elle-prod", "--sku", "developer",
        )  # fmt: skip
    assert result.code == 0, result.err
    assert put.calls.last.request.headers["authorization"] == "Bearer arm-token-123"
    assert json.loads(put.calls.last.request.content) == {
        "sku": {"name": "developer", "capacity": 1},
        "properties": {"model": {"format": "OpenAI", "name": AZURE_MODEL, "version": "1"}},
    }
    assert result.out.splitlines() == [
        f"Deploying {AZURE_MODEL} as elle-prod (developer, capacity 1)...",
        "elle-prod: serving. Call it with model='elle-prod'.",
    ]
    assert "arm-token-123" not in result.out + result.err


def test_models_deploy_failure_is_one_line_exit_3(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ARM says Failed: one line naming the state, exit 3, the token never printed."""
    monkeypatch.setenv("AZURE_MANAGEMENT_TOKEN", "arm-token-123")
    failed = {"name": "elle-prod", "properties": {"provisioningState": "Failed"}}
    with respx.mock(using="httpcore2") as router:
        router.put(DEPLOYMENT_URL, params={"api-version": "2024-10-21"}).respond(200, json=failed)
        result = cli(
            "models", "deploy", AZURE_MODEL, "--subscription", "sub-1", "--resource-group",
            "rg-ml", "--account", "contoso-aoai", "--name", "elle-prod",
        )  # fmt: skip
    assert result.code == 3
    assert result.err.count("\n") == 1
    assert "Failed" in result.err
    assert "arm-token-123" not in result.err


def test_tune_on_azure_sends_the_training_type(cli: Cli) -> None:
    """--training-type reaches Azure's create call as trainingType (echoed back by the job)."""
    cli.ctx.client = cli.sim.azure_client(max_retries=0)
    job_id = cli.tune("--training-type", "developerTier")
    shown = json.loads(cli("jobs", "show", job_id, "--json").out)
    assert shown["trainingType"] == "developerTier"
