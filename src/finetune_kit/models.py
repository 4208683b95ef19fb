"""`TunedModel`: the model a fine-tuning job produced.

Added in 0.1.0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI
    from openai.types.fine_tuning import FineTuningJob

__all__ = ["AsyncTunedModel", "TunedModel"]


class TunedModel:
    """A fine-tuned model, bound to a client.

    Args:
        client: The `openai.OpenAI` (or `AzureOpenAI`) client to call it with.
        model_id: Its name, e.g. `ft:gpt-4o-mini-2024-07-18:acme:elle:AbC123`.
        job: The job snapshot that produced it, when known.

    Added in 0.1.0.
    """

    def __init__(self, client: OpenAI, model_id: str, *, job: FineTuningJob | None = None) -> None:
        self.client = client
        self.id = model_id
        self.job = job

    def __repr__(self) -> str:
        return f"<TunedModel {self.id}>"

    def __str__(self) -> str:
        return self.id


class AsyncTunedModel:
    """A fine-tuned model, bound to an async client (see `TunedModel`).

    Added in 0.1.0.
    """

    def __init__(
        self, client: AsyncOpenAI, model_id: str, *, job: FineTuningJob | None = None
    ) -> None:
        self.client = client
        self.id = model_id
        self.job = job

    def __repr__(self) -> str:
        return f"<AsyncTunedModel {self.id}>"

    def __str__(self) -> str:
        return self.id
