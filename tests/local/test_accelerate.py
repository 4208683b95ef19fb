"""Training under `accelerate launch` (`LocalPlatform(accelerate_config=...)`, `--accelerate-config`).

The command launched, the events' JSON lines and the startup errors are checked without torch;
then, on the CPU, a real `accelerate launch` (config: `distributed_type: "NO"`, `use_cpu: true`,
one process) trains a tiny job to the end, and another is cancelled while it trains. The events
of the launched job are compared with the same job trained by the ordinary worker.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from finetune_kit.cli.main import main
from finetune_kit.local.launch import (
    check_accelerate_config,
    event_from_json,
    event_to_json,
    last_error_line,
    launch_argv,
)
from finetune_kit.platform.engine import (
    Cancelled,
    CheckpointSaved,
    Failed,
    Message,
    Metrics,
    Paused,
    Started,
    Succeeded,
)
from tests.local.conftest import require_local_stack
from tests.local.test_training import require_trainer_stack

WAIT = 300.0
CPU_CONFIG = (
    "compute_environment: LOCAL_MACHINE\n"
    'distributed_type: "NO"\n'
    "use_cpu: true\n"
    "num_processes: 1\n"
    "mixed_precision: 'no'\n"
)
QUESTIONS = ("Hi?", "Name a city.", "Any news?", "Say one thing.")


# --- without torch --------------------------------------------------------------------------------


def test_a_job_is_launched_as_accelerate_launch_of_our_module(tmp_path: Path) -> None:
    config = tmp_path / "ddp.yaml"
    task = tmp_path / "jobs" / "ftjob-1" / "launch" / "task.json"
    assert launch_argv(config, task) == [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(config),
        "-m",
        "finetune_kit.local.launched",
        str(task),
    ]


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            Started(12),
            '{"type": "Started", "at": null, "total_steps": 12, "estimated_finish": null}',
        ),
        (
            Metrics(3, 1.5, 0.25, full_valid_loss=2.0),
            (
                '{"type": "Metrics", "at": null, "step": 3, "train_loss": 1.5, '
                '"train_mean_token_accuracy": 0.25, "valid_loss": null, '
                '"valid_mean_token_accuracy": null, "full_valid_loss": 2.0, '
                '"full_valid_mean_token_accuracy": null}'
            ),
        ),
        (
            CheckpointSaved(4, Path("/r/jobs/j/checkpoints/step-4")),
            (
                '{"type": "CheckpointSaved", "at": null, "step": 4, '
                '"path": "/r/jobs/j/checkpoints/step-4"}'
            ),
        ),
        (Message("info", "hi"), '{"type": "Message", "at": null, "level": "info", "text": "hi"}'),
        (
            Succeeded(40, Path("/r/jobs/j/model")),
            (
                '{"type": "Succeeded", "at": null, "trained_tokens": 40, '
                '"model_path": "/r/jobs/j/model"}'
            ),
        ),
        (
            Failed("out_of_memory", "lower batch_size"),
            (
                '{"type": "Failed", "at": null, "code": "out_of_memory", '
                '"message": "lower batch_size"}'
            ),
        ),
        (Cancelled(), '{"type": "Cancelled", "at": null}'),
        (Paused(), '{"type": "Paused", "at": null}'),
    ],
)
def test_events_travel_as_json_lines_of_their_type_and_fields(event: Any, line: str) -> None:
    assert event_to_json(event) == line
    assert event_from_json(line) == event


def test_a_crash_is_told_by_the_trainers_last_error_line_not_the_launchers() -> None:
    stderr = (
        "Traceback (most recent call last):\n"
        '  File "train.py", line 3, in <module>\n'
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n"
        "Traceback (most recent call last):\n"
        '  File "accelerate/commands/launch.py", line 1, in simple_launcher\n'
        "subprocess.CalledProcessError: Command '['python', '-m', 'x']' returned non-zero "
        "exit status 1.\n"
    )
    assert last_error_line(stderr) == (
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
    )
    assert last_error_line("Killed\n\n") == "Killed"
    assert last_error_line("") is None


CRASH = """
import json, pathlib, sys
folder = pathlib.Path(sys.argv[1]).parent
task = json.loads(pathlib.Path(sys.argv[1]).read_text())
with (folder / "events.jsonl").open("a") as events:
    events.write(json.dumps({"type": "Started", "at": None, "total_steps": 5}) + "\\n")
    events.write('{"type": "Metrics", "step": 1, "train_loss": 2.5, ')  # may be read half written
    events.flush()
    events.write('"train_mean_token_accuracy": 0.5}\\n')
print(task["job"]["id"], task["resume"], task["up_to"], task["device"], (folder / "control").read_text().strip())
sys.stderr.write("Traceback (most recent call last):\\nValueError: boom\\n")
sys.exit(3)
"""


def _job(workdir: Path) -> Any:
    from finetune_kit.platform.engine import TrainingJob

    return TrainingJob(
        id="ftjob-1",
        model="/models/tiny",
        method="supervised",
        hyperparameters={"n_epochs": 1, "batch_size": 1, "learning_rate_multiplier": 1.0},
        training_file=workdir.parent / "train.jsonl",
        validation_file=None,
        suffix=None,
        seed=1,
        workdir=workdir,
        examples=10,
        options={"lora_targets": ["q_proj", "v_proj"]},
    )


def test_a_launch_that_dies_without_a_final_event_fails_the_job_with_its_last_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The launch (a stand-in script) writes two events, then crashes: both arrive in order,
    then the failure with its exit status and the last line of its traceback."""
    from finetune_kit.local import launch
    from finetune_kit.local.worker import CANCEL

    monkeypatch.setattr(
        launch, "launch_argv", lambda _config, task: [sys.executable, "-c", CRASH, str(task)]
    )
    delivered: list[tuple[str, Any]] = []
    worker = launch.AcceleratedWorker(
        tmp_path / "cpu.yaml", "cpu", lambda j, e: delivered.append((j, e))
    )
    worker.value = CANCEL  # before the launch: in the control file the launch finds
    job = _job(tmp_path / "jobs" / "ftjob-1")
    worker.put((job, True, 7))
    worker.join(WAIT)
    folder = job.workdir / "launch"
    assert not worker.is_alive()
    assert worker.exitcode == 3
    assert delivered == [
        ("ftjob-1", Started(5)),
        ("ftjob-1", Metrics(1, 2.5, 0.5)),
        (
            "ftjob-1",
            Failed(
                "worker_died",
                "accelerate launch exited (3): ValueError: boom; checkpoints saved so far are "
                "kept (resume the job to continue from the latest; the whole log is "
                f"{folder / 'stderr.log'})",
            ),
        ),
    ]
    assert (folder / "stdout.log").read_text() == "ftjob-1 True 7 cpu cancel\n"
    assert launch.job_from_json((folder / "task.json").read_text())[0] == job


def test_cancel_and_pause_are_the_control_file_that_rank_zero_reads(tmp_path: Path) -> None:
    from finetune_kit.local import launch
    from finetune_kit.local.launched import FileControl
    from finetune_kit.local.worker import CANCEL, PAUSE, RUN

    class OneProcess:
        is_main_process = True
        num_processes = 1

    pytest.importorskip("accelerate")
    worker = launch.AcceleratedWorker(tmp_path / "cpu.yaml", "cpu", lambda _j, _e: None)
    folder = tmp_path / "launch"
    control = FileControl(folder, OneProcess(), None)
    worker._folder = folder  # as after a launch
    folder.mkdir()
    seen = [control.value]
    for flag in (PAUSE, CANCEL, RUN):
        worker.value = flag
        seen.append(control.value)
    assert seen == [RUN, PAUSE, CANCEL, RUN]
    gone = FileControl(folder, OneProcess(), 2**22 + 12345)  # no such process: the server died
    assert gone.value == PAUSE


# --- errors before serving ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("missing.yaml", None, "no such file"),
        ("folder", "", "cannot be read (Is a directory)"),
        ("list.yaml", "- a\n- b\n", "not an accelerate config (not a mapping of settings)"),
        (
            "broken.yaml",
            "distributed_type: [NO\n",
            "not an accelerate config (not valid YAML: while parsing a flow sequence)",
        ),
        (
            "broken.json",
            '{"distributed_type": ',
            (
                "not an accelerate config (not valid JSON: "
                "Expecting value: line 1 column 22 (char 21))"
            ),
        ),
        ("model.yaml", "hidden_size: 64\n", "not an accelerate config (no distributed_type)"),
        (
            "bad-type.yaml",
            "distributed_type: EVERYWHERE\n",
            "not an accelerate config ('EVERYWHERE' is not a valid DistributedType)",
        ),
        (
            "extra.yaml",
            "distributed_type: MULTI_GPU\nnum_gpus: 2\n",
            (
                "not an accelerate config (unknown keys (['num_gpus']), please try upgrading your "
                "`accelerate` version or fix (and potentially remove) these keys from your config "
                "file.)"
            ),
        ),
        (
            "sagemaker.yaml",
            "compute_environment: AMAZON_SAGEMAKER\ndistributed_type: NO\n",
            (
                "not an accelerate config (compute_environment is AMAZON_SAGEMAKER; the server "
                "launches on LOCAL_MACHINE)"
            ),
        ),
    ],
)
def test_local_serve_refuses_a_bad_accelerate_config_in_one_line_before_serving(
    name: str,
    content: str | None,
    why: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / name
    if name == "folder":
        config.mkdir()
    elif content is not None:
        config.write_text(content, encoding="utf-8")
    code = main(
        [
            "local",
            "serve",
            "--model",
            f"tiny={tmp_path / 'no-model'}",
            "--port",
            "0",
            "--root",
            str(tmp_path / "root"),
            "--accelerate-config",
            str(config),
        ]
    )
    out, err = capsys.readouterr()
    assert (code, out, err) == (2, "", f"finetune-kit: error: accelerate config {config}: {why}\n")


def test_a_good_config_is_taken_as_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("accelerate")
    (tmp_path / "cpu.yaml").write_text(CPU_CONFIG, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert check_accelerate_config("cpu.yaml") == tmp_path / "cpu.yaml"


# --- a real `accelerate launch`, on the CPU -------------------------------------------------------


def _rows(answer: str, count: int) -> bytes:
    lines = []
    for i in range(count):
        messages = [
            {"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]},
            {"role": "assistant", "content": answer},
        ]
        lines.append(json.dumps({"messages": messages}) + "\n")
    return "".join(lines).encode()


def _supervised(n_epochs: int) -> dict[str, Any]:
    hyper = {"n_epochs": n_epochs, "batch_size": 1, "learning_rate_multiplier": 20.0}
    return {"type": "supervised", "supervised": {"hyperparameters": hyper}}


def _shape(event: Any) -> tuple[Any, ...]:
    """What an event says, less what differs from one run to the next (numbers, folders)."""
    if isinstance(event, Metrics):
        present = tuple(
            name for name in ("valid_loss", "full_valid_loss") if getattr(event, name) is not None
        )
        return ("Metrics", event.step, present)
    if isinstance(event, CheckpointSaved):
        return ("CheckpointSaved", event.step, event.path.relative_to(event.path.parents[1]))
    if isinstance(event, Succeeded):
        return ("Succeeded", event.trained_tokens, event.model_path.name)
    if isinstance(event, Started):
        return ("Started", event.total_steps)
    return (type(event).__name__, *(getattr(event, f) for f in event.__dataclass_fields__))


@pytest.fixture(scope="module")
def launched(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A platform whose jobs run under `accelerate launch` on the CPU."""
    require_local_stack()
    require_trainer_stack()
    from finetune_kit.local.platform import LocalPlatform

    folder = tmp_path_factory.mktemp("accelerate")
    config = folder / "cpu.yaml"
    config.write_text(CPU_CONFIG, encoding="utf-8")
    with LocalPlatform(
        models={"tiny": tiny_model_dir},
        root=folder / "root",
        device="cpu",
        options={"max_length": 32},
        seed=7,
        max_concurrent_jobs=2,
        accelerate_config=config,
    ) as platform:
        yield platform


def test_a_launched_job_succeeds_with_the_events_of_the_worker_and_cancel_stops_one(
    launched: Any,
) -> None:
    """Two jobs launched at once: `job` trains to the end (the same job also trains in the
    ordinary worker meanwhile, to compare the events), `stopped` is cancelled while it trains."""
    from finetune_kit.local.training import TrainingEngine

    client, engine = launched.client(), launched.training_engine
    small = client.files.create(file=("small.jsonl", _rows("Paris.", 10)), purpose="fine-tune")
    long = client.files.create(file=("long.jsonl", _rows("Lima.", 10)), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model="tiny", training_file=small.id, method=_supervised(2), suffix="acc"
    )
    stopped = client.fine_tuning.jobs.create(
        model="tiny", training_file=long.id, method=_supervised(30)
    )
    for created in (job, stopped):  # validated, handed to the engine: both launched
        got = client.fine_tuning.jobs.retrieve(created.id)
        assert got.status == "queued", (got.status, got.error)
    task = launched.training.job(job.id)
    with TrainingEngine(device="cpu") as worker:
        worker.submit(dataclasses.replace(task, workdir=task.workdir.parent / "worker-run"))

        engine.wait(stopped.id, WAIT, until=lambda h: any(isinstance(e, Metrics) for e in h))
        assert client.fine_tuning.jobs.cancel(stopped.id).status == "cancelled"
        assert engine.wait(stopped.id, WAIT) == "cancelled"
        assert engine.wait(job.id, WAIT) == "succeeded"
        assert worker.wait(task.id, WAIT) == "succeeded"
        worker_events = worker.history(task.id)
    done = client.fine_tuning.jobs.retrieve(job.id)
    launched_events = engine.history(job.id)
    cancelled = engine.history(stopped.id)

    assert done.status == "succeeded"
    assert re.fullmatch(r"ft:tiny:local:acc:[0-9a-f]{8}", done.fine_tuned_model or "")
    assert (task.workdir / "model" / "adapter_model.safetensors").is_file()
    assert [_shape(e) for e in launched_events] == [_shape(e) for e in worker_events]
    assert [_shape(e) for e in launched_events] == [
        ("Started", 20),
        *[("Metrics", step, ()) for step in range(1, 11)],
        ("CheckpointSaved", 10, Path("checkpoints/step-10")),
        *[("Metrics", step, ()) for step in range(11, 21)],
        ("CheckpointSaved", 20, Path("checkpoints/step-20")),
        ("Succeeded", done.trained_tokens, "model"),
    ]
    folder = task.workdir / "launch"
    assert sorted(p.name for p in folder.iterdir()) == [
        "command.txt",
        "events.jsonl",
        "stderr.log",
        "stdout.log",
        "task.json",
    ]
    command = shlex.join(launch_argv(launched.accelerate_config, folder / "task.json"))
    assert (folder / "command.txt").read_text(encoding="utf-8") == command + "\n"
    lines = (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert [event_from_json(line) for line in lines] == launched_events

    steps = [e.step for e in cancelled if isinstance(e, Metrics)]
    assert _shape(cancelled[0]) == ("Started", 300)
    assert steps == list(range(1, len(steps) + 1))
    assert steps[-1] < 300
    assert _shape(cancelled[-1]) == ("Cancelled", None)
    assert not (launched.training.job(stopped.id).workdir / "model").exists()
    newest = client.fine_tuning.jobs.list_events(stopped.id, limit=1).data
    assert [e.message for e in newest] == ["Fine-tuning job cancelled"]
