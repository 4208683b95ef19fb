"""Scriptable faults: per route and per call, HTTP errors, transport failures and latency.

Route names: `files.create`, `files.list`, `files.retrieve`, `files.delete`, `files.content`,
`uploads.create`, `uploads.parts`, `uploads.complete`, `uploads.cancel`, `jobs.create`,
`jobs.list`, `jobs.retrieve`, `jobs.cancel`, `jobs.pause`, `jobs.resume`, `jobs.events`,
`jobs.checkpoints`, `models.list`, `models.retrieve`, `models.delete`, `chat.create`,
`batches.create`, `batches.list`, `batches.retrieve`, `batches.cancel`, and Azure's management
API `deployments.create`, `deployments.retrieve`, `deployments.delete`; `"*"` matches all.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal

from finetune_kit.platform.wire import error_body

__all__ = ["Fault", "Faults", "JobFault"]

FaultKind = Literal["status", "timeout", "disconnect"]


@dataclass(slots=True)
class Fault:
    """One scripted fault.

    Added in 0.1.0.
    """

    route: str
    """The route name it applies to, or `"*"`."""
    kind: FaultKind = "status"
    """`"status"` answers `status`; `"timeout"` and `"disconnect"` fail the transport."""
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    """The error body (default: the API's envelope for the status)."""
    after: bool = False
    """Carry the request out first, then fail: the client can't know it succeeded."""
    times: int | None = 1
    """How many matching calls fail (`None`: every one)."""
    skip: int = 0
    """Let this many matching calls through first."""
    hits: int = 0
    """Calls this fault has failed so far."""

    def _take(self) -> bool:
        if self.skip > 0:
            self.skip -= 1
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        self.hits += 1
        return True


@dataclass(slots=True)
class JobFault:
    """How the next created job(s) will misbehave.

    Added in 0.1.0.
    """

    kind: Literal["invalid_file", "moderation", "stuck", "fail"]
    code: str | None = None
    message: str | None = None
    times: int | None = 1


class Faults:
    """The fault plan of a platform: add faults, and the matching calls fail.

    Example:
        ```python
        sim.faults.server_error("jobs.create", after=True)   # the duplicate-job trap
        sim.faults.rate_limit("jobs.retrieve", retry_after=130, times=3)
        sim.faults.latency(0.1)                               # every call takes 100 ms
        ```

    Added in 0.1.0.
    """

    def __init__(self, seed: int = 0) -> None:
        self._faults: list[Fault] = []
        self._job_faults: list[JobFault] = []
        self._latency: tuple[float, float, str] | None = None
        self._not_ready: list[Fault] = []
        self._rng = random.Random(seed)

    def add(self, fault: Fault) -> Fault:
        """Add a fault; return it (its `hits` count as calls fail)."""
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault, job fault and the latency model."""
        self._faults.clear()
        self._job_faults.clear()
        self._not_ready.clear()
        self._latency = None

    # --- presets ------------------------------------------------------------------------

    def server_error(
        self,
        route: str,
        *,
        status: int = 500,
        after: bool = False,
        times: int | None = 1,
        skip: int = 0,
    ) -> Fault:
        """Answer 5xx (after carrying the request out when `after`)."""
        return self.add(Fault(route, status=status, after=after, times=times, skip=skip))

    def rate_limit(
        self,
        route: str = "*",
        *,
        retry_after: float | None = 1.0,
        code: str = "rate_limit_exceeded",
        times: int | None = 1,
        skip: int = 0,
    ) -> Fault:
        """Answer 429 with `Retry-After` (seconds; over 120 s the openai SDK gives up)."""
        headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
        body = error_body(
            "Rate limit reached for requests. Please try again later.", type_="requests", code=code
        )
        return self.add(
            Fault(route, status=429, headers=headers, body=body, times=times, skip=skip)
        )

    def daily_job_limit(self, *, retry_after: float = 6 * 3600, times: int | None = 1) -> Fault:
        """Refuse job creation with the daily job limit (429 `daily_rate_limit_exceeded`)."""
        body = error_body(
            "You have reached the maximum number of fine-tuning jobs you can create today.",
            type_="invalid_request_error",
            code="daily_rate_limit_exceeded",
        )
        return self.add(
            Fault(
                "jobs.create",
                status=429,
                headers={"retry-after": f"{retry_after:g}"},
                body=body,
                times=times,
            )
        )

    def permission_denied(self, route: str = "jobs.create", *, times: int | None = None) -> Fault:
        """Refuse with 403, as OpenAI does for organisations shut out of fine-tuning."""
        body = error_body(
            "You do not have access to fine-tuning. Self-serve fine-tuning is no longer available "
            "to this organization.",
            type_="invalid_request_error",
            code="permission_denied",
        )
        return self.add(Fault(route, status=403, body=body, times=times))

    def timeout(
        self, route: str, *, after: bool = False, times: int | None = 1, skip: int = 0
    ) -> Fault:
        """Fail the transport with a read timeout (after carrying the request out when `after`)."""
        return self.add(Fault(route, kind="timeout", after=after, times=times, skip=skip))

    def disconnect(
        self, route: str, *, after: bool = False, times: int | None = 1, skip: int = 0
    ) -> Fault:
        """Drop the connection (after carrying the request out when `after`)."""
        return self.add(Fault(route, kind="disconnect", after=after, times=times, skip=skip))

    def file_not_ready(self, *, times: int | None = None) -> Fault:
        """Refuse jobs whose files are still being processed: 400 `file_not_ready`.

        By default the simulator, like the API, takes a job created right after its upload and
        validates the file once it is processed. Some API versions and compatible servers
        refuse it instead ("File not ready"); this fault makes the simulator do so, naming the
        file, for the next `times` such creations (`None`: for as long as the fault stays).
        Jobs whose files are processed are not affected.
        """
        fault = Fault("jobs.create", status=400, times=times)
        self._not_ready.append(fault)
        return fault

    def latency(self, seconds: float, *, jitter: float = 0.0, route: str = "*") -> None:
        """Make every matching call take `seconds` (± up to `jitter`), on the simulator's clock."""
        self._latency = (seconds, jitter, route)

    def fail_next_job(
        self,
        kind: Literal["invalid_file", "moderation", "stuck", "fail"] = "fail",
        *,
        code: str | None = None,
        message: str | None = None,
        times: int | None = 1,
    ) -> JobFault:
        """Make the next created job(s) fail file validation, fail moderation, fail, or stay queued."""
        fault = JobFault(kind, code, message, times)
        self._job_faults.append(fault)
        return fault

    # --- used by the platform ---------------------------------------------------------------

    def match(self, route: str) -> Fault | None:
        """The fault that takes this call, if any (consumes one of its hits)."""
        for fault in self._faults:
            if fault.route in (route, "*") and fault._take():  # noqa: SLF001
                return fault
        return None

    def delay(self, route: str) -> float:
        """The latency of this call."""
        if self._latency is None:
            return 0.0
        seconds, jitter, which = self._latency
        if which not in (route, "*"):
            return 0.0
        return max(0.0, seconds + (self._rng.uniform(-jitter, jitter) if jitter else 0.0))

    def take_file_not_ready(self) -> bool:
        """Whether a job whose file is still processing is refused (consumes one refusal)."""
        return any(fault._take() for fault in self._not_ready)  # noqa: SLF001

    def take_job_fault(self) -> JobFault | None:
        """The job fault for a job being created, if any."""
        for fault in self._job_faults:
            if fault.times is None or fault.times > 0:
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None
