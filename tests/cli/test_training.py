"""`tune`, `watch`, `events`, `jobs` and `metrics` on the simulator: exit codes, output, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune_kit.cli.main import bundled_dataset
from finetune_kit.testing import VirtualClock
from tests.cli.conftest import MODEL, Cli

ELLE = str(bundled_dataset())


def test_tune_validates_uploads_creates_once_and_watches_to_the_tuned_model(cli: Cli) -> None:
    """One command from file to tuned model; running it again attaches instead of a new job."""
    result = cli("tune", ELLE, "--model", MODEL, "--suffix", "elle")
    assert result.code == 0, result.err
    out = result.out
    assert "OK: 0 error(s), 0 warning(s)" in out
    assert "786 tokens × 10 epochs (auto, cookbook heuristic) = 7,860 billed tokens" in out
    assert "Ctrl-C stops watching, not the job." in out
    assert "] Fine-tuning job started\n" in out
    assert "] step 50/100 (50%)  loss 0.528 " in out
    assert "  ETA 1m40s\n" in out  # 50 steps left at 2 s a step
    assert "] step 100/100 (100%)  loss 0.192 " in out
    assert "\nTuned model: ft:gpt-4o-mini-2024-07-18:finetune-kit-sim:elle:" in out
    assert "  7,860 trained tokens, 4m50s from creation to the end\n" in out
    assert (cli.sim.calls["files.create"], cli.sim.calls["jobs.create"]) == (1, 1)

    again = cli("tune", ELLE, "--model", MODEL, "--suffix", "elle", "--detach")
    assert again.code == 0
    assert (cli.sim.calls["files.create"], cli.sim.calls["jobs.create"]) == (1, 1)
    assert len(cli.sim.jobs) == 1


def test_tune_refuses_a_dataset_with_errors_before_uploading(cli: Cli, tmp_path: Path) -> None:
    """Errors: the report names the line, exit 1, nothing uploaded or created."""
    bad = tmp_path / "bad.jsonl"
    lines = Path(ELLE).read_text(encoding="utf-8").splitlines()
    lines[2] = '{"messages": [{"role": "user", "content": "hi"}]}'
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("tune", str(bad), "--model", MODEL, "--yes")
    assert result.code == 1
    assert f"{bad}:3: messages [no_assistant_message]" in result.out
    assert "Nothing was uploaded: fix the errors above" in result.out
    assert cli.sim.calls["files.create"] == 0
    assert not cli.sim.jobs


def test_tune_on_a_paid_provider_asks_first(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not on a simulator: no terminal means no spending without --yes; "n" spends nothing."""
    cli.ctx.simulated = False
    refused = cli("tune", ELLE, "--model", MODEL)
    assert refused.code == 2
    assert "Not started: training on OpenAI costs money (≈ $0.02 for 7,860 billed tokens)." in (
        refused.out
    )
    assert "Run with --yes to go ahead without being asked." in refused.out

    cli.ctx.interactive = True
    questions: list[str] = []

    def answer(question: str) -> str:
        questions.append(question)
        return "n"

    monkeypatch.setattr("builtins.input", answer)
    declined = cli("tune", ELLE, "--model", MODEL)
    assert declined.code == 0
    assert questions == ["Train on OpenAI (≈ $0.02 for 7,860 billed tokens)? [y/N] "]
    assert "Nothing was uploaded or spent." in declined.out
    assert cli.sim.calls["files.create"] == 0

    assert cli("tune", ELLE, "--model", MODEL, "--yes", "--detach").code == 0
    assert cli.sim.calls["jobs.create"] == 1


def test_ctrl_c_in_tune_before_creation_leaves_no_job(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted while uploading: exit 130, no job, and how to carry on."""

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("finetune_kit.jobs._files.upload", interrupted)
    result = cli("tune", ELLE, "--model", MODEL)
    assert result.code == 130
    assert "Interrupted before the job was confirmed: nothing is left half-made." in result.out
    assert "Run the same command again: it attaches to the job" in result.out
    assert not cli.sim.jobs
    assert cli.sim.calls["jobs.create"] == 0


def test_ctrl_c_in_watch_leaves_the_job_running_and_says_how_to_reattach(cli: Cli) -> None:
    """Watching stops, the job goes on; `watch` again follows it to the end."""
    job_id = cli.tune()
    cli.interrupt_after(2)
    result = cli("watch", job_id)
    assert result.code == 130
    assert f"Stopped watching. {job_id} keeps running on the provider. Re-attach with:\n" in (
        result.out
    )
    assert f"  finetune-kit watch {job_id}\n" in result.out
    assert f"  finetune-kit jobs cancel {job_id}\n" in result.out
    assert cli.sim.jobs[job_id].status not in ("cancelled", "failed")

    cli.ctx.sleep = cli.sim.clock.sleep
    again = cli("watch", job_id)
    assert again.code == 0
    assert "\nTuned model: ft:gpt-4o-mini-2024-07-18:finetune-kit-sim::" in again.out


def test_watch_a_failed_job_exits_1_with_the_reason(cli: Cli) -> None:
    """A job that fails validation ends the watch with its error, exit 1."""
    cli.sim.faults.fail_next_job("invalid_file", message="Line 3: messages is missing")
    job_id = cli.tune()
    result = cli("watch", job_id)
    assert result.code == 1
    assert f"\n{job_id} ended failed: fine-tuning job {job_id} failed: Line 3:" in result.out


def test_events_oldest_first_json_and_since(cli: Cli) -> None:
    """`events` prints every event once, oldest first; --json lines parse; --since resumes."""
    job_id = cli.tune()
    assert cli("watch", job_id).code == 0
    lines = cli("events", job_id).out.splitlines()
    assert lines[0] == "2026-11-01 00:00:02  info   Created fine-tuning job"
    assert lines[4] == "2026-11-01 00:01:34  info   Step 1/100: training loss=1.96"
    assert lines[-1] == "2026-11-01 00:04:52  info   The job has successfully completed"
    assert len(lines) == len(set(lines)) == 109

    records = [json.loads(line) for line in cli("events", job_id, "--json").out.splitlines()]
    assert len(records) == 109
    assert records[4]["type"] == "metrics"
    assert (records[4]["step"], records[4]["train_loss"]) == (1, 1.9615)

    since = cli("events", job_id, "--since", records[-3]["id"]).out.splitlines()
    assert since == lines[-2:]


def test_events_follow_runs_until_the_job_ends(cli: Cli) -> None:
    """--follow on a running job keeps going to its last event, then exits 0."""
    job_id = cli.tune()
    result = cli("events", job_id, "--follow", "--interval", "30")
    assert result.code == 0
    assert result.out.splitlines()[-1].endswith("The job has successfully completed")
    assert len(result.out.splitlines()) == 109


def test_jobs_list_show_and_control(cli: Cli) -> None:
    """list (text, JSON, empty), show, pause, resume, cancel."""
    assert cli("jobs", "list").out == "No fine-tuning jobs.\n"
    job_id = cli.tune()
    listing = cli("jobs", "list").out.splitlines()
    assert listing[0].split() == ["job", "status", "model", "tuned", "model", "created"]
    assert listing[1].split()[:4] == [job_id, "validating_files", MODEL, "-"]
    assert [j["id"] for j in json.loads(cli("jobs", "list", "--json").out)] == [job_id]

    shown = cli("jobs", "show", job_id).out
    assert f"job            {job_id}\n" in shown
    assert "status         validating_files\n" in shown
    assert "method         supervised\n" in shown
    assert json.loads(cli("jobs", "show", job_id, "--json").out)["id"] == job_id

    clock = cli.sim.clock
    assert isinstance(clock, VirtualClock)
    clock.advance(120)  # running by now
    assert cli("jobs", "pause", job_id).out == f"{job_id}: paused\n"
    assert cli("jobs", "resume", job_id).out == f"{job_id}: queued\n"  # queued to run again
    assert cli("jobs", "cancel", job_id).out == f"{job_id}: cancelled\n"
    assert cli("watch", job_id).code == 1


def test_metrics_summary_table_json_and_plot(cli: Cli, tmp_path: Path) -> None:
    """The curve as a summary, every step, JSON, and a PNG with the checkpoints marked."""
    held_out = tmp_path / "held_out.jsonl"
    rows = Path(ELLE).read_text(encoding="utf-8").replace("Tell me about", "Describe").splitlines()
    held_out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    job_id = cli.tune("--validation", str(held_out))
    assert cli("watch", job_id).code == 0
    summary = cli("metrics", job_id).out.splitlines()
    assert summary[0] == f"{job_id}: 100 steps"
    assert summary[1].startswith("  train loss  1.9685 -> 0.2227  ")
    assert summary[2].startswith("  valid loss  ")
    assert summary[3].startswith("  full valid loss ")
    assert summary[3].endswith(" at step 100")

    table = cli("metrics", job_id, "--all").out.splitlines()
    assert table[0].split() == [
        "step", "train", "loss", "train", "acc", "valid", "loss", "valid", "acc", "full", "valid", "loss"
    ]  # fmt: skip
    assert len(table) == 101
    points = json.loads(cli("metrics", job_id, "--json").out)
    assert [p["step"] for p in points] == list(range(1, 101))

    png = tmp_path / "loss.png"
    plotted = cli("metrics", job_id, "--plot", str(png))
    assert plotted.code == 0
    assert plotted.out.endswith(f"Plot: {png}\n")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metrics_before_any_step(cli: Cli) -> None:
    """A job that has not trained yet has no metrics: said plainly, exit 0."""
    job_id = cli.tune()
    assert cli("metrics", job_id).out == f"{job_id} has no metrics yet (validating_files).\n"


@pytest.mark.parametrize(
    ("argv", "code", "expected"),
    [
        (["watch", "ftjob-missing"], 3, "not found (404): "),
        (["events", "ftjob-missing"], 3, "not found (404): "),
        (["jobs", "show", "ftjob-missing"], 3, "not found (404): "),
        (["jobs", "cancel", "ftjob-missing"], 3, "not found (404): "),
        (["metrics", "ftjob-missing"], 3, "not found (404): "),
        (["jobs", "list", "--limit", "0"], 2, "--limit must be at least 1, not 0"),
        (["jobs", "frobnicate"], 2, "invalid choice: 'frobnicate'"),
        (["tune", "missing.jsonl", "--model", MODEL], 2, "no such training file: missing.jsonl"),
        (["tune", ELLE], 2, "the following arguments are required: --model"),
        (
            ["tune", ELLE, "--model", MODEL, "--metadata", "novalue"],
            2,
            "--metadata takes KEY=VALUE",
        ),
        (["tune", ELLE, "--model", MODEL, "--suffix", "x" * 65], 2, "suffix"),
        (
            ["tune", ELLE, "--model", MODEL, "--max-cost", "0.001"],
            2,
            "over --max-cost 0.001: nothing",
        ),
        (["watch"], 2, "the following arguments are required: job"),
        (["metrics", "x", "--interval", "soon"], 2, "unrecognized arguments"),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(
    cli: Cli, argv: list[str], code: int, expected: str
) -> None:
    """Every bad input: one line on stderr, the documented exit code, no traceback."""
    result = cli(*argv)
    assert result.code == code
    assert result.err.count("\n") == 1, result.err
    assert "finetune-kit" in result.err
    assert "error: " in result.err
    assert expected in result.err
    assert "Traceback" not in result.err
    assert not cli.sim.jobs


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("loss.xyz", "loss.xyz: can't draw a '.xyz' file; use one of "),
        ("no/such/folder/loss.png", "no/such/folder/loss.png: the folder no/such/folder does not"),
    ],
)
def test_metrics_plot_to_a_bad_path_is_one_line(cli: Cli, target: str, expected: str) -> None:
    """A picture that can't be written: one line, exit 2, nothing drawn."""
    job_id = cli.tune()
    assert cli("watch", job_id).code == 0
    result = cli("metrics", job_id, "--plot", target)
    assert result.code == 2
    assert result.err.startswith(f"finetune-kit: error: {expected}")
    assert result.err.count("\n") == 1


def test_a_bug_is_one_line_exit_4_unless_debugging(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception: one line naming it (keys redacted), exit 4; the traceback on demand."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unexpected state with sk-secret123456")

    monkeypatch.setattr("finetune_kit.jobs.FineTuneJob.list", broken)
    result = cli("jobs", "list")
    assert result.code == 4
    assert result.err == (
        "finetune-kit: internal error: RuntimeError: unexpected state with sk-*** (a bug: please "
        "report it; FINETUNE_KIT_DEBUG=1 shows the traceback)\n"
    )
    monkeypatch.setenv("FINETUNE_KIT_DEBUG", "1")
    with pytest.raises(RuntimeError, match="unexpected state"):
        cli("jobs", "list")


def test_jobs_checkpoints_lists_step_model_and_metrics(cli: Cli, tmp_path: Path) -> None:
    """The last three epochs' checkpoints, oldest first, with their metrics; JSON too."""
    job_id = cli.tune()
    assert cli("jobs", "checkpoints", job_id).out == (
        f"{job_id} has no checkpoints yet (validating_files).\n"
    )
    assert cli("watch", job_id).code == 0
    lines = cli("jobs", "checkpoints", job_id).out.splitlines()
    assert lines[0].split() == ["step", "checkpoint", "model", "train", "loss", "valid", "loss", "full", "valid", "loss"]  # fmt: skip
    assert [line.split()[0] for line in lines[1:]] == ["80", "90", "100"]
    assert lines[3].split()[1].endswith(":ckpt-step-100")
    assert lines[3].split()[3:] == ["-", "-"]  # no validation data
    records = json.loads(cli("jobs", "checkpoints", job_id, "--json").out)
    assert [r["step_number"] for r in records] == [80, 90, 100]


def test_tune_passes_hyperparameters_and_azure_training_type(cli: Cli) -> None:
    """--n-epochs, --batch-size, --learning-rate-multiplier end up in the job's method."""
    job_id = cli.tune(
        "--n-epochs", "3", "--batch-size", "2", "--learning-rate-multiplier", "0.5", "--seed", "7"
    )
    shown = json.loads(cli("jobs", "show", job_id, "--json").out)
    assert shown["method"]["supervised"]["hyperparameters"] == {
        "n_epochs": 3,
        "batch_size": 2,
        "learning_rate_multiplier": 0.5,
    }
    assert shown["seed"] == 7
    bad = cli("tune", ELLE, "--model", MODEL, "--beta", "0.1", "--detach")
    assert bad.code == 2
    assert "beta" in bad.err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["watch", "ftjob-x", "--interval", "-1"],
            "argument --interval: must be a positive number",
        ),
        (
            ["events", "ftjob-x", "--interval", "0"],
            "argument --interval: must be a positive number",
        ),
        (["tune", ELLE, "--model", MODEL, "--max-cost", "nan"], "--max-cost: must be a positive"),
        (["estimate", ELLE, "--model", MODEL, "--price", "free"], "--price: must be a positive"),
    ],
)
def test_numbers_must_be_positive(cli: Cli, argv: list[str], expected: str) -> None:
    """Intervals, budgets and prices are checked before anything is called."""
    result = cli(*argv)
    assert result.code == 2
    assert expected in result.err
    assert result.err.count("\n") == 1
    assert cli.sim.calls["jobs.retrieve"] == 0


def test_an_unreachable_endpoint_is_named(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dropped connection: one line naming where, exit 3."""
    cli.sim.faults.disconnect("*", times=None)
    cli.ctx.client = cli.sim.client(max_retries=0, base_url="http://finetune.internal:8443/v1")
    result = cli("jobs", "list")
    assert result.code == 3
    assert result.err == (
        "finetune-kit: error: cannot reach http://finetune.internal:8443 (connection failed): "
        "check the network, --base-url or --azure-endpoint\n"
    )


def test_the_question_says_when_the_price_is_unknown(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model without a published price: the billed tokens, and how to give a price."""
    from finetune_kit.dataset import catalog

    monkeypatch.delitem(catalog.TRAINING_PRICES, "gpt-4.1-mini")
    cli.ctx.simulated = False
    result = cli("tune", ELLE, "--model", "gpt-4.1-mini-2025-04-14")
    assert result.code == 2
    assert (
        "Not started: training on OpenAI costs money (7,860 billed tokens, price unknown "
        "(--price))." in result.out
    )


def _thirty(tmp_path: Path) -> Path:
    rows = [
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"What is {i} + {i}?"},
                    {"role": "assistant", "content": f"{i} + {i} = {2 * i}."},
                ]
            }
        )
        for i in range(30)
    ]
    path = tmp_path / "sums.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_tune_split_holds_out_validation_data_reproducibly(cli: Cli, tmp_path: Path) -> None:
    """--split 10 keeps 20 for training and 10 for validation; a re-run is the same job."""
    data = str(_thirty(tmp_path))
    result = cli("tune", data, "--model", MODEL, "--split", "10", "--detach")
    assert result.code == 0, result.err
    assert "split: 20 training and 10 validation examples (seed 0; the same split every run)" in (
        result.out
    )
    (job,) = cli.sim.jobs.values()
    assert job.validation_file is not None
    assert cli("tune", data, "--model", MODEL, "--split", "10", "--detach").code == 0
    assert len(cli.sim.jobs) == 1
    assert (
        cli("tune", data, "--model", MODEL, "--split", "10", "--split-seed", "1", "--detach").code
        == 0
    )
    assert len(cli.sim.jobs) == 2  # another split is other inputs


def test_tune_split_and_validation_exclude_each_other(cli: Cli, tmp_path: Path) -> None:
    """One source of validation data at a time: one line, exit 2, nothing uploaded."""
    data = str(_thirty(tmp_path))
    result = cli("tune", data, "--model", MODEL, "--split", "0.2", "--validation", ELLE)
    assert result.code == 2
    assert result.err == (
        "finetune-kit: error: --split holds out validation data from FILE: drop --validation\n"
    )
    assert cli.sim.calls["files.create"] == 0


def test_ctrl_c_in_events_follow_stops_following_only(cli: Cli) -> None:
    """Ctrl-C while following: the events so far were printed, exit 130, how to go on."""
    job_id = cli.tune()
    cli.interrupt_after(1)
    result = cli("events", job_id, "--follow")
    assert result.code == 130
    assert result.out.startswith("2026-11-01 00:00:02  info   Created fine-tuning job\n")
    assert result.out.endswith(
        f"\nStopped following; {job_id} goes on. Again: finetune-kit events {job_id} -f\n"
    )
    assert cli.sim.jobs[job_id].status != "cancelled"
