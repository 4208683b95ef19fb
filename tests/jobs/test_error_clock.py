"""A failed call is classified on the client's clock, not the wall clock: a `Retry-After` given as
an HTTP date is waited out to that date on the simulator's virtual clock (sync and async alike).

On the wall clock the date (on the virtual clock) would be long past or far ahead: the wait
would be the backoff, or months.
"""

from __future__ import annotations

import email.utils
from typing import Literal

import pytest

from finetune_kit.platform.faults import Fault
from finetune_kit.platform.wire import error_body
from finetune_kit.testing import Simulator
from tests.jobs._helpers import HarnessFactory

pytestmark = pytest.mark.anyio

AHEAD = 90
"""How far ahead of the simulator's clock the Retry-After date is, in seconds."""


def rate_limit_until(sim: Simulator, route: str) -> int:
    """One 429 on `route` whose Retry-After is the date `AHEAD` s from now on `sim`'s clock."""
    until = int(sim.clock.now()) + AHEAD
    body = error_body("Rate limit reached.", type_="requests", code="rate_limit_exceeded")
    headers = {"retry-after": email.utils.formatdate(until, usegmt=True)}
    sim.faults.add(Fault(route, status=429, headers=headers, body=body))
    return until


Operation = Literal["upload", "create", "wait", "events"]


@pytest.mark.parametrize(
    ("operation", "route"),
    [
        ("upload", "files.retrieve"),
        ("create", "jobs.create"),
        ("wait", "jobs.retrieve"),
        ("events", "jobs.events"),
    ],
)
async def test_an_http_date_retry_after_is_read_on_the_clients_clock(
    make: HarnessFactory, operation: Operation, route: str
) -> None:
    """The wait after the 429 ends exactly at the date: the date minus the virtual time of the
    call (the time slept before it)."""
    sim = Simulator()
    h = make(sim, max_retries=0)  # the SDK's own retries would take the 429
    start = sim.clock.now()
    if operation in ("upload", "create"):
        until = rate_limit_until(sim, route)
        job = await h.create()
    else:
        job = await h.create()
        h.sleeps.delays.clear()
        start = sim.clock.now()
        until = rate_limit_until(sim, route)
        if operation == "wait":
            await job.wait()
        else:
            await job.events(follow=True)
    # Sleeps before the 429: upload, the first look at the file (1 s); create, the looks until
    # the file is processed (1 s, 1.5 s); wait and events, none (their first look is at once).
    index = {"upload": 1, "create": 2, "wait": 0, "events": 0}[operation]
    called_at = start + sum(h.sleeps.delays[:index])
    assert h.sleeps.delays[index] == until - called_at
    assert 0 < h.sleeps.delays[index] <= AHEAD
    assert job.status == "succeeded" or operation in ("upload", "create")
