"""Every error finetune-kit raises, in one tree.

```text
FinetuneKitError(Exception)                        base for everything finetune-kit raises
├── DatasetError(FinetuneKitError, ValueError)     a dataset the provider would reject
│                                                  (.report, .findings, .line, .source)
├── ConfigurationError(FinetuneKitError, ValueError)
│   ├── EncodingUnavailableError                   a tokenizer that can't be loaded offline
│   ├── BudgetExceededError                        the estimate is over max_cost: nothing spent
│   ├── UnknownModelError                          a model name nobody knows (.model, .suggestions)
│   └── RetiredModelError                          a model that can't be trained any more
│                                                  (.model, .shutdown_date, .replacement)
├── ProviderError(FinetuneKitError)                the provider refused: what it means, what to do
│   ├── FileNotReadyError                          the file is still being processed
│   ├── FileRejectedError                          the provider rejected a file (.line, .field)
│   ├── RateLimitedError                           429 (.retry_after seconds, when given)
│   │   └── DailyJobLimitError                     the daily fine-tuning job limit
│   ├── FineTuningUnavailableError                 no fine-tuning for this account (wind-down)
│   ├── IncompatibleEndpointError                  the URL did not answer like the API (.url)
│   └── ModelNotFoundError                         no such model or deployment (.model, .suggestions)
├── JobError(FinetuneKitError)                     a job ended badly (.job: the SDK's FineTuningJob)
│   ├── JobFailedError                             status "failed" (.code, .message, .param, .hint)
│   │   ├── TrainingFileRejectedError              its file failed validation (.line, .field)
│   │   └── ModerationError                        the tuned model failed the safety evaluation
│   └── JobCancelledError                          status "cancelled"
└── WaitTimeoutError(FinetuneKitError, TimeoutError)   our deadline passed (.job, .waited)

ModelRetirementWarning(UserWarning)                a model shuts down soon (.model, .shutdown_date)
```

Errors from the `openai` SDK (`openai.APIError` and its subclasses) pass through unchanged,
except the provider refusals above, which are raised `from` the SDK error (kept as
`__cause__`). Messages name files, lines, fields and ids; they never contain API keys or
training text: every secret the client or the environment holds is removed from provider text
as it comes in, SDK errors that pass through included (keys of fewer than 4 characters are
left alone; anything shaped like `sk-...`, a bearer token or a JWT is always removed).

Added in 0.1.0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openai.types.fine_tuning import FineTuningJob

    from finetune_kit.dataset.report import Finding, ValidationReport

__all__ = [
    "BudgetExceededError",
    "ConfigurationError",
    "DailyJobLimitError",
    "DatasetError",
    "EncodingUnavailableError",
    "FileNotReadyError",
    "FileRejectedError",
    "FineTuningUnavailableError",
    "FinetuneKitError",
    "IncompatibleEndpointError",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "ModelNotFoundError",
    "ModelRetirementWarning",
    "ModerationError",
    "ProviderError",
    "RateLimitedError",
    "RetiredModelError",
    "TrainingFileRejectedError",
    "UnknownModelError",
    "WaitTimeoutError",
]


class FinetuneKitError(Exception):
    """Base class of every exception finetune-kit raises.

    Added in 0.1.0.
    """


class DatasetError(FinetuneKitError, ValueError):
    """A dataset has errors that the provider would reject.

    Raised by [`ValidationReport.raise_for_errors`][finetune_kit.ValidationReport.raise_for_errors]
    and by `Dataset` methods that need well-formed rows. The message lists the first errors as
    `file:line field [code] message`; the full list is on `.findings`.

    Attributes:
        report: The validation report, when the error comes from one (else `None`).
        findings: The error findings (empty when the error is about a single line).
        source: The file (or `"<records>"`) the error is about.
        line: The 1-based line of the first error, when it is known.

    Added in 0.1.0.
    """

    def __init__(
        self,
        message: str,
        *,
        report: ValidationReport | None = None,
        findings: tuple[Finding, ...] = (),
        source: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message)
        self.report = report
        self.findings = findings
        self.source = source
        self.line = line


class ConfigurationError(FinetuneKitError, ValueError):
    """An argument or environment setting that can't work, with the fix in the message.

    Added in 0.1.0.
    """


class EncodingUnavailableError(ConfigurationError):
    """A tokenizer encoding could not be loaded without the network.

    The message says exactly how to make it available.

    Added in 0.1.0.
    """


class BudgetExceededError(ConfigurationError):
    """The cost estimate is over `max_cost`: nothing was uploaded or created.

    Attributes:
        estimate_usd: The estimated cost.
        max_cost: The budget.

    Added in 0.1.0.
    """

    def __init__(self, message: str, *, estimate_usd: float, max_cost: float) -> None:
        super().__init__(message)
        self.estimate_usd = estimate_usd
        self.max_cost = max_cost


class UnknownModelError(ConfigurationError):
    """A model to train that neither finetune-kit nor the provider's model list knows.

    Raised before anything is read, uploaded or created; the message says the closest known
    name (`unknown model 'gpt-4o-mni': did you mean 'gpt-4o-mini'?`).

    Attributes:
        model: The name as given.
        suggestions: Close names that can be trained, best first (may be empty).

    Added in 0.1.0.
    """

    def __init__(self, message: str, *, model: str, suggestions: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.model = model
        self.suggestions = suggestions


class RetiredModelError(ConfigurationError):
    """A model to train (or the base of a tuned model to continue from) that has shut down.

    Raised before anything is read, uploaded or created; the message names the date and what to
    train instead.

    Attributes:
        model: The name as given.
        shutdown_date: `YYYY-MM-DD` it shut down (or the day OpenAI stopped taking new jobs).
        replacement: What to train instead, when there is something to say.

    Added in 0.1.0.
    """

    def __init__(
        self, message: str, *, model: str, shutdown_date: str, replacement: str | None = None
    ) -> None:
        super().__init__(message)
        self.model = model
        self.shutdown_date = shutdown_date
        self.replacement = replacement


class ProviderError(FinetuneKitError):
    """The provider refused a request; the message says what it means and what to do.

    The SDK's exception is the `__cause__`.

    Attributes:
        code: The provider's error code, when it gave one.
        status_code: The HTTP status, when there was a response.

    Added in 0.1.0.
    """

    def __init__(
        self, message: str, *, code: str | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status_code = status_code


class FileNotReadyError(ProviderError):
    """The file is still being processed by the provider; wait for `processed` and retry.

    Added in 0.1.0.
    """


class FileRejectedError(ProviderError):
    """The provider rejected a file.

    Attributes:
        file_id: The file, when known.
        line: The 1-based line the provider named, when it named one.
        field: The field the provider named, when it named one.

    Added in 0.1.0.
    """

    def __init__(
        self,
        message: str,
        *,
        file_id: str | None = None,
        line: int | None = None,
        field: str | None = None,
        code: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message, code=code, status_code=status_code)
        self.file_id = file_id
        self.line = line
        self.field = field


class RateLimitedError(ProviderError):
    """The provider rate-limited us beyond the retry budget.

    Attributes:
        retry_after: Seconds the provider asked to wait, when it said.

    Added in 0.1.0.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        status_code: int | None = 429,
    ) -> None:
        super().__init__(message, code=code, status_code=status_code)
        self.retry_after = retry_after


class DailyJobLimitError(RateLimitedError):
    """The account reached its daily limit of fine-tuning jobs; `.retry_after` says when to retry.

    Added in 0.1.0.
    """


class FineTuningUnavailableError(ProviderError):
    """This account can't create fine-tuning jobs here (e.g. OpenAI's self-serve wind-down).

    The message names the remedy: Azure OpenAI (same SDK, same finetune-kit code) or another
    provider that speaks the fine-tuning API.

    Added in 0.1.0.
    """


class IncompatibleEndpointError(ProviderError):
    """The URL did not answer like an OpenAI-compatible API (an HTML page, a login portal...).

    Usually a base URL that points at a web server, a proxy's error page or a wrong path: the
    message names the URL that was tried.

    Attributes:
        url: The URL of the request.

    Added in 0.1.0.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str,
        code: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message, code=code, status_code=status_code)
        self.url = url


class ModelNotFoundError(ProviderError):
    """The model (on Azure, the deployment) called does not exist, or is still not served.

    Raised at once for a name the provider doesn't know, with the close names it lists; a model
    fresh from its job (or a deployment just made) is waited for first (see
    [`TunedModel.chat`][finetune_kit.TunedModel.chat]). The SDK's `NotFoundError` is the
    `__cause__`.

    Attributes:
        model: The name that was called.
        suggestions: Close names the provider lists (best first; empty when none, or when the
            list could not be read).

    Added in 0.1.0.
    """

    def __init__(
        self,
        message: str,
        *,
        model: str,
        suggestions: tuple[str, ...] = (),
        code: str | None = "model_not_found",
        status_code: int | None = 404,
    ) -> None:
        super().__init__(message, code=code, status_code=status_code)
        self.model = model
        self.suggestions = suggestions


class JobError(FinetuneKitError):
    """A fine-tuning job ended without a model.

    Attributes:
        job: The job's final snapshot (`openai.types.fine_tuning.FineTuningJob`).

    Added in 0.1.0.
    """

    def __init__(self, message: str, *, job: FineTuningJob) -> None:
        super().__init__(message)
        self.job = job


class JobFailedError(JobError):
    """The job's status is `failed`.

    Attributes:
        code: The provider's error code (`job.error.code`).
        error_message: The provider's message (`job.error.message`).
        param: The parameter it blames, usually `training_file` or `validation_file`.
        hint: What to do about it.

    Added in 0.1.0.
    """

    def __init__(
        self,
        message: str,
        *,
        job: FineTuningJob,
        code: str | None = None,
        error_message: str | None = None,
        param: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, job=job)
        self.code = code
        self.error_message = error_message
        self.param = param
        self.hint = hint


class TrainingFileRejectedError(JobFailedError):
    """The job failed because its training (or validation) file did not validate.

    Attributes:
        line: The 1-based line the provider named, when it named one.
        field: The field the provider named, when it named one.

    Added in 0.1.0.
    """

    line: int | None = None
    field: str | None = None


class ModerationError(JobFailedError):
    """The tuned model failed the provider's safety evaluation; review the training data.

    Added in 0.1.0.
    """


class JobCancelledError(JobError):
    """The job's status is `cancelled`.

    Added in 0.1.0.
    """


class WaitTimeoutError(FinetuneKitError, TimeoutError):
    """Our deadline passed before the job finished; the job itself goes on.

    Attributes:
        job: The last snapshot seen, or `None` if none was.
        waited: Seconds waited.

    Added in 0.1.0.
    """

    def __init__(self, message: str, *, job: FineTuningJob | None, waited: float) -> None:
        super().__init__(message)
        self.job = job
        self.waited = waited


class ModelRetirementWarning(UserWarning):
    """A model (or its base) shuts down soon; after that date it can't be called.

    Attributes:
        model: The model's name.
        shutdown_date: The date, `YYYY-MM-DD`.

    Added in 0.1.0.
    """

    def __init__(self, message: str, *, model: str, shutdown_date: str) -> None:
        super().__init__(message)
        self.model = model
        self.shutdown_date = shutdown_date
