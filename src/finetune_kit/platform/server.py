"""A real HTTP server speaking a platform's API, for clients in any process or language.

Standard library only: a `ThreadingHTTPServer` whose handler turns each request into a
`Request`, asks the platform's `handle` and writes the `Response` back. `SimulatorServer`
(`finetune_kit.testing.server`) is this server with a `Simulator` behind it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import sys
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from finetune_kit.platform.wire import Answering, ApiError, Request, Response, error_body

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["IDLE_TIMEOUT", "MAX_BODY_BYTES", "PlatformServer"]

_POLL_INTERVAL = 0.05
"""Seconds between checks for `stop()` in the serving loop (how long `stop()` may wait)."""

_HOP_BY_HOP = frozenset({"connection", "content-length", "keep-alive", "transfer-encoding"})
"""Headers the server sets itself, whatever the platform's response says."""

MAX_BODY_BYTES = 513 * 1024 * 1024
"""The largest request body the server reads: the API's 512 MB file limit, plus room for the
multipart envelope around such a file. A larger `Content-Length` is answered 413 unread."""

IDLE_TIMEOUT = 30.0
"""Default seconds a connection may sit idle (or stall mid-request) before the server closes it."""

_READ_CHUNK = 1024 * 1024
"""Bodies are read this much at a time: memory follows what arrives, not what is announced."""

_WILDCARDS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}  # noqa: S104
"""Bind-to-all addresses, and the loopback address a client on this machine uses instead."""


class _HTTPServer(ThreadingHTTPServer):
    """A `ThreadingHTTPServer` that knows its platform and its open connections."""

    daemon_threads = True
    request_queue_size = 1024
    """The listen backlog (`socketserver`'s default, 5, drops connects in a burst: the client's
    SYN is retried after 1 s, 3 s, 7 s). The kernel caps it at `net.core.somaxconn`."""

    def __init__(
        self,
        address: tuple[str, int],
        sim: Answering,
        *,
        name: str,
        label: str,
        verbose: bool,
        family: int,
        idle_timeout: float | None,
    ) -> None:
        self.address_family = socket.AddressFamily(family)
        self.sim = sim
        self.name = name
        self.label = label
        self.verbose = verbose
        self.idle_timeout = idle_timeout
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without `HTTPServer`'s reverse DNS lookup of the host (`socket.getfqdn`)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Track the connection, so that `close_connections` can end it, then serve it."""
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection and close it."""
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End every open connection (idle keep-alive ones included) so their threads finish."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client or its handler
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that went away; report anything else as `socketserver` does."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _BodyTooLargeError(Exception):
    """The announced body is over `MAX_BODY_BYTES`."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class _Handler(BaseHTTPRequestHandler):
    """Translates one HTTP exchange to the platform's `handle` and back."""

    server: _HTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    disable_nagle_algorithm = True  # headers and body are two writes: don't wait for an ACK
    sys_version = ""

    def setup(self) -> None:
        """Name the connection's thread and apply the idle timeout to its socket."""
        threading.current_thread().name = f"{self.server.name}-{self.server.server_port}-conn"
        self.server_version = f"{self.server.name}/0.1.0"
        super().setup()
        # A read or write that waits longer raises TimeoutError, which `handle_one_request`
        # turns into closing the connection: the thread ends.
        self.connection.settimeout(self.server.idle_timeout)

    def handle_request(self) -> None:
        """Answer the request just parsed (every method goes through here)."""
        try:
            body = self._read_body()
        except _BodyTooLargeError as exc:
            self.close_connection = True  # the body was not read: the connection can't be reused
            self._send(
                ApiError(
                    413,
                    f"The request body is too large: {exc.size:,} bytes; the limit is "
                    f"{MAX_BODY_BYTES:,} bytes (files over 512 MB go through the Uploads API).",
                    code="request_too_large",
                ).response()
            )
            return
        except ValueError as exc:
            self.close_connection = True
            self._send(ApiError(400, f"Malformed request body: {exc}").response())
            return
        parts = urlsplit(self.path)
        request = Request.build(
            self.command,
            unquote(parts.path),
            parts.query,
            dict(self.headers.items()),
            body,
            streaming=True,
        )
        sim = self.server.sim
        try:
            response = sim.handle(request)
        except Exception as exc:  # noqa: BLE001 - a platform bug must still get an answer
            traceback.print_exc()
            response = ApiError(500, f"The {self.server.label} failed: {exc!r}").response()
        # A streamed body holds the platform until it ends: close it whatever happens here.
        with contextlib.closing(_Closable(response.chunks)):
            if response.delay:
                sim.clock.sleep(response.delay)
            if response.fault is not None:
                # Both faults end the connection without a response: the client sees the server
                # disconnect (openai.APIConnectionError), at once rather than after its read
                # timeout.
                self.log_message(
                    '"%s" %s: closed without a response', self.requestline, response.fault
                )
                self.close_connection = True
                return
            if response.chunks is None:
                self._send(response)
            else:
                self._send_streamed(response, response.chunks)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_request  # noqa: N815

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("content-length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise ValueError(f"invalid Content-Length {length!r}") from None
        if size < 0:
            raise ValueError(f"invalid Content-Length {length!r}")
        if size > MAX_BODY_BYTES:
            raise _BodyTooLargeError(size)
        chunks: list[bytes] = []
        left = size
        while left > 0:
            chunk = self.rfile.read(min(left, _READ_CHUNK))
            if not chunk:
                raise ValueError(f"the body ended after {size - left} of {size} bytes")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(65537).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise ValueError(f"invalid chunk size {line!r}") from None
            if size == 0:
                break
            total += size
            if size < 0 or total > MAX_BODY_BYTES:
                raise _BodyTooLargeError(total)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after the chunk
        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(chunks)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _send_streamed(self, response: Response, chunks: Iterator[bytes]) -> None:
        """Send each chunk as it comes: HTTP/1.1 chunked encoding (HTTP/1.0: until closed).

        Once the status is sent an error can't become one: a failure of the stream ends it
        with an `error` event in the API's envelope (the SDK raises `openai.APIError` with its
        message), and the response still ends properly.
        """
        chunked = self.request_version != "HTTP/1.0"
        if not chunked:
            self.close_connection = True
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        frame = _chunk if chunked else bytes
        while True:
            try:
                data = next(chunks)
            except StopIteration:
                break
            except Exception as exc:  # noqa: BLE001 - the client must hear how the stream ended
                self.wfile.write(frame(self._error_event(exc)))
                break
            if data:  # an empty chunk would end a chunked body
                self.wfile.write(frame(data))
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _error_event(self, exc: Exception) -> bytes:
        if isinstance(exc, ApiError):
            body = exc.response().body
        else:
            traceback.print_exc()
            message = f"The {self.server.label} failed while streaming: {exc!r}"
            body = json.dumps(error_body(message, type_="server_error")).encode()
        self.log_message('"%s" stream failed: %s', self.requestline, body.decode())
        return b"data: " + body + b"\n\n"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Log to stderr only when the server is verbose."""
        if self.server.verbose:
            super().log_message(format, *args)


def _chunk(data: bytes) -> bytes:
    """`data` as one chunk of a chunked body."""
    return b"%x\r\n%b\r\n" % (len(data), data)


class _Closable:
    """`close()` for a response's streamed body, if any (releasing the platform)."""

    def __init__(self, chunks: Iterator[bytes] | None) -> None:
        self._chunks = chunks

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


class PlatformServer:
    """A platform on a real socket: an HTTP server any client can talk to.

    The port is bound when the server is created (port 0 picks a free one, see `port`);
    `start()` serves from a background thread, `serve_forever()` from the calling thread.
    Each connection gets its own thread; the platform serialises the requests.

    The listen backlog holds 1024 pending connects (bursts are not dropped), and a connection
    idle for `idle_timeout` seconds is closed, so its thread ends. Bodies over `MAX_BODY_BYTES`
    (announced by `Content-Length`) are refused with 413 without being read. Faults are carried
    to the socket: a `disconnect` or `timeout` fault closes the connection without a response.
    A streamed chat completion (`stream: true`) is sent event by event as the engine makes
    them (chunked transfer encoding), the platform answering nothing else meanwhile; should
    the engine fail once it has begun, the stream ends with an `error` event.

    Args:
        platform: What answers (a `Platform`, or anything with `handle` and `clock`).
        host: The address to listen on: loopback only unless you pass another one.
        port: The TCP port; 0 (the default) picks a free one.
        verbose: Log every request to stderr, as `http.server` does.
        idle_timeout: Seconds a connection may sit idle between requests (or stall within one)
            before the server closes it (default 30; `None`: never).

    Raises:
        OSError: The address can't be bound (e.g. the port is in use).
        ValueError: `idle_timeout` is not a positive number (nor `None`).

    Added in 0.1.0.
    """

    name = "finetune-kit-platform"
    """Names the server's threads and its `Server` header."""
    label = "platform"
    """What the server's errors call what answers."""

    def __init__(
        self,
        platform: Answering,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
        idle_timeout: float | None = IDLE_TIMEOUT,
    ) -> None:
        if idle_timeout is not None and not idle_timeout > 0:
            raise ValueError(
                f"idle_timeout must be a positive number of seconds or None, not {idle_timeout!r}"
            )
        self.platform: Answering = platform
        """What answers the requests."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._httpd = _HTTPServer(
            (host, port),
            platform,
            name=self.name,
            label=self.label,
            verbose=verbose,
            family=family,
            idle_timeout=idle_timeout,
        )
        self._lock = threading.Lock()
        self._loop: threading.Thread | None = None
        """The thread running the serving loop, once serving."""
        self._background = False
        self._stopped = False

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "serving" if self._loop is not None else "bound"
        return f"<{type(self).__name__} {self.url} {state}>"

    @property
    def host(self) -> str:
        """The address the server is bound to."""
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        """The port the server is bound to (the one chosen when created with port 0)."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The server's root URL, e.g. `http://127.0.0.1:8000`.

        A server bound to every address (`0.0.0.0`, `::`) gives its loopback URL.
        """
        host = _WILDCARDS.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API's base URL, `url + "/v1"`: what `OPENAI_BASE_URL` or `base_url=` takes."""
        return f"{self.url}/v1"

    @property
    def idle_timeout(self) -> float | None:
        """Seconds an idle connection is kept open (`None`: forever)."""
        return self._httpd.idle_timeout

    @property
    def running(self) -> bool:
        """Whether the server is accepting requests."""
        return self._loop is not None and not self._stopped

    def start(self) -> Self:
        """Serve from a background (daemon) thread; return the server.

        Calling it again while serving does nothing.

        Raises:
            RuntimeError: The server was stopped, or is serving with `serve_forever()`.
        """
        with self._lock:
            self._check_can_serve()
            if self._loop is None:
                self._background = True
                self._loop = threading.Thread(
                    target=self._httpd.serve_forever,
                    kwargs={"poll_interval": _POLL_INTERVAL},
                    name=f"{self.name}-{self.port}",
                    daemon=True,
                )
                self._loop.start()
        return self

    def serve_forever(self) -> None:
        """Serve from the calling thread until `stop()` is called or an exception (Ctrl-C).

        The server is stopped when this returns.

        Raises:
            RuntimeError: The server was stopped, or is already serving.
        """
        with self._lock:
            self._check_can_serve()
            if self._loop is not None:
                raise RuntimeError(f"the {type(self).__name__} is already serving")
            self._loop = threading.current_thread()
        try:
            self._httpd.serve_forever(poll_interval=_POLL_INTERVAL)
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving, end open connections and release the port.

        Waits for requests being answered to finish. Calling it again does nothing; a stopped
        server can't be started again.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            loop = self._loop
        current = threading.current_thread()
        if loop is not None and loop is not current:
            self._httpd.shutdown()  # waits for the loop to notice, at most _POLL_INTERVAL
        self._httpd.close_connections()
        self._httpd.server_close()  # closes the listening socket, joins the handler threads
        if self._background and loop is not None and loop is not current:
            loop.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _check_can_serve(self) -> None:
        if self._stopped:
            raise RuntimeError(
                f"a stopped {type(self).__name__} can't serve again: create a new one"
            )
        if self._loop is not None and not self._background:
            raise RuntimeError(f"the {type(self).__name__} is serving with serve_forever()")
