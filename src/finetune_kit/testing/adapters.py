"""Carry requests from HTTP clients to a `Simulator`.

The platform's transports (`finetune_kit.platform.transports`), re-exported.
"""

from __future__ import annotations

from finetune_kit.platform.transports import (
    HttpLib,
    clock_of,
    http_library,
    make_async_transport,
    make_transport,
    to_request,
)

__all__ = [
    "HttpLib",
    "clock_of",
    "http_library",
    "make_async_transport",
    "make_transport",
    "to_request",
]
