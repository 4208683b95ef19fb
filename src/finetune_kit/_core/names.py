"""Reading fine-tuned model names: pure.

- OpenAI: `ft:<base>:<org>:<suffix>:<id>` (the suffix may be empty), checkpoints add
  `:ckpt-step-<N>`;
- Azure: `<base>.ft-<hex>`, checkpoints `ftchkpt-<hex>` (which don't name their base).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["ModelName", "parse_model_name"]

_CKPT = re.compile(r":ckpt-step-(\d+)$")


@dataclass(frozen=True, slots=True)
class ModelName:
    """What a model's name says about it."""

    id: str
    kind: Literal["base", "openai", "azure"]
    """`base` for an untuned model, else who named the fine-tune."""
    base: str | None
    """The base model (None for Azure checkpoints, whose names don't say)."""
    organization: str | None = None
    suffix: str | None = None
    short_id: str | None = None
    checkpoint_step: int | None = None


def parse_model_name(name: str) -> ModelName:
    """Parse a model name.

    >>> parse_model_name("ft:gpt-4o-mini-2024-07-18:acme::AbC123:ckpt-step-40").checkpoint_step
    40
    """
    if name.startswith("ft:"):
        step = None
        body = name
        match = _CKPT.search(body)
        if match:
            step = int(match.group(1))
            body = body[: match.start()]
        parts = body[3:].split(":")
        base = parts[0] or None
        org = parts[1] if len(parts) > 1 and parts[1] else None
        suffix = parts[2] if len(parts) > 3 and parts[2] else None
        short = parts[-1] if len(parts) > 2 and parts[-1] else None
        return ModelName(name, "openai", base, org, suffix, short, step)
    if name.startswith("ftchkpt-"):
        return ModelName(name, "azure", None, short_id=name[len("ftchkpt-") :])
    if ".ft-" in name:
        base, short = name.split(".ft-", 1)
        return ModelName(name, "azure", base, short_id=short)
    return ModelName(name, "base", name)
