"""Helpers to prove code runs offline."""

from __future__ import annotations

import socket
from typing import Any, NoReturn

import pytest


def block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every attempt to open a network connection raise `OSError`."""

    def refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise OSError("network access in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
