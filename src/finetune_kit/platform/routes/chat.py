"""Chat completions: `POST /chat/completions`, and Azure's per-deployment path."""

from __future__ import annotations

from typing import TYPE_CHECKING

from finetune_kit.platform.answering import (
    answer,
    answer_streamed,
    choices_param,
    completion_body,
    deployed_model,
    stream_options,
)
from finetune_kit.platform.routes._base import Context, ok, route
from finetune_kit.platform.wire import ApiError, Request, Response

if TYPE_CHECKING:
    from finetune_kit.platform.state import PlatformState

__all__: list[str] = []


@route("POST", "deployments/{deployment}/chat/completions", "chat.create")
@route("POST", "chat/completions", "chat.create")
def chat_create(api: PlatformState, req: Request, ctx: Context) -> Response:
    """POST /chat/completions: the engine answers, in `n` choices.

    `stream: true` answers server-sent events (`chat.completion.chunk`s), as `chunks` made as
    the engine yields its pieces (`Platform.handle` joins them unless the request is
    `streaming`, e.g. from the socket server). On Azure the model
    is a deployment name: a tuned model answers only once deployed.
    """
    body = req.json()
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    model = ctx.params.get("deployment") or body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError.missing("model")
    if ctx.flavor == "azure":
        model = deployed_model(api, model)
    model = api.aliases.get(model, model)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError.missing("messages")
    n = choices_param(body)
    include_usage = stream_options(body)
    if body.get("stream") is not True:
        return ok(completion_body(api, model, answer(api, model, messages, body, n=n)))
    events = answer_streamed(api, model, messages, body, n=n, include_usage=include_usage)
    return Response(200, {"content-type": "text/event-stream; charset=utf-8"}, chunks=events)
