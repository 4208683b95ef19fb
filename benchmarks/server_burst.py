"""Measure how `SimulatorServer` copes with bursts of connections (latency, threads left over).

    uv run python benchmarks/server_burst.py                   # 50-connect burst; 200 x 5 load
    uv run python benchmarks/server_burst.py --clients 100     # a smaller load test

Two runs against one server on loopback, each client a thread with its own keep-alive
connection (`http.client`), each request `GET /v1/models`:

- burst: N clients connect at the same moment (a barrier) and send one request each;
- load: M clients each send R requests on their connection, all at once.

Printed: p50 and max latency of a request (connect included for the first one), how many took
1 s or more (a SYN dropped by a full listen backlog is retried after 1 s, then 3 s, then 7 s),
failures, and the server's connection threads still alive after the clients are done: the
clients keep their connections open and idle, as an SDK's connection pool does, and each holds
a server thread until the server's idle timeout closes it.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import threading
import time
from collections.abc import Callable

from finetune_kit.testing import Simulator, SimulatorServer


def _connection_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.endswith("-conn"))


def _client(  # noqa: PLR0917 - a private helper, called once
    port: int,
    requests: int,
    start: threading.Barrier,
    times: list[float],
    errors: list[str],
    held: list[http.client.HTTPConnection],
) -> Callable[[], None]:
    def run() -> None:
        start.wait()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for _ in range(requests):
                t0 = time.perf_counter()
                conn.request("GET", "/v1/models", headers={"Authorization": "Bearer x"})
                response = conn.getresponse()
                response.read()
                times.append(time.perf_counter() - t0)
                if response.status != 200:
                    errors.append(str(response.status))
        except OSError as exc:
            errors.append(repr(exc))
        held.append(conn)  # left open, idle, as a client's connection pool does

    return run


def measure(port: int, clients: int, requests: int, held: list[http.client.HTTPConnection]) -> str:
    """Run `clients` threads of `requests` requests each; a line of results."""
    times: list[float] = []
    errors: list[str] = []
    start = threading.Barrier(clients)
    threads = [
        threading.Thread(target=_client(port, requests, start, times, errors, held))
        for _ in range(clients)
    ]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    times.sort()
    slow = sum(1 for t in times if t >= 1.0)
    return (
        f"{clients} clients x {requests} requests: {len(times)} answered in {wall:.2f} s, "
        f"p50 {statistics.median(times) * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms, "
        f"{slow} took >= 1 s, {len(errors)} failed"
    )


def main() -> int:
    """Run the burst and the load test; print the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst", type=int, default=50, help="clients in the connect burst")
    parser.add_argument("--clients", type=int, default=200, help="clients in the load test")
    parser.add_argument("--requests", type=int, default=5, help="requests per load-test client")
    parser.add_argument(
        "--idle-timeout", type=float, default=None, help="the server's idle timeout (seconds)"
    )
    args = parser.parse_args()
    options = {} if args.idle_timeout is None else {"idle_timeout": args.idle_timeout}
    held: list[http.client.HTTPConnection] = []
    with SimulatorServer(Simulator(), **options) as server:
        print(f"python {sys.version.split()[0]}, server on port {server.port}")
        print("burst:", measure(server.port, args.burst, 1, held))
        print("load: ", measure(server.port, args.clients, args.requests, held))
        for wait in (0.5, 2.0):
            time.sleep(wait)
            print(f"connection threads alive after {wait} s more: {_connection_threads()}")
        for conn in held:
            conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
