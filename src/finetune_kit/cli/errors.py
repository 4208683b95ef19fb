"""Every failure of a command as one clear line and an exit code, never a traceback.

Exit codes: 0 done; 1 the thing checked failed (a dataset with errors, a job that failed or
was cancelled, a compared model that answered no call at all); 2 bad usage or input (a missing file, a bad flag, no API key); 3 the provider
refused or could not be reached; 4 a bug in finetune-kit (reported as one line too; set
`FINETUNE_KIT_DEBUG=1` for the traceback); 130 interrupted (Ctrl-C); 141 the output's reader
went away (`finetune-kit events JOB | head -1`: 128 + SIGPIPE, quietly, as a shell reports any
tool that SIGPIPE ended).
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING

from finetune_kit._core.redact import redact as _redact
from finetune_kit._core.redact import scrub
from finetune_kit.exceptions import (
    ConfigurationError,
    DatasetError,
    FinetuneKitError,
    JobError,
    ProviderError,
    WaitTimeoutError,
)

if TYPE_CHECKING:  # the SDK is loaded by the commands that talk to a provider, not here
    import openai

    from finetune_kit.compare import Comparison

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PROVIDER",
    "EXIT_USAGE",
    "explain",
    "redact",
    "unanswered",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PROVIDER, EXIT_INTERNAL, EXIT_INTERRUPTED = (
    0,
    1,
    2,
    3,
    4,
    130,
)
EXIT_BROKEN_PIPE = 141
"""The output was closed before the command was done (128 + SIGPIPE): ended quietly."""


def redact(text: str) -> str:
    """Remove the keys and tokens in the environment, and anything that looks like a key.

    See `finetune_kit._core.redact` for the rule (secrets of 4 characters or more).
    """
    return _redact(text)


def _message(exc: openai.APIStatusError) -> str:
    """The provider's own message (the SDK prefixes it with the code and the whole body)."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return str(getattr(exc, "message", "") or exc)


def _status_line(exc: openai.APIStatusError) -> str:
    from finetune_kit._core.errors import (  # noqa: PLC0415 - loads the SDK, loaded already here
        incompatible,
        is_html,
        not_found_at,
        request_url,
    )

    status = exc.status_code
    content_type = exc.response.headers.get("content-type")
    url = request_url(exc) or "the endpoint"
    if is_html(content_type, exc.body):
        return str(incompatible(url, status=status, content_type=content_type))
    message = _message(exc)
    if status == 401:
        return f"the API key was refused (401): check OPENAI_API_KEY / AZURE_OPENAI_API_KEY ({message})"
    if status == 404:
        if message == f"Error code: {status}" or not message:  # not the API's own "no such..."
            return str(not_found_at(exc.request.method, url))
        return f"not found (404): {message}"
    if status == 429:
        return f"rate limited (429): {message}; try again later"
    return f"the provider answered {status}: {message}"


def _dataset_line(exc: DatasetError) -> str:
    """`few.jsonl: [too_few_examples] 3 example(s)... (+1 more: finetune-kit validate FILE)`."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) < 2:
        return lines[0] if lines else "the dataset has errors"
    more = len(exc.findings) - 1
    hint = f" (+{more} more)" if more > 0 else ""
    where = f"; all of them: finetune-kit validate {exc.source} --model M" if exc.source else ""
    return f"{lines[1]}{hint}{where}"


def _sdk_line(exc: BaseException, sdk: ModuleType) -> tuple[str, int] | None:
    """`explain` for the SDK's errors (`sdk` is the loaded `openai`); None for any other."""
    if isinstance(exc, sdk.APIConnectionError):
        request = getattr(exc, "request", None)
        where = "the API"
        if request is not None and request.url.host:
            where = f"{request.url.scheme}://{request.url.host}"
            where += f":{request.url.port}" if request.url.port else ""
        elif request is not None:
            where = repr(str(request.url))
        kind = "timed out" if isinstance(exc, sdk.APITimeoutError) else "connection failed"
        reason = f"cannot reach {where} ({kind}): check the network, --base-url or --azure-endpoint"
        return reason, EXIT_PROVIDER
    if isinstance(exc, sdk.APIStatusError):
        return redact(_status_line(exc)), EXIT_PROVIDER
    if isinstance(exc, sdk.OpenAIError):  # e.g. a client built without a key
        return redact(str(exc)), EXIT_USAGE
    return None


def explain(exc: BaseException) -> tuple[str, int]:
    """The one line to print (without the `finetune-kit: error: ` prefix) and the exit code."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    scrub(exc)  # keys a provider echoed, before any text is made of it
    if isinstance(exc, JobError | WaitTimeoutError):
        return redact(str(exc)), EXIT_FAILED
    if isinstance(exc, DatasetError):
        return redact(_dataset_line(exc)), EXIT_FAILED
    if isinstance(exc, ProviderError):
        return redact(str(exc)), EXIT_PROVIDER
    if isinstance(exc, ConfigurationError | FinetuneKitError):
        return redact(str(exc)), EXIT_USAGE
    sdk = sys.modules.get("openai")  # not loaded: nothing can have raised one of its errors
    if sdk is not None:
        sdk_line = _sdk_line(exc, sdk)
        if sdk_line is not None:
            return sdk_line
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}", EXIT_USAGE
    raise exc


def unanswered(result: Comparison) -> int:
    """A comparison's exit code: 1, said on stderr, when a model answered no call at all."""
    failed = result.failed_models
    if not failed:
        return EXIT_OK
    calls = result.summaries[failed[0]].items
    first = " ".join((result.first_error(failed[0]) or "-").split())  # one line
    print(
        f"finetune-kit: error: no answer from {', '.join(failed)}: all {calls} calls "
        f"failed; first error: {redact(first)}",
        file=sys.stderr,
    )
    return EXIT_FAILED
