"""Chat completions as the API shapes them, whatever engine answers.

The request's checks, the `ChatCompletion` body, its server-sent events, Azure deployments.

Shared by the chat route and batches: a completion is written once.
"""

from __future__ import annotations

import json
from itertools import chain
from typing import TYPE_CHECKING, Any

from finetune_kit.platform.engine import Completion, Piece
from finetune_kit.platform.formats import output_params
from finetune_kit.platform.state import is_tuned_name
from finetune_kit.platform.wire import ApiError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from finetune_kit.platform.state import PlatformState

__all__ = [
    "MAX_CHOICES",
    "answer",
    "answer_streamed",
    "azure_error",
    "choices_param",
    "completion_body",
    "deployed_model",
    "stream_options",
]

MAX_CHOICES = 128


def choices_param(body: dict[str, Any]) -> int:
    """The `n` of a chat request (1 to 128)."""
    n = body.get("n")
    if n is None:
        return 1
    if not isinstance(n, int) or isinstance(n, bool):
        raise ApiError(
            400,
            f"Invalid type for 'n': expected an integer, but got {type(n).__name__} instead.",
            param="n",
            code="invalid_type",
        )
    if n < 1:
        raise ApiError(
            400,
            f"Invalid 'n': integer below minimum value. Expected a value >= 1, but got {n} "
            "instead.",
            param="n",
            code="integer_below_min_value",
        )
    if n > MAX_CHOICES:
        raise ApiError(
            400,
            f"Invalid 'n': integer above maximum value. Expected a value <= {MAX_CHOICES}, but "
            f"got {n} instead.",
            param="n",
            code="integer_above_max_value",
        )
    return n


def stream_options(body: dict[str, Any]) -> bool:
    """Whether a streamed answer ends with a usage chunk (`stream_options.include_usage`)."""
    stream, options = body.get("stream"), body.get("stream_options")
    if stream is not None and not isinstance(stream, bool):
        raise ApiError(400, "Invalid 'stream': expected a boolean.", param="stream")
    if options is None:
        return False
    if not stream:
        raise ApiError(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
            code="invalid_value",
        )
    if not isinstance(options, dict) or not isinstance(options.get("include_usage", False), bool):
        raise ApiError(
            400,
            "Invalid 'stream_options': expected an object such as {\"include_usage\": true}.",
            param="stream_options",
            code="invalid_value",
        )
    return bool(options.get("include_usage", False))


def deployed_model(api: PlatformState, name: str) -> str:
    """The model an Azure deployment serves, or Azure's 404 `DeploymentNotFound`.

    Deployments are made through the management API (`TunedModel.deploy`, which the platform
    also answers) or set in `api.deployments`. A base model is served under its own name, as
    if its deployment already existed; a tuned model never is until deployed.
    """
    if api.deployment_ready(name):
        return api.deployments[name]
    if name not in api.deployments:
        base = api.aliases.get(name, name)
        if not is_tuned_name(name) and api.answers_base(base):
            return name
    raise azure_error(
        404,
        "DeploymentNotFound",
        "The API deployment for this resource does not exist. If you created the deployment "
        "within the last 5 minutes, please wait a moment and try again. (Simulator: no "
        f"deployment named {name!r} serves yet: deploy the model first, e.g. TunedModel.deploy.)",
    )


def azure_error(status: int, code: str, message: str) -> ApiError:
    """An error in Azure's own shape, `{"error": {"code", "message"}}` (no type, no param)."""
    return ApiError(status, message, code=code, body={"error": {"code": code, "message": message}})


def _params(body: dict[str, Any], messages: list[Any], n: int) -> dict[str, Any]:
    """The engine's `params`: the request's, `n` and the checked output options."""
    skip = ("model", "messages", "stream", "stream_options")
    rest = {k: v for k, v in body.items() if k not in skip}
    return {**rest, "n": n, **output_params(body, messages)}


def answer(
    api: PlatformState, model: str, messages: list[Any], body: dict[str, Any], *, n: int
) -> Completion:
    """`model`'s answers (`n` choices) from the inference engine, or the API's 404."""
    served = api.served(model)
    return api.inference.complete(served, messages, _params(body, messages, n))


def answer_streamed(
    api: PlatformState,
    model: str,
    messages: list[Any],
    body: dict[str, Any],
    *,
    n: int,
    include_usage: bool,
) -> Iterator[bytes]:
    """`answer`, streamed: the server-sent events of its stream, each as the engine allows.

    The model is looked up, the completion's id and time drawn and the engine started (its
    first item taken) before this returns, so what fails there is still an `ApiError` (or the
    engine's exception) raised here. The events: each choice's first chunk with the role, one
    chunk per `Piece` in the order the engine yields them (one token each), each choice's
    chunk with its finish reason; with `include_usage`, every chunk carries `"usage": null`
    and a last chunk with no choices carries the usage. Then `data: [DONE]`. A stream that
    ends without a `Completion` raises `ApiError` 500 from the iterator.
    """
    served = api.served(model)
    params = _params(body, messages, n)
    items = iter(api.inference.stream(served, messages, params))
    first = next(items, None)
    head: dict[str, Any] = {
        "id": api.new_id("chatcmpl-"),
        "object": "chat.completion.chunk",
        "created": int(api.now()),
        "model": model,
        "service_tier": "default",
        "system_fingerprint": api.system_fingerprint,
    }
    if include_usage:
        head["usage"] = None
    return _events(head, n, items if first is None else chain((first,), items))


def _events(head: dict[str, Any], n: int, items: Iterator[Piece | Completion]) -> Iterator[bytes]:
    def event(chunk: dict[str, Any]) -> bytes:
        return f"data: {json.dumps(chunk)}\n\n".encode()

    def chunk(
        index: int, delta: dict[str, Any], finish: str | None = None, logprobs: Any = None
    ) -> dict[str, Any]:
        choice = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        return {**head, "choices": [choice]}

    for index in range(n):
        yield event(chunk(index, {"role": "assistant", "content": "", "refusal": None}))
    completion: Completion | None = None
    for item in items:
        if isinstance(item, Piece):
            yield event(
                chunk(item.index, {"content": item.text}, logprobs=_logprobs(item.logprobs))
            )
        else:
            completion = item
    if completion is None:
        raise ApiError(500, "The model's stream ended without a completion.")
    for index, choice in enumerate(completion.choices):
        yield event(chunk(index, {}, choice.finish_reason))
    if "usage" in head:
        yield event({**head, "choices": [], "usage": _usage(completion)})
    yield b"data: [DONE]\n\n"


def _logprobs(content: tuple[dict[str, Any], ...] | None) -> dict[str, Any] | None:
    """A choice's (or a chunk's) `logprobs` object: None unless the request asked for them."""
    return None if content is None else {"content": list(content), "refusal": None}


def _usage(completion: Completion) -> dict[str, int]:
    completion_tokens = sum(c.completion_tokens for c in completion.choices)
    return {
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": completion.prompt_tokens + completion_tokens,
    }


def completion_body(api: PlatformState, model: str, completion: Completion) -> dict[str, Any]:
    """The `ChatCompletion` JSON of an engine's `Completion`."""
    choices: list[dict[str, Any]] = [
        {
            "index": index,
            "message": {
                "role": "assistant",
                "content": choice.text,
                "refusal": None,
                "annotations": [],
            },
            "finish_reason": choice.finish_reason,
            "logprobs": _logprobs(choice.logprobs),
        }
        for index, choice in enumerate(completion.choices)
    ]
    return {
        "id": api.new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(api.now()),
        "model": model,
        "choices": choices,
        "usage": _usage(completion),
        "system_fingerprint": api.system_fingerprint,
        "service_tier": "default",
    }
