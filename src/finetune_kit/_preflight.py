"""What `create` checks before anything is spent, and the arguments it checks.

The model name, the parameters, the data and the budget are checked by `CreateSpec.preflight`;
`CreateSpec` holds the arguments of `FineTuneJob.create` / `AsyncFineTuneJob.create` once, so
both twins plan a job by the same code.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Literal

import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI, AzureOpenAI, OpenAI
from openai.types import Model

from finetune_kit._core.prepare import ModelNames, Prepared, Source
from finetune_kit._core.spec import JobRequest, check_budget, check_params, job_request
from finetune_kit._prepare import prepare
from finetune_kit.dataset.catalog import Provider, check_model_name, require_trainable
from finetune_kit.exceptions import ConfigurationError
from finetune_kit.files import UploadOptions

__all__ = ["CreateSpec", "Preflight", "aserved_models", "served_models"]


def _n_epochs(method: Any, hyperparameters: Any) -> int | Literal["auto"]:
    for source in (
        (method.get(method.get("type", "")) or {}).get("hyperparameters")
        if isinstance(method, dict)
        else None,
        hyperparameters,
    ):
        if isinstance(source, dict) and isinstance(source.get("n_epochs"), int):
            return int(source["n_epochs"])
    return "auto"


def _method_type(method: Any) -> str:
    if isinstance(method, dict):
        return str(method.get("type", "supervised"))
    return str(method or "supervised")


def _provider(client: object) -> Provider:
    """`"azure"` for an Azure OpenAI client (or base URL), else `"openai"`."""
    if isinstance(client, AzureOpenAI | AsyncAzureOpenAI):
        return "azure"
    host = str(getattr(getattr(client, "base_url", None), "host", "") or "")
    return "azure" if host.endswith((".azure.com", ".azure-api.net")) else "openai"


def _served(models: Iterable[Model], now: float) -> frozenset[str]:
    """The ids of the listed models that are not shut down by `now`."""
    today = datetime.fromtimestamp(now, tz=timezone.utc).date().isoformat()
    return frozenset(
        m.id
        for m in models
        if not (isinstance(m.shutdown_date, str) and m.shutdown_date and m.shutdown_date <= today)
    )


def served_models(client: OpenAI, now: float) -> frozenset[str]:
    """The model ids `client`'s provider serves at `now` (empty when its list can't be read)."""
    try:
        return _served(client.models.list(), now)
    except openai.APIError:
        return frozenset()


async def aserved_models(client: AsyncOpenAI, now: float) -> frozenset[str]:
    """`served_models` for an `AsyncOpenAI` client."""
    try:
        return _served([m async for m in client.models.list()], now)
    except openai.APIError:
        return frozenset()


@dataclass(frozen=True, slots=True)
class Preflight:
    """A job checked before anything is spent: its request, and its data, ready to upload."""

    request: JobRequest
    training: Prepared
    validation: Prepared | None


@dataclass(frozen=True, slots=True)
class CreateSpec:
    """The arguments of `create` but the client and the clocks (see `FineTuneJob.create`).

    The twins' signatures spell them out for IDEs, mypy and the docs; `tests/test_twins.py`
    keeps the two signatures identical and `tests/jobs/test_create_spec.py` keeps these fields
    identical to them (names, defaults, types).
    """

    model: str
    training: Source
    validation: Source | None = None
    method: str | dict[str, Any] | None = None
    hyperparameters: dict[str, Any] | None = None
    suffix: str | None = None
    seed: int | None = None
    metadata: dict[str, str] | None = None
    integrations: list[dict[str, Any]] | None = None
    max_cost: float | None = None
    prices: dict[str, float] | None = None
    training_type: str | None = None
    extra_body: dict[str, Any] | None = None
    force: bool = False
    new: bool = False
    upload: UploadOptions | None = None

    def names_first(self, client: object, now: float) -> ModelNames | None:
        """The model check before the provider's list: `None` when the list must be asked."""
        where = _provider(client)
        if check_model_name(self.model, now=now, provider=where) is None:
            return ModelNames(where, None, now)
        return None

    def names_then(self, client: object, now: float, served: frozenset[str]) -> ModelNames:
        """The model check with the provider's list: raises when the name can't be trained."""
        where = _provider(client)
        require_trainable(self.model, now=now, provider=where, known_remote=served)
        return ModelNames(where, served, now)

    def upload_options(self) -> UploadOptions:
        """How the data is uploaded: `upload`, for `model`, already validated (`force`)."""
        given = asdict(self.upload) if self.upload is not None else {}
        return UploadOptions(**{**given, "model": self.model, "force": True})

    def preflight(self, names: ModelNames) -> Preflight:
        """Every local check before anything is spent: parameters, data, budget."""
        check_params(
            method=self.method,
            hyperparameters=self.hyperparameters,
            suffix=self.suffix,
            seed=self.seed,
            metadata=self.metadata,
        )
        kind = _method_type(self.method)
        epochs = _n_epochs(self.method, self.hyperparameters)

        def checked(source: Source) -> Prepared:
            return prepare(
                source,
                model=self.model,
                method_type=kind,
                n_epochs=epochs,
                prices=self.prices,
                force=self.force,
                names=names,
            )

        train = checked(self.training)
        valid = checked(self.validation) if self.validation is not None else None
        request = job_request(
            model=self.model,
            training_identity=train.identity,
            validation_identity=valid.identity if valid else None,
            method=self.method,
            hyperparameters=self.hyperparameters,
            suffix=self.suffix,
            seed=self.seed,
            metadata=self.metadata,
            integrations=self.integrations,
            training_type=self.training_type,
            extra_body=self.extra_body,
            nonce=repr(time.time_ns()) if self.new else None,
        )
        if self.max_cost is not None:
            if train.report is None:
                raise ConfigurationError(
                    "max_cost needs the training data to estimate the cost: pass a Dataset or a "
                    "path, not a file id"
                )
            check_budget(train.report.estimate, self.max_cost)
        return Preflight(request, train, valid)
