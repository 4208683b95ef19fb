"""The `finetune-kit` command: exit codes, output, and one clear line for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune_kit.cli import main
from finetune_kit.cli.context import Context
from finetune_kit.cli.demo import DemoOptions, run_demo
from finetune_kit.cli.main import bundled_dataset
from finetune_kit.testing import Simulator
from tests.offline import block_network


def _bad_file(tmp_path: Path) -> Path:
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    rows = [
        json.dumps(
            {
                **good,
                "messages": [
                    *good["messages"],
                    {"role": "user", "content": f"{i}"},
                    {"role": "assistant", "content": "b"},
                ],
            }
        )
        for i in range(11)
    ]
    rows[3] = (
        '{"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "a"}]}'
    )
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_demo_runs_the_whole_pipeline_on_the_simulator(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without an API key the demo validates, uploads, trains and compares, all offline."""
    block_network(monkeypatch)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    lines: list[str] = []
    sim = Simulator()
    options = DemoOptions(
        dataset=bundled_dataset(),
        model="gpt-4o-mini-2024-07-18",
        simulator=sim,
        report=str(tmp_path / "report.html"),
        plot=str(tmp_path / "loss.png"),
    )
    assert run_demo(options, out=lines.append) == 0
    text = "\n".join(lines)
    assert "10 row(s), 10 counted as chat examples for gpt-4o-mini-2024-07-18 [o200k_base]" in text
    assert "786 tokens × 10 epochs (auto, cookbook heuristic) = 7,860 billed tokens" in text
    assert "] step 100/100 (100%)  loss 0.192 " in text
    assert "Tuned model: ft:gpt-4o-mini-2024-07-18:finetune-kit-sim:demo:" in text
    assert "(billed tokens: 7,860; 4m50s of simulated training time)" in text
    assert "100 steps, training loss 1.962 -> 0.192; checkpoints at steps 80, 90, 100" in text
    assert f"Training curves: {tmp_path / 'loss.png'}" in text
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "tuned model, 'Tell me about Helium': Helium a noble gas so rare" in text
    assert "| 10 | 0 | 100% [100%, 100%] | 100% [100%, 100%] |" in text  # the tuned row
    assert "with 91 fewer prompt tokens per call than the base model given 2 examples" in text
    assert (tmp_path / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert (sim.calls["files.create"], sim.calls["jobs.create"]) == (1, 1)


def test_demo_command_exits_0(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`finetune-kit demo` runs end to end and ends with "Done." (time sped up a million times)."""
    block_network(monkeypatch)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    argv = ["--report", str(tmp_path / "r.html"), "--plot", str(tmp_path / "loss.png")]
    assert main(["demo", "--speed", "1000000", *argv]) == 0
    assert capsys.readouterr().out.rstrip().endswith("Done.")


def test_demo_with_a_key_spends_nothing_without_consent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With OPENAI_API_KEY set and no --yes (and no terminal to ask), nothing is uploaded."""
    block_network(monkeypatch)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "Nothing was uploaded or spent. Run with --yes to go ahead, or --simulator." in out
    assert "sk-test-not-used" not in out


def test_demo_with_azure_settings_asks_before_spending(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Azure settings count as a real provider: the demo names it and asks; EOF means no."""
    block_network(monkeypatch)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://contoso.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-secret-key")

    def closed(_: str) -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", closed)
    assert main(["demo"], context=Context(interactive=True)) == 0
    out = capsys.readouterr().out
    assert "this will train on Azure OpenAI at https://contoso.openai.azure.com" in out
    assert "Nothing was uploaded or spent. Run with --yes to go ahead, or --simulator." in out
    assert "azure-secret-key" not in out


def test_validate_exits_0_on_a_valid_file(capsys: pytest.CaptureFixture[str]) -> None:
    """A valid file exits 0 and prints the readable report."""
    assert main(["validate", str(bundled_dataset()), "--model", "gpt-4o-mini-2024-07-18"]) == 0
    assert "OK: 0 error(s), 0 warning(s)" in capsys.readouterr().out


def test_validate_exits_1_and_names_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file with an error exits 1 and names file, line, field and code."""
    path = _bad_file(tmp_path)
    assert main(["validate", str(path), "--model", "gpt-4o-mini-2024-07-18"]) == 1
    assert f"{path}:4: messages[0].content [empty_content]" in capsys.readouterr().out


def test_validate_json_is_machine_readable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--json` prints the report as JSON with ok, error_count and counts."""
    assert main(["validate", str(_bad_file(tmp_path)), "--model", "gpt-4o", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert (data["ok"], data["error_count"], data["counts"]) == (False, 1, {"empty_content": 1})


def test_strict_fails_on_warnings(tmp_path: Path) -> None:
    """`--strict` turns warnings into a failing exit code."""
    path = tmp_path / "dup.jsonl"
    row = '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}'
    path.write_text("\n".join([row] * 10) + "\n", encoding="utf-8")
    assert main(["validate", str(path), "--model", "gpt-4o"]) == 0
    assert main(["validate", str(path), "--model", "gpt-4o", "--strict"]) == 1


def test_estimate_prints_the_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    """`estimate` prints billed tokens and the overridden price."""
    args = ["estimate", str(bundled_dataset()), "--model", "gpt-4.1-mini-2025-04-14"]
    assert main([*args, "--price", "5", "--n-epochs", "2"]) == 0
    assert capsys.readouterr().out.strip() == (
        "786 tokens × 2 epochs = 1,572 billed tokens ≈ $0.01 at $5/1M (prices= argument)"
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["validate", "missing.jsonl", "--model", "gpt-4o"],
            "no such training file: missing.jsonl",
        ),
        (["validate", "BUNDLED", "--model", "gpt-4o", "--n-epochs", "many"], "--n-epochs must be"),
        (["validate", "BUNDLED", "--model", "gpt-4o", "--n-epochs", "99"], "n_epochs must be"),
    ],
    ids=["missing-file", "epochs-not-a-number", "epochs-out-of-range"],
)
def test_bad_input_gets_one_line_and_exit_2(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad input prints a single error line on stderr and exits 2, never a traceback."""
    argv = [str(bundled_dataset()) if a == "BUNDLED" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("finetune-kit: error: ")
    assert expected in err
    assert "Traceback" not in err
