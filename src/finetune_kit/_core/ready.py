"""A 404 from a chat call: a model not served yet (wait, and say so) or one that doesn't exist.

Only a model that is known to exist is waited for: one fresh from its job (the job says so),
a deployment just made, or one the provider's Models API knows (`models.retrieve`). Any other
404 is `ModelNotFoundError` at once, with the close names the provider lists. Pure: the
models shell (`finetune_kit.models`) does the looking up and the waiting.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Literal

import openai

from finetune_kit._core.names import parse_model_name
from finetune_kit._core.redact import message_of, scrub
from finetune_kit.exceptions import ModelNotFoundError

__all__ = [
    "NOT_READY_HINT",
    "READY_TIMEOUT",
    "Kind",
    "kind_of",
    "not_found",
    "not_served",
    "ready_delays",
    "suggestions",
    "unavailable",
    "verdict",
    "waiting",
]

READY_TIMEOUT = 600.0
"""How long a model known to exist is waited for while it answers "not found" (10 minutes)."""
NOT_READY_HINT = "a new model can take a few minutes after its job succeeds"

Kind = Literal["model", "deployment", "retired", "other"]
Verdict = Literal["wait", "look up", "missing", "unavailable", "other"]
"""What to do about a chat call's error: wait for the model; look it up first; it does not exist
(`ModelNotFoundError` at once); it exists but won't answer (retired, or a base model this key
may not call); or it is no missing model's 404 at all."""


def kind_of(exc: BaseException) -> Kind:
    """What a chat call's error says.

    A missing model, a missing Azure deployment, a retired model ("has been deprecated"), or
    anything else (`"other"`: not a 404 of the API's own).
    """
    if not isinstance(exc, openai.NotFoundError):
        return "other"
    if exc.code == "DeploymentNotFound":
        return "deployment"
    message = message_of(exc)  # on openai 2.x too, whose message repeats the whole body
    if message == "Error code: 404":  # no message of the API's: a wrong URL, not a model
        return "other"
    if "deprecated" in message.lower():
        return "retired"
    return "model"


def verdict(exc: BaseException, model: str, *, fresh: bool, known: bool | None) -> Verdict:
    """What to do about `exc`, an error of a chat call to `model`.

    Args:
        exc: The error.
        model: The model (or deployment) called.
        fresh: Known to have just been made (by its job, or a deployment just made): wait.
        known: Whether the provider's Models API knows `model` (None: not looked up yet).
    """
    kind = kind_of(exc)
    if kind in ("other", "retired"):
        return "unavailable" if kind == "retired" else "other"
    if kind == "deployment":  # Azure: only a deployment just made is worth waiting for
        return "wait" if fresh else "missing"
    tuned = parse_model_name(model).kind != "base"
    if fresh and tuned:
        return "wait"
    if known is None:
        return "look up"
    if not known:
        return "missing"
    return "wait" if tuned else "unavailable"


def ready_delays(timeout: float) -> list[float]:
    """Backoff while a model is not served yet: 5, 10, 20, 40, 60, 60... within `timeout`."""
    delays, total, delay = [], 0.0, 5.0
    while total < timeout:
        step = min(delay, timeout - total)
        delays.append(step)
        total += step
        delay = min(delay * 2, 60.0)
    return delays


def waiting(model: str, delay: float, waited: float, timeout: float, *, deployment: bool) -> str:
    """The line that announces one wait: what for, how long, how much of the budget is used."""
    what = (
        f"deployment '{model}' to serve (a new deployment can take a few minutes)"
        if deployment
        else f"{model} to be served ({NOT_READY_HINT})"
    )
    return f"waiting for {what}: trying again in {delay:g} s ({waited:g} of {timeout:g} s waited)"


def suggestions(model: str, names: Iterable[str]) -> tuple[str, ...]:
    """Up to 3 names like `model` (best first), from the names the provider lists.

    Names of the same kind come first: tuned models for a tuned model's name, base models for
    a base model's; the others only when none of its kind is close.
    """
    listed = sorted({n for n in names if n and n != model})
    tuned = parse_model_name(model).kind != "base"
    same = [n for n in listed if (parse_model_name(n).kind != "base") == tuned]
    close = difflib.get_close_matches(model, same, n=3, cutoff=0.6)
    return tuple(close or difflib.get_close_matches(model, listed, n=3, cutoff=0.6))


def _alternatives(names: tuple[str, ...]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def not_found(
    model: str, exc: openai.NotFoundError, close: tuple[str, ...] = (), *, deployment: bool = False
) -> ModelNotFoundError:
    """`model 'x' not found; did you mean 'y'?` (raise it `from exc`).

    A deployment (Azure calls deployments, not models) gets no suggestions: the models list
    names models, not deployments.
    """
    scrub(exc)
    if deployment:
        message = (
            f"deployment '{model}' not found: on Azure OpenAI a model answers through a "
            "deployment of it (TunedModel.deploy, or the Azure portal)"
        )
        return ModelNotFoundError(message, model=model, code="DeploymentNotFound")
    message = f"model '{model}' not found"
    if close:
        message += f"; did you mean {_alternatives(close)}?"
    return ModelNotFoundError(message, model=model, suggestions=close)


def not_served(model: str, waited: float, *, deployment: bool = False) -> ModelNotFoundError:
    """The error of a model (or deployment) known to exist that still answers 404."""
    what = f"deployment '{model}'" if deployment else f"model '{model}'"
    if waited > 0:
        message = f"{what} not found: still not served after {waited:g} s of waiting"
    else:
        message = f"{what} not found: not served yet (not waited for)"
    message += f"; {NOT_READY_HINT}: try again later"
    return ModelNotFoundError(
        message, model=model, code="DeploymentNotFound" if deployment else "model_not_found"
    )


def _provider_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return exc.message


def unavailable(model: str, exc: openai.NotFoundError) -> ModelNotFoundError:
    """The error of a model that exists but does not answer: retired, or not for this key."""
    scrub(exc)
    why = "is no longer served" if kind_of(exc) == "retired" else "does not answer this key"
    return ModelNotFoundError(f"model '{model}' {why}: {_provider_message(exc)}", model=model)
