"""A real HTTP server speaking the simulator's API, for clients in any process or language.

Standard library only: the platform's server (`finetune_kit.platform.server`) with a
`Simulator` behind it.

```python
from finetune_kit.testing import Simulator
from finetune_kit.testing.server import SimulatorServer

sim = Simulator()
with SimulatorServer(sim) as server:            # 127.0.0.1, a free port
    client = openai.OpenAI(base_url=server.base_url, api_key="anything")
    ...
```

From a terminal: `finetune-kit sim serve --port 8000 --speed 60`, then point any client at
`OPENAI_BASE_URL=http://127.0.0.1:8000/v1`.
"""

from __future__ import annotations

from finetune_kit.platform.server import IDLE_TIMEOUT, MAX_BODY_BYTES, PlatformServer
from finetune_kit.testing.simulator import Simulator

__all__ = ["MAX_BODY_BYTES", "SimulatorServer"]


class SimulatorServer(PlatformServer):
    """The simulator on a real socket: an HTTP server any client can talk to.

    The port is bound when the server is created (port 0 picks a free one, see `port`);
    `start()` serves from a background thread, `serve_forever()` from the calling thread.
    Each connection gets its own thread; the simulator serialises the requests.

    The listen backlog holds 1024 pending connects (bursts are not dropped), and a connection
    idle for `idle_timeout` seconds is closed, so its thread ends. Bodies over `MAX_BODY_BYTES`
    (announced by `Content-Length`) are refused with 413 without being read.

    Faults are carried to the socket: a `disconnect` fault closes the connection without a
    response, and so does a `timeout` fault (holding the request until the client's read timeout
    expires would make tests slow), so clients see `openai.APIConnectionError` for both. Latency
    (`sim.faults.latency`) waits on the simulator's clock before answering.

    Example:
        ```python
        sim = Simulator()
        with SimulatorServer(sim) as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="anything")
            job = client.fine_tuning.jobs.create(model=..., training_file=...)
            sim.clock.sleep(3600)                 # virtual time: an hour passes at once
            client.fine_tuning.jobs.retrieve(job.id).status   # 'succeeded'
        ```

    Args:
        sim: The simulator to serve (default: a new `Simulator()` on virtual time, whose clock
            only moves when your code moves it; pass `Simulator(clock=ScaledClock(60))` for a
            server whose jobs progress by themselves).
        host: The address to listen on: loopback only unless you pass another one
            (`"0.0.0.0"` exposes the simulator to your network).
        port: The TCP port; 0 (the default) picks a free one.
        verbose: Log every request to stderr, as `http.server` does.
        idle_timeout: Seconds a connection may sit idle between requests (or stall within one)
            before the server closes it and ends its thread (default 30; `None`: never).
            Clients reconnect by themselves, as they do when any server closes an idle
            keep-alive connection.

    Raises:
        OSError: The address can't be bound (e.g. the port is in use).
        ValueError: `idle_timeout` is not a positive number (nor `None`).

    Added in 0.1.0.
    """

    name = "finetune-kit-simulator"
    label = "simulator"

    def __init__(
        self,
        sim: Simulator | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
        idle_timeout: float | None = IDLE_TIMEOUT,
    ) -> None:
        self.sim: Simulator = sim if sim is not None else Simulator()
        """The simulator answering the requests."""
        super().__init__(self.sim, host=host, port=port, verbose=verbose, idle_timeout=idle_timeout)
