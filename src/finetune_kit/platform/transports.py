"""Carry requests from HTTP clients to a platform (a `Simulator`, most often): transports.

openai>=3 speaks `httpx2`, openai 2.x legacy `httpx`; both have the same API, and each adapter
here works with either. Nothing is imported until it is used.
"""

from __future__ import annotations

import importlib
import weakref
from typing import TYPE_CHECKING, Any, Literal

from finetune_kit.platform.wire import Answering, Request, Response

if TYPE_CHECKING:
    from finetune_kit.platform.clock import Clock

__all__ = ["clock_of", "http_library", "make_async_transport", "make_transport", "to_request"]

_PLATFORMS: weakref.WeakKeyDictionary[Any, Answering] = weakref.WeakKeyDictionary()
"""Each transport made here -> the platform it answers from (see `clock_of`)."""

HttpLib = Literal["httpx2", "httpx"]


def http_library() -> HttpLib:
    """The HTTP library the installed openai SDK uses: `httpx2` (openai>=3) or `httpx` (2.x)."""
    import openai  # noqa: PLC0415

    return "httpx2" if int(openai.__version__.split(".")[0]) >= 3 else "httpx"


def to_request(request: Any) -> Request:
    """Translate an `httpx2.Request` or `httpx.Request`."""
    query = request.url.query
    return Request.build(
        request.method,
        request.url.path,
        query.decode() if isinstance(query, bytes) else str(query),
        dict(request.headers),
        request.read(),
    )


def to_response(lib: Any, response: Response, request: Any) -> Any:
    """Translate a `Response` into `lib.Response`, or raise the transport fault."""
    if response.fault == "timeout":
        raise lib.ReadTimeout("simulated read timeout", request=request)
    if response.fault == "disconnect":
        raise lib.RemoteProtocolError(
            "Server disconnected without sending a response.", request=request
        )
    return lib.Response(
        response.status, headers=response.headers, content=response.body, request=request
    )


def make_transport(sim: Answering, lib: HttpLib | None = None) -> Any:
    """A sync `MockTransport` (of `lib`, default: the SDK's) that answers from `sim` (a platform)."""
    module = importlib.import_module(lib or http_library())

    def handler(request: Any) -> Any:
        response = sim.handle(to_request(request))
        if response.delay:
            sim.clock.sleep(response.delay)
        return to_response(module, response, request)

    return _registered(module.MockTransport(handler), sim)


def make_async_transport(sim: Answering, lib: HttpLib | None = None) -> Any:
    """An async `MockTransport` (of `lib`, default: the SDK's) that answers from `sim`.

    Latency waits on the platform's clock without blocking the event loop.
    """
    module = importlib.import_module(lib or http_library())

    async def handler(request: Any) -> Any:
        await request.aread()
        response = sim.handle(to_request(request))
        if response.delay:
            await sim.clock.asleep(response.delay)
        return to_response(module, response, request)

    return _registered(module.MockTransport(handler), sim)


def _registered(transport: Any, sim: Answering) -> Any:
    _PLATFORMS[transport] = sim
    return transport


def clock_of(client: object) -> Clock | None:
    """The clock of the simulator (or platform) that answers `client`, or None for any other client.

    `client` is an SDK client (`sim.client()`, `sim.async_client()`, `sim.azure_client()`, a
    `with_options` copy of one) or an HTTP client built on `sim.transport()`. finetune-kit
    waits on this clock when given no `sleep=` (and reads it when given no `now=`/`timer=`), so
    code written for the real API runs on a simulator unchanged, without hanging on a virtual
    clock that moves only when slept on. A client intercepted by `sim.mock()` (respx) is not
    recognised: pass `sleep=sim.clock.sleep` there.

    Example:
        ```python
        sim = Simulator()
        assert clock_of(sim.client()) is sim.clock
        ```

    Added in 0.1.0.
    """
    http = getattr(client, "_client", client)  # the SDK keeps its HTTP client there
    transport = getattr(http, "_transport", None)
    try:
        sim = _PLATFORMS.get(transport) if transport is not None else None
    except TypeError:  # not weak-referenceable: not one of ours
        return None
    return None if sim is None else sim.clock
