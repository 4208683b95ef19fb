"""What `compare` will call: the items, the variants of each model (few-shot), the messages.

Reading a JSONL path of prompts (`Dataset.from_jsonl`) is the only file it opens.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from finetune_kit._core.scoring import Grader, contains, exact
from finetune_kit.dataset import Dataset
from finetune_kit.exceptions import ConfigurationError

Prices = Mapping[str, tuple[float, float]]
"""Model -> (USD per 1M prompt tokens, USD per 1M completion tokens)."""
_Variant = tuple[str, str, list[dict[str, Any]]]
"""(label, model id, extra messages before the item): one variant of a model to run."""


@dataclass(frozen=True, slots=True)
class _Item:
    index: int
    messages: list[dict[str, Any]]
    prompt: str
    reference: str | None


def _items(
    prompts: Sequence[str] | Dataset | str | os.PathLike[str], system: str | None
) -> list[_Item]:
    if isinstance(prompts, (str, os.PathLike)) and not (
        isinstance(prompts, str) and "\n" in prompts
    ):
        prompts = Dataset.from_jsonl(prompts)
    out: list[_Item] = []
    sys_msg = [{"role": "system", "content": system}] if system else []
    if isinstance(prompts, Dataset):
        for i, row in enumerate(prompts):
            messages = list(row.get("messages") or []) if isinstance(row, dict) else []
            reference = None
            if messages and messages[-1].get("role") == "assistant":
                reference = str(messages.pop().get("content") or "")
            if not messages:
                raise ConfigurationError(f"item {i + 1} of the prompts has no messages to send")
            prompt = next(
                (str(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
            )
            if system and messages[0].get("role") != "system":
                messages = sys_msg + messages
            out.append(_Item(i + 1, messages, prompt, reference))
        return out
    for i, text in enumerate(prompts):
        out.append(
            _Item(i + 1, [*sys_msg, {"role": "user", "content": str(text)}], str(text), None)
        )
    return out


def _shots(few_shot: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        m
        for q, a in few_shot
        for m in ({"role": "user", "content": q}, {"role": "assistant", "content": a})
    ]


def _variants(models: Sequence[Any], few_shot: Sequence[tuple[str, str]] | None) -> list[_Variant]:
    """(label, model id, extra messages before the item) for each variant to run."""
    plan: list[_Variant] = []
    for model in models:
        model_id = str(getattr(model, "id", model))
        plan.append((model_id, model_id, []))
        if few_shot and not model_id.startswith("ft:") and ".ft-" not in model_id:
            plan.append((f"{model_id} + {len(few_shot)}-shot", model_id, _shots(few_shot)))
    labels = [p[0] for p in plan]
    if len(set(labels)) != len(labels):
        raise ConfigurationError("each model may appear once in models=")
    return plan


def _messages(item: _Item, shots: list[dict[str, Any]]) -> list[Any]:
    if not shots:
        return item.messages
    head = [m for m in item.messages[:1] if m.get("role") == "system"]
    return head + shots + item.messages[len(head) :]


def _graders(graders: Mapping[str, Grader] | None, items: list[_Item]) -> Mapping[str, Grader]:
    if graders is not None:
        return graders
    if any(i.reference is not None for i in items):
        return {"exact": exact(), "contains": contains()}
    return {}


def _setup(  # noqa: PLR0917 - the arguments of compare(), passed through
    prompts: Sequence[str] | Dataset | str | os.PathLike[str],
    system: str | None,
    models: Sequence[Any],
    few_shot: Sequence[tuple[str, str]] | None,
    graders: Mapping[str, Grader] | None,
    reference_model: str | None,
    *,
    params: Mapping[str, Any],
) -> tuple[
    list[_Item],
    list[_Variant],
    Mapping[str, Grader],
    Mapping[str, Grader],
]:
    """Items, variants, graders, and the graders to apply as answers arrive.

    None are applied on arrival when a reference model is set: answers are graded later,
    against its answers.
    """
    if params.get("stream"):
        raise ConfigurationError("compare reads whole answers: stream=True is not supported")
    items = _items(prompts, system)
    plan = _variants(models, few_shot)
    chosen = _graders(graders, items)
    if reference_model is not None and reference_model not in [p[0] for p in plan]:
        raise ConfigurationError(
            f"reference_model {reference_model!r} is not one of the models compared"
        )
    on_call: Mapping[str, Grader] = {} if reference_model is not None else chosen
    return items, plan, chosen, on_call


def _batch_requests(
    items: list[_Item], plan: list[_Variant]
) -> tuple[list[_Variant], dict[str, tuple[_Item, str, str]]]:
    """One batch request per (item, model); custom ids map back to them."""
    requests: list[_Variant] = []
    keys: dict[str, tuple[_Item, str, str]] = {}
    for item in items:
        for n, (label, model_id, shots) in enumerate(plan):
            custom_id = f"item-{item.index}-model-{n}"
            requests.append((custom_id, model_id, _messages(item, shots)))
            keys[custom_id] = (item, label, model_id)
    return requests, keys


_Task = tuple[_Item, str, str, list[dict[str, Any]]]
"""(item, label, model id, few-shot messages): one call to get one answer."""
