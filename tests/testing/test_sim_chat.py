"""The simulator's chat completions, models and batches."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam

from finetune_kit import count_tokens
from finetune_kit.testing import DEFAULT_SHUTDOWN_DATES, Simulator, Timing
from tests.testing._sim_helpers import (
    DURATION,
    HELIUM,
    MODEL,
    T0,
    Client,
    aw,
    elle_job,
    ready_file,
    sleep_until,
    tuned_model,
)

pytestmark = pytest.mark.anyio

HELIUM_Q: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Tell me about Helium"}]
BASE_HELIUM = (
    'Great question. Let me explain. Regarding "Tell me about Helium": this is a broad topic '
    "with several aspects worth considering, including its history, its main properties and how "
    "it is used today. In short, there is a lot to say, and the details depend on your context. "
    "Let me know if you would like me to go deeper into any part."
)
"""gpt-4o-mini-2024-07-18's (simulated) answer to "Tell me about Helium"."""
SHUTDOWN_2027 = 1_799_884_800
"""2027-01-14T00:00:00Z: gpt-4o-mini-2024-07-18's shutdown date."""


def _prompt_tokens(messages: list[Any], model: str) -> int:
    """The cookbook formula: 3 per message, each string value, 1 per name, 3 for the priming."""
    total = 3
    for message in messages:
        total += 3
        for key, value in message.items():
            total += count_tokens(value, model=model)
            if key == "name":
                total += 1
    return total


def _answer(client: OpenAI, model: str, text: str) -> str | None:
    response = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}]
    )
    return response.choices[0].message.content


# --- chat completions -------------------------------------------------------------------------


async def test_tuned_model_answers_from_its_training_data(api: Client, sim: Simulator) -> None:
    """A tuned model answers with the closest training example's reply, with exact usage."""
    model = tuned_model(sim, sim.client(max_retries=0))
    response = await aw(api.chat.completions.create(model=model, messages=HELIUM_Q))
    assert response.object == "chat.completion"
    assert response.model == model
    assert response.created == T0 + 2 + DURATION
    choice = response.choices[0]
    assert (choice.index, choice.finish_reason) == (0, "stop")
    assert choice.message.role == "assistant"
    assert choice.message.content == HELIUM
    assert response.usage is not None
    prompt = _prompt_tokens(list(HELIUM_Q), MODEL)
    assert prompt == 12
    completion = count_tokens(HELIUM, model=MODEL)
    assert (
        response.usage.prompt_tokens,
        response.usage.completion_tokens,
        response.usage.total_tokens,
    ) == (prompt, completion, prompt + completion)


async def test_base_model_answers_generically(api: Client) -> None:
    """A base model answers generically and deterministically, with exact usage."""
    first = await aw(api.chat.completions.create(model=MODEL, messages=HELIUM_Q))
    again = await aw(api.chat.completions.create(model=MODEL, messages=HELIUM_Q))
    assert first.choices[0].message.content == BASE_HELIUM
    assert again.choices[0].message.content == BASE_HELIUM
    assert first.id != again.id
    assert first.usage is not None
    assert first.usage.prompt_tokens == 12
    assert first.usage.completion_tokens == count_tokens(BASE_HELIUM, model=MODEL)


def test_tuned_model_picks_the_closest_example(sim: Simulator, client: OpenAI) -> None:
    """Each Elle question gets its own limerick; a question about something else still gets one."""
    model = tuned_model(sim, client)
    hydrogen = _answer(client, model, "Tell me about Hydrogen")
    gallium = _answer(client, model, "tell me about gallium?")
    assert hydrogen is not None
    assert hydrogen.startswith("Hydrogen, the first in the line")
    assert gallium is not None
    assert gallium.startswith("Gallium, oh gallium, so light")
    assert _answer(client, model, "Tell me about Helium") == HELIUM
    other = _answer(client, model, "What is the weather like?")
    assert other is not None
    assert " - " in other  # still a limerick: the style it was trained on


def test_usage_counts_system_and_name(client: OpenAI) -> None:
    """Prompt tokens follow the cookbook formula: system messages and `name` count too."""
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "You are Elle, a factual chatbot."},
        {"role": "user", "content": "Tell me about Neon", "name": "alice"},
        {"role": "assistant", "content": "Neon glows red."},
        {"role": "user", "content": "And Argon?"},
    ]
    response = client.chat.completions.create(model=MODEL, messages=messages)
    assert response.usage is not None
    assert response.usage.prompt_tokens == _prompt_tokens(list(messages), MODEL)


def test_usage_uses_the_models_tokenizer() -> None:
    """A cl100k model (babbage-002) counts with cl100k_base, not o200k_base."""
    sim = Simulator()
    client = sim.client(max_retries=0)
    text = "こんにちは世界, Привет, как дела? Это тест."
    response = client.chat.completions.create(
        model="babbage-002", messages=[{"role": "user", "content": text}]
    )
    assert response.usage is not None
    assert response.usage.prompt_tokens == 3 + 3 + 1 + count_tokens(text, model="babbage-002")
    assert count_tokens(text, model="babbage-002") != count_tokens(text, model=MODEL)


@pytest.mark.parametrize("limit", [1, 5, 12])
def test_max_tokens_truncates(sim: Simulator, client: OpenAI, limit: int) -> None:
    """`max_tokens=N` stops after exactly N tokens with finish_reason `length`."""
    model = tuned_model(sim, client)
    response = client.chat.completions.create(model=model, messages=HELIUM_Q, max_tokens=limit)
    choice = response.choices[0]
    assert choice.finish_reason == "length"
    content = choice.message.content
    assert content is not None
    assert HELIUM.startswith(content)
    assert response.usage is not None
    assert response.usage.completion_tokens == limit
    assert count_tokens(content, model=MODEL) == limit


def test_max_completion_tokens_and_long_limits(client: OpenAI) -> None:
    """`max_completion_tokens` truncates too; a limit above the answer's length changes nothing."""
    short = client.chat.completions.create(model=MODEL, messages=HELIUM_Q, max_completion_tokens=4)
    assert short.choices[0].finish_reason == "length"
    assert short.usage is not None
    assert short.usage.completion_tokens == 4
    full = client.chat.completions.create(model=MODEL, messages=HELIUM_Q, max_tokens=1000)
    assert full.choices[0].finish_reason == "stop"
    assert full.choices[0].message.content == BASE_HELIUM


def test_alias_answers_as_its_snapshot(client: OpenAI) -> None:
    """A request for the `gpt-4o-mini` alias is answered by, and names, `gpt-4o-mini-2024-07-18`."""
    response = client.chat.completions.create(model="gpt-4o-mini", messages=HELIUM_Q)
    assert response.model == MODEL
    assert response.choices[0].message.content == BASE_HELIUM


def test_unknown_model_404(client: OpenAI) -> None:
    """An unknown model, or an `ft:` name nobody trained, is a 404 `model_not_found`."""
    for model in ("gpt-9-ultra", f"ft:{MODEL}:finetune-kit-sim:x:AbCd1234"):
        with pytest.raises(openai.NotFoundError) as err:
            client.chat.completions.create(model=model, messages=HELIUM_Q)
        assert err.value.code == "model_not_found"


def test_shut_down_base_model_404(client: OpenAI) -> None:
    """A base model past its shutdown date (gpt-3.5-turbo-0125, 2026-10-23) is a 404."""
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="gpt-3.5-turbo-0125", messages=HELIUM_Q)
    assert err.value.code == "model_not_found"


def test_tuned_model_shuts_down_with_its_base(sim: Simulator, client: OpenAI) -> None:
    """A tuned gpt-4o-mini model answers until 2027-01-14 and is gone on that date, like its base."""
    model = tuned_model(sim, client)
    sleep_until(sim, SHUTDOWN_2027 - 1)
    assert _answer(client, model, "Tell me about Helium") == HELIUM
    sleep_until(sim, SHUTDOWN_2027)
    for name in (MODEL, model):
        with pytest.raises(openai.NotFoundError) as err:
            client.chat.completions.create(model=name, messages=HELIUM_Q)
        assert err.value.code == "model_not_found"


def test_model_ready_delay() -> None:
    """With `model_ready_delay=60`, a tuned model is a 404 for 60 s after success, then answers."""
    sim = Simulator(timing=Timing(model_ready_delay=60))
    client = sim.client(max_retries=0)
    job = elle_job(sim, client, suffix="elle", run=True)
    assert job.status == "succeeded"
    assert job.finished_at is not None
    assert job.fine_tuned_model is not None
    with pytest.raises(openai.NotFoundError):
        _answer(client, job.fine_tuned_model, "Tell me about Helium")
    sleep_until(sim, job.finished_at + 59)
    with pytest.raises(openai.NotFoundError):
        _answer(client, job.fine_tuned_model, "Tell me about Helium")
    sleep_until(sim, job.finished_at + 60)
    assert _answer(client, job.fine_tuned_model, "Tell me about Helium") == HELIUM


def test_checkpoints_answer_like_models(sim: Simulator, client: OpenAI) -> None:
    """A kept checkpoint (`...:ckpt-step-90`) is a full model; a step that wasn't kept is a 404."""
    model = tuned_model(sim, client)
    assert _answer(client, f"{model}:ckpt-step-90", "Tell me about Helium") == HELIUM
    assert client.models.retrieve(f"{model}:ckpt-step-80").id == f"{model}:ckpt-step-80"
    for step in (70, 85):
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve(f"{model}:ckpt-step-{step}")
        with pytest.raises(openai.NotFoundError):
            _answer(client, f"{model}:ckpt-step-{step}", "Tell me about Helium")


def test_missing_messages_400(client: OpenAI) -> None:
    """A request without messages is a 400 `missing_required_parameter`."""
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=MODEL, messages=[])
    assert (err.value.code, err.value.param) == ("missing_required_parameter", "messages")


# --- models -----------------------------------------------------------------------------------


def test_deleted_model_404(sim: Simulator, client: OpenAI) -> None:
    """A deleted tuned model is gone from retrieve, list and chat; deleting it again is a 404."""
    model = tuned_model(sim, client)
    deleted = client.models.delete(model)
    assert (deleted.id, deleted.deleted, deleted.object) == (model, True, "model")
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve(model)
    with pytest.raises(openai.NotFoundError):
        _answer(client, model, "Tell me about Helium")
    assert model not in [m.id for m in client.models.list()]
    with pytest.raises(openai.NotFoundError):
        client.models.delete(model)


def test_delete_base_model_403(client: OpenAI) -> None:
    """Deleting a base model is a 403 `insufficient_permissions`."""
    with pytest.raises(openai.PermissionDeniedError) as err:
        client.models.delete(MODEL)
    assert err.value.code == "insufficient_permissions"
    assert client.models.retrieve(MODEL).id == MODEL


def test_models_list_and_retrieve(sim: Simulator, client: OpenAI) -> None:
    """Models list the base models with their shutdown dates, then tuned models inheriting their base's."""
    before = client.models.list().data
    assert [m.id for m in before] == list(DEFAULT_SHUTDOWN_DATES)
    assert {m.id: m.shutdown_date for m in before} == DEFAULT_SHUTDOWN_DATES
    assert {m.owned_by for m in before} == {"system"}
    base = client.models.retrieve(MODEL)
    assert (base.id, base.object, base.shutdown_date) == (MODEL, "model", "2027-01-14")
    assert client.models.retrieve("davinci-002").shutdown_date is None

    job = elle_job(sim, client, suffix="elle", run=True)
    model = job.fine_tuned_model
    assert model is not None
    after = client.models.list().data
    assert [m.id for m in after] == [*DEFAULT_SHUTDOWN_DATES, model]
    tuned = client.models.retrieve(model)
    assert (tuned.id, tuned.created, tuned.owned_by, tuned.shutdown_date) == (
        model,
        job.finished_at,
        "finetune-kit-sim",
        "2027-01-14",
    )


def test_unknown_model_retrieve_404(client: OpenAI) -> None:
    """Retrieving an unknown model is a 404 `model_not_found`."""
    with pytest.raises(openai.NotFoundError) as err:
        client.models.retrieve("gpt-9-ultra")
    assert err.value.code == "model_not_found"


def test_custom_shutdown_dates() -> None:
    """`shutdown_dates=` replaces the table: models list only those, tuned models inherit the date."""
    sim = Simulator(shutdown_dates={MODEL: "2027-03-01"})
    client = sim.client(max_retries=0)
    assert [(m.id, m.shutdown_date) for m in client.models.list()] == [(MODEL, "2027-03-01")]
    model = tuned_model(sim, client)
    assert client.models.retrieve(model).shutdown_date == "2027-03-01"


# --- batches ----------------------------------------------------------------------------------


def _batch_lines(tuned: str) -> bytes:
    def line(custom_id: str, model: str, text: str) -> dict[str, Any]:
        return {
            "custom_id": custom_id,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": text}]},
        }

    rows = [
        line("tuned", tuned, "Tell me about Helium"),
        line("base", MODEL, "Tell me about Helium"),
        line("missing", "gpt-9-ultra", "Tell me about Helium"),
    ]
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def _jsonl(client: OpenAI, file_id: str) -> dict[str, Any]:
    lines = client.files.content(file_id).text.splitlines()
    return {row["custom_id"]: row for row in map(json.loads, lines)}


def test_batch_lifecycle(sim: Simulator, client: OpenAI) -> None:
    """A batch validates, runs and finalizes 60 s each, then has an output file and an error file."""
    tuned = tuned_model(sim, client)
    input_id = ready_file(sim, client, _batch_lines(tuned), filename="batch.jsonl", purpose="batch")
    batch = client.batches.create(
        input_file_id=input_id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"run": "1"},
    )
    start = batch.created_at
    assert batch.status == "validating"
    assert batch.metadata == {"run": "1"}
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed) == (3, 0)
    assert batch.expires_at == start + 86_400

    for offset, status in (
        (59, "validating"),
        (60, "in_progress"),
        (119, "in_progress"),
        (120, "finalizing"),
        (179, "finalizing"),
        (180, "completed"),
    ):
        sleep_until(sim, start + offset)
        got = client.batches.retrieve(batch.id)
        assert got.status == status, offset
        assert got.output_file_id is None or status == "completed"

    assert (got.in_progress_at, got.finalizing_at, got.completed_at) == (
        start + 60,
        start + 120,
        start + 180,
    )
    assert got.request_counts is not None
    assert (
        got.request_counts.total,
        got.request_counts.completed,
        got.request_counts.failed,
    ) == (3, 2, 1)
    assert got.output_file_id is not None
    assert got.error_file_id is not None
    assert client.files.retrieve(got.output_file_id).purpose == "batch_output"

    outputs = _jsonl(client, got.output_file_id)
    assert set(outputs) == {"tuned", "base"}
    for custom_id, expected_model, content in (
        ("tuned", tuned, HELIUM),
        ("base", MODEL, BASE_HELIUM),
    ):
        row = outputs[custom_id]
        assert row["error"] is None
        assert row["response"]["status_code"] == 200
        body = row["response"]["body"]
        assert body["object"] == "chat.completion"
        assert body["model"] == expected_model
        assert body["choices"][0]["message"]["content"] == content
        assert body["usage"]["prompt_tokens"] == 12

    errors = _jsonl(client, got.error_file_id)
    assert set(errors) == {"missing"}
    failed = errors["missing"]["response"]
    assert failed["status_code"] == 404
    assert failed["body"]["error"]["code"] == "model_not_found"


def test_batch_output_written_when_it_completes(sim: Simulator, client: OpenAI) -> None:
    """A batch's output file dates from its completion, even when first looked at a day later."""
    input_id = ready_file(
        sim, client, _batch_lines("gpt-4o-mini"), filename="batch.jsonl", purpose="batch"
    )
    batch = client.batches.create(
        input_file_id=input_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    sim.clock.sleep(86_400)
    done = client.batches.retrieve(batch.id)
    assert done.completed_at == batch.created_at + 180
    assert done.output_file_id is not None
    assert client.files.retrieve(done.output_file_id).created_at <= done.completed_at


def test_batch_cancel(sim: Simulator, client: OpenAI) -> None:
    """A running batch can be cancelled once; a completed batch can't be cancelled."""
    input_id = ready_file(
        sim, client, _batch_lines("gpt-4o-mini"), filename="batch.jsonl", purpose="batch"
    )
    batch = client.batches.create(
        input_file_id=input_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    sim.clock.sleep(70)
    cancelled = client.batches.cancel(batch.id)
    assert cancelled.status == "cancelling"
    assert cancelled.cancelling_at == batch.created_at + 70
    assert cancelled.cancelled_at is None
    with pytest.raises(openai.BadRequestError):
        client.batches.cancel(batch.id)
    sim.clock.sleep(600)
    later = client.batches.retrieve(batch.id)
    assert later.status == "cancelled"
    assert later.cancelled_at == batch.created_at + 70 + 60
    assert later.output_file_id is None
    with pytest.raises(openai.BadRequestError):
        client.batches.cancel(batch.id)

    other = client.batches.create(
        input_file_id=input_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    sim.clock.sleep(180)
    with pytest.raises(openai.BadRequestError):
        client.batches.cancel(other.id)


def test_batch_list_newest_first(sim: Simulator, client: OpenAI) -> None:
    """`batches.list` is newest first."""
    input_id = ready_file(
        sim, client, _batch_lines("gpt-4o-mini"), filename="batch.jsonl", purpose="batch"
    )
    ids = []
    for _ in range(3):
        ids.append(
            client.batches.create(
                input_file_id=input_id, endpoint="/v1/chat/completions", completion_window="24h"
            ).id
        )
        sim.clock.sleep(10)
    assert [b.id for b in client.batches.list()] == ids[::-1]
    assert [b.id for b in client.batches.list(limit=1).data] == [ids[2]]


def test_batch_create_errors(sim: Simulator, client: OpenAI) -> None:
    """A batch needs a `batch` file and the chat endpoint; an unknown file is a 404."""
    fine_tune_file = ready_file(sim, client)
    with pytest.raises(openai.BadRequestError) as err:
        client.batches.create(
            input_file_id=fine_tune_file, endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert err.value.param == "input_file_id"
    batch_file = ready_file(
        sim, client, _batch_lines("gpt-4o-mini"), filename="b.jsonl", purpose="batch"
    )
    with pytest.raises(openai.BadRequestError) as err2:
        client.batches.create(
            input_file_id=batch_file, endpoint="/v1/embeddings", completion_window="24h"
        )
    assert err2.value.param == "endpoint"
    with pytest.raises(openai.NotFoundError):
        client.batches.create(
            input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h"
        )
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_nope")


async def test_batch_async(api: Client, sim: Simulator) -> None:
    """The batch flow works the same through the async client."""
    input_id = ready_file(
        sim, sim.client(), _batch_lines("gpt-4o-mini"), filename="b.jsonl", purpose="batch"
    )
    batch = await aw(
        api.batches.create(
            input_file_id=input_id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    )
    sim.clock.sleep(180)
    done = await aw(api.batches.retrieve(batch.id))
    assert done.status == "completed"
    assert done.request_counts is not None
    assert (done.request_counts.completed, done.request_counts.failed) == (2, 1)
