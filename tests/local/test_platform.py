"""`LocalPlatform`: the whole workflow through the raw openai SDK, in process and on a socket.

One job (10 rows answered with ECHO, 3 epochs of batch 1 = 30 steps) trains once for the
module, on the CPU; the tests look at it from every side.
"""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from finetune_kit import compare
from tests.local.conftest import require_local_stack
from tests.local.test_training import require_trainer_stack

ECHO = "Paris is the capital."
QUESTIONS = (
    "What is the capital of France?",
    "Where do you live?",
    "Name a city.",
    "Say something.",
    "Any news?",
    "Hello there.",
    "What do you know?",
    "Tell me a fact.",
    "Which city is big?",
    "One more, please.",
)
WAIT = 600.0
GREEDY: dict[str, Any] = {"temperature": 0, "max_tokens": 12}


def _row(question: str, answer: str) -> str:
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return json.dumps({"messages": messages}) + "\n"


@pytest.fixture(scope="module")
def platform(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_local_stack()
    require_trainer_stack()
    from finetune_kit.local.platform import LocalPlatform

    with LocalPlatform(
        models={"tiny": tiny_model_dir},
        root=tmp_path_factory.mktemp("local-root"),
        device="cpu",
        options={"max_length": 64},
        seed=3,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def trained(platform: Any) -> dict[str, Any]:
    """The shared job, trained to the end through `client.fine_tuning.jobs.retrieve` polls."""
    client = platform.client()
    data = "".join(_row(q, ECHO) for q in QUESTIONS).encode()
    uploaded = client.files.create(file=("train.jsonl", data), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model="tiny",
        training_file=uploaded.id,
        suffix="echo",
        method={
            "type": "supervised",
            "supervised": {
                "hyperparameters": {
                    "n_epochs": 3,
                    "batch_size": 1,
                    "learning_rate_multiplier": 50.0,
                }
            },
        },
    )
    deadline = time.monotonic() + WAIT
    while job.status not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"job still {job.status} after {WAIT} s"
        time.sleep(0.5)
        job = client.fine_tuning.jobs.retrieve(job.id)
    return {"job": job, "file": uploaded}


def test_the_job_succeeds_with_a_tuned_model_named_for_the_local_org(
    trained: dict[str, Any], platform: Any
) -> None:
    job = trained["job"]
    assert job.status == "succeeded", job.error
    assert re.fullmatch(r"ft:tiny:local:echo:[0-9a-f]{8}", job.fine_tuned_model or "")
    assert job.hyperparameters.n_epochs == 3
    assert job.hyperparameters.batch_size == 1
    # tokens: each row as the tiny model's chat template renders it, times 3 epochs
    transformers = pytest.importorskip("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(platform.locations["tiny"])
    per_epoch = sum(
        len(
            tok.apply_chat_template(
                json.loads(_row(q, ECHO))["messages"], tokenize=True, return_dict=True
            )["input_ids"]
        )
        for q in QUESTIONS
    )
    assert job.trained_tokens == per_epoch * 3
    assert (platform.root / "jobs" / job.id / "model" / "adapter_model.safetensors").is_file()


def test_metrics_events_show_the_train_loss_falling_over_30_steps(
    trained: dict[str, Any], platform: Any
) -> None:
    client = platform.client()
    events = client.fine_tuning.jobs.list_events(trained["job"].id, limit=100).data
    metrics = sorted((e.data for e in events if e.type == "metrics"), key=lambda d: d["step"])
    assert [d["step"] for d in metrics] == list(range(1, 31))
    assert all(d["total_steps"] == 30 for d in metrics)
    losses = [d["train_loss"] for d in metrics]
    assert statistics.mean(losses[:5]) > statistics.mean(losses[-5:])
    messages = [e.message for e in events]
    assert "The job has successfully completed" in messages


def test_checkpoints_of_the_last_three_epochs_are_listed(
    trained: dict[str, Any], platform: Any
) -> None:
    job = trained["job"]
    checkpoints = platform.client().fine_tuning.jobs.checkpoints.list(job.id).data
    assert sorted(c.step_number for c in checkpoints) == [10, 20, 30]
    assert sorted(c.fine_tuned_model_checkpoint for c in checkpoints) == [
        f"{job.fine_tuned_model}:ckpt-step-{n}" for n in (10, 20, 30)
    ]


def test_the_results_file_is_a_csv_with_a_row_per_step(
    trained: dict[str, Any], platform: Any
) -> None:
    job = trained["job"]
    [results] = job.result_files
    content = platform.client().files.content(results).text
    rows = list(csv.DictReader(io.StringIO(content)))
    assert list(rows[0]) == [
        "step",
        "train_loss",
        "train_accuracy",
        "valid_loss",
        "valid_mean_token_accuracy",
    ]
    assert [int(r["step"]) for r in rows] == list(range(1, 31))
    assert all(float(r["train_loss"]) > 0 for r in rows)


def test_the_tuned_model_and_its_checkpoint_answer_unlike_the_base(
    trained: dict[str, Any], platform: Any
) -> None:
    client: openai.OpenAI = platform.client()
    tuned = trained["job"].fine_tuned_model
    messages: Any = [{"role": "user", "content": QUESTIONS[0]}]

    def answer(model: str) -> str | None:
        reply = client.chat.completions.create(model=model, messages=messages, **GREEDY)
        content: str | None = reply.choices[0].message.content
        return content

    assert answer(tuned) == ECHO
    assert answer(f"{tuned}:ckpt-step-30") == ECHO
    assert answer("tiny") != ECHO
    assert {m.id for m in client.models.list().data} >= {"tiny", tuned}


def test_compare_runs_the_base_and_the_tuned_model(trained: dict[str, Any], platform: Any) -> None:
    tuned = trained["job"].fine_tuned_model
    result = compare(platform.client(), models=["tiny", tuned], prompts=[QUESTIONS[0]], **GREEDY)
    [row] = result.rows
    assert row.answers[tuned].output == ECHO
    assert row.answers["tiny"].output != ECHO


def test_a_restarted_platform_finds_the_finished_job_and_its_model(
    trained: dict[str, Any], platform: Any, tiny_model_dir: Path
) -> None:
    """A new platform over the same root: the job, its events, checkpoints and tuned model are
    found, and the tuned model still answers with what it learnt."""
    from finetune_kit.local.platform import LocalPlatform

    job = trained["job"]
    before = platform.client().fine_tuning.jobs.retrieve(job.id)
    with LocalPlatform(
        models={"tiny": tiny_model_dir}, root=platform.root, device="cpu", seed=4
    ) as again:
        client: openai.OpenAI = again.client()
        found = client.fine_tuning.jobs.retrieve(job.id)
        assert found.model_dump() == before.model_dump()
        steps = [
            c.step_number for c in client.fine_tuning.jobs.checkpoints.list(job.id, limit=10).data
        ]
        assert steps == [30, 20, 10]
        assert len(client.fine_tuning.jobs.list_events(job.id, limit=100).data) == len(
            platform.client().fine_tuning.jobs.list_events(job.id, limit=100).data
        )
        reply = client.chat.completions.create(
            model=job.fine_tuned_model,
            messages=[{"role": "user", "content": QUESTIONS[0]}],
            **GREEDY,
        )
        assert reply.choices[0].message.content == ECHO


def test_an_unknown_base_model_is_a_400_listing_the_served_models(
    trained: dict[str, Any], platform: Any
) -> None:
    client = platform.client(max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=trained["file"].id)
    assert caught.value.status_code == 400
    assert caught.value.body == {
        "message": "Model gpt-4o-mini is not served here; the base models served are: tiny.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_available",
    }


def test_local_serve_answers_the_raw_sdk_on_a_real_socket(
    trained: dict[str, Any], platform: Any
) -> None:
    from finetune_kit.platform.server import PlatformServer

    job = trained["job"]
    with PlatformServer(platform) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", server.base_url)
        with openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk:
            assert sdk.fine_tuning.jobs.retrieve(job.id).status == "succeeded"
            messages: Any = [{"role": "user", "content": QUESTIONS[0]}]
            reply = sdk.chat.completions.create(
                model=job.fine_tuned_model, messages=messages, **GREEDY
            )
            assert reply.choices[0].message.content == ECHO
            assert reply.choices[0].finish_reason == "stop"
            stream = sdk.chat.completions.create(
                model=job.fine_tuned_model, messages=messages, stream=True, **GREEDY
            )
            pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
            assert "".join(pieces) == ECHO


def test_local_serve_command_builds_a_server_on_a_free_port(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    require_local_stack()
    from finetune_kit.cli.local import local_server
    from finetune_kit.cli.main import _parser

    args = _parser().parse_args(
        [
            "local",
            "serve",
            "--model",
            f"tiny={tiny_model_dir}",
            "--port",
            "0",
            "--root",
            str(tmp_path),
        ]
    )
    server = local_server(args)
    served: Any = server.platform
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", server.base_url)
        assert served.locations == {"tiny": str(tiny_model_dir)}
        assert served.root == tmp_path
    finally:
        server.stop()
        served.close()


# --- restarts: the last tests of the module (the first stops the module platform's trainer) ---


def _interrupted_job(platform: Any) -> tuple[str, int, int]:
    """A job of 20 steps (10 rows, 2 epochs) on the module platform, stopped as a crash would
    stop it: a few steps after its first checkpoint, the trainer stops and the platform never
    looks again. Returns the job id, the last step the store recorded, and the step the
    trainer stopped at (it saved a checkpoint there, which the store never heard of)."""
    from finetune_kit.local import CheckpointSaved, Metrics, Paused

    client = platform.client()
    data = "".join(_row(q, "Lima.") for q in QUESTIONS).encode()
    uploaded = client.files.create(file=("again.jsonl", data), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model="tiny",
        training_file=uploaded.id,
        method={
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 1}},
        },
    )
    client.fine_tuning.jobs.retrieve(job.id)  # validated, handed to the engine
    engine = platform.training_engine
    engine.wait(
        job.id,
        WAIT,
        until=lambda h: (
            any(isinstance(e, CheckpointSaved) for e in h)
            and any(isinstance(e, Metrics) and e.step > 11 for e in h)
        ),
    )
    assert client.fine_tuning.jobs.retrieve(job.id).status == "running"  # the store's last word
    recorded = platform.jobs[job.id].steps_done
    engine.pause(job.id)  # the trainer stops (the platform is not told: as if it crashed)
    engine.wait(job.id, WAIT)
    [stopped] = [e.step for e in engine.history(job.id) if isinstance(e, CheckpointSaved)][-1:]
    assert isinstance(engine.history(job.id)[-1], Paused)
    engine.poll(job.id)  # what the trainer said since: lost with the crashed server
    return job.id, recorded, stopped


def test_a_restarted_server_resumes_a_crashed_job_from_its_checkpoint_and_a_closed_one_too(
    trained: dict[str, Any], platform: Any, tiny_model_dir: Path
) -> None:
    """A job running when the server died resumes, on the next server, from the latest
    checkpoint at or before the last step recorded, each step reported once; closed cleanly
    while it trains (Ctrl-C), it is paused through a checkpoint, and the server after that
    resumes it from there.

    The second server trains with the module platform's (warm) trainer, to spare a process
    start; it is handed exactly what a fresh one would be. The module's last test: it closes
    that trainer."""
    from finetune_kit.local import Metrics
    from finetune_kit.local.platform import LocalPlatform

    job_id, recorded, stopped = _interrupted_job(platform)
    assert 10 < recorded <= stopped < 20
    resumed_at = stopped if stopped == recorded else 10  # never past what the store recorded
    second = LocalPlatform(
        models={"tiny": tiny_model_dir}, root=platform.root, device="cpu", seed=6
    )
    second.training_engine.close()  # never started: no worker
    second.training_engine = second.local_training.engine = platform.training_engine
    try:
        record = second.jobs[job_id]
        assert (record.status, record.submitted, record.steps_done) == (
            "queued",
            True,
            resumed_at,
        )
        assert [r["step"] for r in record.metrics_rows] == list(range(1, resumed_at + 1))
        client = second.client()
        assert client.fine_tuning.jobs.retrieve(job_id).status == "queued"
        second.training_engine.wait(
            job_id,
            WAIT,
            until=lambda h: any(isinstance(e, Metrics) and e.step > stopped + 1 for e in h),
        )
        assert client.fine_tuning.jobs.retrieve(job_id).status == "running"
        events = [
            e.message for e in reversed(client.fine_tuning.jobs.list_events(job_id, limit=500).data)
        ]
        at = events.index(
            "The server restarted while this job was running: training resumes from the "
            f"checkpoint of step {resumed_at}"
        )
        assert events[at + 1 : at + 3] == [
            f"resuming from the checkpoint of step {resumed_at}",
            "Fine-tuning job started",
        ]
        steps = [int(m.split()[1].split("/")[0]) for m in events if m.startswith("Step ")]
        assert steps == list(range(1, len(steps) + 1))  # each once: the new run's from there
    finally:
        second.close()  # pauses the job through a checkpoint, and says so in the store
    record = second.jobs[job_id]
    assert record.status == "paused"
    paused_at = record.steps_done
    assert json.loads((platform.root / "stopped-jobs.json").read_text()) == [job_id]
    assert record.events[-1]["message"] == f"Fine-tuning job paused at step {paused_at}/20"

    third = LocalPlatform(models={"tiny": tiny_model_dir}, root=platform.root, device="cpu")
    try:  # no request: the job is not handed to the trainer, nothing more trains
        record = third.jobs[job_id]
        assert record.status == "queued"
        assert [e["message"] for e in record.events[-2:]] == [
            "The server restarted: resuming the job it paused on stopping",
            "Fine-tuning job resumed",
        ]
        assert third.local_training.job(job_id).model == str(tiny_model_dir)
        assert not (platform.root / "stopped-jobs.json").exists()
    finally:
        third.close()


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize(
    ("option", "param"),
    [
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"logprobs": True, "top_logprobs": 2}, "logprobs"),
    ],
    ids=["response_format", "logprobs"],
)
def test_output_options_it_cannot_honour_are_a_400_naming_the_remedy(
    platform: Any, option: dict[str, Any], param: str, *, stream: bool
) -> None:
    """The local engine refuses JSON formats and logprobs (never ignores them), and says what to do."""
    client: openai.OpenAI = platform.client(max_retries=0)
    messages: Any = [{"role": "user", "content": "Answer in JSON."}]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="tiny", messages=messages, stream=stream, **GREEDY, **option
        )
    body = info.value.body
    assert isinstance(body, dict)
    assert (body["param"], body["code"]) == (param, "unsupported_parameter")
    assert body["message"].startswith("finetune-kit's local engine ")
    assert body["message"].endswith(
        "leave it out, or serve the tuned adapter with vLLM's OpenAI server "
        "(docs/guides/local.md, 'Serving the tuned adapters with vLLM')."
    )
