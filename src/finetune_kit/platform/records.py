"""What the platform stores: files, uploads, batches, deployments, and how each looks on the wire."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["BatchRecord", "DeploymentRecord", "FileRecord", "Flavor", "Timing", "UploadRecord"]

Flavor = Literal["openai", "azure"]


@dataclass(slots=True)
class Timing:
    """How long the platform's own phases take, in seconds of its clock.

    Training itself takes what the engine takes; the simulator's `Timing` adds the length of a
    simulated step. A real platform sets these to 0 where nothing waits.

    Added in 0.1.0.
    """

    file_processing: float = 2.0
    """From upload to `processed`."""
    validating: float = 30.0
    """`validating_files` lasts this long."""
    queued: float = 60.0
    """`queued` lasts this long (also after `resume`)."""
    metrics_every: int = 1
    """A metrics event every this many steps (and always on the last step)."""
    model_ready_delay: float = 0.0
    """A tuned model answers 404 for this long after its job succeeds (the race users hit)."""
    upload_expiry: float = 3600.0
    """An Upload expires this long after creation."""
    batch: float = 60.0
    """A batch spends this long in each of validating, in_progress and finalizing."""
    base64_results: bool = False
    """Write the results CSV base64-encoded, as some deployments do."""
    deploying: float = 60.0
    """An Azure deployment made through the management API serves this long after its `PUT`
    (`provisioningState` is `Creating` until then, and chat answers 404 `DeploymentNotFound`)."""


@dataclass(slots=True)
class FileRecord:
    """An uploaded file."""

    id: str
    filename: str
    purpose: str
    created_at: int
    content: bytes
    ready_at: float
    error: str | None = None
    """Why processing failed (status `error`)."""
    expires_at: int | None = None
    deleted: bool = False

    def status(self, now: float) -> str:
        """`uploaded` until processed, then `processed` or `error`."""
        if now < self.ready_at:
            return "uploaded"
        return "error" if self.error else "processed"

    def to_api(self, now: float, flavor: Flavor = "openai") -> dict[str, Any]:
        """The `FileObject` JSON."""
        status = self.status(now)
        if flavor == "azure" and status == "uploaded":
            status = "pending"
        body: dict[str, Any] = {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": status,
        }
        # Optional fields are left out rather than sent as null, as the schema types them.
        if status == "error":
            body["status_details"] = self.error
        if self.expires_at is not None:
            body["expires_at"] = self.expires_at
        return body


@dataclass(slots=True)
class UploadRecord:
    """A multipart Upload in progress."""

    id: str
    filename: str
    purpose: str
    mime_type: str
    declared_bytes: int
    created_at: int
    expires_at: int
    parts: dict[str, bytes] = field(default_factory=dict)
    status: str = "pending"
    file_id: str | None = None

    def current_status(self, now: float) -> str:
        """The status, with expiry applied."""
        if self.status == "pending" and now >= self.expires_at:
            return "expired"
        return self.status

    def to_api(self, now: float, file: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `Upload` JSON."""
        return {
            "id": self.id,
            "object": "upload",
            "bytes": self.declared_bytes,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": self.current_status(now),
            "file": file,
        }


@dataclass(slots=True)
class BatchRecord:
    """A batch of chat completions."""

    id: str
    input_file_id: str
    endpoint: str
    completion_window: str
    created_at: int
    metadata: dict[str, str] | None
    total: int
    output_file_id: str | None = None
    error_file_id: str | None = None
    cancelling_at: int | None = None
    failed: int = 0
    completed: int = 0
    model: str | None = None

    def status(self, now: float, phase: float) -> str:
        """The status at `now`, each phase lasting `phase` seconds."""
        if self.cancelling_at is not None:
            return "cancelling" if now < self.cancelling_at + phase else "cancelled"
        elapsed = now - self.created_at
        if elapsed < phase:
            return "validating"
        if elapsed < 2 * phase:
            return "in_progress"
        if elapsed < 3 * phase:
            return "finalizing"
        return "completed"

    def to_api(self, now: float, phase: float) -> dict[str, Any]:
        """The `Batch` JSON (fields that don't apply yet are left out, as the schema types them)."""
        status = self.status(now, phase)
        t0 = self.created_at
        done = status == "completed"
        started = self.cancelling_at is None or self.cancelling_at >= t0 + phase
        optional: dict[str, Any] = {
            "in_progress_at": int(t0 + phase) if started and now >= t0 + phase else None,
            "finalizing_at": int(t0 + 2 * phase) if status in ("finalizing", "completed") else None,
            "completed_at": int(t0 + 3 * phase) if done else None,
            "cancelling_at": self.cancelling_at,
            "cancelled_at": int(self.cancelling_at + phase)
            if status == "cancelled" and self.cancelling_at is not None
            else None,
            "output_file_id": self.output_file_id if done else None,
            "error_file_id": self.error_file_id if done else None,
            "metadata": self.metadata,
            "model": self.model,
        }
        body: dict[str, Any] = {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": status,
            "created_at": t0,
            "expires_at": t0 + 24 * 3600,
            "request_counts": {
                "total": self.total,
                "completed": self.completed if done else 0,
                "failed": self.failed if done else 0,
            },
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return body


@dataclass(slots=True)
class DeploymentRecord:
    """An Azure deployment made through the management API (ARM)."""

    resource_id: str
    """`/subscriptions/.../accounts/{account}/deployments/{name}`."""
    name: str
    model: str
    sku: dict[str, Any]
    ready_at: float

    def state(self, now: float) -> str:
        """`Creating` until it serves, then `Succeeded`."""
        return "Succeeded" if now >= self.ready_at else "Creating"

    def to_api(self, now: float) -> dict[str, Any]:
        """The ARM deployment resource JSON."""
        return {
            "id": self.resource_id,
            "type": "Microsoft.CognitiveServices/accounts/deployments",
            "name": self.name,
            "sku": self.sku,
            "properties": {
                "model": {"format": "OpenAI", "name": self.model, "version": "1"},
                "provisioningState": self.state(now),
            },
        }
