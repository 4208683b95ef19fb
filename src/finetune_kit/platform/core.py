"""The platform: the fine-tuning API as a state machine, with the engines behind it.

`Platform.handle(request) -> response` is the whole API; the transports, respx and the socket
server only carry requests to it. It knows nothing of how training and answering happen: that
is its engines' (`finetune_kit.platform.engine`). `finetune_kit.testing.Simulator` is a
`Platform` with simulated engines.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from openai import AsyncAzureOpenAI, AsyncOpenAI, AzureOpenAI, OpenAI

from finetune_kit.platform.records import Flavor
from finetune_kit.platform.routes import ROUTES, Context, Handler
from finetune_kit.platform.state import PlatformState
from finetune_kit.platform.transports import (
    HttpLib,
    http_library,
    make_async_transport,
    make_transport,
)
from finetune_kit.platform.wire import ApiError, Request, Response

if TYPE_CHECKING:
    import respx

__all__ = ["Platform"]


class Platform(PlatformState):
    """The OpenAI (and Azure OpenAI) fine-tuning API over a training and an inference engine.

    Files, uploads, fine-tuning jobs with events, metrics and checkpoints, models, chat
    completions and batches, in the official shapes, with scriptable faults. Keyword arguments
    are `PlatformState`'s: `clock`, `training`, `inference`, `base_models` (name -> shutdown date),
    `timing`, `store`, `seed`, `organization`, `org_slug`, `aliases`, `wind_down`,
    `poll_after_ms`, `system_fingerprint`.

    Added in 0.1.0.
    """

    base_url = "http://platform.invalid/v1"
    """Where `client()` points by default (its transport answers it; no network)."""
    api_key = "sk-platform"
    """The API key `client()` sends by default (any non-empty key is accepted)."""
    azure_endpoint = "https://platform.openai.azure.com"
    azure_api_key = "azure-platform-key"

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} jobs={len(self.jobs)} files={len(self.files)} "
            f"now={self.clock.now():.0f}>"
        )

    # --- clients ------------------------------------------------------------------------------

    def transport(self, library: HttpLib | None = None) -> Any:
        """A sync `MockTransport` answering from this platform, for clients of `library`.

        `library` is `"httpx2"` or `"httpx"`; by default the one the installed openai SDK uses
        (httpx2, or httpx on openai 2.x). Pass it as
        `http_client=httpx2.Client(transport=sim.transport())`. A client of the other library
        needs its own transport: `finetune_kit.azure` always speaks httpx2, so its management
        client is `httpx2.Client(transport=sim.transport("httpx2"))` on any openai.
        """
        return make_transport(self, library)

    def async_transport(self, library: HttpLib | None = None) -> Any:
        """An async `MockTransport` of `library` (default: the SDK's HTTP library)."""
        return make_async_transport(self, library)

    def _http(self, *, asynchronous: bool) -> Any:
        """An httpx2 (or, on openai 2.x, httpx) client whose transport is this platform."""
        module = importlib.import_module(http_library())
        if asynchronous:
            return module.AsyncClient(transport=self.async_transport())
        return module.Client(transport=self.transport())

    def client(
        self,
        *,
        base_url: str | None = None,
        max_retries: int = 2,
        **kwargs: Any,
    ) -> OpenAI:
        """An `openai.OpenAI` answered by this platform (no network, any API key)."""
        kwargs.setdefault("api_key", self.api_key)
        http = self._http(asynchronous=False)
        return OpenAI(
            base_url=base_url or self.base_url, max_retries=max_retries, http_client=http, **kwargs
        )

    def async_client(
        self,
        *,
        base_url: str | None = None,
        max_retries: int = 2,
        **kwargs: Any,
    ) -> AsyncOpenAI:
        """An `openai.AsyncOpenAI` answered by this platform."""
        kwargs.setdefault("api_key", self.api_key)
        http = self._http(asynchronous=True)
        return AsyncOpenAI(
            base_url=base_url or self.base_url, max_retries=max_retries, http_client=http, **kwargs
        )

    def azure_client(self, *, max_retries: int = 2, **kwargs: Any) -> AzureOpenAI:
        """An `openai.AzureOpenAI` answered by this platform (`/openai/...?api-version=` paths).

        Keyword arguments go to `AzureOpenAI` (defaults: a platform endpoint, api_version
        `2025-04-01-preview`, any API key).
        """
        http = self._http(asynchronous=False)
        return AzureOpenAI(
            max_retries=max_retries, http_client=http, **self._azure_defaults(kwargs)
        )

    def async_azure_client(self, *, max_retries: int = 2, **kwargs: Any) -> AsyncAzureOpenAI:
        """An `openai.AsyncAzureOpenAI` answered by this platform (see `azure_client`)."""
        http = self._http(asynchronous=True)
        return AsyncAzureOpenAI(
            max_retries=max_retries, http_client=http, **self._azure_defaults(kwargs)
        )

    def mock(self, *, base_url: str | None = None, using: str | None = None) -> respx.MockRouter:
        """A respx router answering from this platform (see `finetune_kit.platform.respx_mock`)."""
        from finetune_kit.platform.respx_mock import mount  # noqa: PLC0415 - respx is optional

        return mount(self, base_url=base_url, using=using)

    def _azure_defaults(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return _azure_defaults(kwargs, self.azure_endpoint, self.azure_api_key)

    # --- the request loop -------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one request (faults and latency applied).

        Requests are answered one at a time. A `streaming` request's streamed answer comes as
        `Response.chunks`, made as the engine goes, and the platform stays locked until they
        are exhausted or closed (by the caller, in this thread); any other answer's body is
        whole.
        """
        self._lock.acquire()
        try:
            response = self._handle(request)
        except BaseException:
            self._lock.release()
            raise
        if response.chunks is None:
            self._lock.release()
        else:
            response.chunks = _Locked(response.chunks, self._lock)
        return response

    def _handle(self, request: Request) -> Response:
        try:
            ctx, handler = self._route(request)
        except ApiError as err:
            self.log.append((request.method, "unknown", err.status))
            response = err.response()
            response.headers["x-request-id"] = self._request_id()
            return response
        self.calls[ctx.route] += 1
        response = self._answer(request, ctx, handler)
        self.log.append((request.method, ctx.route, response.status))
        return response

    def _answer(self, request: Request, ctx: Context, handler: Handler) -> Response:
        delay = self.faults.delay(ctx.route)
        fault = self.faults.match(ctx.route)
        if fault is not None and not fault.after:
            response = _fault_response(fault)
        else:
            try:
                self._authenticate(request, ctx)
                response = handler(self, request, ctx)
                if response.chunks is not None and (not request.streaming or fault is not None):
                    response.body, response.chunks = b"".join(response.chunks), None
                self.store.flush()
            except ApiError as err:
                response = err.response()
            if fault is not None:  # `after`: the work is done, the client never hears of it
                response = _fault_response(fault)
        response.headers.setdefault("x-request-id", self._request_id())
        response.delay = delay
        return response

    def _route(self, request: Request) -> tuple[Context, Handler]:
        path = request.path
        flavor: Flavor = "openai"
        if path.startswith("/openai/v1/"):
            rest, flavor = path[len("/openai/v1/") :], "azure"
        elif path.startswith("/openai/"):
            rest, flavor = path[len("/openai/") :], "azure"
            if request.param("api-version") is None:
                raise ApiError(404, "Resource not found", code="404")
        elif path.lower().startswith("/subscriptions/"):  # Azure's management API
            rest, flavor = path[1:], "azure"
        elif "/v1/" in path:
            rest = path.split("/v1/", 1)[1]
        else:
            rest = path.lstrip("/")
        rest = rest.rstrip("/")
        known_path = False
        for entry in ROUTES:
            match = entry.pattern.match(rest)
            if match is None:
                continue
            known_path = True
            if entry.method == request.method:
                return Context(entry.name, flavor, match.groupdict()), entry.handler
        if known_path:
            raise ApiError(405, f"Method {request.method} not allowed for /{rest}")
        raise ApiError(404, f"Invalid URL ({request.method} /{rest})", code="unknown_url")

    def _authenticate(self, request: Request, ctx: Context) -> None:
        if ctx.route.startswith("deployments."):
            return  # the management API checks its own bearer token (routes.azure)
        auth = request.headers.get("authorization", "")
        key = request.headers.get("api-key", "")
        if (auth.startswith("Bearer ") and auth[7:].strip()) or (
            ctx.flavor == "azure" and key.strip()
        ):
            return
        if ctx.flavor == "azure":
            raise ApiError(
                401,
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
                "provide a valid key for an active subscription and use a correct regional API "
                "endpoint for your resource.",
                code="401",
            )
        raise ApiError(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code="missing_api_key",
        )


class _Locked(Iterator[bytes]):
    """A streamed body that holds the platform's lock (taken by `handle`) until it ends.

    The lock is released when the body is exhausted, raises, or is closed: whoever asked for a
    streamed answer iterates or closes it in the thread that asked.
    """

    def __init__(self, chunks: Iterator[bytes], lock: threading.RLock) -> None:
        self._chunks = chunks
        self._lock: threading.RLock | None = lock

    def __next__(self) -> bytes:
        if self._lock is None:
            raise StopIteration
        try:
            return next(self._chunks)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop the stream (the engine stops generating) and release the platform."""
        lock, self._lock = self._lock, None
        if lock is None:
            return
        try:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
        finally:
            lock.release()


def _azure_defaults(kwargs: dict[str, Any], endpoint: str, api_key: str) -> dict[str, Any]:
    endpoint = kwargs.pop("endpoint", endpoint)
    return {
        "api_key": api_key,
        "azure_endpoint": endpoint,
        "api_version": "2025-04-01-preview",
        **kwargs,
    }


def _fault_response(fault: Any) -> Response:
    if fault.kind in ("timeout", "disconnect"):
        return Response(status=0, fault=fault.kind)
    body = fault.body
    if body is None:
        message = {
            500: "The server had an error while processing your request. Sorry about that!",
            502: "Bad gateway.",
            503: "The engine is currently overloaded, please try again later.",
        }.get(fault.status, "Simulated error.")
        body = {
            "error": {
                "message": message,
                "type": "server_error" if fault.status >= 500 else "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
    return Response.of_json(body, status=fault.status, headers=dict(fault.headers))
