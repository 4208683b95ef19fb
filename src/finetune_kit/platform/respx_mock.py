"""Mount a platform (a `Simulator`) on respx: it answers every request an HTTP client sends.

Use it when the code under test builds its own `OpenAI()` client and you can't pass a transport.
respx is a test dependency of yours, not of finetune-kit: it is imported only here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finetune_kit.platform.transports import http_library, to_request, to_response

if TYPE_CHECKING:
    import respx

    from finetune_kit.platform.wire import Answering

__all__ = ["mount"]


def mount(
    sim: Answering, *, base_url: str | None = None, using: str | None = None
) -> respx.MockRouter:
    """Return a respx router (a context manager) that answers from `sim`.

    Args:
        sim: The simulator.
        base_url: Only intercept requests under this URL (default: every request).
        using: The respx mocker: `"httpcore2"` for httpx2 (openai>=3, the default when it is
            installed) or `"httpcore"` for legacy httpx (openai 2.x).

    Example:
        ```python
        with mount(sim, base_url="https://api.openai.com/v1"):
            client = OpenAI(api_key="test")          # built by the code under test
            client.models.list()                      # answered by the simulator
        ```
    """
    import httpx  # noqa: PLC0415 - respx routes speak legacy httpx types
    import respx  # noqa: PLC0415

    if using is None:
        using = "httpcore2" if http_library() == "httpx2" else "httpcore"
    if using == "httpcore2":
        # Registers respx's httpcore2 mocker: without it respx silently mocks nothing.
        import pytest_httpx2  # noqa: F401, PLC0415

    def handler(request: Any) -> Any:
        response = sim.handle(to_request(request))
        if response.delay:
            sim.clock.sleep(response.delay)
        return to_response(httpx, response, request)

    router = respx.mock(
        using=using, base_url=base_url, assert_all_called=False, assert_all_mocked=True
    )
    router.route().mock(side_effect=handler)
    return router
