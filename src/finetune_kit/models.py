"""`TunedModel` / `AsyncTunedModel`: call the model a job produced, and know how long it lives.

A model that answers "not found" is waited for only when it is known to exist: fresh from its
job (`job.wait()` says so), a deployment just made (`deploy()`), or a name the provider's
Models API knows. Each wait is announced (the `finetune_kit.waits` logger at INFO, and `on_wait`).
Any other "not found" is `ModelNotFoundError` at once, with the close names the provider lists.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import openai

from finetune_kit._core import ready, retry
from finetune_kit._core.drive import adrive, drive
from finetune_kit._core.errors import incompatible
from finetune_kit._core.names import ModelName, parse_model_name
from finetune_kit._defaults import asleep_for, now_for, sleep_for
from finetune_kit.azure import Deployment, TokenSource, adeploy, deploy
from finetune_kit.dataset.catalog import SHUTDOWN_DATES, base_model
from finetune_kit.exceptions import ModelRetirementWarning

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI
    from openai.types.chat import ChatCompletion
    from openai.types.fine_tuning import FineTuningJob
    from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

__all__ = ["AsyncTunedModel", "TunedModel", "announce", "aresolve", "fresh_from", "resolve"]

READY_TIMEOUT = ready.READY_TIMEOUT
"""How long `chat` keeps retrying the "model not found" a new model answers at first."""
WARN_WITHIN_DAYS = 30
RATE_LIMIT_RETRIES = retry.RATE_LIMIT_RETRIES
"""How many times `chat` waits out a rate limit (its Retry-After, of any size) and tries again."""


def _messages(prompt: str | Sequence[dict[str, Any]], system: str | None) -> list[Any]:
    messages: list[Any] = (
        [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    )
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return messages


_log = logging.getLogger("finetune_kit.waits")


def announce(message: str, on_wait: Callable[[str], object] | None) -> None:
    """Say what is being waited for: the `finetune_kit.waits` logger at INFO, and `on_wait`."""
    _log.info(message)
    if on_wait is not None:
        on_wait(message)


def _azure(client: object) -> bool:
    return isinstance(client, (openai.AzureOpenAI, openai.AsyncAzureOpenAI))


def fresh_from(client: object, job: FineTuningJob, now: float) -> bool:
    """Whether the model `job` made is fresh: it finished less than `READY_TIMEOUT` ago.

    On Azure OpenAI a tuned model answers only through a deployment: the model of a job is never
    waited for there (a deployment just made is, see `TunedModel.deploy`).
    """
    if _azure(client):
        return False
    return job.finished_at is None or now - job.finished_at < READY_TIMEOUT


def _known(client: OpenAI, model_id: str) -> bool:
    try:
        client.models.retrieve(model_id)
    except openai.OpenAIError:
        return False
    return True


def _close_names(client: OpenAI, model_id: str) -> tuple[str, ...]:
    try:
        return ready.suggestions(model_id, [m.id for m in client.models.list()])
    except openai.OpenAIError:  # the list can't be read: just "not found"
        return ()


async def _aknown(client: AsyncOpenAI, model_id: str) -> bool:
    try:
        await client.models.retrieve(model_id)
    except openai.OpenAIError:
        return False
    return True


async def _aclose_names(client: AsyncOpenAI, model_id: str) -> tuple[str, ...]:
    try:
        return ready.suggestions(model_id, [m.id async for m in client.models.list()])
    except openai.OpenAIError:
        return ()


def resolve(
    client: OpenAI, model_id: str, exc: openai.OpenAIError, *, fresh: bool
) -> ready.Verdict:
    """What a chat call's error means for `model_id`.

    `"wait"`: it exists and is not served yet; `"unavailable"`: it exists and won't answer;
    `"other"`: the error is no missing model's 404. Looks the model up (`models.retrieve`) when that decides it.

    Raises:
        ModelNotFoundError: The model (or deployment) does not exist; with the close names
            `models.list` gives.
    """
    verdict = ready.verdict(exc, model_id, fresh=fresh, known=None)
    if verdict == "look up":
        verdict = ready.verdict(exc, model_id, fresh=fresh, known=_known(client, model_id))
    if verdict == "missing":
        assert isinstance(exc, openai.NotFoundError)  # noqa: S101 - only a 404 is "missing"
        deployment = ready.kind_of(exc) == "deployment"
        close = () if deployment else _close_names(client, model_id)
        raise ready.not_found(model_id, exc, close, deployment=deployment) from exc
    return verdict


async def aresolve(
    client: AsyncOpenAI, model_id: str, exc: openai.OpenAIError, *, fresh: bool
) -> ready.Verdict:
    """The async twin of `resolve`."""
    verdict = ready.verdict(exc, model_id, fresh=fresh, known=None)
    if verdict == "look up":
        verdict = ready.verdict(exc, model_id, fresh=fresh, known=await _aknown(client, model_id))
    if verdict == "missing":
        assert isinstance(exc, openai.NotFoundError)  # noqa: S101 - only a 404 is "missing"
        deployment = ready.kind_of(exc) == "deployment"
        close = () if deployment else await _aclose_names(client, model_id)
        raise ready.not_found(model_id, exc, close, deployment=deployment) from exc
    return verdict


def _completion(response: object, client: object) -> ChatCompletion:
    """The response, if it is one: an endpoint that answers a web page returns a `str`."""
    if isinstance(response, str):
        url = f"{str(getattr(client, 'base_url', '')).rstrip('/')}/chat/completions"
        raise incompatible(url, status=200, content_type="text/html" if "<" in response else None)
    return response  # type: ignore[return-value]


def _published_date(name: ModelName) -> str | None:
    base = name.base or ""
    return SHUTDOWN_DATES.get(base) or SHUTDOWN_DATES.get(base_model(base)) if base else None


def _shutdown_day(model_id: str, date: str | None, now: float) -> dt.date | None:
    """The day `date` (ISO) names; a `ModelRetirementWarning` when it is 30 days away or less."""
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
        sleep: What waiting calls (default `time.sleep`; for a simulator's client, its clock's).
        now: The clock for shutdown warnings (default `time.time`; for a simulator's client,
            its clock's).
        fresh: Just made: its job succeeded moments ago (`job.wait()` sets this), or it is a
            deployment just made (`deploy()`). Only then is a "not found" waited for without
            looking the model up first.
        on_wait: Called with a line saying what `chat` waits for, at each wait (the
            `finetune_kit.waits` logger gets the line at INFO too).

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
        fresh: bool = False,
        on_wait: Callable[[str], object] | None = None,
    ) -> None:
        self.client = client
        self.id = model_id
        self.job = job
        self.name = parse_model_name(model_id)
        """What the name says: base, organisation, suffix, checkpoint step."""
        self.fresh = fresh
        """Just made (by its job, or a deployment): a "not found" is waited for at once."""
        self.on_wait = on_wait
        """Called with the line announcing each wait for the model to be served."""
        self._sleep = sleep or sleep_for(client)
        self._now = now or now_for(client)
        self._shutdown: str | None = None
        self._looked_up = False

    @classmethod
    def from_checkpoint(
        cls, client: OpenAI, checkpoint: FineTuningJobCheckpoint | str, **kwargs: Any
    ) -> TunedModel:
        """The model of a checkpoint (its `fine_tuned_model_checkpoint` name)."""
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

        Right after its job succeeds a model may answer "not found" for a few minutes. That is
        waited out (5 s, 10 s... up to `ready_timeout`), each wait announced, only for a model
        known to exist: a fresh one (`fresh`, set by `job.wait()` and `deploy()`), or one the
        provider's Models API knows (looked up at the first "not found"). Any other "not
        found" raises `ModelNotFoundError` at once, with the close names the provider lists. A
        rate limit is waited out too, honouring the provider's Retry-After whatever its size,
        up to `RATE_LIMIT_RETRIES` times. Any chat-completions parameter passes through.

        Args:
            prompt: A user message, or a list of messages.
            system: A system message to put first.
            ready_timeout: How long to wait for a model not served yet (0: not at all).
            **params: `temperature`, `max_completion_tokens`, `tools`...

        Raises:
            ModelNotFoundError: No such model (or Azure deployment), with `.suggestions`; a
                model that exists but won't answer (retired); or one still not served after
                `ready_timeout`. The SDK's `NotFoundError` is its `__cause__`.
            RateLimitedError: Still rate-limited after `RATE_LIMIT_RETRIES` waits.
            IncompatibleEndpointError: The endpoint answered a web page, not the API.
        """
        messages = _messages(prompt, system)

        def perform(command: retry.ModelCall) -> retry.Reply:  # the loop is `retry.chat_flow`
            match command:
                case retry.AskModel():
                    response = self.client.chat.completions.create(
                        model=self.id, messages=messages, **params
                    )
                    return retry.Called(response, latency=0.0)
                case retry.Resolve(error=error):
                    return resolve(self.client, self.id, error, fresh=self.fresh)
                case retry.Announce(line=line):
                    announce(line, self.on_wait)
            return None

        flow = retry.chat_flow(self.id, ready_timeout)
        response = drive(flow, perform, sleep=self._sleep, now=self._now)
        return _completion(response, self.client)

    def shutdown_date(self) -> dt.date | None:
        """When the model stops serving: a method, since the first call asks the Models API.

        The Models API's `shutdown_date`, else the published date of its base; looked up once
        per model, later calls reuse it. Warns (`ModelRetirementWarning`) when it is 30 days
        away or less, at each call.
        """
        if not self._looked_up:
            try:
                self._shutdown = self.client.models.retrieve(self.id).shutdown_date
            except openai.APIStatusError:
                self._shutdown = None
            self._shutdown = self._shutdown or _published_date(self.name)
            self._looked_up = True
        return _shutdown_day(self.id, self._shutdown, self._now())

    def delete(self) -> bool:
        """Delete the model (OpenAI needs the Owner role); return whether it was deleted."""
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
        """
        deploy(self.id, target, token=token, sleep=self._sleep, **options)
        return TunedModel(
            self.client,
            target.name,
            job=self.job,
            sleep=self._sleep,
            now=self._now,
            fresh=True,  # a deployment may answer "not found" for a few minutes after it's made
            on_wait=self.on_wait,
        )


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
        fresh: bool = False,
        on_wait: Callable[[str], object] | None = None,
    ) -> None:
        self.client = client
        self.id = model_id
        self.job = job
        self.name = parse_model_name(model_id)
        """What the name says: base, organisation, suffix, checkpoint step."""
        self.fresh = fresh
        """Just made (by its job, or a deployment): a "not found" is waited for at once."""
        self.on_wait = on_wait
        """Called with the line announcing each wait for the model to be served."""
        self._sleep = sleep or asleep_for(client)
        self._now = now or now_for(client)
        self._shutdown: str | None = None
        self._looked_up = False

    @classmethod
    def from_checkpoint(
        cls, client: AsyncOpenAI, checkpoint: FineTuningJobCheckpoint | str, **kwargs: Any
    ) -> AsyncTunedModel:
        """The model of a checkpoint."""
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
        """Ask the model (see `TunedModel.chat`)."""
        messages = _messages(prompt, system)

        async def perform(command: retry.ModelCall) -> retry.Reply:  # the twin of `chat`'s
            match command:
                case retry.AskModel():
                    response = await self.client.chat.completions.create(
                        model=self.id, messages=messages, **params
                    )
                    return retry.Called(response, latency=0.0)
                case retry.Resolve(error=error):
                    return await aresolve(self.client, self.id, error, fresh=self.fresh)
                case retry.Announce(line=line):
                    announce(line, self.on_wait)
            return None

        flow = retry.chat_flow(self.id, ready_timeout)
        response = await adrive(flow, perform, sleep=self._sleep, now=self._now)
        return _completion(response, self.client)

    async def shutdown_date(self) -> dt.date | None:
        """When the model stops serving (see `TunedModel.shutdown_date`): looked up once."""
        if not self._looked_up:
            try:
                self._shutdown = (await self.client.models.retrieve(self.id)).shutdown_date
            except openai.APIStatusError:
                self._shutdown = None
            self._shutdown = self._shutdown or _published_date(self.name)
            self._looked_up = True
        return _shutdown_day(self.id, self._shutdown, self._now())

    async def delete(self) -> bool:
        """Delete the model; return whether it was deleted."""
        return bool((await self.client.models.delete(self.id)).deleted)

    async def deploy(
        self, target: Deployment, *, token: TokenSource = None, **options: Any
    ) -> AsyncTunedModel:
        """Deploy on Azure OpenAI (see `TunedModel.deploy`); return a model bound to it.

        The management API is called through an `httpx2.AsyncClient` (`http_client=` takes
        one); waits use this model's `sleep`.
        """
        await adeploy(self.id, target, token=token, sleep=self._sleep, **options)
        return AsyncTunedModel(
            self.client,
            target.name,
            job=self.job,
            sleep=self._sleep,
            now=self._now,
            fresh=True,  # a deployment may answer "not found" for a few minutes after it's made
            on_wait=self.on_wait,
        )
