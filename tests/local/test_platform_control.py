"""`LocalPlatform`'s job control through the raw openai SDK: queue, cancel, pause, resume, DPO.

One small platform for the module (one job trains at a time, max length 64, batch 1) runs
three jobs, created together so they share the worker: `long` (cancelled while it trains),
`echo` (queued behind it, then paused and resumed) and `prefer` (DPO, with a knob in its
metadata). The tests wait on the engine's own condition (`TrainingEngine.wait`), never sleep.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.local.conftest import require_local_stack
from tests.local.test_training import require_trainer_stack

WAIT = 300.0
AUTO_ROWS = 300
QUESTIONS = ("Hi?", "Name a city.", "Any news?", "Say one thing.")


def _sft(answer: str, rows: int) -> bytes:
    lines = []
    for i in range(rows):
        messages = [
            {"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]},
            {"role": "assistant", "content": answer},
        ]
        lines.append(json.dumps({"messages": messages}) + "\n")
    return "".join(lines).encode()


def _dpo(rows: int) -> bytes:
    lines = [
        json.dumps(
            {
                "input": {"messages": [{"role": "user", "content": QUESTIONS[i % 4]}]},
                "preferred_output": [{"role": "assistant", "content": "Paris."}],
                "non_preferred_output": [{"role": "assistant", "content": "No idea."}],
            }
        )
        + "\n"
        for i in range(rows)
    ]
    return "".join(lines).encode()


def _supervised(n_epochs: int) -> dict[str, Any]:
    hyper = {"n_epochs": n_epochs, "batch_size": 1, "learning_rate_multiplier": 20.0}
    return {"type": "supervised", "supervised": {"hyperparameters": hyper}}


def _has(kind: type, count: int = 1) -> Any:
    return lambda history: sum(isinstance(e, kind) for e in history) >= count


@pytest.fixture(scope="module")
def platform(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_local_stack()
    require_trainer_stack()
    from finetune_kit.local.platform import LocalPlatform

    with LocalPlatform(
        models={"tiny": tiny_model_dir},
        root=tmp_path_factory.mktemp("control-root"),
        device="cpu",
        options={"max_length": 64},
        seed=5,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def jobs(platform: Any) -> dict[str, Any]:
    """The three jobs, created at once (so `echo` and `prefer` queue behind `long`)."""
    client = platform.client()

    def upload(name: str, data: bytes) -> str:
        return str(client.files.create(file=(name, data), purpose="fine-tune").id)

    long = client.fine_tuning.jobs.create(
        model="tiny", training_file=upload("long.jsonl", _sft("Paris.", 10)), method=_supervised(30)
    )
    echo = client.fine_tuning.jobs.create(
        model="tiny",
        training_file=upload("echo.jsonl", _sft("Paris.", 10)),
        method=_supervised(2),
        suffix="echo",
    )
    prefer = client.fine_tuning.jobs.create(
        model="tiny",
        training_file=upload("prefer.jsonl", _dpo(10)),
        method={"type": "dpo", "dpo": {"hyperparameters": {"n_epochs": 1, "batch_size": 1}}},
        metadata={"local.lora_rank": "4", "team": "search"},
    )
    auto = client.fine_tuning.jobs.create(  # all "auto"; cancelled while queued, never trains
        model="tiny", training_file=upload("auto.jsonl", _sft("Lima.", AUTO_ROWS))
    )
    return {"long": long, "echo": echo, "prefer": prefer, "auto": auto, "seen": {}}


@pytest.fixture(scope="module")
def flow(platform: Any, jobs: dict[str, Any]) -> dict[str, Any]:
    """Drive the jobs: cancel `long` while it trains, pause and resume `echo`, finish all."""
    client, engine = platform.client(), platform.training_engine
    from finetune_kit.local import events as local

    seen: dict[str, Any] = {}
    long, echo, prefer = jobs["long"].id, jobs["echo"].id, jobs["prefer"].id
    auto = jobs["auto"].id
    for job_id in (long, echo, prefer, auto):  # validated, then handed to the engine's queue
        got = client.fine_tuning.jobs.retrieve(job_id)
        assert got.status == "queued", (got.status, got.error)
    seen["auto queued"] = client.fine_tuning.jobs.retrieve(auto)
    seen["auto handed over"] = platform.training.job(auto)
    seen["auto cancel"] = client.fine_tuning.jobs.cancel(auto).status
    engine.wait(long, WAIT, until=_has(local.Metrics))
    seen["long running"] = client.fine_tuning.jobs.retrieve(long).status
    seen["echo behind it"] = client.fine_tuning.jobs.retrieve(echo).status
    seen["long cancel"] = client.fine_tuning.jobs.cancel(long).status
    engine.wait(long, WAIT)
    engine.wait(echo, WAIT, until=_has(local.Metrics))
    seen["echo running"] = client.fine_tuning.jobs.retrieve(echo).status
    seen["echo pause"] = client.fine_tuning.jobs.pause(echo).status
    engine.wait(echo, WAIT)  # the worker saved a checkpoint and stopped
    seen["echo paused"] = client.fine_tuning.jobs.retrieve(echo).status
    seen["echo resume"] = client.fine_tuning.jobs.resume(echo).status
    client.fine_tuning.jobs.retrieve(echo)  # hands the resume to the engine
    engine.wait(echo, WAIT, until=_has(local.Started, 2))
    seen["echo restarted"] = client.fine_tuning.jobs.retrieve(echo).status
    engine.wait(echo, WAIT)
    engine.wait(prefer, WAIT)
    for name, job_id in (("long", long), ("echo", echo), ("prefer", prefer)):
        seen[name] = client.fine_tuning.jobs.retrieve(job_id)
        seen[f"{name} events"] = [
            e.message for e in reversed(client.fine_tuning.jobs.list_events(job_id, limit=200).data)
        ]
    return seen


def test_a_job_behind_a_running_one_says_queued_until_the_engine_starts_it(
    flow: dict[str, Any],
) -> None:
    assert flow["long running"] == "running"
    assert flow["echo behind it"] == "queued"
    events = flow["echo events"]
    assert events[:4] == [
        "Created fine-tuning job",
        f"Validating training file: {flow['echo'].training_file}",
        "Files validated, moving job to queued state",
        "Fine-tuning job started",
    ]


def test_auto_hyperparameters_the_local_job_trains_with_are_those_the_job_reports(
    flow: dict[str, Any],
) -> None:
    from finetune_kit.local import resolve_auto

    reported = flow["auto queued"].hyperparameters.model_dump()
    handed = flow["auto handed over"]
    assert reported == {"n_epochs": 3, "batch_size": 3, "learning_rate_multiplier": 1.8}
    assert handed.hyperparameters == reported  # what the worker would have trained with
    assert handed.examples == AUTO_ROWS
    assert resolve_auto(AUTO_ROWS) == reported
    assert flow["auto cancel"] == "cancelled"


def test_cancel_while_training_stops_the_job_without_a_model(flow: dict[str, Any]) -> None:
    assert flow["long cancel"] == "cancelled"
    job = flow["long"]
    assert job.status == "cancelled"
    assert job.fine_tuned_model is None
    assert job.result_files == []
    assert flow["long events"][-1] == "Fine-tuning job cancelled"
    steps = [m for m in flow["long events"] if m.startswith("Step ")]
    assert len(steps) < 300  # stopped long before its 10 rows x 30 epochs


def test_pause_then_resume_continues_from_the_checkpoint_to_success(
    flow: dict[str, Any],
) -> None:
    assert [
        flow["echo running"],
        flow["echo pause"],
        flow["echo paused"],
        flow["echo resume"],
        flow["echo restarted"],
    ] == ["running", "paused", "paused", "queued", "running"]
    job = flow["echo"]
    assert job.status == "succeeded", job.error
    assert re.fullmatch(r"ft:tiny:local:echo:[0-9a-f]{8}", job.fine_tuned_model or "")
    events = flow["echo events"]
    paused = next(i for i, m in enumerate(events) if m.startswith("Fine-tuning job paused at step"))
    resumed = events.index("Fine-tuning job resumed")
    # between the two: the step in flight when the pause came, and the checkpoint it left
    assert paused < resumed
    saved = events[resumed - 1]
    assert re.fullmatch(r"Checkpoint created at step \d+", saved)
    step = int(saved.rsplit(" ", 1)[1])
    assert events[resumed + 1 : resumed + 3] == [
        f"resuming from the checkpoint of step {step}",
        "Fine-tuning job started",
    ]
    later = [int(m.split()[1].split("/")[0]) for m in events[resumed:] if m.startswith("Step ")]
    assert later == list(range(step + 1, 21))  # it went on from the checkpoint, to step 20
    assert events[-1] == "The job has successfully completed"


def test_a_dpo_job_succeeds_with_the_knob_its_metadata_carries(
    flow: dict[str, Any], platform: Any
) -> None:
    job = flow["prefer"]
    assert job.status == "succeeded", job.error
    assert job.method.type == "dpo"
    assert job.metadata == {"local.lora_rank": "4", "team": "search"}
    assert platform.training.job(job.id).options == {"max_length": 64, "lora_rank": 4}
    adapter = json.loads(
        (platform.root / "jobs" / job.id / "model" / "adapter_config.json").read_text()
    )
    assert adapter["r"] == 4


def test_the_async_client_retrieves_the_job_and_chats_with_its_model(
    flow: dict[str, Any], platform: Any
) -> None:
    async def go() -> tuple[Any, Any]:
        client = platform.async_client()
        job = await client.fine_tuning.jobs.retrieve(flow["echo"].id)
        chat = await client.chat.completions.create(
            model=job.fine_tuned_model or "",
            messages=[{"role": "user", "content": "Hi?"}],
            temperature=0,
            max_tokens=4,
        )
        return job, chat

    job, chat = asyncio.run(go())
    assert job.status == "succeeded"
    assert chat.model == flow["echo"].fine_tuned_model
    assert chat.choices[0].message.role == "assistant"
    assert chat.usage is not None
    assert chat.usage.completion_tokens == 4 or chat.choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (
            {"local.lora_rnk": "8"},
            (
                "Invalid 'metadata' key local.lora_rnk: not a local training option; known: "
                "local.eval_steps, local.full_fine_tuning, local.gradient_accumulation_steps, "
                "local.learning_rate, local.lora_alpha, local.lora_dropout, local.lora_rank, "
                "local.lora_targets, local.max_length, local.precision, local.warmup_ratio."
            ),
        ),
        (
            {"local.max_length": "long"},
            "Invalid 'metadata' key local.max_length = 'long': not a valid max_length.",
        ),
        (
            {"local.max_length": "0"},
            (
                "Invalid 'metadata' key local.max_length = '0': local option max_length must "
                "be a positive integer, not 0."
            ),
        ),
        (
            {"local.precision": "fp8"},
            (
                "Invalid 'metadata' key local.precision = 'fp8': local option precision must "
                "be auto, fp32, bf16 or fp16, not 'fp8'."
            ),
        ),
    ],
)
def test_a_bad_local_knob_in_metadata_is_a_400_naming_the_key(
    platform: Any, jobs: dict[str, Any], metadata: dict[str, str], message: str
) -> None:
    client = platform.client(max_retries=0)
    before = len(client.fine_tuning.jobs.list(limit=100).data)
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(
            model="tiny", training_file=jobs["echo"].training_file, metadata=metadata
        )
    assert caught.value.status_code == 400
    assert caught.value.body == {
        "message": message,
        "type": "invalid_request_error",
        "param": "metadata",
        "code": "invalid_value",
    }
    assert len(client.fine_tuning.jobs.list(limit=100).data) == before  # no job was made


def test_job_options_reads_every_kind_of_knob_from_strings() -> None:
    from finetune_kit.local.platform import job_options

    assert job_options(
        {
            "local.lora_rank": "8",
            "local.full_fine_tuning": "True",
            "local.learning_rate": "1e-4",
            "local.lora_targets": "q_proj, v_proj",
            "local.precision": "fp32",
            "note": "not a knob",
        }
    ) == {
        "lora_rank": 8,
        "full_fine_tuning": True,
        "learning_rate": 1e-4,
        "lora_targets": ("q_proj", "v_proj"),
        "precision": "fp32",
    }
    assert job_options({"local.lora_targets": "all-linear"}) == {"lora_targets": "all-linear"}
    assert job_options(None) == {}
