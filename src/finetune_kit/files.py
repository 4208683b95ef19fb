"""Uploading training data: validated first, deduplicated by content, large files in parallel parts.

`upload()` / `aupload()` back `Dataset.upload()` / `Dataset.aupload()` and the `training=`
argument of `FineTuneJob.create()`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import openai
from openai import AsyncOpenAI, OpenAI
from openai.types import FileObject

from finetune_kit._core.create import Create, Find, once_flow
from finetune_kit._core.drive import Call, CallFailed, Sleep, adrive, drive
from finetune_kit._core.errors import line_and_field
from finetune_kit._core.files import (
    DEFAULT_PART_SIZE,
    UPLOADS_THRESHOLD,
    Identity,
    PartPlan,
    find_match,
    identity_of_path,
    plan_parts,
    remote_name,
)
from finetune_kit._core.prepare import Source
from finetune_kit._core.redact import redact
from finetune_kit._defaults import asleep_for, now_for, sleep_for
from finetune_kit._prepare import is_file_id
from finetune_kit.dataset import Dataset
from finetune_kit.dataset.engine import is_gzip, iter_file_chunks
from finetune_kit.exceptions import ConfigurationError, FileRejectedError, WaitTimeoutError

if sys.version_info >= (3, 11):
    from builtins import BaseExceptionGroup as _BaseExceptionGroup
else:  # pragma: no cover - anyio brings the backport on 3.10
    from exceptiongroup import BaseExceptionGroup as _BaseExceptionGroup

__all__ = ["DEFAULT_MODEL", "Source", "UploadOptions", "aupload", "upload"]

DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"
MAX_POLL_ERRORS = 10
"""Failed looks at a file being processed tolerated in a row (rate limits, 5xx, timeouts)."""


@dataclass(frozen=True, slots=True)
class UploadOptions:
    """How to upload.

    Added in 0.1.0.
    """

    model: str | None = None
    """The model the data is for (validation uses its tokenizer and context); default gpt-4o-mini."""
    force: bool = False
    """Upload even if validation finds errors."""
    dedupe: bool = True
    """Reuse a remote file holding the same bytes instead of uploading again."""
    wait: bool = True
    """Wait until the provider has processed the file."""
    timeout: float = 1800.0
    """Give up waiting for processing after this many seconds."""
    threshold: int = UPLOADS_THRESHOLD
    """Files above this size go through the Uploads API in parts."""
    part_size: int = DEFAULT_PART_SIZE
    concurrency: int = 4
    """Parts uploaded at once (memory: part_size × concurrency)."""


def _local(source: Source, options: UploadOptions) -> tuple[Path, Identity, bool, str]:
    """Validate and identify the local data; returns (path, identity, is_temporary, stem).

    The API takes JSONL: in-memory rows are written to a temporary file, and a `.jsonl.gz` file
    is decompressed into one (as a stream: memory stays flat), so the same data uploads as the
    same bytes, however it is stored here.
    """
    dataset = source if isinstance(source, Dataset) else Dataset.from_jsonl(source)
    if not options.force:
        dataset.validate(model=options.model or DEFAULT_MODEL).raise_for_errors()
    if dataset.path is not None and not is_gzip(dataset.path):
        return dataset.path, identity_of_path(dataset.path), False, dataset.path.name
    handle, name = tempfile.mkstemp(prefix="finetune-kit-", suffix=".jsonl")
    try:
        if dataset.path is not None:  # a .jsonl.gz: the decompressed bytes, byte for byte
            with os.fdopen(handle, "wb") as out:
                for block in iter_file_chunks(dataset.path):
                    out.write(block)
            path, stem = Path(name), dataset.path.name.removesuffix(dataset.path.suffix)
        else:
            os.close(handle)
            path, stem = dataset.to_jsonl(name), "records"
        return path, identity_of_path(path), True, stem
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def _rejected(file: FileObject) -> FileRejectedError:
    details = redact(file.status_details or "no details given")
    line, field = line_and_field(details)
    return FileRejectedError(
        f"the provider could not process {file.filename} ({file.id}): {details}",
        file_id=file.id,
        line=line,
        field=field,
    )


@dataclass(frozen=True, slots=True)
class _Look(Call):
    """Command: retrieve the file (sent back: the `FileObject`)."""

    file_id: str
    operation: str = "file processing"


ProcessingFlow = Generator[Sleep | _Look, FileObject | CallFailed | None, FileObject]


def _processing_flow(file: FileObject, timeout: float) -> ProcessingFlow:
    """Sleep, look at the file, again until it is processed; return it processed.

    A failed look (sent back as `CallFailed`) is waited out like `FineTuneJob.wait` does: rate
    limits (their Retry-After honoured, whatever its size), 5xx and timeouts, up to
    `MAX_POLL_ERRORS` in a row; then, or for any other error, the typed error is raised.
    """
    waited, attempt, errors = 0.0, 0, 0
    while file.status not in ("processed", "error"):
        if waited >= timeout:
            raise WaitTimeoutError(
                f"{file.id} was still {file.status} after {waited:,.0f} s", job=None, waited=waited
            )
        attempt += 1
        delay = min(10.0, 1.5 ** (attempt - 1), timeout - waited)
        while True:
            waited += delay
            yield Sleep(delay)
            look = yield _Look(file.id)
            if not isinstance(look, CallFailed):
                break
            errors += 1
            c = look.classified
            if not c.transient or errors > MAX_POLL_ERRORS:
                if c.translated is not None:
                    raise c.translated from look.error
                raise look.error
            if waited >= timeout:
                raise WaitTimeoutError(
                    f"{file.id} was still {file.status} after {waited:,.0f} s "
                    f"(the last look failed: {type(look.error).__name__})",
                    job=None,
                    waited=waited,
                )
            delay = min(c.retry_after or min(10.0, 1.5 ** (errors - 1)), timeout - waited)
        errors, file = 0, _file(look)
    if file.status == "error":
        raise _rejected(file)
    return file


def _file(got: object) -> FileObject:
    if not isinstance(got, FileObject):  # pragma: no cover - a shell that answers the wrong thing
        raise TypeError(f"expected a FileObject, got {type(got).__name__}")
    return got


def upload(
    client: OpenAI,
    source: Source,
    options: UploadOptions | None = None,
    *,
    sleep: Callable[[float], None] | None = None,
) -> FileObject:
    """Upload training data (see `Dataset.upload`); return the processed `FileObject`.

    `sleep` waits between looks at the file (default `time.sleep`; a simulator's clock for a
    simulator's client).
    """
    if isinstance(client, AsyncOpenAI):
        raise ConfigurationError("upload() takes an OpenAI client; use aupload() with AsyncOpenAI")
    sleep = sleep or sleep_for(client)
    opts = options or UploadOptions()
    if is_file_id(source):
        existing = client.files.retrieve(str(source))
        return wait_processed(client, existing, opts, sleep=sleep) if opts.wait else existing
    path, ident, temporary, stem = _local(source, opts)
    try:
        name = remote_name(stem, ident)
        found = find_match(client.files.list(purpose="fine-tune"), ident) if opts.dedupe else None
        file: FileObject
        if found is not None:
            file = found
        elif ident.size > opts.threshold:
            file = _multipart(client, path, name, ident, opts)
        else:
            file = _create_once(client, path, name, ident, sleep)
    finally:
        if temporary:
            path.unlink(missing_ok=True)
    return wait_processed(client, file, opts, sleep=sleep) if opts.wait else file


def wait_processed(
    client: OpenAI, file: FileObject, options: UploadOptions, *, sleep: Callable[[float], None]
) -> FileObject:
    """Poll a file until it is processed (raise FileRejectedError on `error`).

    Failed looks are waited out (see `_processing_flow`); what can't be is raised typed
    (`RateLimitedError` after too many rate limits in a row).
    """

    def look(command: _Look) -> FileObject:
        return client.files.retrieve(command.file_id)

    flow = _processing_flow(file, options.timeout)
    return drive(flow, look, sleep=sleep, now=now_for(client))


def _create_once(
    client: OpenAI, path: Path, name: str, ident: Identity, sleep: Callable[[float], None]
) -> FileObject:
    """Call `files.create` at most once.

    SDK retries are off; after an ambiguous failure (the upload may have landed) the remote
    files are searched for these bytes before any retry.
    """
    once = client.with_options(max_retries=0)

    def perform(command: Find | Create) -> list[FileObject] | FileObject:
        if isinstance(command, Find):
            return list(client.files.list(purpose="fine-tune"))
        with path.open("rb") as f:
            return once.files.create(file=(name, f), purpose="fine-tune")

    return drive(_upload_flow(ident), perform, sleep=sleep, now=now_for(client))


UploadFlow = Generator[
    Find | Create | Sleep, list[FileObject] | FileObject | CallFailed | None, FileObject
]


def _upload_flow(ident: Identity) -> UploadFlow:
    """`files.create` at most once: after an ambiguous failure, look for these bytes first."""

    def pick(files: list[FileObject]) -> FileObject | None:
        found: FileObject | None = find_match(files, ident)
        return found

    return once_flow({}, Find(ident.tag), pick, look_first=False, operation="upload")


async def _acreate_once(
    client: AsyncOpenAI,
    path: Path,
    name: str,
    ident: Identity,
    sleep: Callable[[float], Awaitable[None]],
) -> FileObject:
    """The async twin of `_create_once`."""
    once = client.with_options(max_retries=0)

    async def perform(command: Find | Create) -> list[FileObject] | FileObject:
        if isinstance(command, Find):
            return [f async for f in client.files.list(purpose="fine-tune")]
        data = await anyio.to_thread.run_sync(path.read_bytes)
        return await once.files.create(file=(name, data), purpose="fine-tune")

    return await adrive(_upload_flow(ident), perform, sleep=sleep, now=now_for(client))


def _read_part(path: Path, part: PartPlan) -> bytes:
    with path.open("rb") as f:
        f.seek(part.offset)
        return f.read(part.length)


def _multipart(
    client: OpenAI, path: Path, name: str, ident: Identity, opts: UploadOptions
) -> FileObject:
    upload_ = client.uploads.create(
        bytes=ident.size, filename=name, mime_type="text/jsonl", purpose="fine-tune"
    )
    parts = plan_parts(ident.size, opts.part_size)

    def send(part: PartPlan) -> str:
        data = _read_part(path, part)  # one part in memory per worker
        return client.uploads.parts.create(upload_id=upload_.id, data=data).id

    try:
        with ThreadPoolExecutor(max_workers=max(1, opts.concurrency)) as pool:
            part_ids = list(pool.map(send, parts))
        done = client.uploads.complete(upload_id=upload_.id, part_ids=part_ids, md5=ident.md5)
    except BaseException:
        _cancel_quietly(lambda: client.uploads.cancel(upload_.id))
        raise
    if done.file is None:
        raise FileRejectedError(f"the upload {upload_.id} completed without a file", file_id=None)
    return done.file


def _cancel_quietly(cancel: Callable[[], Any]) -> None:
    with contextlib.suppress(openai.OpenAIError):
        cancel()


async def aupload(
    client: AsyncOpenAI,
    source: Source,
    options: UploadOptions | None = None,
    *,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> FileObject:
    """Upload training data (see `Dataset.aupload`); return the processed `FileObject`.

    `sleep` waits between looks at the file (default `anyio.sleep`; a simulator's clock for a
    simulator's client).
    """
    if isinstance(client, OpenAI):
        raise ConfigurationError("aupload() takes an AsyncOpenAI client; use upload() with OpenAI")
    sleep = sleep or asleep_for(client)
    opts = options or UploadOptions()
    if is_file_id(source):
        existing = await client.files.retrieve(str(source))
        return await await_processed(client, existing, opts, sleep=sleep) if opts.wait else existing
    path, ident, temporary, stem = await anyio.to_thread.run_sync(_local, source, opts)
    try:
        name = remote_name(stem, ident)
        found = None
        if opts.dedupe:
            found = find_match([f async for f in client.files.list(purpose="fine-tune")], ident)
        file: FileObject
        if found is not None:
            file = found
        elif ident.size > opts.threshold:
            file = await _amultipart(client, path, name, ident, opts)
        else:
            file = await _acreate_once(client, path, name, ident, sleep)
    finally:
        if temporary:
            path.unlink(missing_ok=True)
    return await await_processed(client, file, opts, sleep=sleep) if opts.wait else file


async def await_processed(
    client: AsyncOpenAI,
    file: FileObject,
    options: UploadOptions,
    *,
    sleep: Callable[[float], Awaitable[None]],
) -> FileObject:
    """Poll a file until it is processed (raise FileRejectedError on `error`)."""

    async def look(command: _Look) -> FileObject:
        return await client.files.retrieve(command.file_id)

    flow = _processing_flow(file, options.timeout)
    return await adrive(flow, look, sleep=sleep, now=now_for(client))


async def _amultipart(
    client: AsyncOpenAI, path: Path, name: str, ident: Identity, opts: UploadOptions
) -> FileObject:
    upload_ = await client.uploads.create(
        bytes=ident.size, filename=name, mime_type="text/jsonl", purpose="fine-tune"
    )
    parts = plan_parts(ident.size, opts.part_size)
    part_ids: list[str] = [""] * len(parts)
    limiter = anyio.CapacityLimiter(max(1, opts.concurrency))

    async def send(part: PartPlan) -> None:
        async with limiter:
            data = await anyio.to_thread.run_sync(_read_part, path, part)
            part_ids[part.index] = (
                await client.uploads.parts.create(upload_id=upload_.id, data=data)
            ).id

    try:
        async with anyio.create_task_group() as tg:
            for part in parts:
                tg.start_soon(send, part)
        done = await client.uploads.complete(upload_id=upload_.id, part_ids=part_ids, md5=ident.md5)
    except BaseException as exc:
        with anyio.CancelScope(shield=True), contextlib.suppress(openai.OpenAIError):
            await client.uploads.cancel(upload_.id)
        # A task group wraps a part's error in a group: raise the error itself, as sync does.
        if isinstance(exc, _BaseExceptionGroup) and exc.exceptions:
            raise exc.exceptions[0] from None
        raise
    if done.file is None:
        raise FileRejectedError(f"the upload {upload_.id} completed without a file", file_id=None)
    return done.file
