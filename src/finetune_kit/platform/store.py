"""Where the platform keeps what it holds.

Files, uploads, jobs (with their events and checkpoints), batches, deleted models, and
folders for engines to write into.

`Store` is the interface; `MemoryStore` keeps everything in dictionaries (the simulator's). An
on-disk store under a root folder implements the same: mappings that load what the root holds
when opened, `file_path` and `workdir` under the root, and `flush` writing what changed (the
platform calls it after every request).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path
from typing import Protocol

from finetune_kit.platform.jobs import JobRecord
from finetune_kit.platform.records import BatchRecord, FileRecord, UploadRecord

__all__ = ["MemoryStore", "Store"]


class Store(Protocol):
    """What the platform keeps, by id (in creation order: listings depend on it).

    Added in 0.1.0.
    """

    @property
    def files(self) -> MutableMapping[str, FileRecord]:
        """Files by id."""
        ...

    @property
    def uploads(self) -> MutableMapping[str, UploadRecord]:
        """Uploads by id."""
        ...

    @property
    def jobs(self) -> MutableMapping[str, JobRecord]:
        """Fine-tuning jobs by id."""
        ...

    @property
    def batches(self) -> MutableMapping[str, BatchRecord]:
        """Batches by id."""
        ...

    @property
    def deleted_models(self) -> set[str]:
        """Tuned models deleted through the API."""
        ...

    def file_path(self, file_id: str) -> Path:
        """Where file `file_id`'s bytes lie, for an engine to read."""
        ...

    def workdir(self, job_id: str) -> Path:
        """A folder of job `job_id`'s own, for its checkpoints and adapters."""
        ...

    def flush(self) -> None:
        """Make what changed durable (called after every request)."""
        ...


class MemoryStore:
    """Everything in dictionaries; nothing on disk, nothing kept when the process ends.

    Its paths (`file_path`, `workdir`) name things under `memory:/` that hold nothing: an engine
    that reads files or writes checkpoints needs a store with a root folder.

    Added in 0.1.0.
    """

    def __init__(self) -> None:
        self.files: dict[str, FileRecord] = {}
        self.uploads: dict[str, UploadRecord] = {}
        self.jobs: dict[str, JobRecord] = {}
        self.batches: dict[str, BatchRecord] = {}
        self.deleted_models: set[str] = set()

    def file_path(self, file_id: str) -> Path:
        """`memory:/files/<id>`: a name, not a file."""
        return Path("memory:", "files", file_id)

    def workdir(self, job_id: str) -> Path:
        """`memory:/jobs/<id>`: a name, not a folder."""
        return Path("memory:", "jobs", job_id)

    def flush(self) -> None:
        """Nothing to do."""
