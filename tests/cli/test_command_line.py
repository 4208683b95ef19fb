"""The rest of the command line (issue 11, section 5): a closed pipe, `jobs results`,
`jobs list --status`, `jobs show` in detail, `--json` on `tune` and `watch`, and `report`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from openai.types.fine_tuning import FineTuningJob

from finetune_kit.cli import main
from finetune_kit.cli.context import Context
from finetune_kit.cli.main import bundled_dataset
from finetune_kit.testing import Simulator, Timing, VirtualClock
from finetune_kit.testing.server import SimulatorServer
from tests.cli.conftest import MODEL, Cli

ELLE = str(bundled_dataset())
POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes and SIGPIPE's number")


def _advance(cli: Cli, seconds: float) -> None:
    clock = cli.sim.clock
    assert isinstance(clock, VirtualClock)
    clock.advance(seconds)


def _job(cli: Cli, job_id: str) -> FineTuningJob:
    """The job as the API shows it now."""
    return cli.sim.client().fine_tuning.jobs.retrieve(job_id)


def _done(cli: Cli, *extra: str) -> str:
    """A job that succeeded (3 epochs: 30 steps, checkpoints at 10, 20 and 30)."""
    job_id = cli.tune("--n-epochs", "3", *extra)
    _advance(cli, 3600)
    return job_id


# --- a closed pipe ends quietly -----------------------------------------------------------------


class _ClosedAfter:
    """A stdout whose reader goes away after `lines` lines (`| head -n LINES`)."""

    def __init__(self, lines: int = 0) -> None:
        self.lines = lines
        self.written = ""

    def write(self, text: str) -> int:
        if self.written.count("\n") >= self.lines:
            raise BrokenPipeError(32, "Broken pipe")
        self.written += text
        return len(text)

    def flush(self) -> None:
        if self.written.count("\n") > self.lines:
            raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize(
    "argv",
    [
        ["events", "JOB"],
        ["events", "JOB", "--json"],
        ["jobs", "show", "JOB"],
        ["jobs", "list"],
        ["jobs", "results", "JOB"],
        ["metrics", "JOB", "--all"],
        ["watch", "JOB"],
        ["validate", ELLE, "--model", MODEL],
        ["--help"],
    ],
    ids=" ".join,
)
def test_a_reader_that_goes_away_ends_any_command_quietly_with_141(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    """`... | head -1`: exit 141 (128 + SIGPIPE), nothing on stderr (was "Broken pipe", exit 2)."""
    job_id = _done(cli)
    argv = [job_id if a == "JOB" else a for a in argv]
    head = _ClosedAfter(lines=1)
    monkeypatch.setattr(sys, "stdout", head)
    result = cli(*argv)
    assert (result.code, result.err) == (141, "")
    assert head.written  # what the reader took before it went away


def test_a_pipe_closed_before_the_first_line_is_141_too(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command whose first write fails: 141, quietly, the work before it done."""
    job_id = cli.tune()
    _advance(cli, 120)  # running
    monkeypatch.setattr(sys, "stdout", _ClosedAfter(lines=0))
    result = cli("jobs", "pause", job_id)  # prints after pausing: the pause itself happened
    assert (result.code, result.err) == (141, "")
    assert cli.sim.jobs[job_id].status == "paused"


@POSIX
def test_a_real_closed_pipe_exits_141_without_a_word(tmp_path: Path) -> None:
    """A process writing into a pipe nobody reads: 141, empty stderr, no 'Exception ignored'."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte
    try:
        for argv in (["--version"], ["--help"]):  # a command's own output: the next test
            proc = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
                [sys.executable, "-m", "finetune_kit", *argv],
                stdout=write,
                stderr=subprocess.PIPE,
                text=True,
                cwd=tmp_path,
                timeout=120,
                check=False,
            )
            assert (proc.returncode, proc.stderr) == (141, ""), argv
    finally:
        os.close(write)


@POSIX
@pytest.mark.skipif(not shutil.which("head") or not shutil.which("bash"), reason="needs a shell")
def test_events_piped_into_head_against_sim_serve(tmp_path: Path) -> None:
    """`finetune-kit events JOB --json | head -1` against the HTTP simulator: one line, quiet.

    500 steps of events are more than a pipe holds (64 KiB), so the write after `head` exits
    always meets the closed pipe: the exit code is 141 every time, not by luck.
    """
    sim = Simulator()
    main_ctx = Context.on_simulator(sim)
    argv = ["tune", ELLE, "--model", MODEL, "--n-epochs", "50", "--detach"]
    assert main(argv, context=main_ctx) == 0
    (job_id,) = sim.jobs
    clock = sim.clock
    assert isinstance(clock, VirtualClock)
    clock.advance(24 * 3600)
    env = {**os.environ, "OPENAI_API_KEY": "sk-anything"}
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "OPENAI_BASE_URL"):
        env.pop(name, None)
    with SimulatorServer(sim) as server:
        env["OPENAI_BASE_URL"] = server.base_url
        script = (
            f'"{sys.executable}" -m finetune_kit events {job_id} --json | head -1; '
            'echo "exit ${PIPESTATUS[0]}" >&2'
        )
        proc = subprocess.run(  # noqa: S603 - bash with a fixed script
            ["bash", "-c", script],  # noqa: S607 - bash from PATH
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=120,
            check=False,
        )
    first = json.loads(proc.stdout)
    assert first["message"] == "Created fine-tuning job"
    assert proc.stderr == "exit 141\n"  # nothing from finetune-kit: no "error: Broken pipe"


# --- jobs results -------------------------------------------------------------------------------


def test_jobs_results_prints_or_writes_the_csv_decoded(cli: Cli, tmp_path: Path) -> None:
    """Base64 results come out as the CSV; -o writes exactly those bytes and says where."""
    cli.sim = Simulator(timing=Timing(base64_results=True))
    cli.ctx = Context.on_simulator(cli.sim)
    job_id = _done(cli)
    (results_file,) = _job(cli, job_id).result_files or []
    printed = cli("jobs", "results", job_id)
    assert printed.code == 0
    lines = printed.out.splitlines()
    assert lines[0] == "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"
    assert lines[1] == "1,1.8291,0.2965,,"
    assert lines[-1] == "30,0.1711,0.9342,,"
    assert len(lines) == 31

    target = tmp_path / "results.csv"
    written = cli("jobs", "results", job_id, "-o", str(target))
    assert written.code == 0
    assert written.out == f"Results: {target} (30 steps, {results_file})\n"
    assert target.read_text(encoding="utf-8") == printed.out


def test_jobs_results_of_a_job_without_them_is_exit_1(cli: Cli, tmp_path: Path) -> None:
    """A job still validating (or failed) has no results file: said in one line, nothing written."""
    job_id = cli.tune()
    target = tmp_path / "results.csv"
    result = cli("jobs", "results", job_id, "-o", str(target))
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        f"finetune-kit: error: {job_id} has no results file (validating_files): one is written "
        "when a job succeeds\n"
    )
    assert not target.exists()


# --- jobs list --status --limit -----------------------------------------------------------------


def test_jobs_list_filters_by_status_and_limits(cli: Cli) -> None:
    """--status keeps the jobs in that status (repeatable), newest first, at most --limit."""
    done = _done(cli, "--suffix", "a")
    cli.sim.faults.fail_next_job("invalid_file", message="Line 3: messages is missing")
    failed = cli.tune("--suffix", "b")
    _advance(cli, 100)  # failed by now
    fresh = [cli.tune("--suffix", s) for s in ("c", "d")]  # validating_files

    def ids(*argv: str) -> list[str]:
        rows = cli("jobs", "list", *argv).out.splitlines()[1:]
        return [row.split()[0] for row in rows]

    assert ids("--status", "succeeded") == [done]
    assert ids("--status", "failed", "--status", "succeeded") == [failed, done]
    assert ids("--status", "validating_files") == fresh[::-1]
    assert ids("--status", "validating_files", "--limit", "1") == [fresh[1]]
    listed = json.loads(cli("jobs", "list", "--status", "failed", "--json").out)
    assert [j["id"] for j in listed] == [failed]
    assert cli("jobs", "list", "--status", "running").out == "No running fine-tuning jobs.\n"
    assert cli("jobs", "list", "--status", "paused", "--status", "cancelled").out == (
        "No paused or cancelled fine-tuning jobs.\n"
    )


def test_jobs_list_with_an_unknown_status_is_a_usage_error(cli: Cli) -> None:
    """`--status bogus`: one line naming the known statuses, exit 2, before any call."""
    result = cli("jobs", "list", "--status", "bogus")
    assert result.code == 2
    assert result.err == (
        "finetune-kit jobs list: error: argument --status: invalid choice: 'bogus' (choose from "
        "'validating_files', 'queued', 'running', 'paused', 'succeeded', 'failed', 'cancelled', "
        "'pending') (see finetune-kit jobs list --help)\n"
    )
    assert cli.sim.calls["jobs.list"] == 0


# --- jobs show ----------------------------------------------------------------------------------


def test_jobs_show_a_running_job_with_hyperparameters_and_its_estimated_finish(cli: Cli) -> None:
    """While it runs: the step, the estimated finish, the hyperparameters as resolved."""
    job_id = cli.tune("--n-epochs", "3")
    (training_file,) = {j.training_file for j in cli.sim.jobs.values()}
    _advance(cli, 100)
    assert cli("jobs", "show", job_id).out == (
        f"job            {job_id}\n"
        "status         running step 5/30, ETA 00:02:32 UTC\n"
        f"model          {MODEL}\n"
        "method         supervised\n"
        "hyperparams    batch_size=1 learning_rate_multiplier=1.8 n_epochs=3\n"
        "tuned model    -\n"
        f"training file  {training_file}\n"
        "validation     -\n"
        "created        2026-11-01 00:00:02 UTC\n"
        "finishes       2026-11-01 00:02:32 UTC (estimated)\n"
    )


def test_jobs_show_a_finished_job_with_tokens_results_and_checkpoints(cli: Cli) -> None:
    """Once done: the tuned model, trained tokens, result files and how many checkpoints."""
    job_id = _done(cli)
    job = _job(cli, job_id)
    (results_file,) = job.result_files or []
    out = cli("jobs", "show", job_id).out
    assert out == (
        f"job            {job_id}\n"
        "status         succeeded step 30/30\n"
        f"model          {MODEL}\n"
        "method         supervised\n"
        "hyperparams    batch_size=1 learning_rate_multiplier=1.8 n_epochs=3\n"
        f"tuned model    {job.fine_tuned_model}\n"
        f"training file  {job.training_file}\n"
        "validation     -\n"
        "created        2026-11-01 00:00:02 UTC\n"
        "finished       2026-11-01 00:02:32 UTC\n"
        "trained tokens 2,358\n"
        f"result files   {results_file} (finetune-kit jobs results {job_id})\n"
        f"checkpoints    3 (finetune-kit jobs checkpoints {job_id})\n"
    )


def test_jobs_show_a_failed_job_with_its_error_code_and_param(cli: Cli) -> None:
    """The error line: message, code and the parameter it is about."""
    cli.sim.faults.fail_next_job("invalid_file", message="Line 3: messages is missing")
    job_id = cli.tune()
    _advance(cli, 100)
    out = cli("jobs", "show", job_id).out
    assert "status         failed\n" in out
    assert "hyperparams    batch_size=auto learning_rate_multiplier=auto n_epochs=auto\n" in out
    assert out.endswith(
        "error          Line 3: messages is missing [invalid_training_file] (param: "
        "training_file)\n"
    )


def test_jobs_show_json_is_the_api_job_object(cli: Cli) -> None:
    """--json prints the job exactly as the API returns it (and nothing else)."""
    job_id = _done(cli)
    expected = _job(cli, job_id)
    shown = json.loads(cli("jobs", "show", job_id, "--json").out)
    assert shown == expected.model_dump(mode="json")
    assert shown["fine_tuned_model"].startswith(f"ft:{MODEL}:finetune-kit-sim::")


# --- --json on tune and watch -------------------------------------------------------------------


JOB_KEYS = {
    "id", "created_at", "error", "fine_tuned_model", "finished_at", "hyperparameters", "model",
    "object", "organization_id", "result_files", "seed", "status", "trained_tokens",
    "training_file", "validation_file", "estimated_finish", "integrations", "metadata", "method",
}  # fmt: skip


def test_tune_json_prints_only_the_job_object_on_stdout(cli: Cli) -> None:
    """`tune --json | jq -r .fine_tuned_model`: stdout is one JSON object, the rest on stderr."""
    result = cli("tune", ELLE, "--model", MODEL, "--n-epochs", "3", "--json")
    assert result.code == 0, result.err
    job = json.loads(result.out)  # the whole of stdout
    assert set(job) == JOB_KEYS
    (job_id,) = cli.sim.jobs
    assert (job["id"], job["status"], job["trained_tokens"]) == (job_id, "succeeded", 2358)
    assert job["fine_tuned_model"] == _job(cli, job_id).fine_tuned_model
    assert "OK: 0 error(s), 0 warning(s)" in result.err  # the validation report
    assert "] step 30/30 (100%)" in result.err  # the progress
    assert f"\nTuned model: {job['fine_tuned_model']}\n" in result.err


def test_tune_detach_json_prints_the_new_job_at_once(cli: Cli) -> None:
    """--detach --json: the job object as created, status validating_files."""
    result = cli("tune", ELLE, "--model", MODEL, "--detach", "--json")
    assert result.code == 0
    job = json.loads(result.out)
    (job_id,) = cli.sim.jobs
    assert (job["id"], job["status"], job["fine_tuned_model"]) == (
        job_id,
        "validating_files",
        None,
    )
    assert f"Follow it with: finetune-kit watch {job_id}\n" in result.err


def test_tune_json_with_bad_data_prints_nothing_on_stdout(cli: Cli, tmp_path: Path) -> None:
    """No job was made: stdout stays empty (jq gets nothing), the report is on stderr, exit 1."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n', encoding="utf-8")
    result = cli("tune", str(bad), "--model", MODEL, "--json")
    assert (result.code, result.out) == (1, "")
    assert "Nothing was uploaded: fix the errors above" in result.err


def test_watch_json_of_a_failed_job_prints_it_and_exits_1(cli: Cli) -> None:
    """A failed job: its object (with the error) on stdout, the reason on stderr, exit 1."""
    cli.sim.faults.fail_next_job("invalid_file", message="Line 3: messages is missing")
    job_id = cli.tune()
    result = cli("watch", job_id, "--json")
    assert result.code == 1
    job = json.loads(result.out)
    assert (job["id"], job["status"], job["fine_tuned_model"]) == (job_id, "failed", None)
    assert job["error"] == {
        "code": "invalid_training_file",
        "message": "Line 3: messages is missing",
        "param": "training_file",
    }
    assert f"\n{job_id} ended failed: " in result.err


def test_watch_json_stopped_with_ctrl_c_prints_the_job_as_it_is(cli: Cli) -> None:
    """Ctrl-C: exit 130, the job (still training) on stdout, how to re-attach on stderr."""
    job_id = cli.tune()
    cli.interrupt_after(2)
    result = cli("watch", job_id, "--json")
    assert result.code == 130
    job = json.loads(result.out)
    assert (job["id"], job["fine_tuned_model"]) == (job_id, None)
    assert job["status"] not in ("succeeded", "failed", "cancelled")
    assert f"  finetune-kit watch {job_id}\n" in result.err


def test_watch_json_of_a_job_that_succeeded(cli: Cli) -> None:
    """watch --json: the tuned model's id for CI."""
    job_id = cli.tune("--suffix", "ci")
    result = cli("watch", job_id, "--json")
    assert result.code == 0
    assert json.loads(result.out)["fine_tuned_model"] == _job(cli, job_id).fine_tuned_model
    assert ":finetune-kit-sim:ci:" in json.loads(result.out)["fine_tuned_model"]


# --- report -------------------------------------------------------------------------------------


def test_report_writes_the_curves_and_the_comparison_in_one_page(cli: Cli, tmp_path: Path) -> None:
    """`report JOB --compare PROMPTS`: curves, checkpoints and base vs tuned on one page."""
    job_id = _done(cli)
    tuned = _job(cli, job_id).fine_tuned_model
    assert tuned is not None
    page = tmp_path / "report.html"
    result = cli("report", job_id, "--compare", ELLE, "--grader", "exact")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == (
        f"{job_id}: 30 steps with metrics; checkpoints at steps 10, 20, 30"
    )
    assert result.out.splitlines()[1] == f"Compared on 10 prompts from {ELLE}:"
    assert result.out.splitlines()[2].startswith(f"- {tuned} wins on exact: 100% vs 0% for {MODEL}")
    assert result.out.endswith(f"HTML report: {page}\n")
    html = page.read_text(encoding="utf-8")
    assert f"<title>finetune-kit report: {job_id}</title>" in html
    assert f"{job_id}: {MODEL} -&gt; {tuned} (succeeded, 2,358 trained tokens)" in html
    assert "30 steps with metrics; checkpoints at steps 10, 20, 30." in html
    assert html.count("<svg") == 1
    assert "<h2>Comparison</h2>" in html
    assert f"<td>{MODEL}</td>" in html  # a row of the summary per model
    assert f"<td>{tuned}</td>" in html
    assert cli.sim.calls["chat.create"] == 20  # 10 prompts x 2 models


def test_report_without_compare_is_the_training_page(cli: Cli, tmp_path: Path) -> None:
    """No --compare: the curves alone, to -o, and no model is called."""
    job_id = _done(cli)
    page = tmp_path / "out" / "curves.html"
    page.parent.mkdir()
    result = cli("report", job_id, "-o", str(page))
    assert result.code == 0
    assert result.out == (
        f"{job_id}: 30 steps with metrics; checkpoints at steps 10, 20, 30\nHTML report: {page}\n"
    )
    html = page.read_text(encoding="utf-8")
    assert "<h2>Training</h2>" in html
    assert "<h2>Comparison</h2>" not in html
    assert cli.sim.calls["chat.create"] == 0


def test_report_with_a_base_that_never_answers_writes_the_page_and_exits_1(
    cli: Cli, tmp_path: Path
) -> None:
    """As `compare`: a model with no answer at all is named on stderr, exit 1; the page is kept."""
    job_id = _done(cli)
    tuned = _job(cli, job_id).fine_tuned_model
    cli.sim.faults.permission_denied("chat.create")
    result = cli("report", job_id, "--compare", ELLE)
    assert result.code == 1
    assert result.err.startswith(
        f"finetune-kit: error: no answer from {MODEL}, {tuned}: all 10 calls failed; first "
        "error: PermissionDeniedError: "
    )
    assert result.err.count("\n") == 1
    assert result.out.endswith(f"HTML report: {tmp_path / 'report.html'}\n")
    assert "<h2>Comparison</h2>" in (tmp_path / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--compare", "missing.jsonl"], "finetune-kit: error: missing.jsonl: no such file\n"),
        (["--base", MODEL], "--base, --grader, --regex, --system and --price go with --compare\n"),
        (["--compare", ELLE, "--concurrency", "0"],
         "finetune-kit: error: --concurrency must be at least 1, not 0\n"),
        (["--compare", ELLE, "--grader", "bogus"], "argument --grader: invalid choice: 'bogus'"),
    ],
)  # fmt: skip
def test_report_bad_input_is_one_line_exit_2(cli: Cli, argv: list[str], expected: str) -> None:
    """The flags shared with `compare` are checked the same way, before any call."""
    job_id = cli.tune()
    result = cli("report", job_id, *argv)
    assert result.code == 2
    assert expected in result.err
    assert result.err.count("\n") == 1


def test_report_compare_before_the_job_is_done_says_what_to_do(cli: Cli, tmp_path: Path) -> None:
    """No tuned model yet: exit 2 naming the status and `watch`; nothing written."""
    job_id = cli.tune()
    result = cli("report", job_id, "--compare", ELLE)
    assert result.code == 2
    assert result.err == (
        f"finetune-kit: error: {job_id} has no tuned model to compare (validating_files): drop "
        f"--compare for its curves alone, or wait for it: finetune-kit watch {job_id}\n"
    )
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("command", [["report"], ["jobs", "results"]], ids=" ".join)
def test_the_new_commands_have_help(cli: Cli, command: list[str]) -> None:
    """`--help` exits 0 with the usage."""
    result = cli(*command, "--help")
    assert result.code == 0
    assert result.out.startswith(f"usage: finetune-kit {' '.join(command)}")
