"""Streamed chat completions on a real socket: sent event by event, as the engine makes them."""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from finetune_kit.platform.engine import Choice, Completion, Piece, ServedModel
from finetune_kit.platform.server import PlatformServer
from finetune_kit.testing import SimRequest, Simulator

MODEL = "gpt-4o-mini-2024-07-18"
HELIUM: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is helium?"}]


def _post(body: dict[str, Any], *, streaming: bool = False) -> SimRequest:
    return SimRequest.build(
        "POST",
        "/v1/chat/completions",
        "",
        {"authorization": "Bearer k"},
        json.dumps(body).encode(),
        streaming=streaming,
    )


def _raw(conn: http.client.HTTPConnection, body: dict[str, Any]) -> http.client.HTTPResponse:
    conn.request(
        "POST",
        "/v1/chat/completions",
        json.dumps(body),
        {"authorization": "Bearer k", "content-type": "application/json"},
    )
    return conn.getresponse()


# What the server sent for these requests (Simulator(seed=7)) before streaming was incremental,
# when it generated the whole answer first: (length, sha256) of the body.
BEFORE = [
    (
        {"model": MODEL, "messages": HELIUM, "stream": True, "n": 2, "max_tokens": 3,
         "stream_options": {"include_usage": True}},
        3654,
        "a5333e06f923d7618c56b49de11e0e8eca36aa9e858b1531986b0d07d661d871",
    ),
    (
        {"model": MODEL, "messages": HELIUM, "stream": True, "n": 3},
        68332,
        "4edabf579a78a0a0d8859eef5782953ca13ef5fa552e2fda30fa5ba41083b5b3",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("body", "length", "digest"), BEFORE, ids=["n2-usage-max3", "n3"])
def test_socket_stream_sends_the_same_bytes_as_before(
    body: dict[str, Any], length: int, digest: str
) -> None:
    """Chunked on the wire, the events joined are byte for byte what was sent whole before (and
    what the in-process transports get); the connection stays usable after the stream."""
    twin = Simulator(seed=7).handle(_post(body))
    with PlatformServer(Simulator(seed=7)) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        response = _raw(conn, body)
        sent = response.read()
        assert (response.status, response.getheader("transfer-encoding")) == (200, "chunked")
        assert response.getheader("content-length") is None
        assert response.getheader("content-type") == "text/event-stream; charset=utf-8"
        assert (len(sent), hashlib.sha256(sent).hexdigest()) == (length, digest)
        assert sent == twin.body
        conn.request("GET", "/v1/models", headers={"authorization": "Bearer k"})  # keep-alive
        after = conn.getresponse()
        assert (after.status, after.getheader("content-length") is not None) == (200, True)
        after.read()
        conn.close()


class GatedEngine:
    """Yields "Hel", then waits for `gate` before "lo" and the completion."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.produced: list[str] = []
        self.closed = False

    def complete(self, model: ServedModel, messages: list[Any], params: dict[str, Any]) -> Any:
        raise AssertionError("not streamed")

    def stream(
        self, model: ServedModel, messages: list[Any], params: dict[str, Any]
    ) -> Iterator[Piece | Completion]:
        try:
            self.produced.append("Hel")
            yield Piece(0, "Hel")
            if not self.gate.wait(timeout=10):  # bounded: a server that buffers fails the test
                raise AssertionError("the gate was never opened")
            self.produced.append("lo")
            yield Piece(0, "lo")
            yield Completion([Choice("Hello", "stop", 2)], 9)
        finally:
            self.closed = True


def test_first_chunk_reaches_the_client_before_the_engine_ends() -> None:
    """The SDK reads the role chunk and the first piece while the engine still waits to make
    the last one; the platform is held (locked) meanwhile, and free once the stream ends."""
    sim = Simulator()
    engine = GatedEngine()
    sim.inference = engine
    with (
        PlatformServer(sim) as server,
        openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0, timeout=10) as client,
    ):
        stream = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        chunks = iter(stream)
        role, first = next(chunks), next(chunks)
        assert (role.choices[0].delta.role, first.choices[0].delta.content) == ("assistant", "Hel")
        assert engine.produced == ["Hel"]
        assert sim._lock.acquire(blocking=False) is False  # the stream holds the platform
        engine.gate.set()
        rest = list(chunks)
        assert [(c.choices[0].delta.content, c.choices[0].finish_reason) for c in rest] == [
            ("lo", None),
            (None, "stop"),
        ]
        assert engine.produced == ["Hel", "lo"]
        # The server lets go once the generator is exhausted, just after writing `[DONE]`,
        # which the client may have read first: wait for it (bounded), never poll.
        assert sim._lock.acquire(timeout=10) is True
        sim._lock.release()
        assert client.models.list().data != []


class FailingEngine:
    """Yields one piece, then fails: with an exception, or by ending without a `Completion`."""

    def __init__(self, how: str) -> None:
        self.how = how

    def complete(self, model: ServedModel, messages: list[Any], params: dict[str, Any]) -> Any:
        raise AssertionError("not streamed")

    def stream(
        self, model: ServedModel, messages: list[Any], params: dict[str, Any]
    ) -> Iterator[Piece | Completion]:
        yield Piece(0, "Hel")
        if self.how == "raises":
            raise RuntimeError("the GPU fell over")


FAILURES = {
    "raises": "The platform failed while streaming: RuntimeError('the GPU fell over')",
    "no completion": "The model's stream ended without a completion.",
}


@pytest.mark.parametrize("how", ["raises", "no completion"])
def test_an_engine_failing_mid_stream_ends_it_with_an_error_event(
    how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The status is sent: the stream ends with the API's error envelope as its last event
    (no `[DONE]`), the chunked body ends properly, the connection and the platform are free."""
    sim = Simulator()
    sim.inference = FailingEngine(how)
    body = {"model": MODEL, "messages": HELIUM, "stream": True}
    with PlatformServer(sim) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        response = _raw(conn, body)
        events = response.read().decode().split("\n\n")
        assert response.status == 200
        assert events[-1] == ""
        assert [json.loads(e.removeprefix("data: ")) for e in events[-2:-1]] == [
            {
                "error": {
                    "message": FAILURES[how],
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            }
        ]
        assert [
            json.loads(e.removeprefix("data: "))["choices"][0]["delta"] for e in events[:-2]
        ] == [
            {"role": "assistant", "content": "", "refusal": None},
            {"content": "Hel"},
        ]
        conn.request("GET", "/v1/models", headers={"authorization": "Bearer k"})
        assert conn.getresponse().status == 200
        conn.close()
        with openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client:
            stream = client.chat.completions.create(model=MODEL, messages=HELIUM, stream=True)
            seen: list[str | None] = []
            with pytest.raises(openai.APIError) as err:
                seen.extend(c.choices[0].delta.content for c in stream)
            assert (seen, err.value.message) == (["", "Hel"], FAILURES[how])
    capsys.readouterr()  # the server printed the RuntimeError's traceback


def test_in_process_transports_still_answer_a_failed_stream_with_a_status() -> None:
    """Joined in process (no `streaming`): a stream without a completion is a 500, as before."""
    sim = Simulator()
    sim.inference = FailingEngine("no completion")
    response = sim.handle(_post({"model": MODEL, "messages": HELIUM, "stream": True}))
    assert (response.status, response.chunks, response.json()["error"]["message"]) == (
        500,
        None,
        "The model's stream ended without a completion.",
    )
    assert sim.log[-1] == ("POST", "chat.create", 500)


def test_closing_a_streamed_body_early_stops_the_engine_and_frees_the_platform() -> None:
    """`Response.chunks` of a `streaming` request: closed after the first event, the engine's
    generator is closed and the platform's lock released."""
    sim = Simulator()
    engine = GatedEngine()
    sim.inference = engine
    response = sim.handle(
        _post({"model": MODEL, "messages": HELIUM, "stream": True}, streaming=True)
    )
    assert (response.status, response.body) == (200, b"")
    assert response.chunks is not None
    first = json.loads(next(response.chunks).decode().removeprefix("data: "))
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert engine.produced == ["Hel"]  # the engine was started before the status was decided
    assert _free_elsewhere(sim) is False
    response.chunks.close()  # type: ignore[attr-defined]
    assert engine.closed is True
    assert _free_elsewhere(sim) is True


def _free_elsewhere(sim: Simulator) -> bool:
    """Whether another thread could take the platform's lock now."""
    free: list[bool] = []

    def probe() -> None:
        free.append(sim._lock.acquire(blocking=False))
        if free[0]:
            sim._lock.release()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return free[0]
