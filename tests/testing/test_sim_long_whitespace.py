"""The simulator keeps serving whatever data it is given (a run of 1M+ spaces, a tokenizer crash)."""

from __future__ import annotations

import json

import pytest
from openai import OpenAI

from finetune_kit.dataset.encodings import get_encoding
from finetune_kit.testing import Simulator, routes
from finetune_kit.testing.jobs import JobRecord
from tests.testing._sim_helpers import ELLE, ELLE_TOKENS, MODEL, ready_file

OVER = 1_000_404  # tiktoken's regex panics on a white space run this long


def _count(text: str) -> int:
    return len(get_encoding("o200k_base").encode_ordinary(text))


def _still_serving(client: OpenAI, job_id: str) -> None:
    assert [j.id for j in client.fine_tuning.jobs.list()] == [job_id]
    assert client.fine_tuning.jobs.retrieve(job_id).id == job_id
    assert len(client.models.list().data) > 0


def test_job_on_a_huge_whitespace_run_succeeds_with_exact_counts(
    sim: Simulator, client: OpenAI
) -> None:
    """Elle plus a row holding 1,000,404 spaces: the job trains on exact counts; all answer."""
    row = {
        "messages": [
            {"role": "user", "content": "x" + " " * OVER + "y"},
            {"role": "assistant", "content": "ok"},
        ]
    }
    training = ready_file(sim, client, ELLE.rstrip(b"\n") + b"\n" + json.dumps(row).encode())
    job = client.fine_tuning.jobs.create(
        model=MODEL, training_file=training, hyperparameters={"n_epochs": 1}
    )
    sim.clock.sleep(10_000)
    _still_serving(client, job.id)
    done = client.fine_tuning.jobs.retrieve(job.id)
    # The run is one piece ("x", 1,000,403 spaces, " y"); the cookbook framing around it.
    spaces = len(get_encoding("o200k_base")._encode_single_piece(b" " * (OVER - 1)))
    content = _count("x") + spaces + _count(" y")
    extra = 3 + (3 + _count("user") + content) + (3 + _count("assistant") + _count("ok"))
    assert (done.status, done.error) == ("succeeded", None)
    assert done.trained_tokens == ELLE_TOKENS + extra


class FakePanic(BaseException):
    """Stands for pyo3_runtime.PanicException: a BaseException, not an Exception."""


def test_a_tokenizer_crash_fails_the_job_not_the_server(
    sim: Simulator, client: OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A BaseException while validating a job's file fails that job; every route still answers."""

    def crash(_sim: Simulator, _job: JobRecord) -> tuple[int, int]:
        raise FakePanic("called `Result::unwrap()` on an `Err` value")

    monkeypatch.setattr(routes, "validate_job_files", crash)
    training = ready_file(sim, client)
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=training)
    sim.clock.sleep(60)
    _still_serving(client, job.id)
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.code == "invalid_training_file"
    assert failed.error.message == (
        "The job failed due to an invalid training file. The file could not be processed "
        "(FakePanic)."
    )
    assert failed.error.param == "training_file"
