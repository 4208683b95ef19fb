"""An `Answer` from each reply (live or batch), graded; the `Comparison` assembled from them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from finetune_kit._core.errors import incompatible
from finetune_kit._core.redact import error_text
from finetune_kit._core.scoring import Grader
from finetune_kit.compare.plan import Prices, _Item, _Variant
from finetune_kit.compare.results import INTERRUPTED, Answer, Comparison, Row, _summaries

_Reply = tuple[Any, Any, Any]
"""(output, prompt tokens, completion tokens) of one chat completion."""


def _reply(response: Any) -> _Reply:
    """What an answer keeps of a `ChatCompletion` (from a batch's output)."""
    output = response.choices[0].message.content or "" if response.choices else ""
    usage = response.usage
    p, c = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
    return output, p, c


def _raw_reply(raw: Any) -> _Reply:
    """What an answer keeps of a live call's raw response (`with_raw_response`), read from JSON.

    An answer keeps only the text and the token counts, so the body is read with `json.loads`
    rather than built into the SDK's `ChatCompletion` (most of the SDK's cost per call).

    Raises:
        IncompatibleEndpointError: The body is not a chat completion (a web page, a login
            portal...): the base URL is wrong, and every other call would fail the same way.
    """
    http = raw.http_response
    try:
        body = json.loads(http.content)
    except ValueError:  # not JSON (UnicodeDecodeError is a ValueError too)
        body = None
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(choices, list):
        url = str(http.request.url).split("?", 1)[0]
        raise incompatible(
            url, status=http.status_code, content_type=http.headers.get("content-type")
        )
    first = choices[0] if choices else None
    message = first.get("message") if isinstance(first, dict) else None
    output = (message.get("content") if isinstance(message, dict) else None) or ""
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return output, 0, 0
    return output, usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0


def _answer(
    reply: _Reply,
    *,
    latency: float,
    model_id: str,
    item: _Item,
    graders: Mapping[str, Grader],
    prices: Prices | None,
) -> Answer:
    output, p, c = reply
    price = (prices or {}).get(model_id)
    cost = (p * price[0] + c * price[1]) / 1_000_000 if price else None
    answer = Answer(
        output=output,
        latency=latency,
        prompt_tokens=p,
        completion_tokens=c,
        cost_usd=cost,
        grades={},
    )
    return _graded(answer, item.prompt, item.reference, graders)


def _graded(
    answer: Answer, prompt: str, reference: str | None, graders: Mapping[str, Grader]
) -> Answer:
    """The answer with every grader's verdict, score and reason."""
    context = {"reference": reference, "prompt": prompt}
    results = {name: grader(answer.output, context) for name, grader in graders.items()}
    return answer.model_copy(
        update={
            "grades": {n: g.passed for n, g in results.items()},
            "scores": {n: g.score for n, g in results.items()},
            "reasons": {n: g.reason for n, g in results.items() if g.reason},
        }
    )


def _describe(exc: BaseException) -> str:
    return error_text(exc)  # `Type: message`, without any key a provider echoed


def _failed(exc: BaseException | str) -> Answer:
    """An answer that never came: `exc` (or the text given) is its error."""
    return Answer(
        output="",
        latency=0.0,
        prompt_tokens=0,
        completion_tokens=0,
        cost_usd=None,
        grades={},
        error=(exc if isinstance(exc, str) else _describe(exc))[:300],
    )


def _from_batch(
    results: Mapping[str, tuple[Any, str | None]],
    keys: Mapping[str, tuple[_Item, str, str]],
    graders: Mapping[str, Grader],
    prices: Prices | None,
) -> dict[tuple[int, str], Answer]:
    answers: dict[tuple[int, str], Answer] = {}
    for custom_id, (item, label, model_id) in keys.items():
        response, error = results.get(custom_id, (None, "missing from the batch output"))
        if response is None:
            answers[(item.index, label)] = _failed(RuntimeError(error or "no response"))
        else:
            answers[(item.index, label)] = _answer(
                _reply(response),
                latency=0.0,
                model_id=model_id,
                item=item,
                graders=graders,
                prices=prices,
            )
    return answers


def _assemble(
    items: list[_Item],
    plan: list[_Variant],
    answers: dict[tuple[int, str], Answer],
    graders: Mapping[str, Grader],
    reference_model: str | None = None,
    *,
    missing: str | None = None,
) -> Comparison:
    """The comparison; an answer missing from `answers` gets the error `missing`.

    With `missing` (a stopped run), answers are not graded against the reference model: that
    would mean more calls after Ctrl-C.
    """
    labels = [p[0] for p in plan]
    if missing is not None:
        for item in items:
            for label in labels:
                answers.setdefault((item.index, label), _failed(missing))
    if reference_model is not None and missing != INTERRUPTED:
        # Grade every other model against the reference model's answer to the same item.
        for item in items:
            ref = answers[(item.index, reference_model)]
            for label in labels:
                key = (item.index, label)
                if label == reference_model:
                    answers[key] = answers[key].model_copy(
                        update={"grades": {}, "scores": {}, "reasons": {}}
                    )
                elif answers[key].error is None:
                    reference = None if ref.error else ref.output
                    answers[key] = _graded(answers[key], item.prompt, reference, graders)
    rows = [
        Row(
            index=i.index,
            prompt=i.prompt,
            reference=i.reference,
            answers={lb: answers[(i.index, lb)] for lb in labels},
        )
        for i in items
    ]
    return Comparison(models=labels, rows=rows, summaries=_summaries(labels, rows, graders))
