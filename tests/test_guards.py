"""Guards that keep the test suite honest: no network, the respx bridge loaded."""

from __future__ import annotations

import socket

import httpx2
import pytest
import respx


def test_respx_httpcore2_bridge_is_registered() -> None:
    """respx can mock httpx2 only through the pytest-httpx2 bridge; without it, nothing is mocked."""
    assert "httpcore2" in respx.mocks.Mocker.registry


def test_respx_mock_intercepts_httpx2() -> None:
    """A respx route answers an httpx2 request: the request never reaches the network."""
    with respx.mock(using="httpcore2", base_url="https://api.test/v1") as mock:
        route = mock.get("/ping").respond(200, json={"pong": True})
        response = httpx2.get("https://api.test/v1/ping")
    assert route.call_count == 1
    assert response.json() == {"pong": True}


def test_sockets_are_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The offline fixture makes any connection attempt fail loudly."""
    from tests.offline import block_network

    block_network(monkeypatch)
    with pytest.raises(OSError, match="network access in a test"):
        socket.create_connection(("example.com", 443), timeout=1)
