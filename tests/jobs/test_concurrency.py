"""Exactly-once for concurrent callers: racing creators settle on one job, the per-fingerprint
lock, and events that survive a raising callback."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import anyio
import openai
import pytest
from openai.types.fine_tuning import FineTuningJob

from finetune_kit import FineTuneJob, jobs
from finetune_kit._core.create import Create, create_flow
from finetune_kit._core.drive import carry_out
from finetune_kit._core.fingerprint import FINGERPRINT_KEY
from finetune_kit._lock import LOCK_DIR_ENV, afingerprint_lock, fingerprint_lock, lock_dir
from finetune_kit.testing import Simulator
from finetune_kit.testing.server import SimulatorServer
from finetune_kit.testing.wire import SimRequest, SimResponse
from tests.jobs._helpers import (
    ELLE,
    ELLE_EVENTS,
    MODEL,
    Event,
    HarnessFactory,
    record_ids,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def locks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Lock files of these tests go to their own folder."""
    folder = tmp_path / "locks"
    monkeypatch.setenv(LOCK_DIR_ENV, str(folder))
    return folder


def _is_jobs_list(request: SimRequest) -> bool:
    return request.method == "GET" and request.path.endswith("/fine_tuning/jobs")


def _is_jobs_create(request: SimRequest) -> bool:
    return request.method == "POST" and request.path.endswith("/fine_tuning/jobs")


def ignore_metadata_filter(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `sim` a provider that ignores `metadata[...]` on `jobs.list` (lists every job)."""
    inner = sim.handle

    def handle(request: SimRequest) -> SimResponse:
        if _is_jobs_list(request):
            kept = tuple((k, v) for k, v in request.query if not k.startswith("metadata["))
            request = SimRequest(request.method, request.path, kept, request.headers, request.body)
        return inner(request)

    monkeypatch.setattr(sim, "handle", handle)


def aliens(sim: Simulator, n: int = 3) -> list[str]:
    """Jobs of other inputs (suffixes), made with the plain SDK: what an unfiltered list shows."""
    client = sim.client()
    file_id = client.files.create(file=("x.jsonl", ELLE.read_bytes()), purpose="fine-tune").id
    sim.clock.sleep(2)
    made = [
        client.fine_tuning.jobs.create(model=MODEL, training_file=file_id, suffix=f"alien{i}").id
        for i in range(n)
    ]
    client.close()
    return made


class Rival:
    """Another caller with the same inputs (another process, say), stepped command by command
    through the real command executor of `FineTuneJob.create`."""

    def __init__(self, sim: Simulator, body: dict[str, Any]) -> None:
        self.sim = sim
        self.client = sim.client()
        self.flow = create_flow(body, body["metadata"][FINGERPRINT_KEY])
        self.command: Any = next(self.flow)
        self.result: FineTuningJob | None = None

    def step(self) -> None:
        """Carry out the pending command and take the next one."""
        once = self.client.with_options(max_retries=0)
        try:
            self.command = self.flow.send(
                carry_out(
                    self.command,
                    jobs._creating(once),
                    sleep=self.sim.clock.sleep,
                    now=self.sim.clock.now,
                )
            )
        except StopIteration as stop:
            self.result = stop.value
            self.command = None

    def until_create(self) -> None:
        while not isinstance(self.command, Create):
            self.step()

    def finish(self) -> str:
        while self.result is None:
            self.step()
        self.client.close()
        return self.result.id


Order = Literal["rival-first", "ours-first"]


def race(
    sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    order: Order,
    fault: Callable[[Simulator], object] | None = None,
) -> list[Rival]:
    """When our caller sends its create, a rival has looked too (and found nothing); it creates
    just before ours (`rival-first`) or just after (`ours-first`). Then `fault` goes in: it
    meets our caller's settling."""
    rivals: list[Rival] = []
    inner = sim.handle
    busy = threading.Event()

    def handle(request: SimRequest) -> SimResponse:
        if busy.is_set() or rivals or not _is_jobs_create(request):
            return inner(request)
        busy.set()
        rival = Rival(sim, json.loads(request.body))
        rivals.append(rival)
        rival.until_create()  # its look found nothing: ours is not made yet
        if order == "rival-first":
            rival.step()
        response = inner(request)
        if order == "ours-first":
            rival.step()
        if fault is not None:
            fault(sim)
        busy.clear()
        return response

    monkeypatch.setattr(sim, "handle", handle)
    return rivals


def alive(sim: Simulator, fingerprint: str) -> list[str]:
    return [
        j.id
        for j in sim.jobs.values()
        if (j.metadata or {}).get(FINGERPRINT_KEY) == fingerprint
        and j.status not in ("cancelled", "failed")
    ]


FAULTS: dict[str, Callable[[Simulator], object] | None] = {
    "none": None,
    "list-500": lambda sim: sim.faults.server_error("jobs.list"),
    "list-timeout": lambda sim: sim.faults.timeout("jobs.list"),
    "cancel-500": lambda sim: sim.faults.server_error("jobs.cancel"),
    "cancel-500-after": lambda sim: sim.faults.server_error("jobs.cancel", after=True),
    "cancel-disconnect-after": lambda sim: sim.faults.disconnect("jobs.cancel", after=True),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("order", ["rival-first", "ours-first"])
@pytest.mark.parametrize("filtered", [True, False], ids=["filter", "no-filter"])
async def test_racing_creators_settle_on_one_job(
    make: HarnessFactory,
    monkeypatch: pytest.MonkeyPatch,
    order: Order,
    fault: str,
    *,
    filtered: bool,
) -> None:
    """Two callers look (nothing) before either creates: two jobs are made, then exactly one is
    left alive, the earlier one, and both callers are handed it; also with a provider that
    ignores the metadata filter (other jobs listed, none touched) and with a fault (500, timeout,
    a cancel that worked but failed on the way back) during the settling."""
    sim = Simulator()
    others = [] if filtered else aliens(sim)
    if not filtered:
        ignore_metadata_filter(sim, monkeypatch)
    struck: list[Any] = []
    maker = FAULTS[fault]
    rivals = race(
        sim, monkeypatch, order, None if maker is None else lambda s: struck.append(maker(s))
    )
    h = make(sim)
    job = await h.create()
    (rival,) = rivals
    rival_id = rival.finish()
    fingerprint = (job.snapshot.metadata or {})[FINGERPRINT_KEY]
    made = [j.id for j in sim.jobs.values() if j.id not in others]  # in order of creation
    assert len(made) == 2
    assert sim.calls["jobs.create"] == 2 + len(others)
    assert alive(sim, fingerprint) == [made[0]]
    assert (job.id, rival_id) == (made[0], made[0])
    assert [sim.jobs[a].status for a in others] == ["validating_files"] * len(others)
    assert [f.hits for f in struck] == ([] if maker is None else [1])  # it did strike


async def test_a_duplicate_left_by_a_crashed_caller_is_cancelled(make: HarnessFactory) -> None:
    """Two live jobs with our inputs (a caller died between creating and settling): the next
    caller adopts the earlier one and cancels the later one, which has not started."""
    sim = Simulator()
    h = make(sim)
    first = await h.create()
    client = sim.client()
    snapshot = first.snapshot
    duplicate = client.fine_tuning.jobs.create(
        model=MODEL, training_file=snapshot.training_file, metadata=snapshot.metadata
    )
    client.close()
    again = await h.create()
    assert again.id == first.id
    assert sim.jobs[duplicate.id].status == "cancelled"
    assert sim.jobs[first.id].status == "validating_files"


async def test_a_duplicate_already_training_is_warned_about(make: HarnessFactory) -> None:
    """A later duplicate that already trains is not cancelled: a RuntimeWarning names both."""
    sim = Simulator()
    h = make(sim)
    first = await h.create()
    sim.clock.sleep(100)  # running
    client = sim.client()
    duplicate = client.fine_tuning.jobs.create(
        model=MODEL, training_file=first.snapshot.training_file, metadata=first.snapshot.metadata
    )
    client.close()
    sim.clock.sleep(100)  # the duplicate runs too
    with pytest.warns(RuntimeWarning) as warned:
        again = await h.create()
    assert again.id == first.id
    assert [str(w.message) for w in warned] == [
        (
            f"fine-tuning job {duplicate.id} duplicates {first.id} (same inputs) and is already "
            "running, so it was not cancelled: cancel it if you don't want both"
        )
    ]
    assert sim.jobs[duplicate.id].status == "running"


# --- real concurrency: threads with their own clients on a real socket ------------------------


@contextlib.contextmanager
def _no_lock(fingerprint: str, *, wait: float = 0) -> Iterator[bool]:
    yield False


def _create_together(base_url: str, training: str, suffix: str, n: int) -> list[str]:
    """`n` callers, each with its own client, call `FineTuneJob.create` at one instant."""
    barrier = threading.Barrier(n)
    handed: list[str] = []
    errors: list[BaseException] = []

    def caller() -> None:
        with openai.OpenAI(base_url=base_url, api_key="x", max_retries=0) as client:
            barrier.wait()
            try:
                job = FineTuneJob.create(
                    client, model=MODEL, training=training, suffix=suffix, sleep=lambda _: None
                )
                handed.append(job.id)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return handed


@pytest.mark.parametrize("lock", ["lock", "no-lock"])
def test_concurrent_creators_on_a_real_socket(lock: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """8 callers at the same instant, 5 rounds (new inputs each): every round one job is left
    alive and all 8 callers are handed it; with the lock (one machine) and without it (the
    settling alone, as for callers on several machines)."""
    if lock == "no-lock":
        monkeypatch.setattr(jobs, "fingerprint_lock", _no_lock)
    sim = Simulator()
    with SimulatorServer(sim) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        training = client.files.create(
            file=("elle.jsonl", ELLE.read_bytes()), purpose="fine-tune"
        ).id
        client.close()
        sim.clock.sleep(5)
        outcomes = []
        for round_ in range(5):
            handed = _create_together(server.base_url, training, f"r{round_}", 8)
            made = [j for j in sim.jobs.values() if j.suffix == f"r{round_}"]
            live = [j.id for j in made if j.status != "cancelled"]
            outcomes.append((len(made) >= 1, live == [handed[0]], set(handed) == {handed[0]}))
    assert outcomes == [(True, True, True)] * 5


# --- the lock ----------------------------------------------------------------------------------


def test_the_lock_makes_same_machine_callers_take_turns(locks: Path) -> None:
    """While one holds a fingerprint's lock, another waits (or gives up after `wait`); another
    fingerprint's lock is free; the files live in `$FINETUNE_KIT_LOCK_DIR`."""
    assert lock_dir() == locks
    with fingerprint_lock("a" * 32) as held:
        assert held is True
        with fingerprint_lock("a" * 32, wait=0.05) as second:
            assert second is False
        with fingerprint_lock("b" * 32, wait=0) as other:
            assert other is True
    with fingerprint_lock("a" * 32, wait=0) as after:
        assert after is True
    assert sorted(p.name for p in locks.iterdir()) == [f"{'a' * 32}.lock", f"{'b' * 32}.lock"]


def test_the_async_lock_takes_turns_as_the_sync_one(locks: Path) -> None:
    """`afingerprint_lock` waits for a holder (here the sync lock, as another caller on this
    machine), gives up with False after `wait`, and is had once the holder lets go."""

    async def main() -> list[bool]:
        seen = []
        with fingerprint_lock("a" * 32) as held:
            seen.append(held)
            async with afingerprint_lock("a" * 32, wait=0.05) as second:
                seen.append(second)
            async with afingerprint_lock("b" * 32, wait=0) as other:
                seen.append(other)
        async with afingerprint_lock("a" * 32, wait=0) as after:
            seen.append(after)
        return seen

    assert anyio.run(main) == [True, False, True, True]


def test_the_lock_is_skipped_where_it_cannot_be_had(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lock folder that can't be made (a file is in the way): the block runs without it."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(LOCK_DIR_ENV, str(blocker / "locks"))
    with fingerprint_lock("a" * 32) as held:
        assert held is False


@pytest.fixture
def shared_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default lock folder, in a temporary directory of the test's own."""
    monkeypatch.delenv(LOCK_DIR_ENV)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path / f"finetune-kit-{os.getuid()}"


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX ownership")
def test_the_default_lock_folder_is_made_private(shared_tmp: Path) -> None:
    """Without `$FINETUNE_KIT_LOCK_DIR` the lock lives in a per-user folder that only the user
    may write into."""
    with fingerprint_lock("a" * 32, wait=0) as held:
        assert held is True
    assert lock_dir() == shared_tmp / "locks"
    assert stat.S_IMODE((shared_tmp / "locks").stat().st_mode) == 0o700
    assert [p.name for p in (shared_tmp / "locks").iterdir()] == [f"{'a' * 32}.lock"]


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX ownership")
def test_a_lock_file_that_is_a_link_is_never_followed(shared_tmp: Path, tmp_path: Path) -> None:
    """Someone put a link where the lock file goes: it is not opened (its target is left as it
    was) and the block runs without the lock."""
    (shared_tmp / "locks").mkdir(mode=0o700, parents=True)
    shared_tmp.chmod(0o700)
    target = tmp_path / "precious.txt"
    target.write_bytes(b"keep me")
    (shared_tmp / "locks" / f"{'a' * 32}.lock").symlink_to(target)
    with fingerprint_lock("a" * 32, wait=0) as held:
        assert held is False
    assert target.read_bytes() == b"keep me"


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX ownership")
def test_a_default_lock_folder_others_can_write_into_is_not_used(shared_tmp: Path) -> None:
    """A folder made by someone else (or opened to others) in the shared temporary directory is
    not trusted: no lock file is made there."""
    (shared_tmp / "locks").mkdir(parents=True)
    shared_tmp.chmod(0o777)
    with fingerprint_lock("a" * 32, wait=0) as held:
        assert held is False
    assert list((shared_tmp / "locks").iterdir()) == []


async def test_create_holds_the_lock_while_it_looks_and_creates(
    make: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`create` takes the fingerprint's lock around its look and create: held at the POST."""
    sim = Simulator()
    h = make(sim)
    inner = sim.handle
    held_at_post: list[bool] = []

    def handle(request: SimRequest) -> SimResponse:
        if _is_jobs_create(request):
            fingerprint = json.loads(request.body)["metadata"][FINGERPRINT_KEY]
            with fingerprint_lock(fingerprint, wait=0) as free:
                held_at_post.append(not free)
        return inner(request)

    monkeypatch.setattr(sim, "handle", handle)
    await h.create()
    assert held_at_post == [True]


# --- events survive a raising callback -----------------------------------------------------------


@pytest.mark.parametrize("fail_at", [1, 86, ELLE_EVENTS])
async def test_events_are_not_lost_when_on_event_raises(make: HarnessFactory, fail_at: int) -> None:
    """`on_event` raises once, at the `fail_at`-th event: `wait` raises it; a second `wait`
    hands out the rest. Every event once, in order: the one that raised was handed out."""
    sim = Simulator()
    h = make(sim)
    job = await h.create()
    sim.clock.sleep(3600)  # finished: 109 events, two pages
    got: list[Event] = []

    def once(event: Event) -> None:
        got.append(event)
        if len(got) == fail_at:
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await job.wait(on_event=once)
    assert len(got) == fail_at
    await job.wait(on_event=once)
    assert [e.id for e in got] == record_ids(sim, job.id)
    assert len(got) == ELLE_EVENTS


async def test_events_iterator_stopped_mid_page_resumes_with_since(make: HarnessFactory) -> None:
    """A consumer that breaks out of `events()` after its 40th event (mid-page) resumes with
    `since=<that id>`: the rest, each once."""
    sim = Simulator()
    h = make(sim)
    job = await h.create()
    sim.clock.sleep(3600)
    first: list[Event] = []
    inner = job.inner
    if isinstance(inner, FineTuneJob):
        for event in inner.events():
            first.append(event)
            if len(first) == 40:
                break
    else:
        async for event in inner.events():
            first.append(event)
            if len(first) == 40:
                break
    rest = await job.events(since=first[-1].id)
    assert [e.id for e in first + rest] == record_ids(sim, job.id)
    assert len(first + rest) == ELLE_EVENTS
