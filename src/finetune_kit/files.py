"""Uploading training data: validated first, deduplicated by content, large files in parallel parts.

`upload()` / `aupload()` back `Dataset.upload()` / `Dataset.aupload()` and the `training=`
argument of `FineTuneJob.create()`.

Added in 0.1.0.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import openai
from openai import AsyncOpenAI, OpenAI
from openai.types import FileObject

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
from finetune_kit.dataset import Dataset
from finetune_kit.exceptions import ConfigurationError, FileRejectedError, WaitTimeoutError

__all__ = ["DEFAULT_MODEL", "Source", "UploadOptions", "aupload", "upload"]

DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"
Source = Dataset | str | os.PathLike[str]
"""A dataset, a path to a JSONL file, or the id (`file-...`) of a file already uploaded."""


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


def _is_file_id(source: Source) -> bool:
    return isinstance(source, str) and source.startswith("file-") and not Path(source).exists()


def _local(source: Source, options: UploadOptions) -> tuple[Path, Identity, bool]:
    """Validate and identify the local data; returns (path, identity, is_temporary)."""
    dataset = source if isinstance(source, Dataset) else Dataset.from_jsonl(source)
    if not options.force:
        dataset.validate(model=options.model or DEFAULT_MODEL).raise_for_errors()
    temporary = dataset.path is None
    if dataset.path is not None:
        path = dataset.path
    else:
        handle, name = tempfile.mkstemp(prefix="finetune-kit-", suffix=".jsonl")
        os.close(handle)
        path = dataset.to_jsonl(name)
    return path, identity_of_path(path), temporary


def _stem(path: Path, *, temporary: bool) -> str:
    return "records" if temporary else path.name


def _rejected(file: FileObject) -> FileRejectedError:
    details = file.status_details or "no details given"
    line, field = line_and_field(details)
    return FileRejectedError(
        f"the provider could not process {file.filename} ({file.id}): {details}",
        file_id=file.id,
        line=line,
        field=field,
    )


def _file_delay(attempt: int) -> float:
    return min(10.0, 1.0 * 1.5 ** (attempt - 1))


def upload(
    client: OpenAI,
    source: Source,
    options: UploadOptions | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> FileObject:
    """Upload training data (see `Dataset.upload`); return the processed `FileObject`.

    Added in 0.1.0.
    """
    if isinstance(client, AsyncOpenAI):
        raise ConfigurationError("upload() takes an OpenAI client; use aupload() with AsyncOpenAI")
    opts = options or UploadOptions()
    if _is_file_id(source):
        existing = client.files.retrieve(str(source))
        return wait_processed(client, existing, opts, sleep=sleep) if opts.wait else existing
    path, ident, temporary = _local(source, opts)
    try:
        name = remote_name(_stem(path, temporary=temporary), ident)
        found = find_match(client.files.list(purpose="fine-tune"), ident) if opts.dedupe else None
        file: FileObject
        if found is not None:
            file = found
        elif ident.size > opts.threshold:
            file = _multipart(client, path, name, ident, opts)
        else:
            with path.open("rb") as f:
                file = client.files.create(file=(name, f), purpose="fine-tune")
    finally:
        if temporary:
            path.unlink(missing_ok=True)
    return wait_processed(client, file, opts, sleep=sleep) if opts.wait else file


def wait_processed(
    client: OpenAI, file: FileObject, options: UploadOptions, *, sleep: Callable[[float], None]
) -> FileObject:
    """Poll a file until it is processed (raise FileRejectedError on `error`)."""
    waited, attempt = 0.0, 0
    while file.status not in ("processed", "error"):
        if waited >= options.timeout:
            raise WaitTimeoutError(
                f"{file.id} was still {file.status} after {waited:,.0f} s", job=None, waited=waited
            )
        attempt += 1
        delay = _file_delay(attempt)
        sleep(delay)
        waited += delay
        file = client.files.retrieve(file.id)
    if file.status == "error":
        raise _rejected(file)
    return file


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
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> FileObject:
    """Upload training data (see `Dataset.aupload`); return the processed `FileObject`.

    Added in 0.1.0.
    """
    if isinstance(client, OpenAI):
        raise ConfigurationError("aupload() takes an AsyncOpenAI client; use upload() with OpenAI")
    opts = options or UploadOptions()
    if _is_file_id(source):
        existing = await client.files.retrieve(str(source))
        return await await_processed(client, existing, opts, sleep=sleep) if opts.wait else existing
    path, ident, temporary = await anyio.to_thread.run_sync(_local, source, opts)
    try:
        name = remote_name(_stem(path, temporary=temporary), ident)
        found = None
        if opts.dedupe:
            found = find_match([f async for f in client.files.list(purpose="fine-tune")], ident)
        file: FileObject
        if found is not None:
            file = found
        elif ident.size > opts.threshold:
            file = await _amultipart(client, path, name, ident, opts)
        else:
            file = await client.files.create(file=(name, path.read_bytes()), purpose="fine-tune")
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
    waited, attempt = 0.0, 0
    while file.status not in ("processed", "error"):
        if waited >= options.timeout:
            raise WaitTimeoutError(
                f"{file.id} was still {file.status} after {waited:,.0f} s", job=None, waited=waited
            )
        attempt += 1
        delay = _file_delay(attempt)
        await sleep(delay)
        waited += delay
        file = await client.files.retrieve(file.id)
    if file.status == "error":
        raise _rejected(file)
    return file


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
    except BaseException:
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(openai.OpenAIError):
                await client.uploads.cancel(upload_.id)
        raise
    if done.file is None:
        raise FileRejectedError(f"the upload {upload_.id} completed without a file", file_id=None)
    return done.file
