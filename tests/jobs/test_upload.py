"""Uploading training data, sync and async alike: validation, dedupe, processing, multipart."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import inspect
import json
import math
import re
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.lowlevel
import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types import FileObject

import finetune_kit.files as files_module
from finetune_kit import FineTuneJob
from finetune_kit._core.files import PartPlan
from finetune_kit.cli.main import bundled_dataset
from finetune_kit.dataset import Dataset
from finetune_kit.exceptions import (
    ConfigurationError,
    DatasetError,
    FileRejectedError,
    WaitTimeoutError,
)
from finetune_kit.files import Source, UploadOptions, aupload, upload
from finetune_kit.testing import Simulator
from finetune_kit.testing.clock import VirtualClock
from finetune_kit.testing.records import Timing

pytestmark = pytest.mark.anyio

Twin = Literal["sync", "async"]

ELLE: Path = bundled_dataset()
ELLE_BYTES = ELLE.read_bytes()
ELLE_SIZE = 4021
ELLE_TAG = hashlib.sha256(ELLE_BYTES).hexdigest()[:20]
ELLE_MD5 = hashlib.md5(ELLE_BYTES, usedforsecurity=False).hexdigest()
PROCESSING = 2.5
"""Virtual seconds slept until a fresh file is processed: polls after 1 s and 1.5 s (sim: 2 s)."""


class Uploader:
    """`upload` / `Dataset.upload` or `aupload` / `Dataset.aupload` behind one awaitable interface."""

    def __init__(self, sim: Simulator, flavour: Twin) -> None:
        self.sim = sim
        self.flavour = flavour
        self.client: OpenAI | AsyncOpenAI = (
            sim.client(max_retries=0) if flavour == "sync" else sim.async_client(max_retries=0)
        )

    async def upload(self, source: Source, **options: Any) -> FileObject:
        """`finetune_kit.files.upload` / `aupload` with the simulator's virtual sleep."""
        opts = UploadOptions(**options)
        if isinstance(self.client, OpenAI):
            return upload(self.client, source, opts, sleep=self.sim.clock.sleep)
        return await aupload(self.client, source, opts, sleep=self.sim.clock.asleep)

    async def dataset_upload(self, dataset: Dataset, **options: Any) -> FileObject:
        """`Dataset.upload` / `Dataset.aupload` with the simulator's virtual sleep."""
        result: object
        if isinstance(self.client, OpenAI):
            result = dataset.upload(self.client, sleep=self.sim.clock.sleep, **options)
        else:
            result = await dataset.aupload(self.client, sleep=self.sim.clock.asleep, **options)
        assert isinstance(result, FileObject)
        return result

    async def close(self) -> None:
        if isinstance(self.client, AsyncOpenAI):
            await self.client.close()
        else:
            self.client.close()


@contextlib.asynccontextmanager
async def make(sim: Simulator, flavour: Twin) -> AsyncIterator[Uploader]:
    """An uploader of `flavour` on `sim`, closed on the way out."""
    uploader = Uploader(sim, flavour)
    try:
        yield uploader
    finally:
        await uploader.close()


@pytest.fixture
def sim() -> Simulator:
    return Simulator()


@pytest.fixture
async def up(sim: Simulator, flavour: Twin) -> AsyncIterator[Uploader]:
    async with make(sim, flavour) as uploader:
        yield uploader


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private temporary directory for the uploader's temporary files."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def slept(sim: Simulator) -> float:
    """Virtual seconds slept so far."""
    assert isinstance(sim.clock, VirtualClock)
    return sim.clock.slept


def leftovers(directory: Path) -> list[Path]:
    """What is left in `directory`."""
    return list(directory.iterdir())


def write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def invalid_dataset(tmp_path: Path) -> Path:
    """Elle plus a row with an empty `messages` list: JSON the provider parses, a dataset error."""
    return write(tmp_path / "invalid.jsonl", ELLE_BYTES.rstrip(b"\n") + b'\n{"messages": []}\n')


def elle_rows() -> list[dict[str, Any]]:
    return list(Dataset.from_jsonl(ELLE))


# --- validation first -------------------------------------------------------------------------


async def test_invalid_data_is_not_uploaded(up: Uploader, sim: Simulator, tmp_path: Path) -> None:
    """Data with errors raises DatasetError before any request: nothing is uploaded."""
    path = invalid_dataset(tmp_path)
    with pytest.raises(DatasetError) as info:
        await up.upload(path)
    assert info.value.line == 11
    with pytest.raises(DatasetError):
        await up.dataset_upload(Dataset.from_jsonl(path))
    with pytest.raises(DatasetError):
        await up.upload(str(path))
    assert sim.calls["files.create"] == 0
    assert sum(sim.calls.values()) == 0


async def test_force_uploads_invalid_data(up: Uploader, sim: Simulator, tmp_path: Path) -> None:
    """`force=True` skips validation and uploads the file as it is."""
    path = invalid_dataset(tmp_path)
    file = await up.upload(path, force=True)
    assert sim.calls["files.create"] == 1
    assert file.status == "processed"
    assert sim.files[file.id].content == path.read_bytes()


# --- naming and dedupe ------------------------------------------------------------------------


async def test_remote_name_carries_the_content_tag(up: Uploader, sim: Simulator) -> None:
    """The remote file is `<stem>.ftk-<20 hex of sha256>.jsonl`, with the exact bytes."""
    file = await up.upload(ELLE)
    assert file.filename == f"elle.ftk-{ELLE_TAG}.jsonl"
    assert re.fullmatch(r"elle\.ftk-[0-9a-f]{20}\.jsonl", file.filename)
    assert (file.purpose, file.bytes) == ("fine-tune", ELLE_SIZE)
    assert sim.files[file.id].content == ELLE_BYTES


async def test_records_are_named_records(up: Uploader, sim: Simulator, scratch: Path) -> None:
    """In-memory rows are uploaded as `records.ftk-<tag>.jsonl`; the temporary file is removed."""
    file = await up.dataset_upload(Dataset.from_records(elle_rows()))
    content = sim.files[file.id].content
    assert content == b"".join(
        json.dumps(row, ensure_ascii=False).encode() + b"\n" for row in elle_rows()
    )
    assert file.filename == f"records.ftk-{hashlib.sha256(content).hexdigest()[:20]}.jsonl"
    assert leftovers(scratch) == []


async def test_same_bytes_from_another_path_are_reused(
    up: Uploader, sim: Simulator, tmp_path: Path
) -> None:
    """The same bytes uploaded again, from another path or as a Dataset, reuse the first file."""
    first = await up.upload(ELLE)
    copy = write(tmp_path / "copy-of-elle.jsonl", ELLE_BYTES)
    second = await up.upload(copy)
    third = await up.dataset_upload(Dataset.from_jsonl(copy))
    assert second.id == third.id == first.id
    assert second.filename == f"elle.ftk-{ELLE_TAG}.jsonl"
    assert second.status == "processed"
    assert sim.calls["files.create"] == 1
    assert len(sim.files) == 1


async def test_a_jsonl_gz_uploads_its_decompressed_jsonl(
    up: Uploader, sim: Simulator, tmp_path: Path, scratch: Path
) -> None:
    """A .jsonl.gz uploads the decompressed JSONL (the API takes .jsonl), named without .gz: the
    same file as the plain one, so either reuses the other; no temporary file is left behind."""
    gz = write(tmp_path / "elle.jsonl.gz", gzip.compress(ELLE_BYTES))
    file = await up.upload(gz)
    assert (file.filename, file.bytes) == (f"elle.ftk-{ELLE_TAG}.jsonl", ELLE_SIZE)
    assert sim.files[file.id].content == ELLE_BYTES
    assert (await up.upload(ELLE)).id == file.id
    assert (await up.dataset_upload(Dataset.from_jsonl(gz))).id == file.id
    assert sim.calls["files.create"] == 1
    assert leftovers(scratch) == []


def test_a_job_on_a_jsonl_gz_is_the_job_on_the_plain_file(tmp_path: Path) -> None:
    """`FineTuneJob.create` identifies a .jsonl.gz by its JSONL: the same data is one upload and
    one job, whichever form it is given in (exactly once across re-runs)."""
    sim = Simulator()
    client = sim.client()
    gz = write(tmp_path / "elle.jsonl.gz", gzip.compress(ELLE_BYTES))
    model = "gpt-4o-mini-2024-07-18"
    first = FineTuneJob.create(client, model=model, training=gz, sleep=sim.clock.sleep)
    again = FineTuneJob.create(client, model=model, training=ELLE, sleep=sim.clock.sleep)
    assert again.id == first.id
    assert sim.calls["files.create"] == 1
    assert sim.files[first.snapshot.training_file].content == ELLE_BYTES


async def test_a_large_jsonl_gz_goes_up_in_parts_decompressed(
    up: Uploader, sim: Simulator, tmp_path: Path, scratch: Path
) -> None:
    """Above `threshold`, the decompressed bytes go through the Uploads API in parts."""
    gz = write(tmp_path / "elle.jsonl.gz", gzip.compress(ELLE_BYTES))
    file = await up.upload(gz, threshold=100, part_size=1000)
    assert sim.calls["uploads.parts"] == 5
    assert (sim.files[file.id].content, file.bytes) == (ELLE_BYTES, ELLE_SIZE)
    assert leftovers(scratch) == []


async def test_a_damaged_jsonl_gz_is_not_uploaded(
    up: Uploader, sim: Simulator, tmp_path: Path, scratch: Path
) -> None:
    """A .jsonl.gz cut short fails before anything is sent, with force=True too (nothing left)."""
    data = gzip.compress(
        b"".join(json.dumps({"n": str(i) * 50}).encode() + b"\n" for i in range(3000))
    )
    gz = write(tmp_path / "cut.jsonl.gz", data[: len(data) // 2])
    for force in (False, True):
        with pytest.raises(
            DatasetError, match=r"cut\.jsonl\.gz: the gzip data is damaged or cut short"
        ):
            await up.upload(gz, force=force)
    assert sim.calls["files.create"] == 0
    assert leftovers(scratch) == []


async def test_only_identical_bytes_count(
    up: Uploader, sim: Simulator, tmp_path: Path, scratch: Path
) -> None:
    """The same rows written differently are new bytes (uploaded); the same bytes are reused."""
    elle = await up.upload(ELLE)
    records = await up.dataset_upload(Dataset.from_records(elle_rows()))
    assert records.id != elle.id  # Elle's file has `{ "messages"`: not the bytes json.dumps writes
    assert sim.calls["files.create"] == 2
    written = Dataset.from_records(elle_rows()).to_jsonl(tmp_path / "rows.jsonl")
    again = await up.upload(written)
    assert again.id == records.id
    assert sim.calls["files.create"] == 2
    assert leftovers(scratch) == []


async def test_dedupe_false_uploads_again(up: Uploader, sim: Simulator) -> None:
    """`dedupe=False` uploads the same bytes again as a new file, without listing files."""
    first = await up.upload(ELLE)
    second = await up.upload(ELLE, dedupe=False)
    assert second.id != first.id
    assert second.filename == first.filename
    assert sim.calls["files.create"] == 2
    assert sim.calls["files.list"] == 1


async def test_reused_file_still_processing_is_waited_for(up: Uploader, sim: Simulator) -> None:
    """A reused file that is not processed yet is waited for."""
    first = await up.upload(ELLE, wait=False)
    assert first.status == "uploaded"
    second = await up.upload(ELLE)
    assert second.id == first.id
    assert second.status == "processed"
    assert sim.calls["files.create"] == 1
    assert sim.clock.now() - first.created_at == PROCESSING


async def test_rejected_file_is_not_reused(up: Uploader, sim: Simulator, tmp_path: Path) -> None:
    """A remote copy the provider rejected is not reused: the bytes are uploaded again."""
    path = write(tmp_path / "broken.jsonl", b'{"a": 1}\nnot json\n')
    for _ in range(2):
        with pytest.raises(FileRejectedError):
            await up.upload(path, force=True)
    assert sim.calls["files.create"] == 2


# --- processing -------------------------------------------------------------------------------


async def test_waits_for_processed_on_the_virtual_clock(up: Uploader, sim: Simulator) -> None:
    """The upload polls on the given sleep (1 s, 1.5 s) until the file is processed."""
    file = await up.upload(ELLE)
    assert file.status == "processed"
    assert slept(sim) == PROCESSING
    assert sim.calls["files.retrieve"] == 2


async def test_wait_false_returns_at_once(up: Uploader, sim: Simulator) -> None:
    """`wait=False` returns the file as uploaded, without polling."""
    file = await up.upload(ELLE, wait=False)
    assert file.status == "uploaded"
    assert slept(sim) == 0.0
    assert sim.calls["files.retrieve"] == 0


async def test_provider_processing_error(up: Uploader, sim: Simulator, tmp_path: Path) -> None:
    """A file the provider can't process raises FileRejectedError naming the line."""
    path = write(tmp_path / "broken.jsonl", b'{"a": 1}\n{"b": 2}\nnot json\n')
    with pytest.raises(FileRejectedError) as info:
        await up.upload(path, force=True)
    (file_id,) = sim.files
    assert info.value.file_id == file_id
    assert (info.value.line, info.value.field) == (3, None)
    assert "broken.ftk-" in str(info.value)
    assert "Line 3 is not valid JSON" in str(info.value)


async def test_processing_timeout(flavour: Twin) -> None:
    """A file still processing when `timeout` passes raises WaitTimeoutError with `.waited`."""
    sim = Simulator(timing=Timing(file_processing=100.0))
    async with make(sim, flavour) as up:
        with pytest.raises(WaitTimeoutError) as info:
            await up.upload(ELLE, timeout=4.75)  # polls after 1, 1.5 and 2.25 s
        assert (info.value.waited, info.value.job) == (4.75, None)
        assert sim.calls["files.retrieve"] == 3


async def test_processing_timeout_does_not_oversleep(flavour: Twin) -> None:
    """The processing wait never sleeps past `timeout`: the last poll is at the deadline."""
    sim = Simulator(timing=Timing(file_processing=100.0))
    async with make(sim, flavour) as up:
        with pytest.raises(WaitTimeoutError) as info:
            await up.upload(ELLE, timeout=5.0)
        assert info.value.waited == 5.0
        assert slept(sim) == 5.0


# --- file ids ---------------------------------------------------------------------------------


async def test_file_id_is_only_waited_for(up: Uploader, sim: Simulator) -> None:
    """A file id is not uploaded again: it is retrieved and waited for."""
    with sim.client() as setup:
        existing = setup.files.create(file=("mine.jsonl", ELLE_BYTES), purpose="fine-tune")
    file = await up.upload(existing.id)
    assert (file.id, file.status) == (existing.id, "processed")
    assert sim.calls["files.create"] == 1
    assert sim.calls["files.list"] == 0
    assert slept(sim) == PROCESSING


async def test_file_id_without_wait(up: Uploader, sim: Simulator) -> None:
    """A file id with `wait=False` is returned as it stands."""
    with sim.client() as setup:
        existing = setup.files.create(file=("mine.jsonl", ELLE_BYTES), purpose="fine-tune")
    file = await up.upload(existing.id, wait=False)
    assert (file.id, file.status) == (existing.id, "uploaded")
    assert slept(sim) == 0.0


async def test_local_file_named_like_an_id_is_uploaded(
    up: Uploader, sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative path that exists is a file to upload, even if its name starts with `file-`."""
    write(tmp_path / "file-abc.jsonl", ELLE_BYTES)
    monkeypatch.chdir(tmp_path)
    file = await up.upload("file-abc.jsonl")
    assert file.filename == f"file-abc.ftk-{ELLE_TAG}.jsonl"
    assert sim.calls["files.create"] == 1


# --- multipart --------------------------------------------------------------------------------


def spy(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[dict[str, Any]]:
    """Record the keyword arguments of every call to `owner.name` (sync or async)."""
    calls: list[dict[str, Any]] = []
    original: Callable[..., Any] = getattr(owner, name)
    if inspect.iscoroutinefunction(original):

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append(kwargs)
            return await original(*args, **kwargs)

        monkeypatch.setattr(owner, name, async_wrapper)
    else:

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append(kwargs)
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)
    return calls


async def test_large_file_goes_through_uploads_api(
    up: Uploader, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above `threshold`, parts of `part_size` are sent and completed in order with the md5."""
    completes = spy(monkeypatch, up.client.uploads, "complete")
    file = await up.upload(ELLE, threshold=100, part_size=1000)
    assert sim.calls["uploads.parts"] == math.ceil(ELLE_SIZE / 1000) == 5
    assert (sim.calls["uploads.create"], sim.calls["uploads.complete"]) == (1, 1)
    assert sim.calls["files.create"] == 0
    assert sim.files[file.id].content == ELLE_BYTES
    assert (file.filename, file.bytes, file.status) == (
        f"elle.ftk-{ELLE_TAG}.jsonl",
        ELLE_SIZE,
        "processed",
    )
    assert len(completes) == 1
    assert completes[0]["md5"] == ELLE_MD5
    (record,) = sim.uploads.values()
    part_ids = completes[0]["part_ids"]
    assert sorted(part_ids) == sorted(record.parts)
    assert [len(record.parts[p]) for p in part_ids] == [1000] * 4 + [21]
    assert b"".join(record.parts[p] for p in part_ids) == ELLE_BYTES
    assert (record.status, record.file_id, record.mime_type) == ("completed", file.id, "text/jsonl")
    assert record.declared_bytes == ELLE_SIZE


async def test_threshold_is_exclusive(up: Uploader, sim: Simulator) -> None:
    """A file of exactly `threshold` bytes goes through the Files API; one byte less, in parts."""
    await up.upload(ELLE, threshold=ELLE_SIZE)
    assert (sim.calls["files.create"], sim.calls["uploads.create"]) == (1, 0)
    await up.upload(ELLE, threshold=ELLE_SIZE - 1, dedupe=False, part_size=3000)
    assert (sim.calls["uploads.create"], sim.calls["uploads.parts"]) == (1, 2)


async def test_parts_read_one_at_a_time(
    up: Uploader, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each part is read from disk once, at most `part_size` bytes: never the whole file."""
    reads: list[tuple[int, int, int]] = []
    original = files_module._read_part

    def recording(path: Path, part: PartPlan) -> bytes:
        data = original(path, part)
        reads.append((part.offset, part.length, len(data)))
        return data

    monkeypatch.setattr(files_module, "_read_part", recording)
    await up.upload(ELLE, threshold=100, part_size=1000)
    assert sorted(reads) == [
        (0, 1000, 1000),
        (1000, 1000, 1000),
        (2000, 1000, 1000),
        (3000, 1000, 1000),
        (4000, 21, 21),
    ]
    assert all(size <= 1000 for _, _, size in reads)


class ConcurrencyProbe:
    """Counts part uploads in flight, and makes two of them overlap without any real sleep.

    Sync: every part waits at a barrier of two, so parts go through in pairs (threads waiting
    there count as in flight). Async: the first two wait for each other, then every part yields
    to the loop a few times, so any task let through by the limiter starts its part.
    """

    def __init__(self) -> None:
        self.active = 0
        self.peak = 0
        self.calls = 0
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(2, timeout=10)
        self.both_in = anyio.Event()

    def enter(self) -> int:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.calls += 1
            return self.calls

    def leave(self) -> None:
        with self.lock:
            self.active -= 1

    def install(self, monkeypatch: pytest.MonkeyPatch, client: OpenAI | AsyncOpenAI) -> None:
        parts = client.uploads.parts
        original: Callable[..., Any] = parts.create
        if isinstance(client, OpenAI):

            def create(*args: Any, **kwargs: Any) -> Any:
                self.enter()
                try:
                    self.barrier.wait()  # parts go in pairs: an even number of parts
                    return original(*args, **kwargs)
                finally:
                    self.leave()

            monkeypatch.setattr(parts, "create", create)
        else:

            async def acreate(*args: Any, **kwargs: Any) -> Any:
                number = self.enter()
                try:
                    if self.active >= 2:
                        self.both_in.set()
                    if number <= 2:
                        with anyio.fail_after(10):
                            await self.both_in.wait()
                    for _ in range(5):  # give every other task the chance to start a part
                        await anyio.lowlevel.checkpoint()
                    return await original(*args, **kwargs)
                finally:
                    self.leave()

            monkeypatch.setattr(parts, "create", acreate)


async def test_part_uploads_are_bounded_by_concurrency(
    up: Uploader, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `concurrency=2`, two parts are in flight at once, never more."""
    probe = ConcurrencyProbe()
    probe.install(monkeypatch, up.client)
    file = await up.upload(ELLE, threshold=100, part_size=503, concurrency=2)
    assert probe.calls == sim.calls["uploads.parts"] == math.ceil(ELLE_SIZE / 503) == 8
    assert probe.peak == 2
    assert sim.files[file.id].content == ELLE_BYTES


async def test_failing_part_cancels_the_upload(flavour: Twin) -> None:
    """A part that fails cancels the Upload and raises the SDK's error; nothing is completed."""
    sim = Simulator()
    sim.faults.server_error("uploads.parts", times=None)
    async with make(sim, flavour) as up:
        with pytest.raises(openai.InternalServerError):
            await up.upload(ELLE, threshold=100, part_size=1000)
    (record,) = sim.uploads.values()
    assert record.status == "cancelled"
    assert (sim.calls["uploads.cancel"], sim.calls["uploads.complete"]) == (1, 0)
    assert sim.files == {}


def test_ctrl_c_during_a_multipart_upload_cancels_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C between parts: the Upload is cancelled, no file is made, the interrupt goes on."""
    sim = Simulator()
    client = sim.client(max_retries=0)
    create = client.uploads.parts.create
    calls = 0

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt
        return create(*args, **kwargs)

    monkeypatch.setattr(client.uploads.parts, "create", interrupted)
    with pytest.raises(KeyboardInterrupt):
        upload(client, ELLE, UploadOptions(threshold=100, part_size=1000, concurrency=1))
    (record,) = sim.uploads.values()
    assert record.status == "cancelled"
    assert (sim.calls["uploads.cancel"], sim.calls["uploads.complete"]) == (1, 0)
    assert sim.files == {}


async def test_records_temporary_file_removed_after_failure(flavour: Twin, scratch: Path) -> None:
    """The temporary file written for in-memory rows is removed even when the upload fails."""
    sim = Simulator()
    sim.faults.server_error("files.create", times=None)
    async with make(sim, flavour) as up:
        with pytest.raises(openai.InternalServerError):
            await up.dataset_upload(Dataset.from_records(elle_rows()))
    assert leftovers(scratch) == []


# --- wrong client -----------------------------------------------------------------------------


async def test_wrong_client_flavour(flavour: Twin, sim: Simulator) -> None:
    """An async client given to `upload` (or a sync one to `aupload`) raises ConfigurationError."""
    dataset = Dataset.from_jsonl(ELLE)
    if flavour == "sync":
        async_client = sim.async_client()
        with pytest.raises(ConfigurationError, match="use aupload"):
            upload(async_client, ELLE)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="use aupload"):
            dataset.upload(async_client)  # type: ignore[arg-type]
        await async_client.close()
    else:
        with sim.client() as sync_client:
            with pytest.raises(ConfigurationError, match="use upload"):
                await aupload(sync_client, ELLE)  # type: ignore[arg-type]
            with pytest.raises(ConfigurationError, match="use upload"):
                await dataset.aupload(sync_client)  # type: ignore[arg-type]
    assert sum(sim.calls.values()) == 0
