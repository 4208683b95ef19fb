"""A store under a root folder: what the platform holds survives the process.

Layout under the root:

- `files/<id>`: each file's bytes (a real path for engines: `file_path`);
- `uploads/<id>/<part id>`: the parts of multipart Uploads;
- `jobs/<id>/`: each job's own folder, for the engine's checkpoints and adapters (`workdir`);
- `records/`: the records as JSON: `files.json`, `uploads.json`, `batches.json`,
  `deleted_models.json`, `jobs.json` (the job ids, in creation order) and `jobs/<id>.json`
  (one job with its events, checkpoints and metrics rows).

`flush()` (the platform calls it after every request) writes the records that changed, each
atomically (`finetune_kit._io`): a crash leaves the previous version or the new one, never half
a file. Opening the store reads them back, equal to what was written. What the store can't do
alone is decide what happens to jobs that were running when the process stopped: the platform
does that when it opens a store (`PlatformState.fail_interrupted_jobs`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

from finetune_kit._io import write_bytes, write_text
from finetune_kit.exceptions import FinetuneKitError
from finetune_kit.platform.faults import JobFault
from finetune_kit.platform.jobs import JobRecord
from finetune_kit.platform.records import BatchRecord, FileRecord, UploadRecord

__all__ = ["DiskStore", "StoreCorruptError"]


class StoreCorruptError(FinetuneKitError, ValueError):
    """A record file under a `DiskStore`'s root can't be read back; the message names it.

    Nothing was changed: fix the file (or restore it from a backup) and open the store again.

    Added in 0.1.0.
    """


class DiskStore:
    """Files, uploads, jobs, batches and deleted models kept under `root` (see the module).

    Example:
        ```python
        store = DiskStore(tmp / "platform")  # made if missing; what it holds is read back
        sim = Simulator(store=store)
        ```

    Args:
        root: The folder (created if missing).

    Raises:
        StoreCorruptError: A record file under `root` is not what this store writes (the
            message names the file and what is wrong with it).

    Added in 0.1.0.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._records = self.root / "records"
        for folder in (self._records / "jobs", self.root / "files", self.root / "jobs"):
            folder.mkdir(parents=True, exist_ok=True)
        self._written: dict[Path, str] = {}
        """Record file -> the JSON text it holds (what flush compares against)."""
        self._bytes_on_disk: set[Path] = set()
        self.files: dict[str, FileRecord] = self._load_files()
        self.uploads: dict[str, UploadRecord] = self._load_uploads()
        self.jobs: dict[str, JobRecord] = self._load_jobs()
        self.batches: dict[str, BatchRecord] = {
            b.id: b for b in self._load_list("batches.json", _batch_from_json)
        }
        deleted = self._read_json(self._records / "deleted_models.json", default=[])
        if not isinstance(deleted, list) or not all(isinstance(m, str) for m in deleted):
            raise self._corrupt(self._records / "deleted_models.json", "expected a list of names")
        self.deleted_models: set[str] = set(deleted)

    def __repr__(self) -> str:
        return f"DiskStore({str(self.root)!r})"

    # --- paths --------------------------------------------------------------------------------

    def file_path(self, file_id: str) -> Path:
        """`<root>/files/<id>`: the file's bytes (written now if not flushed yet)."""
        path = self.root / "files" / _safe(file_id)
        record = self.files.get(file_id)
        if record is not None and path not in self._bytes_on_disk:
            write_bytes(path, record.content)
            self._bytes_on_disk.add(path)
        return path

    def workdir(self, job_id: str) -> Path:
        """`<root>/jobs/<id>/` (created): the job's checkpoints and adapters."""
        path = self.root / "jobs" / _safe(job_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    # --- writing ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write every record that changed since the last flush (each file atomically)."""
        for file_id in self.files:
            self.file_path(file_id)
        for upload in self.uploads.values():
            folder = self.root / "uploads" / _safe(upload.id)
            for part_id, data in upload.parts.items():
                path = folder / _safe(part_id)
                if path not in self._bytes_on_disk:
                    folder.mkdir(parents=True, exist_ok=True)
                    write_bytes(path, data)
                    self._bytes_on_disk.add(path)
        self._write("files.json", [_file_to_json(f) for f in self.files.values()])
        self._write("uploads.json", [_upload_to_json(u) for u in self.uploads.values()])
        self._write("batches.json", [_dataclass_to_json(b) for b in self.batches.values()])
        self._write("deleted_models.json", sorted(self.deleted_models))
        for job in self.jobs.values():
            self._write(f"jobs/{_safe(job.id)}.json", self._job_to_json(job))
        self._write("jobs.json", list(self.jobs))
        # Records removed from the mappings go from the disk too.
        live = {self._records / "jobs" / f"{_safe(j)}.json" for j in self.jobs}
        for path in list(self._written):
            if path.parent == self._records / "jobs" and path not in live:
                path.unlink(missing_ok=True)
                del self._written[path]
        uploads = self.root / "uploads"
        if uploads.is_dir():
            for folder in uploads.iterdir():
                if folder.name not in self.uploads:
                    shutil.rmtree(folder, ignore_errors=True)
                    self._bytes_on_disk = {p for p in self._bytes_on_disk if p.parent != folder}

    def _write(self, name: str, value: Any) -> None:
        path = self._records / name
        text = json.dumps(value, indent=1, ensure_ascii=False) + "\n"
        if self._written.get(path) != text:
            write_text(path, text)
            self._written[path] = text

    # --- reading ------------------------------------------------------------------------------

    def _read_json(self, path: Path, *, default: Any) -> Any:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return default
        except (OSError, UnicodeDecodeError) as exc:
            raise self._corrupt(path, str(exc)) from None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise self._corrupt(path, f"line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        self._written[path] = text
        return value

    def _corrupt(self, path: Path, why: str) -> StoreCorruptError:
        return StoreCorruptError(
            f"{path}: this platform record can't be read ({why}). Nothing was changed: fix or "
            "restore the file, or move it aside to open the store without it."
        )

    def _load_list(self, name: str, decode: Any) -> list[Any]:
        path = self._records / name
        items = self._read_json(path, default=[])
        if not isinstance(items, list):
            raise self._corrupt(path, "expected a list of records")
        out = []
        for i, item in enumerate(items):
            try:
                out.append(decode(item))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:  # noqa: PERF203
                raise self._corrupt(path, f"record {i}: {_why(exc)}") from None
        return out

    def _load_files(self) -> dict[str, FileRecord]:
        out: dict[str, FileRecord] = {}
        for fields in self._load_list("files.json", dict):
            path = self.root / "files" / _safe(str(fields.get("id")))
            try:
                content = path.read_bytes()
            except OSError as exc:
                raise self._corrupt(
                    self._records / "files.json",
                    f"the bytes of file {fields.get('id')} are missing ({exc.strerror}: {path})",
                ) from None
            try:
                record = FileRecord(**fields, content=content)
            except TypeError as exc:
                raise self._corrupt(self._records / "files.json", _why(exc)) from None
            self._bytes_on_disk.add(path)
            out[record.id] = record
        return out

    def _load_uploads(self) -> dict[str, UploadRecord]:
        out: dict[str, UploadRecord] = {}
        for fields in self._load_list("uploads.json", dict):
            folder = self.root / "uploads" / _safe(str(fields.get("id")))
            parts: dict[str, bytes] = {}
            for part_id in fields.pop("parts", []):
                path = folder / _safe(part_id)
                try:
                    parts[part_id] = path.read_bytes()
                except OSError as exc:
                    raise self._corrupt(
                        self._records / "uploads.json",
                        f"part {part_id} is missing ({exc.strerror}: {path})",
                    ) from None
                self._bytes_on_disk.add(path)
            try:
                record = UploadRecord(**fields, parts=parts)
            except TypeError as exc:
                raise self._corrupt(self._records / "uploads.json", _why(exc)) from None
            out[record.id] = record
        return out

    def _load_jobs(self) -> dict[str, JobRecord]:
        index = self._records / "jobs.json"
        ids = self._read_json(index, default=[])
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise self._corrupt(index, "expected a list of job ids")
        out: dict[str, JobRecord] = {}
        for job_id in ids:
            path = self._records / "jobs" / f"{_safe(job_id)}.json"
            fields = self._read_json(path, default=None)
            if fields is None:
                raise self._corrupt(index, f"job {job_id} is listed but {path} is missing")
            try:
                out[job_id] = self._job_from_json(fields)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise self._corrupt(path, _why(exc)) from None
        return out

    # --- jobs <-> JSON ----------------------------------------------------------------------

    def _job_to_json(self, job: JobRecord) -> dict[str, Any]:
        out = _dataclass_to_json(job)
        version, internal, gauss = job.rng.getstate()
        out["rng"] = [version, list(internal), gauss]
        out["fault"] = None if job.fault is None else dataclasses.asdict(job.fault)
        out["model_path"] = self._path_to_json(job.model_path)
        out["checkpoint_paths"] = [
            [step, self._path_to_json(path)] for step, path in job.checkpoint_paths.items()
        ]
        return out

    def _job_from_json(self, fields: dict[str, Any]) -> JobRecord:
        fields = dict(fields)
        rng = random.Random()
        version, internal, gauss = fields.pop("rng")
        rng.setstate((version, tuple(internal), gauss))
        fault = fields.pop("fault")
        paths = fields.pop("checkpoint_paths")
        model_path = self._path_from_json(fields.pop("model_path"))
        checkpoint_paths: dict[int, Path] = {}
        for step, value in paths:
            path = self._path_from_json(value)
            if path is not None:
                checkpoint_paths[int(step)] = path
        return JobRecord(
            **fields,
            rng=rng,
            fault=None if fault is None else JobFault(**fault),
            model_path=model_path,
            checkpoint_paths=checkpoint_paths,
        )

    def _path_to_json(self, path: Path | None) -> dict[str, str] | None:
        """A path under the root is kept relative to it (the root may move)."""
        if path is None:
            return None
        if path.is_absolute() and path.is_relative_to(self.root.absolute()):
            return {"under_root": path.relative_to(self.root.absolute()).as_posix()}
        if path.is_relative_to(self.root):
            return {"under_root": path.relative_to(self.root).as_posix()}
        return {"path": str(path)}

    def _path_from_json(self, value: dict[str, str] | None) -> Path | None:
        if value is None:
            return None
        if "under_root" in value:
            return self.root / value["under_root"]
        return Path(value["path"])


def _dataclass_to_json(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


def _file_to_json(record: FileRecord) -> dict[str, Any]:
    out = _dataclass_to_json(record)
    del out["content"]  # under files/<id>
    return out


def _upload_to_json(record: UploadRecord) -> dict[str, Any]:
    out = _dataclass_to_json(record)
    out["parts"] = list(record.parts)  # the bytes are under uploads/<id>/<part id>
    return out


def _batch_from_json(fields: dict[str, Any]) -> BatchRecord:
    return BatchRecord(**fields)


def _safe(name: str) -> str:
    """`name` as one path component (ids come from the platform, but never trust a path)."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"not a valid id for a path: {name!r}")
    return name


def _why(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc)
