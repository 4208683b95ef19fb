"""The route registry (`@route`) and what route handlers share: pagination, bodies, parameters.

A handler takes the platform's state, the request and what routing found (`Context`), and
returns a `Response` or raises `ApiError`. Shapes follow the official OpenAPI schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

from finetune_kit.platform.records import Flavor
from finetune_kit.platform.wire import ApiError, Request, Response

if TYPE_CHECKING:
    from finetune_kit.platform.state import PlatformState

__all__ = [
    "ROUTES",
    "Context",
    "Handler",
    "Route",
    "int_param",
    "metadata_param",
    "multipart",
    "ok",
    "page",
    "route",
]


@dataclass(frozen=True, slots=True)
class Context:
    """What routing found out about a request."""

    route: str
    flavor: Flavor
    params: dict[str, str]


Handler = Callable[["PlatformState", Request, Context], Response]


@dataclass(frozen=True, slots=True)
class Route:
    """One operation: its method, path pattern (below `/v1/`), name and handler."""

    method: str
    pattern: re.Pattern[str]
    name: str
    handler: Handler


ROUTES: list[Route] = []
"""Every route, in registration order (the order they are matched in)."""

_PLACEHOLDER = re.compile(r"\{(\w+)(:path)?\}")


def route(method: str, path: str, name: str) -> Callable[[Handler], Handler]:
    """Register a handler for `method` on `path` under the route name `name`.

    `path` is below `/v1/`; `{id}` matches one path segment, `{id:path}` the rest of the path
    (model names hold slashes and colons); the rest is a regular expression.
    """

    def placeholder(match: re.Match[str]) -> str:
        return f"(?P<{match[1]}>{'.+' if match[2] else '[^/]+'})"

    pattern = re.compile(f"^{_PLACEHOLDER.sub(placeholder, path.lstrip('/'))}$")

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method, pattern, name, handler))
        return handler

    return register


def ok(data: Any, headers: dict[str, str] | None = None) -> Response:
    """A 200 JSON response."""
    return Response.of_json(data, headers=headers)


def page(
    items: list[dict[str, Any]], req: Request, *, default_limit: int, ids: bool = False
) -> Response:
    """Cursor pagination: items are already in API order; `after` is the id to start after."""
    limit = int_param(req, "limit", default_limit, lo=1, hi=10_000)
    after = req.param("after")
    start = 0
    if after:
        for i, item in enumerate(items):
            if item["id"] == after:
                start = i + 1
                break
        else:
            start = len(items)
    chunk = items[start : start + limit]
    body: dict[str, Any] = {"object": "list", "data": chunk, "has_more": start + limit < len(items)}
    if ids:
        body["first_id"] = chunk[0]["id"] if chunk else None
        body["last_id"] = chunk[-1]["id"] if chunk else None
    return ok(body)


def int_param(req: Request, name: str, default: int, *, lo: int, hi: int) -> int:
    """An integer query parameter in [lo, hi], or the API's 400."""
    raw = req.param(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid '{name}': expected an integer.", param=name) from None
    if not lo <= value <= hi:
        raise ApiError(400, f"Invalid '{name}': must be between {lo} and {hi}.", param=name)
    return value


def multipart(req: Request) -> dict[str, tuple[str | None, bytes]]:
    """The fields of a multipart/form-data body: name -> (filename, bytes)."""
    ctype = req.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise ApiError(
            400, "This endpoint expects multipart/form-data.", code="invalid_content_type"
        )
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + req.body
    )
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        fields[name] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    return fields


def metadata_param(value: Any) -> dict[str, str] | None:
    """A `metadata` parameter checked as the API does (16 pairs, 64/512 characters)."""
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > 16:
        raise ApiError(
            400,
            "Invalid 'metadata': at most 16 key-value pairs.",
            param="metadata",
            code="invalid_value",
        )
    for key, item in value.items():
        if len(key) > 64 or not isinstance(item, str) or len(item) > 512:
            raise ApiError(
                400,
                "Invalid 'metadata': keys up to 64 characters, string values up to 512.",
                param="metadata",
                code="invalid_value",
            )
    return dict(value)
