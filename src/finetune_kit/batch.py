"""`run_batch` / `arun_batch`: many chat completions through the Batch API, at half the price.

The requests are written as a batch JSONL file in memory, uploaded (purpose `"batch"`), run as
one batch on `/v1/chat/completions` with a 24-hour completion window, polled until it ends, and
the output and error files are read back and matched to the requests by `custom_id`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

import openai
from openai.types import Batch
from openai.types.chat import ChatCompletion
from pydantic import ValidationError

from finetune_kit._defaults import asleep_for, sleep_for
from finetune_kit.exceptions import ConfigurationError, ProviderError, WaitTimeoutError

__all__ = ["BatchResults", "arun_batch", "run_batch"]

BatchResults = dict[str, tuple[ChatCompletion | None, str | None]]
"""custom_id -> (the completion, or `None`; why there is none, or `None`)."""

FILENAME = "finetune-kit-compare.jsonl"
ENDPOINT: Final = "/v1/chat/completions"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
MISSING = "missing from the batch output"


def _jsonl(
    requests: Sequence[tuple[str, str, list[dict[str, Any]]]], params: Mapping[str, Any] | None
) -> bytes:
    """The batch input file: one request line per (custom_id, model, messages)."""
    if not requests:
        raise ConfigurationError("a batch needs at least one request")
    ids = [custom_id for custom_id, _, _ in requests]
    if len(set(ids)) != len(ids):
        raise ConfigurationError("each custom_id may appear once in a batch")
    lines = [
        json.dumps(
            {
                "custom_id": custom_id,
                "method": "POST",
                "url": ENDPOINT,
                "body": {**(params or {}), "model": model, "messages": messages},
            },
            ensure_ascii=False,
        )
        for custom_id, model, messages in requests
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _ended(batch: Batch) -> bool:
    """True when the batch is completed; raise when it ended any other way."""
    if batch.status == "completed":
        return True
    if batch.status not in TERMINAL:
        return False
    detail = ""
    if batch.errors and batch.errors.data:
        detail = ": " + "; ".join(e.message or e.code or "" for e in batch.errors.data[:3])
    raise ProviderError(f"batch {batch.id} ended {batch.status}{detail}", code=batch.status)


def _timeout(batch: Batch, waited: float) -> WaitTimeoutError:
    return WaitTimeoutError(
        f"batch {batch.id} is still {batch.status} after {waited:.0f} s", job=None, waited=waited
    )


def _error_text(line: Mapping[str, Any]) -> str | None:
    """Why a result line has no completion, or `None` when it has one."""
    error = line.get("error")
    if isinstance(error, Mapping):
        return f"{error.get('code') or 'error'}: {error.get('message') or ''}".strip()
    response = line.get("response")
    if not isinstance(response, Mapping):
        return "the batch returned no response for this request"
    status = response.get("status_code")
    if status == 200:
        return None
    body = response.get("body")
    detail = body.get("error") if isinstance(body, Mapping) else None
    message = detail.get("message") if isinstance(detail, Mapping) else None
    return f"HTTP {status}: {message or 'the request failed'}"


def _parse(ids: Sequence[str], output: bytes | None, errors: bytes | None) -> BatchResults:
    """Match the output and error files' lines to the requests by custom_id."""
    results: BatchResults = {}
    for content in (output, errors):
        for raw in (content or b"").splitlines():
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(line, dict):
                continue
            custom_id = line.get("custom_id")
            if not isinstance(custom_id, str) or custom_id in results:
                continue
            error = _error_text(line)
            completion = None
            if error is None:
                try:
                    completion = ChatCompletion.model_validate(line["response"]["body"])
                except (ValidationError, KeyError, TypeError) as exc:
                    error = f"unreadable completion: {exc}"[:300]
            results[custom_id] = (completion, error)
    return {i: results.get(i, (None, MISSING)) for i in ids}


def run_batch(
    client: openai.OpenAI,
    requests: Sequence[tuple[str, str, list[dict[str, Any]]]],
    *,
    params: Mapping[str, Any] | None = None,
    sleep: Callable[[float], None] | None = None,
    poll: float = 30.0,
    timeout: float = 24 * 3600,
) -> BatchResults:
    """Run chat completions through the Batch API; return each request's result by custom_id.

    Args:
        client: The client to upload, create and poll with.
        requests: (custom_id, model, messages) for each completion; custom_ids must be unique.
        params: Chat-completions parameters for every request (`temperature=0`...).
        sleep: What waiting between polls calls (default `time.sleep`; for a simulator's
            client, its clock's).
        poll: Seconds between two looks at the batch.
        timeout: Seconds of polling before giving up.

    Returns:
        Every custom_id -> (the `ChatCompletion` or `None`, the error text or `None`). A request
        that failed, or is missing from the output, has an error and no completion.

    Raises:
        ConfigurationError: No requests, or a repeated custom_id.
        ProviderError: The batch ended failed, expired or cancelled (the message has its id).
        WaitTimeoutError: The batch had not ended after `timeout` seconds.
    """
    sleep = sleep or sleep_for(client)
    data = _jsonl(requests, params)
    upload = client.files.create(file=(FILENAME, data), purpose="batch")
    batch = client.batches.create(
        input_file_id=upload.id, endpoint=ENDPOINT, completion_window="24h"
    )
    waited = 0.0
    while not _ended(batch):
        if waited >= timeout:
            raise _timeout(batch, waited)
        sleep(poll)
        waited += poll
        batch = client.batches.retrieve(batch.id)
    output = client.files.content(batch.output_file_id).content if batch.output_file_id else None
    errors = client.files.content(batch.error_file_id).content if batch.error_file_id else None
    return _parse([r[0] for r in requests], output, errors)


async def arun_batch(
    client: openai.AsyncOpenAI,
    requests: Sequence[tuple[str, str, list[dict[str, Any]]]],
    *,
    params: Mapping[str, Any] | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    poll: float = 30.0,
    timeout: float = 24 * 3600,  # virtual-clock polls, not a cancel scope
) -> BatchResults:
    """The async twin of [`run_batch`][finetune_kit.batch.run_batch].

    Args:
        client: The async client to upload, create and poll with.
        requests: (custom_id, model, messages) for each completion; custom_ids must be unique.
        params: Chat-completions parameters for every request.
        sleep: What waiting between polls awaits (default `anyio.sleep`; for a simulator's
            client, its clock's).
        poll: Seconds between two looks at the batch.
        timeout: Seconds of polling before giving up.

    Returns:
        Every custom_id -> (the `ChatCompletion` or `None`, the error text or `None`).

    Raises:
        ConfigurationError: No requests, or a repeated custom_id.
        ProviderError: The batch ended failed, expired or cancelled (the message has its id).
        WaitTimeoutError: The batch had not ended after `timeout` seconds.
    """
    sleep = sleep or asleep_for(client)
    data = _jsonl(requests, params)
    upload = await client.files.create(file=(FILENAME, data), purpose="batch")
    batch = await client.batches.create(
        input_file_id=upload.id, endpoint=ENDPOINT, completion_window="24h"
    )
    waited = 0.0
    while not _ended(batch):
        if waited >= timeout:
            raise _timeout(batch, waited)
        await sleep(poll)
        waited += poll
        batch = await client.batches.retrieve(batch.id)
    output = (
        (await client.files.content(batch.output_file_id)).content if batch.output_file_id else None
    )
    errors = (
        (await client.files.content(batch.error_file_id)).content if batch.error_file_id else None
    )
    return _parse([r[0] for r in requests], output, errors)
