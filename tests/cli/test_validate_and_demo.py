"""The `finetune-kit` command: exit codes, output, and one clear line for bad input."""

from __future__ import annotations

import html
import json
import tempfile
from pathlib import Path

import openai
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
    assert "] step 100/100 (100%)  loss 0.223 " in text
    assert "Tuned model: ft:gpt-4o-mini-2024-07-18:finetune-kit-sim:demo:" in text
    assert "(billed tokens: 7,860; 4m50s of simulated training time)" in text
    assert "100 steps, training loss 1.968 -> 0.223; checkpoints at steps 80, 90, 100" in text
    assert f"Training curves: {tmp_path / 'loss.png'}" in text
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Compared on held-out prompts (the questions reworded, never trained on), and it says so.
    held_out = (
        "10 held-out prompts: the training questions reworded ('Describe Helium'), never trained on"
    )
    assert f"== 5. Compare: base vs base + few-shot vs tuned, on {held_out}\n" in text
    assert "tuned model, 'Describe Gallium': Gallium, oh gallium, so light" in text
    assert "| 1 | Describe Gallium | " in text
    assert "| 10 | 0 | 100% [72%, 100%] | 100% [72%, 100%] |" in text  # the tuned row
    assert "| 10 | 0 | 0% [0%, 28%] | 0% [0%, 28%] |" in text  # the base row
    tuned = text.split("Tuned model: ", 1)[1].split(" ", 1)[0]
    assert (
        f"- {tuned} wins on exact: 100% vs 0% for gpt-4o-mini-2024-07-18 "
        "(+100 points, 95% CI +61 to +100)\n"
    ) in text
    assert "needs 91 fewer prompt tokens per call than the base model given 2 examples" in text
    note = (
        "Ran on finetune-kit's built-in simulator (nothing left this machine): its tuned model "
        "answers with the reply of the closest training example, so the numbers show the "
        f"workflow, not what a real fine-tune achieves. Compared on {held_out}."
    )
    assert f"\n{note}\n" in text
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert f'<p class="note">{html.escape(note)}</p>' in page
    assert f"<li>{tuned} wins on limerick: 100% vs 0% for " in page
    # One upload each: the training file and the held-out (validation) file; one job.
    assert (sim.calls["files.create"], sim.calls["jobs.create"]) == (2, 1)


def _capitals(tmp_path: Path, rows: int) -> Path:
    """The user's own data: `rows` questions about capitals, each with its reference answer."""
    capitals = [
        ("France", "Paris"), ("Spain", "Madrid"), ("Italy", "Rome"), ("Germany", "Berlin"),
        ("Portugal", "Lisbon"), ("Poland", "Warsaw"), ("Austria", "Vienna"), ("Greece", "Athens"),
        ("Sweden", "Stockholm"), ("Norway", "Oslo"), ("Finland", "Helsinki"),
        ("Denmark", "Copenhagen"), ("Ireland", "Dublin"), ("Belgium", "Brussels"),
        ("Hungary", "Budapest"),
    ]  # fmt: skip
    path = tmp_path / "mine.jsonl"
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "Answer with the capital only."},
                    {"role": "user", "content": f"What is the capital of {country}?"},
                    {"role": "assistant", "content": city},
                ]
            }
        )
        for country, city in capitals[:rows]
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _isolated_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """TMPDIR pointed at an empty test folder (tempfile reads it again)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", None)
    return folder


def _demo_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("finetune-kit-demo-*"))


def test_demo_follows_the_users_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`--dataset mine.jsonl`: a fifth of the rows is held out of training and compared on, graded
    against the user's own answers (exact, contains); no helium, no limericks."""
    block_network(monkeypatch)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    sim = Simulator()
    lines: list[str] = []
    options = DemoOptions(
        dataset=_capitals(tmp_path, 15),
        model="gpt-4o-mini-2024-07-18",
        simulator=sim,
        report=str(tmp_path / "report.html"),
        plot=None,
    )
    assert run_demo(options, out=lines.append) == 0
    text = "\n".join(lines)
    assert (
        "Held out 3 of the 15 rows for the comparison (never trained on); training on the " in text
    )
    about = "3 held-out prompts: rows of mine.jsonl kept out of training"
    assert f"== 5. Compare: base vs base + few-shot vs tuned, on {about}\n" in text
    table = text.split(f"on {about}\n", 1)[1]
    assert table.splitlines()[2].startswith(
        "| model | items | errors | contains pass | exact pass |"
    )
    compared = [
        line.split(" | ")[1]
        for line in table.splitlines()
        if line.startswith(("| 1 |", "| 2 |", "| 3 |"))
    ]
    assert len(compared) == 3
    assert all(p.startswith("What is the capital of ") for p in compared)
    # None of them was trained on: the uploaded training file holds the other 12 rows.
    with sim.client() as client:
        (job,) = client.fine_tuning.jobs.list().data
        training = client.files.content(job.training_file).text
    assert len(training.splitlines()) == 12
    assert not any(p in training for p in compared)
    for word in ("Helium", "limerick", "Elle"):
        assert word not in text
        assert word not in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "needs 32 fewer prompt tokens per call than the base model given 2 examples" in text


def test_demo_on_too_few_rows_compares_on_training_prompts_and_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """10 rows leave none to hold out (the provider needs 10): the demo says the comparison is on
    the training prompts, on the terminal and in the report."""
    block_network(monkeypatch)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    lines: list[str] = []
    options = DemoOptions(
        dataset=_capitals(tmp_path, 10),
        model="gpt-4o-mini-2024-07-18",
        simulator=Simulator(),
        report=str(tmp_path / "report.html"),
        plot=None,
    )
    assert run_demo(options, out=lines.append) == 0
    text = "\n".join(lines)
    assert (
        "mine.jsonl has 10 rows: too few to hold any out of training (the provider needs 10), so "
        "the comparison is on the training prompts: pass --validation held-out.jsonl for a fair "
        "one."
    ) in text
    about = (
        "the 10 training prompts of mine.jsonl (too few rows to hold any out: this shows what "
        "the model learnt, not how it generalises)"
    )
    assert f"Compared on {about}." in text
    assert html.escape(about) in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_demo_leaves_no_temporary_folder(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The held-out files live in a `finetune-kit-demo-*` folder that is gone after the run:
    the bundled demo, the user's data, a dataset with errors, and a run that fails midway."""
    block_network(monkeypatch)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    folder = _isolated_tmp(monkeypatch, tmp_path)
    report = ["--report", str(tmp_path / "r.html"), "--plot", str(tmp_path / "loss.png")]
    assert main(["demo", "--speed", "1000000", *report]) == 0
    assert _demo_folders(folder) == []
    mine = ["--dataset", str(_capitals(tmp_path, 15))]
    assert main(["demo", "--speed", "1000000", *mine, *report]) == 0
    assert _demo_folders(folder) == []
    assert main(["demo", "--dataset", str(_bad_file(tmp_path)), *report]) == 1
    assert _demo_folders(folder) == []
    capsys.readouterr()

    sim = Simulator()
    sim.faults.server_error("jobs.create", status=400, times=1)
    options = DemoOptions(dataset=bundled_dataset(), model="gpt-4o-mini-2024-07-18", simulator=sim)
    with pytest.raises(openai.BadRequestError):
        run_demo(options, out=lambda _: None)
    assert _demo_folders(folder) == []


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
        "786 tokens × 2 epochs = 1,572 billed tokens ≈ $0.01 at $5/1M (your price)"
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["validate", "missing.jsonl", "--model", "gpt-4o"],
            "no such training file: missing.jsonl",
        ),
        (["validate", "BUNDLED", "--model", "gpt-4o", "--n-epochs", "many"], "--n-epochs must be"),
        (["validate", "BUNDLED", "--model", "gpt-4o", "--n-epochs", "99"], "--n-epochs must be"),
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
