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
