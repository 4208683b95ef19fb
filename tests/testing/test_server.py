"""The simulator on a real loopback socket (`SimulatorServer`) and `finetune-kit sim serve`."""

from __future__ import annotations

import _thread
import base64
import http.client
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from urllib.error import HTTPError

import httpx2
import openai
import pytest

from finetune_kit.cli import main
from finetune_kit.cli.main import _parser, _sim_server, bundled_dataset
from finetune_kit.testing import ScaledClock, Simulator, VirtualClock
from finetune_kit.testing.server import SimulatorServer

MODEL = "gpt-4o-mini-2024-07-18"


@pytest.fixture
def sim() -> Simulator:
    return Simulator()


@pytest.fixture
def server(sim: Simulator) -> Iterator[SimulatorServer]:
    with SimulatorServer(sim) as running:
        yield running


@pytest.fixture
def client(server: SimulatorServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk:
        yield sdk


def _elle_answer(prompt: str) -> str:
    for line in bundled_dataset().read_text(encoding="utf-8").splitlines():
        messages = json.loads(line)["messages"]
        if any(m["role"] == "user" and m["content"] == prompt for m in messages):
            return str(messages[-1]["content"])
    raise AssertionError(prompt)


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, object]:
    sent = {"Authorization": "Bearer x"} if headers is None else headers
    request = urllib.request.Request(url, headers=sent)  # noqa: S310 - http on loopback
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, response.headers["content-type"], json.loads(response.read())
    except HTTPError as err:
        with err:
            return err.code, err.headers["content-type"], json.loads(err.read())


# --- the server -------------------------------------------------------------------------------


def test_the_openai_sdk_fine_tunes_and_chats_over_a_real_socket(
    sim: Simulator, server: SimulatorServer, client: openai.OpenAI
) -> None:
    """The plain SDK uploads, trains, reads events and chats with the tuned model via loopback."""
    uploaded = client.files.create(
        file=("elle.jsonl", bundled_dataset().read_bytes()), purpose="fine-tune"
    )
    sim.clock.sleep(5)  # file processing
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=uploaded.id)
    assert job.status == "validating_files"
    sim.clock.sleep(3600)
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    assert done.fine_tuned_model is not None
    events = client.fine_tuning.jobs.list_events(job.id, limit=100).data
    assert events[0].message == "The job has successfully completed"
    reply = client.chat.completions.create(
        model=done.fine_tuned_model,
        messages=[{"role": "user", "content": "Tell me about Helium"}],
    )
    assert reply.model == done.fine_tuned_model
    assert reply.choices[0].message.content == _elle_answer("Tell me about Helium")
    assert (sim.calls["files.create"], sim.calls["jobs.create"], sim.calls["chat.create"]) == (
        1,
        1,
        1,
    )


def test_any_http_client_gets_json(server: SimulatorServer) -> None:
    """A raw `urllib` request gets a JSON response, as any client in any language would."""
    status, content_type, body = _get(f"{server.base_url}/models")
    assert (status, content_type) == (200, "application/json")
    assert isinstance(body, dict)
    assert body["object"] == "list"
    assert MODEL in {model["id"] for model in body["data"]}


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        ("/v1/no/such/thing", None, 404, "unknown_url"),
        ("/v1/models", {}, 401, "missing_api_key"),
        ("/v1/fine_tuning/jobs/ftjob-missing", None, 404, "fine_tune_not_found"),
    ],
    ids=["unknown-path", "no-api-key", "unknown-job"],
)
def test_errors_come_back_in_the_api_error_envelope(
    server: SimulatorServer,
    path: str,
    headers: dict[str, str] | None,
    status: int,
    code: str,
) -> None:
    """Unknown paths, missing keys and unknown ids answer the API's JSON error envelope."""
    got_status, content_type, body = _get(server.url + path, headers)
    assert (got_status, content_type) == (status, "application/json")
    assert isinstance(body, dict)
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code


def test_a_chunked_request_body_is_read(sim: Simulator, server: SimulatorServer) -> None:
    """A body sent with `Transfer-Encoding: chunked` reaches the simulator whole."""
    payload = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]})
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request(
            "POST",
            "/v1/chat/completions",
            body=iter([payload[:10].encode(), payload[10:].encode()]),
            headers={"Authorization": "Bearer x", "Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 200
    assert body["object"] == "chat.completion"
    assert sim.calls["chat.create"] == 1


def test_other_methods_get_json_too(server: SimulatorServer) -> None:
    """OPTIONS gets the simulator's JSON 405, and HEAD its headers without a body."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("OPTIONS", "/v1/models", headers={"Authorization": "Bearer x"})
        options = connection.getresponse()
        body = json.loads(options.read())
        connection.request("HEAD", "/v1/models", headers={"Authorization": "Bearer x"})
        head = connection.getresponse()
        head_body = head.read()
    finally:
        connection.close()
    assert (options.status, options.headers["content-type"]) == (405, "application/json")
    assert "not allowed" in body["error"]["message"]
    assert (head.status, head_body) == (405, b"")


@pytest.mark.parametrize("kind", ["disconnect", "timeout"])
def test_a_transport_fault_closes_the_connection_without_an_answer(
    sim: Simulator, client: openai.OpenAI, kind: str
) -> None:
    """A disconnect (or timeout) fault makes the SDK raise `APIConnectionError`; the next call works."""
    if kind == "disconnect":
        sim.faults.disconnect("models.list")
    else:
        sim.faults.timeout("models.list")
    with pytest.raises(openai.APIConnectionError):
        client.models.list()
    assert client.models.list().data
    assert sim.calls["models.list"] == 2


def test_a_fault_after_the_work_hides_a_created_job(sim: Simulator, client: openai.OpenAI) -> None:
    """With `after=True` the job is created although the client only sees the connection drop."""
    uploaded = client.files.create(
        file=("elle.jsonl", bundled_dataset().read_bytes()), purpose="fine-tune"
    )
    sim.clock.sleep(5)
    sim.faults.disconnect("jobs.create", after=True)
    with pytest.raises(openai.APIConnectionError):
        client.fine_tuning.jobs.create(model=MODEL, training_file=uploaded.id)
    assert len(client.fine_tuning.jobs.list().data) == 1


def test_latency_waits_on_the_simulators_clock(sim: Simulator, client: openai.OpenAI) -> None:
    """Latency is spent on the simulator's clock: 30 virtual seconds pass, instantly."""
    assert isinstance(sim.clock, VirtualClock)
    sim.faults.latency(30)
    client.models.list()
    assert sim.clock.slept == 30


def test_concurrent_clients_are_all_answered(sim: Simulator, server: SimulatorServer) -> None:
    """Requests from several threads at once are all answered (one thread per connection)."""
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk:
                for _ in range(5):
                    sdk.models.list()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sim.calls["models.list"] == 40


def test_the_server_binds_loopback_and_a_free_port_by_default() -> None:
    """By default the server listens on 127.0.0.1 only, on a free port, with a fresh simulator."""
    with SimulatorServer() as server:
        assert server.host == "127.0.0.1"
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.base_url == server.url + "/v1"
        assert isinstance(server.sim.clock, VirtualClock)
        assert server.running


def test_stop_closes_idle_connections_and_the_port(
    server: SimulatorServer, client: openai.OpenAI
) -> None:
    """`stop()` returns despite an idle keep-alive connection, and the port is closed after it."""
    client.models.list()  # leaves a pooled keep-alive connection open
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    stopper.join(timeout=10)
    assert not stopper.is_alive()
    assert not server.running
    assert _refused(server.port)
    with pytest.raises(openai.APIConnectionError):
        client.models.list()
    server.stop()  # a second stop does nothing
    with pytest.raises(RuntimeError, match="stopped"):
        server.start()


def test_serve_forever_serves_until_stopped() -> None:
    """`serve_forever()` serves from the calling thread and returns once `stop()` is called."""
    server = SimulatorServer()
    serving = threading.Thread(target=server.serve_forever)
    serving.start()
    try:
        status, _, _ = _get(f"{server.base_url}/models")
        assert status == 200
    finally:
        server.stop()
        serving.join(timeout=10)
    assert not serving.is_alive()
    assert _refused(server.port)


def test_an_ipv6_loopback_url_has_brackets() -> None:
    """A server on `::1` gives a bracketed URL that the SDK can use."""
    try:
        server = SimulatorServer(host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with server, openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk:
        assert server.url == f"http://[::1]:{server.port}"
        assert sdk.models.list().data


# --- finetune-kit sim serve ---------------------------------------------------------------------


def test_sim_serve_builds_a_scaled_loopback_server() -> None:
    """`sim serve --port 0 --speed 60` builds a loopback server on a free port, time 60x faster."""
    server = _sim_server(_parser().parse_args(["sim", "serve", "--port", "0", "--speed", "60"]))
    try:
        assert (server.host, server.running) == ("127.0.0.1", False)
        assert server.port > 0
        assert isinstance(server.sim.clock, ScaledClock)
        assert server.sim.clock.speed == 60
        server.start()
        assert _get(f"{server.base_url}/models")[0] == 200
    finally:
        server.stop()


def test_sim_serve_runs_in_real_time_by_default() -> None:
    """Without `--speed` the simulator's clock runs at real time, on 127.0.0.1:8000."""
    args = _parser().parse_args(["sim", "serve"])
    assert (args.host, args.port, args.speed) == ("127.0.0.1", "8000", "1")
    server = _sim_server(_parser().parse_args(["sim", "serve", "--port", "0"]))
    try:
        assert isinstance(server.sim.clock, ScaledClock)
        assert server.sim.clock.speed == 1
    finally:
        server.stop()


def test_sim_serve_prints_its_url_and_exits_0_on_ctrl_c(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`finetune-kit sim serve` prints the base URL, answers requests and exits 0 on Ctrl-C."""
    started: list[SimulatorServer] = []
    answered: list[int] = []
    serve_forever = SimulatorServer.serve_forever

    def recording(self: SimulatorServer) -> None:
        started.append(self)
        serve_forever(self)

    def press_ctrl_c() -> None:
        deadline = time.monotonic() + 10
        while not started and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            answered.append(_get(f"{started[0].base_url}/models")[0])
        finally:
            _thread.interrupt_main()  # what Ctrl-C does, once the server has answered

    monkeypatch.setattr(SimulatorServer, "serve_forever", recording)
    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    assert main(["sim", "serve", "--port", "0"]) == 0
    presser.join(timeout=10)
    out, err = capsys.readouterr()
    assert answered == [200]
    assert out == (f"finetune-kit simulator listening on {started[0].base_url} (OPENAI_BASE_URL)\n")
    assert err == "finetune-kit simulator stopped\n"
    assert _refused(started[0].port)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--speed", "0"], "--speed must be a positive number"),
        (["--speed", "-2"], "--speed must be a positive number"),
        (["--speed", "fast"], "--speed must be a positive number"),
        (["--speed", "nan"], "--speed must be a positive number"),
        (["--port", "70000"], "--port must be a number from 0 to 65535"),
        (["--port", "http"], "--port must be a number from 0 to 65535"),
        (["--idle-timeout", "0"], "--idle-timeout must be a positive number of seconds, not '0'"),
        (["--idle-timeout", "soon"], "--idle-timeout must be a positive number of seconds"),
    ],
    ids=[
        "speed-zero",
        "speed-negative",
        "speed-word",
        "speed-nan",
        "port-too-big",
        "port-word",
        "idle-timeout-zero",
        "idle-timeout-word",
    ],
)
def test_sim_serve_bad_arguments_get_one_line_and_exit_2(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad `--speed` or `--port` prints a single error line on stderr and exits 2."""
    assert main(["sim", "serve", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("finetune-kit: error: ")
    assert expected in err


def test_sim_serve_on_a_busy_port_gets_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A port already in use gives one error line naming the address, and exit 2."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["sim", "serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"finetune-kit: error: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in err


# --- under load, and hostile requests ----------------------------------------------------------


def _connection_threads(server: SimulatorServer) -> int:
    """The server's threads serving a connection (each names itself after the port)."""
    name = f"finetune-kit-simulator-{server.port}-conn"
    return sum(1 for thread in threading.enumerate() if thread.name == name)


def _until(condition: Callable[[], bool], *, within: float = 10.0) -> bool:
    """Poll `condition` until it holds, for at most `within` seconds; whether it held."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _raw(server: SimulatorServer, request: bytes) -> tuple[int, dict[str, str], object]:
    """Send raw bytes on a fresh connection; the status, headers and JSON body of the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(request)
        response = http.client.HTTPResponse(conn)
        response.begin()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, headers, json.loads(response.read())


def test_connects_queued_before_any_is_accepted_are_all_served(sim: Simulator) -> None:
    """50 connects at once all complete at once (backlog 1024, not 5), then all are answered."""
    server = SimulatorServer(sim)  # listening, not yet accepting
    try:
        # With a backlog of 5 the kernel drops the 7th SYN: that connect would time out.
        conns = [socket.create_connection(("127.0.0.1", server.port), timeout=2) for _ in range(50)]
        server.start()
        for conn in conns:
            conn.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\n\r\n")
        statuses = []
        for conn in conns:
            response = http.client.HTTPResponse(conn)
            response.begin()
            response.read()
            statuses.append(response.status)
            conn.close()
    finally:
        server.stop()
    assert statuses == [200] * 50
    assert sim.calls["models.list"] == 50


def test_a_burst_of_clients_is_served(sim: Simulator, server: SimulatorServer) -> None:
    """50 threads connecting at the same moment, one request each: every one answered 200."""
    start = threading.Barrier(50)
    statuses: list[int] = []

    def one() -> None:
        start.wait()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            conn.request("GET", "/v1/models", headers={"Authorization": "Bearer x"})
            statuses.append(conn.getresponse().status)
        finally:
            conn.close()

    threads = [threading.Thread(target=one) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * 50


def test_idle_connections_are_closed_and_their_threads_end(sim: Simulator) -> None:
    """With `idle_timeout=0.2`, idle keep-alive connections are closed: no thread is left."""
    with SimulatorServer(sim, idle_timeout=0.2) as server:
        assert server.idle_timeout == 0.2
        conns = [http.client.HTTPConnection("127.0.0.1", server.port) for _ in range(10)]
        for conn in conns:
            conn.request("GET", "/v1/models", headers={"Authorization": "Bearer x"})
            conn.getresponse().read()
        assert _connection_threads(server) == 10  # each kept open, idle
        assert _until(lambda: _connection_threads(server) == 0)
        for conn in conns:
            assert conn.sock is not None
            assert conn.sock.recv(1) == b""  # closed by the server
            conn.close()
        with openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk:
            sdk.models.list()
            assert _until(lambda: _connection_threads(server) == 0)
            assert sdk.models.list().data  # its pooled connection was closed: it reconnects
    assert sim.calls["models.list"] == 12


def test_idle_timeout_defaults_to_30_s_and_none_keeps_connections() -> None:
    """The default idle timeout is 30 s; `None` keeps idle connections; 0 is refused."""
    with SimulatorServer() as default, SimulatorServer(idle_timeout=None) as forever:
        assert (default.idle_timeout, forever.idle_timeout) == (30.0, None)
    with pytest.raises(ValueError, match="idle_timeout must be a positive number"):
        SimulatorServer(idle_timeout=0)


DEEP_JSON_ERROR = {
    "error": {
        "message": "We could not parse the JSON body of your request: it is nested too deeply.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
}


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000],
    ids=["arrays", "objects"],
)
def test_json_nested_too_deeply_is_a_400(
    sim: Simulator,
    server: SimulatorServer,
    client: openai.OpenAI,
    body: bytes,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A 100,000-deep JSON body: 400 in the API's envelope, no traceback; then business as usual."""
    status, headers, answer = _raw(
        server,
        b"POST /v1/fine_tuning/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
    )
    assert (status, headers["content-type"], answer) == (400, "application/json", DEEP_JSON_ERROR)
    assert "Traceback" not in capfd.readouterr().err
    assert client.models.list().data


def test_json_nested_too_deeply_through_the_transport(sim: Simulator) -> None:
    """The same 400 without a socket: the SDK's transport gets the API's error."""
    with httpx2.Client(transport=sim.transport("httpx2")) as http:
        response = http.post(
            "https://api.test/v1/chat/completions",
            content=b"[" * 100_000 + b"]" * 100_000,
            headers={"authorization": "Bearer x", "content-type": "application/json"},
        )
    assert (response.status_code, response.json()) == (400, DEEP_JSON_ERROR)


def test_an_absurd_content_length_is_a_413_without_reading(
    sim: Simulator, server: SimulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    """`Content-Length: 1000000000000`: 413 at once, the body unread; the server keeps serving."""
    status, headers, answer = _raw(
        server,
        b"POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\n"
        b"Content-Length: 1000000000000\r\n\r\n",
    )
    assert (status, headers["content-type"], headers["connection"]) == (
        413,
        "application/json",
        "close",
    )
    assert answer == {
        "error": {
            "message": "The request body is too large: 1,000,000,000,000 bytes; the limit is "
            "537,919,488 bytes (files over 512 MB go through the Uploads API).",
            "type": "invalid_request_error",
            "param": None,
            "code": "request_too_large",
        }
    }
    assert "Traceback" not in capfd.readouterr().err
    assert sim.calls["files.create"] == 0
    assert _get(f"{server.base_url}/models")[0] == 200


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        (b"Content-Length: 1e12\r\n", 400, "Malformed request body: invalid Content-Length '1e12'"),
        (b"Transfer-Encoding: chunked\r\n\r\nfffffffffff\r\n", 413,
         ("The request body is too large: 17,592,186,044,415 bytes; the limit is 537,919,488 "
          "bytes (files over 512 MB go through the Uploads API).")),
        (b"Content-Length: 10\r\n\r\nshort", 400,
         "Malformed request body: the body ended after 5 of 10 bytes"),
    ],
    ids=["content-length-1e12", "huge-chunk", "body-cut-short"],
)  # fmt: skip
def test_bad_bodies_get_one_clean_error(
    server: SimulatorServer,
    headers: bytes,
    status: int,
    message: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Unreadable lengths and bodies: an error in the API's envelope, never a traceback."""
    request = b"POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\n" + headers
    if b"\r\n\r\n" not in headers:
        request += b"\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(request)
        if b"short" in headers:
            conn.shutdown(socket.SHUT_WR)  # the client gives up sending
        response = http.client.HTTPResponse(conn)
        response.begin()
        answer = json.loads(response.read())
    assert (response.status, answer["error"]["message"]) == (status, message)
    assert "Traceback" not in capfd.readouterr().err
    assert _get(f"{server.base_url}/models")[0] == 200


# --- sim serve flags -----------------------------------------------------------------------------


def test_sim_serve_base64_results_and_idle_timeout() -> None:
    """`--base64-results` writes results files base64-encoded; `--idle-timeout` sets the timeout."""
    plain = _sim_server(_parser().parse_args(["sim", "serve", "--port", "0"]))
    args = ["sim", "serve", "--port", "0", "--base64-results", "--idle-timeout", "0.5"]
    encoded = _sim_server(_parser().parse_args(args))
    try:
        assert (plain.sim.timing.base64_results, plain.idle_timeout) == (False, 30.0)
        assert (encoded.sim.timing.base64_results, encoded.idle_timeout) == (True, 0.5)
        sim = encoded.sim
        sim.clock = VirtualClock()
        client = sim.client(max_retries=0)
        uploaded = client.files.create(
            file=("elle.jsonl", bundled_dataset().read_bytes()), purpose="fine-tune"
        )
        job = client.fine_tuning.jobs.create(model=MODEL, training_file=uploaded.id)
        sim.clock.sleep(1000)
        done = client.fine_tuning.jobs.retrieve(job.id)
        content = client.files.content(done.result_files[0]).read()
        assert base64.b64decode(content, validate=True).startswith(
            b"step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n1,"
        )
    finally:
        plain.stop()
        encoded.stop()
