"""Secrets never leave: API keys and tokens are removed from provider text where it comes in.

Provider text enters finetune-kit in one shape: an SDK exception (or an Azure management API
response) whose message and body the provider wrote, and a gateway may repeat the key it
refused there. [`scrub`][finetune_kit._core.redact.scrub] removes every known secret from such
an exception, in place (`args`, `message`, `body`, and the same for its causes), before anything
is made of it: a typed error, a CLI line, a comparison report, a log record. An SDK status
error's message is made the same on every supported openai there too: `Error code: 429 - ` and
the provider's own message (`error.message` of the body), as openai>=3 words it; openai 2.x
repeats the whole body instead (see [`status_text`][finetune_kit._core.redact.status_text]).

Known secrets, each replaced by `***` wherever it appears:

- the values of `OPENAI_API_KEY`, `AZURE_OPENAI_API_KEY`, `AZURE_OPENAI_AD_TOKEN`,
  `AZURE_MANAGEMENT_TOKEN` and `OPENAI_ADMIN_KEY`;
- the credentials the failed request carried (`Authorization: Bearer ...`, `api-key`): the
  client's key or Microsoft Entra ID token, wherever the client got it;
- any passed explicitly (the Azure deploy's management token).

A known secret shorter than `MIN_SECRET` (4) characters is not replaced: that short a value
would shred ordinary words, and it protects nothing. Whatever is known, anything shaped like an
OpenAI key (`sk-...`) becomes `sk-***`, a bearer credential `Bearer ***`, and a JSON Web Token
(`eyJ...`) `***`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeGuard

if TYPE_CHECKING:  # the SDK is never imported here: validating data must not load it
    import openai

__all__ = [
    "MASK",
    "MIN_SECRET",
    "SECRET_VARIABLES",
    "error_text",
    "message_of",
    "provider_message",
    "redact",
    "scrub",
    "secrets_of",
    "status_text",
]

MASK = "***"
MIN_SECRET = 4
SECRET_VARIABLES = (
    "OPENAI_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_AD_TOKEN",
    "AZURE_MANAGEMENT_TOKEN",
    "OPENAI_ADMIN_KEY",
)
_SK = re.compile(r"\bsk-[A-Za-z0-9_\-*]{3,}")
_BEARER = re.compile(r"\b([Bb]earer)\s+[A-Za-z0-9._~+/=\-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")


def _environment_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    return [value for name in SECRET_VARIABLES if (value := env.get(name))]


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` without the given secrets, the environment's, or anything shaped like a key."""
    known = {s for s in (*secrets, *_environment_secrets()) if s and len(s) >= MIN_SECRET}
    for secret in sorted(known, key=len, reverse=True):  # a key that contains another first
        text = text.replace(secret, MASK)
    text = _BEARER.sub(r"\1 ***", text)
    text = _JWT.sub(MASK, text)
    return _SK.sub("sk-***", text)


def secrets_of(exc: BaseException) -> list[str]:
    """The credentials the request behind `exc` carried (its client's key or token), if any."""
    try:
        request = getattr(exc, "request", None)
    except RuntimeError:  # httpx2's `.request` of an error raised before one was made
        return []
    headers = getattr(request, "headers", None)
    if headers is None:
        return []
    found: list[str] = []
    authorization = headers.get("authorization") or ""
    scheme, _, credential = authorization.partition(" ")
    found.append(credential or scheme)
    found.append(headers.get("api-key") or "")
    url = getattr(request, "url", None)
    params = getattr(url, "params", None)
    if params is not None:
        found.append(params.get("api-key") or "")
    return [secret for secret in found if secret]


def _clean(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {key: _clean(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_clean(item, secrets) for item in value)
    return value


def provider_message(exc: BaseException) -> str | None:
    """The provider's own message in an SDK status error's body (`error.message`), if any.

    None for a body without one (`{"detail": "Not Found"}` from a wrong path, a web page, no
    body): such an answer is not the API's own error.
    """
    body = getattr(exc, "body", None)
    if not isinstance(body, Mapping):
        return None
    message = body.get("message")  # the SDK keeps the body's `error` object here
    if message is None and isinstance(body.get("error"), Mapping):
        message = body["error"].get("message")
    return message if isinstance(message, str) and message else None


def status_text(exc: openai.APIStatusError) -> str:
    """`Error code: 429 - <the provider's message>`, or `Error code: 404` when it gave none.

    What openai>=3 makes the message of a status error; openai 2.x puts the whole body there
    instead (`Error code: 429 - {'error': {'message': ...}}`) or, for an answer that is not
    JSON, the answer's text.
    """
    message = provider_message(exc)
    return f"Error code: {exc.status_code}" + (f" - {message}" if message else "")


def _is_status_error(exc: BaseException) -> TypeGuard[openai.APIStatusError]:
    """Whether `exc` is the SDK's status error; False, without importing it, if it isn't loaded.

    An error can only be an instance of a class that exists: while nothing has imported the
    SDK, nothing can have raised one of its errors.
    """
    sdk = sys.modules.get("openai")
    return sdk is not None and isinstance(exc, sdk.APIStatusError)


def _sdk_message(exc: BaseException) -> str | None:
    """`status_text(exc)` for an SDK status error whose message the SDK made, else None.

    The SDK made it from an answer when it starts with `Error code: <status>` or is, on openai
    2.x, the text of an answer that is not JSON; a message a caller wrote, or an error without
    a body, is left as it is.
    """
    if not _is_status_error(exc) or exc.body is None:
        return None
    sdk_made = exc.message.startswith(f"Error code: {exc.status_code}") or (
        isinstance(exc.body, str) and exc.message == exc.body.strip()
    )
    return status_text(exc) if sdk_made else None


def message_of(exc: openai.APIError) -> str:
    """`exc.message` as openai>=3 words it, on openai 2.x too (see `status_text`)."""
    return _sdk_message(exc) or exc.message


def scrub(exc: BaseException, secrets: Iterable[str | None] = ()) -> BaseException:
    """Remove every known secret from `exc` and its causes, in place; return `exc`.

    Cleans `args` (hence `str()` and `repr()`), and an SDK error's `message` and `body`. The
    message of an SDK status error becomes `Error code: 429 - <the provider's message>` on
    openai 2.x too, as on openai>=3 (see `status_text`).
    """
    known = [s for s in secrets if s]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        same = _sdk_message(current)
        if _is_status_error(current) and same is not None:  # as on openai>=3
            current.message = same
            current.args = (same,)
        mine = [*known, *secrets_of(current)]
        current.args = tuple(_clean(arg, mine) for arg in current.args)
        for name in ("message", "body"):
            value = getattr(current, name, None)
            if value is not None:
                with contextlib.suppress(AttributeError):  # a read-only property: left as is
                    setattr(current, name, _clean(value, mine))
        current = current.__cause__ or current.__context__
    return exc


def error_text(exc: BaseException) -> str:
    """`Type: message` for a report, with every known secret removed."""
    message = _sdk_message(exc) or getattr(exc, "message", None)  # the same on openai 2.x
    text = message if isinstance(message, str) and message else str(exc)
    return f"{type(exc).__name__}: {redact(text, secrets_of(exc))}"
