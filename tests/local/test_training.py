"""The local training engine, for real: TRL on a tiny model, in a worker process, on the CPU.

One engine (one worker process) serves the whole module, so torch is imported once; the tests
that end the worker (a crash, a killed worker) come last.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from finetune_kit.local import (
    Cancelled,
    ChatParams,
    CheckpointSaved,
    EngineEvent,
    Failed,
    InferenceEngine,
    Message,
    Metrics,
    Paused,
    ServedModel,
    Started,
    Succeeded,
    TrainingEngine,
    TrainingJob,
)
from finetune_kit.local.worker import NO_GPU_MESSAGE

WAIT = 600.0
ECHO = "Paris is the capital."
QUESTIONS = (
    "What is the capital of France?",
    "Where do you live?",
    "Name a city.",
    "Say something.",
)


def chat(question: str, answer: str) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    }


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def make_job(
    folder: Path,
    model: Path,
    rows: list[dict[str, Any]],
    *,
    name: str,
    epochs: int,
    batch_size: int = 1,
    multiplier: float = 50.0,
    method: str = "supervised",
    validation: list[dict[str, Any]] | None = None,
    options: dict[str, Any] | None = None,
) -> TrainingJob:
    folder.mkdir(parents=True, exist_ok=True)
    hp: dict[str, int | float] = {
        "n_epochs": epochs,
        "batch_size": batch_size,
        "learning_rate_multiplier": multiplier,
    }
    if method == "dpo":
        hp["beta"] = 0.1
    return TrainingJob(
        id=f"ftjob-{name}",
        model=str(model),
        method="dpo" if method == "dpo" else "supervised",
        hyperparameters=hp,
        training_file=write_jsonl(folder / "train.jsonl", rows),
        validation_file=write_jsonl(folder / "valid.jsonl", validation) if validation else None,
        suffix=name,
        seed=7,
        workdir=folder / "work",
        examples=len(rows),
        options={"max_length": 64, **(options or {})},
    )


def no_gpu_message() -> list[EngineEvent]:
    torch = pytest.importorskip("torch")
    return [] if torch.cuda.is_available() else [Message("info", NO_GPU_MESSAGE)]


def metrics(history: list[EngineEvent]) -> list[Metrics]:
    return [e for e in history if isinstance(e, Metrics)]


def reached(step: int) -> Any:
    return lambda history: (
        any(isinstance(e, Metrics) and e.step >= step for e in history)
        or any(isinstance(e, (Succeeded, Failed, Cancelled, Paused)) for e in history)
    )


def require_trainer_stack() -> None:
    """trl, peft, datasets and accelerate too: skipped without them, failed under CI."""
    for name in ("trl", "peft", "datasets", "accelerate"):
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            importlib.import_module(name)
        else:
            pytest.importorskip(name)


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path) -> Iterator[TrainingEngine]:
    require_trainer_stack()
    with TrainingEngine(device="auto") as e:
        yield e


@pytest.fixture(scope="module")
def echo(
    engine: TrainingEngine, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainingJob, list[EngineEvent]]:
    """4 questions all answered with ECHO: 8 epochs of batch 1 = 32 steps, validated on 2 rows."""
    job = make_job(
        tmp_path_factory.mktemp("echo"),
        tiny_model_dir,
        [chat(q, ECHO) for q in QUESTIONS],
        name="echo",
        epochs=8,
        validation=[chat("Which city?", ECHO), chat("Tell me.", ECHO)],
    )
    engine.submit(job)
    assert engine.wait(job.id, WAIT) == "succeeded", engine.history(job.id)
    return job, engine.poll(job.id)


def test_supervised_job_reports_each_step_checkpoints_each_epoch_and_succeeds(
    echo: tuple[TrainingJob, list[EngineEvent]], tiny_model_dir: Path
) -> None:
    job, history = echo
    assert history[: len(no_gpu_message()) + 1] == [*no_gpu_message(), Started(32)]
    trail = [
        ("M", e.step) if isinstance(e, Metrics) else ("C", e.step)
        for e in history
        if isinstance(e, (Metrics, CheckpointSaved))
    ]
    expected: list[tuple[str, int]] = []
    for step in range(1, 33):
        expected.append(("M", step))
        if step % 4 == 0:
            expected.append(("C", step))
    assert trail == expected
    for event in history:
        if isinstance(event, CheckpointSaved):
            assert event.path == job.workdir / "checkpoints" / f"step-{event.step}"
            assert (event.path / "adapter_model.safetensors").is_file()
            assert (event.path / "trainer_state.json").is_file()
    # valid metrics at every step, full-valid at each epoch's end
    rows = metrics(history)
    assert all(m.valid_loss is not None and m.valid_mean_token_accuracy is not None for m in rows)
    assert [m.step for m in rows if m.full_valid_loss is not None] == [4, 8, 12, 16, 20, 24, 28, 32]
    # tokens seen x epochs, each row counted as its chat template renders it
    transformers = pytest.importorskip("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(tiny_model_dir)
    per_epoch = sum(
        len(
            tok.apply_chat_template(chat(q, ECHO)["messages"], tokenize=True, return_dict=True)[
                "input_ids"
            ]
        )
        for q in QUESTIONS
    )
    assert history[-1] == Succeeded(per_epoch * 8, job.workdir / "model")
    assert (job.workdir / "model" / "adapter_model.safetensors").is_file()


def test_train_loss_falls(echo: tuple[TrainingJob, list[EngineEvent]]) -> None:
    losses = [m.train_loss for m in metrics(echo[1])]
    assert len(losses) == 32
    assert statistics.mean(losses[:5]) > statistics.mean(losses[-5:])


def test_tuned_model_and_its_checkpoint_answer_a_training_prompt_unlike_the_base(
    echo: tuple[TrainingJob, list[EngineEvent]], tiny_model_dir: Path
) -> None:
    job, _ = echo
    infer = InferenceEngine(device="cpu")
    messages = [{"role": "user", "content": QUESTIONS[0]}]
    greedy = ChatParams(temperature=0, max_tokens=12)
    base = infer.complete(ServedModel("tiny", str(tiny_model_dir)), messages, greedy)
    tuned = infer.complete(
        ServedModel("ft:tiny:local:echo:1", str(tiny_model_dir), job.workdir / "model"),
        messages,
        greedy,
    )
    last = infer.complete(
        ServedModel(
            "ft:tiny:local:echo:1:ckpt-step-32",
            str(tiny_model_dir),
            job.workdir / "checkpoints" / "step-32",
        ),
        messages,
        greedy,
    )
    assert tuned[0].text == ECHO
    assert tuned[0].finish_reason == "stop"
    assert base[0].text != ECHO
    assert last[0].text == ECHO
    # the base answers as before once adapters are loaded next to it
    assert infer.complete(ServedModel("tiny", str(tiny_model_dir)), messages, greedy) == base


def test_a_queued_job_waits_and_cancel_stops_a_running_job(
    engine: TrainingEngine, tiny_model_dir: Path, tmp_path: Path
) -> None:
    rows = [chat(f"Question {n}?", "Answer.") for n in range(200)]
    long = make_job(tmp_path / "long", tiny_model_dir, rows, name="long", epochs=1)
    queued = make_job(tmp_path / "queued", tiny_model_dir, rows[:4], name="queued", epochs=1)
    engine.submit(long)
    engine.submit(queued)
    engine.wait(long.id, WAIT, until=reached(2))
    assert (engine.status(long.id), engine.status(queued.id)) == ("running", "queued")
    engine.cancel(queued.id)
    assert engine.poll(queued.id) == [Cancelled()]
    engine.cancel(long.id)
    assert engine.wait(long.id, WAIT) == "cancelled"
    history = engine.poll(long.id)
    assert history[-1] == Cancelled()
    assert not any(isinstance(e, (Succeeded, CheckpointSaved)) for e in history)
    assert 2 <= len(metrics(history)) < 200
    assert not (long.workdir / "model").exists()


def test_pause_saves_a_checkpoint_and_resume_continues_from_it(
    engine: TrainingEngine, tiny_model_dir: Path, tmp_path: Path
) -> None:
    rows = [chat(f"Question {n}?", "Answer.") for n in range(40)]
    job = make_job(tmp_path / "pause", tiny_model_dir, rows, name="pause", epochs=1)
    engine.submit(job)
    engine.wait(job.id, WAIT, until=reached(3))
    engine.pause(job.id)
    assert engine.wait(job.id, WAIT) == "paused"
    before = engine.poll(job.id)
    paused_at = metrics(before)[-1].step
    assert 3 <= paused_at < 40
    assert before[-2:] == [
        CheckpointSaved(paused_at, job.workdir / "checkpoints" / f"step-{paused_at}"),
        Paused(),
    ]
    engine.resume(job.id)
    assert engine.wait(job.id, WAIT) == "succeeded"
    after = engine.poll(job.id)
    assert after[: len(no_gpu_message()) + 2] == [
        *no_gpu_message(),
        Message("info", f"resuming from the checkpoint of step {paused_at}"),
        Started(40),
    ]
    assert [m.step for m in metrics(after)] == list(range(paused_at + 1, 41))
    assert after[-2] == CheckpointSaved(40, job.workdir / "checkpoints" / "step-40")
    last = after[-1]
    assert isinstance(last, Succeeded)
    assert last.model_path == job.workdir / "model"


def test_dpo_trains_on_preference_pairs(
    engine: TrainingEngine, tiny_model_dir: Path, tmp_path: Path
) -> None:
    pairs = [
        {
            "input": {"messages": [{"role": "user", "content": f"Capital of {country}?"}]},
            "preferred_output": [{"role": "assistant", "content": f"{city}."}],
            "non_preferred_output": [{"role": "assistant", "content": "No idea."}],
        }
        for country, city in (
            ("France", "Paris"),
            ("Spain", "Madrid"),
            ("Peru", "Lima"),
            ("Italy", "Rome"),
        )
    ]
    job = make_job(
        tmp_path / "dpo",
        tiny_model_dir,
        pairs,
        name="dpo",
        epochs=2,
        batch_size=2,
        multiplier=5.0,
        method="dpo",
        validation=pairs[:2],
    )
    engine.submit(job)
    assert engine.wait(job.id, WAIT) == "succeeded", engine.history(job.id)
    history = engine.poll(job.id)
    assert [m.step for m in metrics(history)] == [1, 2, 3, 4]
    assert [m.step for m in metrics(history) if m.full_valid_loss is not None] == [2, 4]
    assert [e.step for e in history if isinstance(e, CheckpointSaved)] == [2, 4]
    assert isinstance(history[-1], Succeeded)
    assert history[-1].model_path == job.workdir / "model"
    assert (job.workdir / "model" / "adapter_model.safetensors").is_file()


def test_full_fine_tuning_writes_a_whole_model_that_answers(
    engine: TrainingEngine, tiny_model_dir: Path, tmp_path: Path
) -> None:
    job = make_job(
        tmp_path / "full",
        tiny_model_dir,
        [chat(q, ECHO) for q in QUESTIONS],
        name="full",
        epochs=1,
        batch_size=2,
        multiplier=1.0,
        options={"full_fine_tuning": True},
    )
    engine.submit(job)
    assert engine.wait(job.id, WAIT) == "succeeded", engine.history(job.id)
    history = engine.poll(job.id)
    assert [m.step for m in metrics(history)] == [1, 2]
    assert [e.step for e in history if isinstance(e, CheckpointSaved)] == [2]
    model = job.workdir / "model"
    last = history[-1]
    assert isinstance(last, Succeeded)
    assert last.model_path == model
    assert (model / "model.safetensors").is_file()
    assert not (model / "adapter_config.json").exists()
    [answer] = InferenceEngine(device="cpu").complete(
        ServedModel("ft:tiny:local:full:1", str(model)),
        [{"role": "user", "content": QUESTIONS[0]}],
        ChatParams(temperature=0, max_tokens=3),
    )
    assert answer.prompt_tokens > 0


def test_a_bad_file_fails_the_job_with_its_line(
    engine: TrainingEngine, tiny_model_dir: Path, tmp_path: Path
) -> None:
    job = make_job(tmp_path / "bad", tiny_model_dir, [chat("Hi?", "Hello.")], name="bad", epochs=1)
    with job.training_file.open("a") as handle:
        handle.write('{"messages": [}\n')
    engine.submit(job)
    assert engine.wait(job.id, WAIT) == "failed"
    assert engine.poll(job.id) == [
        *no_gpu_message(),
        Failed("invalid_file", "train.jsonl, line 2: not valid JSON (Expecting value)"),
    ]


def test_a_model_that_cannot_load_fails_the_job(engine: TrainingEngine, tmp_path: Path) -> None:
    (tmp_path / "not-a-model").mkdir()
    job = make_job(
        tmp_path / "nomodel",
        tmp_path / "not-a-model",
        [chat("Hi?", "Hello.")],
        name="nomodel",
        epochs=1,
    )
    engine.submit(job)
    assert engine.wait(job.id, WAIT) == "failed"
    [*_, failed] = engine.poll(job.id)
    assert isinstance(failed, Failed)
    assert failed.code == "invalid_model"
    assert failed.message.startswith(
        f"cannot load {tmp_path / 'not-a-model'} as a causal language model ("
    )


def test_a_crash_in_training_fails_the_job_with_the_error_and_the_next_job_runs(
    engine: TrainingEngine, tiny_model_dir: Path, tmp_path: Path
) -> None:
    crash = make_job(
        tmp_path / "crash",
        tiny_model_dir,
        [chat("Hi?", "Hello.")],
        name="crash",
        epochs=1,
        options={"lora_targets": ["no_such_module"]},
    )
    after = make_job(
        tmp_path / "after", tiny_model_dir, [chat("Hi?", "Hello.")], name="after", epochs=1
    )
    engine.submit(crash)
    engine.submit(after)
    assert engine.wait(crash.id, WAIT) == "failed"
    [*_, failed] = engine.poll(crash.id)
    assert isinstance(failed, Failed)
    assert failed.code == "training_error"
    assert failed.message == (
        "NoMatchingPeftModuleError: Target modules {'no_such_module'} not found in the base "
        "model. Please check the target modules and try again."
    )
    # the worker that crashed is replaced by a fresh one
    assert engine.wait(after.id, WAIT) == "succeeded"


def test_a_worker_that_dies_fails_its_job(
    engine: TrainingEngine, tiny_model_dir: Path, tmp_path: Path
) -> None:
    rows = [chat(f"Question {n}?", "Answer.") for n in range(200)]
    job = make_job(tmp_path / "killed", tiny_model_dir, rows, name="killed", epochs=1)
    engine.submit(job)
    engine.wait(job.id, WAIT, until=reached(1))
    [worker] = [w for w in engine._workers if w.job_id == job.id]
    os.kill(worker.process.pid, signal.SIGKILL)
    assert engine.wait(job.id, WAIT) == "failed"
    assert engine.poll(job.id)[-1] == Failed(
        "worker_died",
        "the training process was killed by signal 9; checkpoints saved so far are kept "
        "(resume the job to continue from the latest)",
    )
