"""Local training knobs and the "auto" hyperparameters: no torch needed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from finetune_kit.exceptions import ConfigurationError
from finetune_kit.local import (
    FULL_BASE_LEARNING_RATE,
    LORA_BASE_LEARNING_RATE,
    TrainOptions,
    resolve_auto,
)
from finetune_kit.platform.lifecycle import auto_hyperparameters
from finetune_kit.testing import Simulator, VirtualClock


def test_resolve_auto_follows_openai_epochs_and_keeps_given_numbers() -> None:
    assert resolve_auto(10) == {"n_epochs": 10, "batch_size": 1, "learning_rate_multiplier": 1.8}
    assert resolve_auto(100) == {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8}
    assert resolve_auto(20_000) == {
        "n_epochs": 1,
        "batch_size": 200,
        "learning_rate_multiplier": 1.8,
    }
    assert resolve_auto(1_000_000)["batch_size"] == 256
    assert resolve_auto(
        50, {"n_epochs": 2, "batch_size": "auto", "learning_rate_multiplier": 0.5}
    ) == {"n_epochs": 2, "batch_size": 1, "learning_rate_multiplier": 0.5}
    assert resolve_auto(50, {"beta": 0.3}, method="dpo")["beta"] == 0.3
    assert resolve_auto(50, method="dpo")["beta"] == 0.1


@pytest.mark.parametrize("rows", [10, 300, 1_200])
def test_resolve_auto_gives_what_the_platform_reports_for_the_same_file(rows: int) -> None:
    """The simulator's job (the shared platform) reports, for an all-"auto" job on `rows`
    examples, exactly the numbers `resolve_auto` gives: one resolution for every engine."""
    sim = Simulator(clock=VirtualClock(1_700_000_000))
    client = sim.client(max_retries=0)
    line = {
        "messages": [
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "Paris."},
        ]
    }
    data = "".join(json.dumps(line) + "\n" for _ in range(rows)).encode()
    uploaded = client.files.create(file=("train.jsonl", data), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=uploaded.id)
    sim.clock.sleep(600)  # validated and queued: training started with resolved numbers
    job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.status in ("running", "succeeded"), job.error
    reported = job.hyperparameters.model_dump()
    assert reported == resolve_auto(rows)
    assert resolve_auto(rows) == auto_hyperparameters(rows)


def test_learning_rate_is_the_multiplier_times_a_documented_base() -> None:
    assert LORA_BASE_LEARNING_RATE == 2e-4
    assert FULL_BASE_LEARNING_RATE == 2e-5
    assert TrainOptions().base_learning_rate() == 2e-4
    assert TrainOptions.parse({"full_fine_tuning": True}).base_learning_rate() == 2e-5
    assert TrainOptions.parse({"learning_rate": 1e-3}).base_learning_rate() == 1e-3


def test_options_are_parsed_with_types() -> None:
    opts = TrainOptions.parse(
        {
            "lora_rank": 4,
            "lora_targets": ["q_proj", "v_proj"],
            "precision": "bf16",
            "max_length": 64,
        }
    )
    assert (opts.lora_rank, opts.lora_targets, opts.precision, opts.max_length) == (
        4,
        ("q_proj", "v_proj"),
        "bf16",
        64,
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lora_rnak": 4}, "unknown local training option(s) lora_rnak; known: "),
        ({"lora_rank": 0}, "local option lora_rank must be a positive integer, not 0"),
        ({"max_length": True}, "local option max_length must be a positive integer, not True"),
        (
            {"precision": "fp8"},
            "local option precision must be auto, fp32, bf16 or fp16, not 'fp8'",
        ),
        ({"full_fine_tuning": "yes"}, "local option full_fine_tuning must be true or false"),
        ({"learning_rate": -1}, "local option learning_rate must be positive, not -1"),
        ({"lora_targets": []}, "local option lora_targets must be 'all-linear' or a list"),
    ],
)
def test_bad_options_are_refused_clearly(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        TrainOptions.parse(options)
    assert str(info.value).startswith(message)


def test_importing_the_local_backend_imports_no_torch() -> None:
    code = (
        "import sys, finetune_kit, finetune_kit.local; "
        "print(sorted(m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets') "
        "if m in sys.modules))"
    )
    out = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
