"""What an SDK error or a failed job means, and which typed error says so: pure classification."""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass
from typing import Any

import openai
from openai.types.fine_tuning import FineTuningJob

from finetune_kit._core.redact import redact, scrub
from finetune_kit.exceptions import (
    DailyJobLimitError,
    FileNotReadyError,
    FileRejectedError,
    FineTuningUnavailableError,
    IncompatibleEndpointError,
    JobCancelledError,
    JobError,
    JobFailedError,
    ModerationError,
    RateLimitedError,
    TrainingFileRejectedError,
)

__all__ = [
    "Classified",
    "classify",
    "incompatible",
    "is_html",
    "job_error",
    "line_and_field",
    "not_found_at",
    "request_url",
    "retry_after",
]

_LINE = re.compile(r"\b(?:line|example)\s+(\d+)", re.IGNORECASE)
_FIELD = re.compile(r"""\bkey\s+["'`]([^"'`]+)["'`]""", re.IGNORECASE)

REMEDY_UNAVAILABLE = (
    "OpenAI is winding down self-serve fine-tuning (no new jobs after 2027-01-06). The same code "
    "runs on Azure OpenAI: pass an AzureOpenAI client, or OpenAI(base_url="
    "'https://<resource>.openai.azure.com/openai/v1/'), or any endpoint that speaks the "
    "fine-tuning API."
)


@dataclass(frozen=True, slots=True)
class Classified:
    """How to treat an SDK error."""

    transient: bool
    """Retrying may succeed (timeouts, dropped connections, 5xx, plain rate limits)."""
    ambiguous: bool
    """The request may have been carried out although it failed (timeouts, drops, 5xx)."""
    retry_after: float | None
    """Seconds the provider asked to wait."""
    translated: Exception | None
    """A finetune-kit error to raise instead (from the SDK error), or None to re-raise it."""


def retry_after(exc: BaseException, now: float) -> float | None:
    """Seconds the provider asked to wait, of any size (the SDK ignores values over 120 s).

    Reads `retry-after-ms`, then `retry-after` (seconds, or an HTTP date relative to `now`).
    """
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return max(0.0, email.utils.mktime_tz(parsed) - now)


def line_and_field(message: str | None) -> tuple[int | None, str | None]:
    """The line and field a provider message names (`Line 7, key "messages"`), if any."""
    if not message:
        return None, None
    line = _LINE.search(message)
    field = _FIELD.search(message)
    return (int(line.group(1)) if line else None, field.group(1) if field else None)


def request_url(exc: BaseException) -> str | None:
    """The URL of the request behind an SDK (or httpx2) error, without its query string."""
    try:
        request = getattr(exc, "request", None)
    except RuntimeError:  # httpx2's `.request` of an error raised before one was made
        return None
    url = getattr(request, "url", None)
    if url is None:
        return None
    return str(url).split("?", 1)[0]


def is_html(content_type: str | None, body: object) -> bool:
    """Whether an answer is a web page (a proxy's error page, a login portal) and not the API."""
    if content_type and "text/html" in content_type.lower():
        return True
    return isinstance(body, str) and body.lstrip()[:15].lower().startswith(("<!doctype", "<html"))


def incompatible(
    url: str, *, status: int | None, content_type: str | None
) -> IncompatibleEndpointError:
    """The error for an answer that is not the API's (`url` did not answer like it)."""
    what = (content_type or "no content type").split(";", 1)[0].strip()
    where = f"HTTP {status}, {what}" if status is not None else what
    return IncompatibleEndpointError(
        f"{url} did not answer like an OpenAI-compatible API ({where}): is the base URL right? "
        "(--base-url / OPENAI_BASE_URL; OpenAI's is https://api.openai.com/v1)",
        url=url,
        code="not_openai_compatible",
        status_code=status,
    )


def not_found_at(method: str, url: str) -> IncompatibleEndpointError:
    """The error for a 404 that is not the API's own ("no such job"): a wrong base URL."""
    return IncompatibleEndpointError(
        f"not found (404): {method} {url} does not exist: is the base URL right? "
        "(--base-url / OPENAI_BASE_URL; OpenAI-compatible APIs usually end in /v1)",
        url=url,
        code="not_found",
        status_code=404,
    )


def _incompatible_of(exc: openai.APIStatusError) -> IncompatibleEndpointError | None:
    """A web page instead of the API, or a 404 without the API's error: the URL is wrong."""
    content_type = exc.response.headers.get("content-type")
    url = request_url(exc) or "the endpoint"
    if is_html(content_type, exc.body):
        return incompatible(url, status=exc.status_code, content_type=content_type)
    if exc.status_code == 404 and exc.message == "Error code: 404":  # no message of the API's
        return not_found_at(exc.request.method, url)
    return None


def classify(exc: BaseException, *, operation: str, now: float) -> Classified:
    """Classify an exception raised by an SDK call made for `operation` (e.g. `create`).

    Provider text enters the library here: every known secret is first removed from `exc`
    (in place, see `finetune_kit._core.redact.scrub`), so neither the translated error nor the
    SDK error, when re-raised, carries a key the provider echoed.
    """
    scrub(exc)
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return Classified(transient=True, ambiguous=True, retry_after=None, translated=None)
    if not isinstance(exc, openai.APIStatusError):
        return Classified(transient=False, ambiguous=False, retry_after=None, translated=None)
    status = exc.status_code
    page = _incompatible_of(exc)
    if page is not None:  # a gateway's 5xx page may pass: waited out, then named
        transient = status >= 500
        return Classified(
            transient=transient, ambiguous=transient, retry_after=None, translated=page
        )
    code = getattr(exc, "code", None)
    message = str(getattr(exc, "message", "")) or str(exc)
    wait = retry_after(exc, now)
    if status == 429:
        if code == "daily_rate_limit_exceeded" or "per day" in message or "today" in message:
            hint = f"; retry in {wait / 3600:.1f} h" if wait else ""
            return Classified(
                transient=False,
                ambiguous=False,
                retry_after=wait,
                translated=DailyJobLimitError(
                    f"the daily limit of fine-tuning jobs is reached{hint} "
                    "(the job was not created)",
                    retry_after=wait,
                    code=code,
                ),
            )
        return Classified(
            transient=True,
            ambiguous=False,
            retry_after=wait,
            translated=RateLimitedError(
                f"rate limited during {operation}", retry_after=wait, code=code
            ),
        )
    if status >= 500 or status in (408, 409):
        return Classified(transient=True, ambiguous=True, retry_after=wait, translated=None)
    if status == 403 and operation == "create":
        return Classified(
            transient=False,
            ambiguous=False,
            retry_after=None,
            translated=FineTuningUnavailableError(
                f"the provider refused to create a fine-tuning job ({message}). {REMEDY_UNAVAILABLE}",
                code=code,
                status_code=status,
            ),
        )
    if status == 400 and (code == "file_not_ready" or "not ready" in message.lower()):
        return Classified(
            transient=True,
            ambiguous=False,
            retry_after=wait,
            translated=FileNotReadyError(
                f"{message} (wait until the file is processed)", code=code, status_code=status
            ),
        )
    if status == 400 and code in (
        "invalid_file",
        "invalid_training_file",
        "invalid_validation_file",
    ):
        line, field = line_and_field(message)
        return Classified(
            transient=False,
            ambiguous=False,
            retry_after=None,
            translated=FileRejectedError(
                message, line=line, field=field, code=code, status_code=status
            ),
        )
    return Classified(transient=False, ambiguous=False, retry_after=None, translated=None)


def job_error(job: FineTuningJob) -> JobError:
    """The typed error for a job that ended `failed` or `cancelled`."""
    if job.status == "cancelled":
        return JobCancelledError(f"fine-tuning job {job.id} was cancelled", job=job)
    err: Any = job.error
    code = getattr(err, "code", None)
    message = redact(getattr(err, "message", None) or "no details given")
    param = getattr(err, "param", None)
    text = f"fine-tuning job {job.id} failed: {message}" + (f" [{code}]" if code else "")
    if param in ("training_file", "validation_file") or (code or "").startswith("invalid_"):
        line, field = line_and_field(message)
        error = TrainingFileRejectedError(
            text,
            job=job,
            code=code,
            error_message=message,
            param=param,
            hint="validate the file locally: every problem is named with its line and field",
        )
        error.line, error.field = line, field
        return error
    if (code and "moderation" in code) or "safety" in message.lower():
        return ModerationError(
            text,
            job=job,
            code=code,
            error_message=message,
            param=param,
            hint="review the training data for harmful content (the Moderation API can pre-screen it)",
        )
    return JobFailedError(
        text,
        job=job,
        code=code,
        error_message=message,
        param=param,
        hint="check the job's events (job.events()) for what happened before it failed",
    )
