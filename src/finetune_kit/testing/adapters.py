"""Carry requests from HTTP clients to a `Simulator`: transports, respx, ready-made SDK clients.

openai>=3 speaks `httpx2`, openai 2.x legacy `httpx`; both have the same API, and each adapter
here works with either. Nothing is imported until it is used.

Added in 0.1.0.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Literal

from finetune_kit.testing.wire import SimRequest, SimResponse

if TYPE_CHECKING:
    from finetune_kit.testing.simulator import Simulator

__all__ = ["http_library", "make_async_transport", "make_transport", "to_sim_request"]

HttpLib = Literal["httpx2", "httpx"]


def http_library() -> HttpLib:
    """The HTTP library the installed openai SDK uses: `httpx2` (openai>=3) or `httpx` (2.x).

    Added in 0.1.0.
    """
    import openai  # noqa: PLC0415

    return "httpx2" if int(openai.__version__.split(".")[0]) >= 3 else "httpx"


def to_sim_request(request: Any) -> SimRequest:
    """Translate an `httpx2.Request` or `httpx.Request`."""
    query = request.url.query
    return SimRequest.build(
        request.method,
        request.url.path,
        query.decode() if isinstance(query, bytes) else str(query),
        dict(request.headers),
        request.read(),
    )


def to_response(lib: Any, response: SimResponse, request: Any) -> Any:
    """Translate a `SimResponse` into `lib.Response`, or raise the transport fault."""
    if response.fault == "timeout":
        raise lib.ReadTimeout("simulated read timeout", request=request)
    if response.fault == "disconnect":
        raise lib.RemoteProtocolError(
            "Server disconnected without sending a response.", request=request
        )
    return lib.Response(
        response.status, headers=response.headers, content=response.body, request=request
    )


def make_transport(sim: Simulator, lib: HttpLib | None = None) -> Any:
    """A sync `MockTransport` (of `lib`, default: the SDK's) that answers from `sim`.

    Added in 0.1.0.
    """
    module = importlib.import_module(lib or http_library())

    def handler(request: Any) -> Any:
        response = sim.handle(to_sim_request(request))
        if response.delay:
            sim.clock.sleep(response.delay)
        return to_response(module, response, request)

    return module.MockTransport(handler)


def make_async_transport(sim: Simulator, lib: HttpLib | None = None) -> Any:
    """An async `MockTransport` (of `lib`, default: the SDK's) that answers from `sim`.

    Latency waits on the simulator's clock without blocking the event loop.

    Added in 0.1.0.
    """
    module = importlib.import_module(lib or http_library())

    async def handler(request: Any) -> Any:
        await request.aread()
        response = sim.handle(to_sim_request(request))
        if response.delay:
            await sim.clock.asleep(response.delay)
        return to_response(module, response, request)

    return module.MockTransport(handler)
