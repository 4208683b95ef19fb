"""`TunedModel` / `AsyncTunedModel`: call the model a job produced, and know how long it lives.

Added in 0.1.0.
"""

from __future__ import annotations

import datetime as dt
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import openai

from finetune_kit._core.errors import classify, incompatible
from finetune_kit._core.names import ModelName, parse_model_name
from finetune_kit.azure import Deployment, TokenSource, deploy
from finetune_kit.dataset.catalog import SHUTDOWN_DATES, base_model
from finetune_kit.exceptions import ModelRetirementWarning, RateLimitedError

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI
    from openai.types.chat import ChatCompletion
    from openai.types.fine_tuning import FineTuningJob
    from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

__all__ = ["AsyncTunedModel", "TunedModel"]

READY_TIMEOUT = 600.0
"""How long `chat` keeps retrying the "model not found" a new model answers at first."""
WARN_WITHIN_DAYS = 30
RATE_LIMIT_RETRIES = 5
"""How many times `chat` waits out a rate limit (its Retry-After, of any size) and tries again."""


def _messages(prompt: str | Sequence[dict[str, Any]], system: str | None) -> list[Any]:
    messages: list[Any] = (
        [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    )
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return messages


def _ready_delays(timeout: float) -> list[float]:
    """Backoff while a new model is not served yet: 5, 10, 20, 40, 60, 60... within `timeout`."""
    delays, total, delay = [], 0.0, 5.0
    while total < timeout:
        step = min(delay, timeout - total)
        delays.append(step)
        total += step
        delay = min(delay * 2, 60.0)
    return delays


class _Retry:
    """What `chat` does after a failed call: the same for sync and async, free of I/O."""

    def __init__(self, ready_timeout: float) -> None:
        self.ready = _ready_delays(ready_timeout)
        self.limited = 0

    def delay(self, exc: openai.OpenAIError, now: float) -> float:
        """Seconds to wait before calling again; raises what can't be waited out.

        "Model not found" is waited out while a new model may not be served yet (then raised
        as the SDK's `NotFoundError`); a rate limit `RATE_LIMIT_RETRIES` times, honouring a
        Retry-After of any size (the SDK gives up on one over 120 s), then `RateLimitedError`.
        """
        c = classify(exc, operation="chat", now=now)  # removes echoed keys first
        if isinstance(exc, openai.NotFoundError) and c.translated is None:
            if not self.ready:
                raise exc
            return self.ready.pop(0)
        if isinstance(c.translated, RateLimitedError) and c.transient:
            self.limited += 1
            if self.limited <= RATE_LIMIT_RETRIES:
                return c.retry_after or min(60.0, 5.0 * 2 ** (self.limited - 1))
        if c.translated is not None:
            raise c.translated from exc
        raise exc


def _completion(response: object, client: object) -> ChatCompletion:
    """The response, if it is one: an endpoint that answers a web page returns a `str`."""
    if isinstance(response, str):
        url = f"{str(getattr(client, 'base_url', '')).rstrip('/')}/chat/completions"
        raise incompatible(url, status=200, content_type="text/html" if "<" in response else None)
    return response  # type: ignore[return-value]


def _published_date(name: ModelName) -> str | None:
    base = name.base or ""
    return SHUTDOWN_DATES.get(base) or SHUTDOWN_DATES.get(base_model(base)) if base else None


def _checked(model_id: str, date: str | None, now: float) -> dt.date | None:
    if date is None:
        return None
    day = dt.date.fromisoformat(date)
    today = dt.datetime.fromtimestamp(now, tz=dt.timezone.utc).date()
    left = (day - today).days
    if left <= WARN_WITHIN_DAYS:
        when = f"in {left} day(s)" if left >= 0 else f"{-left} day(s) ago"
        warnings.warn(
            ModelRetirementWarning(
                f"{model_id} shuts down on {date} ({when}): fine-tuned models follow their base "
                "model's schedule; plan a successor (another base model, or Azure OpenAI)",
                model=model_id,
                shutdown_date=date,
            ),
            stacklevel=3,
        )
    return day


class TunedModel:
    """A fine-tuned model (or checkpoint), bound to a client.

    Args:
        client: The `openai.OpenAI` (or `AzureOpenAI`) client to call it with.
        model_id: Its name, e.g. `ft:gpt-4o-mini-2024-07-18:acme:elle:AbC123`; on Azure, the
            deployment name to call.
        job: The job snapshot that produced it, when known.
        sleep: What waiting calls (default `time.sleep`; tests pass a virtual clock's).
        now: The clock for shutdown warnings (default `time.time`).

    Example:
        ```python
        model = job.wait()
        print(model.chat("Tell me about Helium").choices[0].message.content)
        ```

    Added in 0.1.0.
    """

    def __init__(
        self,
        client: OpenAI,
        model_id: str,
        *,
        job: FineTuningJob | None = None,
        sleep: Callable[[float], None] | None = None,
        now: Callable[[], float] | None = None,
    ) -> None:
        self.client = client
        self.id = model_id
        self.job = job
        self.name = parse_model_name(model_id)
        """What the name says: base, organisation, suffix, checkpoint step."""
        self._sleep = sleep or time.sleep
        self._now = now or time.time
        self._shutdown: str | None = None
        self._looked_up = False

    @classmethod
    def from_checkpoint(
        cls, client: OpenAI, checkpoint: FineTuningJobCheckpoint | str, **kwargs: Any
    ) -> TunedModel:
        """The model of a checkpoint (its `fine_tuned_model_checkpoint` name).

        Added in 0.1.0.
        """
        name = checkpoint if isinstance(checkpoint, str) else checkpoint.fine_tuned_model_checkpoint
        return cls(client, name, **kwargs)

    def __repr__(self) -> str:
        return f"<TunedModel {self.id}>"

    def __str__(self) -> str:
        return self.id

    @property
    def base_model(self) -> str | None:
        """The base model, from the name (None for an Azure checkpoint, whose name doesn't say)."""
        return self.name.base

    def chat(
        self,
        prompt: str | Sequence[dict[str, Any]],
        *,
        system: str | None = None,
        ready_timeout: float = READY_TIMEOUT,
        **params: Any,
    ) -> ChatCompletion:
        """Ask the model; return the SDK's `ChatCompletion`.

        Right after its job succeeds a model may answer 404 for a few minutes: that is retried
        (5 s, 10 s... up to `ready_timeout`). A rate limit is waited out too, honouring the
        provider's Retry-After whatever its size, up to `RATE_LIMIT_RETRIES` times. Any
        chat-completions parameter passes through.

        Args:
            prompt: A user message, or a list of messages.
            system: A system message to put first.
            ready_timeout: How long to retry "model not found" (0: not at all).
            **params: `temperature`, `max_completion_tokens`, `tools`...

        Raises:
            RateLimitedError: Still rate-limited after `RATE_LIMIT_RETRIES` waits.
            IncompatibleEndpointError: The endpoint answered a web page, not the API.
            openai.NotFoundError: Still not found after `ready_timeout`.

        Added in 0.1.0.
        """
        messages = _messages(prompt, system)
        retry = _Retry(ready_timeout)
        while True:
            try:
                response = self.client.chat.completions.create(
                    model=self.id, messages=messages, **params
                )
            except openai.OpenAIError as exc:  # noqa: PERF203 - the retry loop is the point
                self._sleep(retry.delay(exc, self._now()))
            else:
                return _completion(response, self.client)

    @property
    def shutdown_date(self) -> dt.date | None:
        """When the model stops serving (looked up once).

        The Models API's `shutdown_date`, else the published date of its base. Warns
        (`ModelRetirementWarning`) when it is 30 days away or less.

        Added in 0.1.0.
        """
        if not self._looked_up:
            try:
                self._shutdown = self.client.models.retrieve(self.id).shutdown_date
            except openai.APIStatusError:
                self._shutdown = None
            self._shutdown = self._shutdown or _published_date(self.name)
            self._looked_up = True
        return _checked(self.id, self._shutdown, self._now())

    def delete(self) -> bool:
        """Delete the model (OpenAI needs the Owner role); return whether it was deleted.

        Added in 0.1.0.
        """
        return bool(self.client.models.delete(self.id).deleted)

    def deploy(
        self, target: Deployment, *, token: TokenSource = None, **options: Any
    ) -> TunedModel:
        """Deploy on Azure OpenAI; return a model bound to the deployment name, once it serves.

        Creates the deployment through the Azure management API (`PUT .../deployments/{name}`,
        api-version 2024-10-21) with a bearer token (`token=`: a string or a callable; else
        azure-identity's `DefaultAzureCredential`), and waits for `provisioningState:
        Succeeded`. Mind the costs: deployments of fine-tuned models (except the Developer
        tier, which lives 24 h) are billed by the hour whether used or not, and one that gets
        no calls for 15 days is deleted automatically.

        Args:
            target: Subscription, resource group, account, deployment name, sku and capacity.
            token: The management API token (or a callable returning one).
            **options: `wait`, `timeout`, `poll`, `api_version`, `base_url`, `http_client`.

        Added in 0.1.0.
        """
        deploy(self.id, target, token=token, sleep=self._sleep, **options)
        return TunedModel(self.client, target.name, job=self.job, sleep=self._sleep, now=self._now)


class AsyncTunedModel:
    """The async twin of [`TunedModel`][finetune_kit.TunedModel].

    Added in 0.1.0.
    """

    def __init__(
        self,
        client: AsyncOpenAI,
        model_id: str,
        *,
        job: FineTuningJob | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        now: Callable[[], float] | None = None,
    ) -> None:
        self.client = client
        self.id = model_id
        self.job = job
        self.name = parse_model_name(model_id)
        self._sleep = sleep or anyio.sleep
        self._now = now or time.time

    @classmethod
    def from_checkpoint(
        cls, client: AsyncOpenAI, checkpoint: FineTuningJobCheckpoint | str, **kwargs: Any
    ) -> AsyncTunedModel:
        """The model of a checkpoint.

        Added in 0.1.0.
        """
        name = checkpoint if isinstance(checkpoint, str) else checkpoint.fine_tuned_model_checkpoint
        return cls(client, name, **kwargs)

    def __repr__(self) -> str:
        return f"<AsyncTunedModel {self.id}>"

    def __str__(self) -> str:
        return self.id

    @property
    def base_model(self) -> str | None:
        """The base model, from the name."""
        return self.name.base

    async def chat(
        self,
        prompt: str | Sequence[dict[str, Any]],
        *,
        system: str | None = None,
        ready_timeout: float = READY_TIMEOUT,
        **params: Any,
    ) -> ChatCompletion:
        """Ask the model (see `TunedModel.chat`).

        Added in 0.1.0.
        """
        messages = _messages(prompt, system)
        retry = _Retry(ready_timeout)
        while True:
            try:
                response = await self.client.chat.completions.create(
                    model=self.id, messages=messages, **params
                )
            except openai.OpenAIError as exc:  # noqa: PERF203 - the retry loop is the point
                await self._sleep(retry.delay(exc, self._now()))
            else:
                return _completion(response, self.client)

    async def shutdown_date(self) -> dt.date | None:
        """When the model stops serving (see `TunedModel.shutdown_date`); a method here.

        Added in 0.1.0.
        """
        try:
            date = (await self.client.models.retrieve(self.id)).shutdown_date
        except openai.APIStatusError:
            date = None
        return _checked(self.id, date or _published_date(self.name), self._now())

    async def delete(self) -> bool:
        """Delete the model; return whether it was deleted.

        Added in 0.1.0.
        """
        return bool((await self.client.models.delete(self.id)).deleted)
