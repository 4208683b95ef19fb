"""The platform's HTTP vocabulary: a request, a response, and the API's error bodies.

Independent of any HTTP library, so one platform serves httpx2, legacy httpx, respx and a real
socket server alike. `Answering` is all that carries requests to a platform need of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import parse_qsl

if TYPE_CHECKING:
    from finetune_kit.platform.clock import Clock

__all__ = [
    "Answering",
    "ApiError",
    "Request",
    "Response",
    "SimRequest",
    "SimResponse",
    "error_body",
]


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request as the platform sees it (`Request` in `finetune_kit.testing`).

    Added in 0.1.0.
    """

    method: str
    path: str
    """The URL path, e.g. `/v1/fine_tuning/jobs` or `/openai/fine_tuning/jobs`."""
    query: tuple[tuple[str, str], ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    """Header names in lower case."""
    body: bytes = b""
    streaming: bool = False
    """Whether the carrier sends a body as it is produced (the socket server does): a streamed
    answer (`stream: true`) then comes as `Response.chunks`, and the platform answers nothing
    else until they are exhausted or closed, which the carrier must do in the calling thread.
    False (in-process transports, respx): the body is joined, as always."""

    @classmethod
    def build(
        cls,
        method: str,
        path: str,
        query_string: str,
        headers: dict[str, str],
        body: bytes,
        *,
        streaming: bool = False,
    ) -> Request:
        """Build from raw parts (header names are lower-cased here)."""
        return cls(
            method=method.upper(),
            path=path,
            query=tuple(parse_qsl(query_string, keep_blank_values=True)),
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
            streaming=streaming,
        )

    def param(self, name: str) -> str | None:
        """The first query parameter `name`, or None."""
        for key, value in self.query:
            if key == name:
                return value
        return None

    def json(self) -> Any:
        """The body parsed as JSON (an `ApiError` 400 if it is not)."""
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            raise ApiError(400, "We could not parse the JSON body of your request.") from None
        except RecursionError:
            raise ApiError(
                400, "We could not parse the JSON body of your request: it is nested too deeply."
            ) from None


@dataclass(slots=True)
class Response:
    """What the platform answers: a status, headers and a body, or a transport fault.

    `Response` in `finetune_kit.testing`.

    Added in 0.1.0.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    fault: Literal["timeout", "disconnect"] | None = None
    """A transport failure to raise instead of answering."""
    delay: float = 0.0
    """Seconds to wait before answering (the latency model)."""
    chunks: Iterator[bytes] | None = None
    """A body sent as it is produced (a chat completion's server-sent events, one per item),
    instead of `body`; only for a `Request` with `streaming`. Exhaust or `close()` it."""

    @classmethod
    def of_json(
        cls, data: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        """A JSON response."""
        return cls(
            status=status,
            headers={"content-type": "application/json", **(headers or {})},
            body=json.dumps(data).encode(),
        )

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


SimRequest = Request
"""The simulator's name for `Request` (Added in 0.1.0)."""
SimResponse = Response
"""The simulator's name for `Response` (Added in 0.1.0)."""


class Answering(Protocol):
    """What a transport, the respx mount or the server needs: `handle` and a clock.

    `Platform` (and so `Simulator`) is one.
    """

    @property
    def clock(self) -> Clock:
        """The clock latency waits on."""
        ...

    def handle(self, request: Request) -> Response:
        """Answer one request."""
        ...


def error_body(
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """The API's error envelope."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    429: "requests",
    500: "server_error",
    502: "server_error",
    503: "server_error",
}


class ApiError(Exception):
    """Raised inside route handlers: becomes an API error response.

    Added in 0.1.0.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type_: str | None = None,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.body = body
        """The whole error body, when it is not the API's envelope (Azure's own errors)."""
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type_ = type_ or _TYPES.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        )
        self.headers = headers or {}

    @classmethod
    def missing(cls, param: str) -> ApiError:
        """The API's 400 for a required parameter the request left out."""
        return cls(
            400,
            f"Missing required parameter: '{param}'.",
            param=param,
            code="missing_required_parameter",
        )

    def response(self) -> Response:
        """The error as a response."""
        body = self.body or error_body(
            self.message, type_=self.type_, param=self.param, code=self.code
        )
        return Response.of_json(body, status=self.status, headers=self.headers)
