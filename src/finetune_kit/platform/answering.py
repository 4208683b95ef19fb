"""Chat completions as the API shapes them, whatever engine answers.

The request's checks, the `ChatCompletion` body, its server-sent events, Azure deployments.

Shared by the chat route and batches: a completion is written once.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from finetune_kit.platform.engine import Completion, Piece
from finetune_kit.platform.state import is_tuned_name
from finetune_kit.platform.wire import ApiError

if TYPE_CHECKING:
    from finetune_kit.platform.state import PlatformState

__all__ = [
    "MAX_CHOICES",
    "answer",
    "answer_streamed",
    "azure_error",
    "choices_param",
    "completion_body",
    "deployed_model",
    "stream_events",
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


def _params(body: dict[str, Any], n: int) -> dict[str, Any]:
    skip = ("model", "messages", "stream", "stream_options")
    return {**{k: v for k, v in body.items() if k not in skip}, "n": n}


def answer(
    api: PlatformState, model: str, messages: list[Any], body: dict[str, Any], *, n: int
) -> Completion:
    """`model`'s answers (`n` choices) from the inference engine, or the API's 404."""
    served = api.served(model)
    return api.inference.complete(served, messages, _params(body, n))


def answer_streamed(
    api: PlatformState, model: str, messages: list[Any], body: dict[str, Any], *, n: int
) -> tuple[Completion, list[list[str]]]:
    """`answer`, streamed: the completion and each choice's pieces, in order."""
    served = api.served(model)
    split: list[list[str]] = [[] for _ in range(n)]
    completion: Completion | None = None
    for item in api.inference.stream(served, messages, _params(body, n)):
        if isinstance(item, Piece):
            split[item.index].append(item.text)
        else:
            completion = item
    if completion is None:
        raise ApiError(500, "The model's stream ended without a completion.")
    return completion, split


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
            "logprobs": None,
        }
        for index, choice in enumerate(completion.choices)
    ]
    completion_tokens = sum(c.completion_tokens for c in completion.choices)
    return {
        "id": api.new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(api.now()),
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": completion.prompt_tokens + completion_tokens,
        },
        "system_fingerprint": api.system_fingerprint,
        "service_tier": "default",
    }


def stream_events(
    completion: dict[str, Any], split: list[list[str]], *, include_usage: bool
) -> bytes:
    """A `ChatCompletion` JSON as the server-sent events of its stream (`stream: true`).

    Each choice streams as the API does: a first chunk with the role, one chunk per piece of
    its content (`split[index]`, one token each), a chunk with the finish reason; choices are
    interleaved. With `include_usage`, every chunk carries `"usage": null` and a last chunk with
    no choices carries the usage. Then `data: [DONE]`.
    """
    head = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": completion["model"],
        "service_tier": completion.get("service_tier"),
        "system_fingerprint": completion.get("system_fingerprint"),
    }
    if include_usage:
        head["usage"] = None

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**head, "choices": [choice]}

    choices = completion["choices"]
    chunks = [
        chunk(c["index"], {"role": "assistant", "content": "", "refusal": None}) for c in choices
    ]
    for step in range(max((len(p) for p in split), default=0)):
        chunks += [
            chunk(c["index"], {"content": parts[step]})
            for c, parts in zip(choices, split, strict=True)
            if step < len(parts)
        ]
    chunks += [chunk(c["index"], {}, c["finish_reason"]) for c in choices]
    if include_usage:
        chunks.append({**head, "choices": [], "usage": completion["usage"]})
    lines = [f"data: {json.dumps(c)}\n\n" for c in chunks]
    return ("".join(lines) + "data: [DONE]\n\n").encode()
