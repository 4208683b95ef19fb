"""What the platform checks in files.

At upload, JSONL that parses; when a job validates them, `Dataset.validate`'s checks for the
job's base model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pydantic_core

from finetune_kit.dataset.engine import settings_for, sniff_format, validate_lines
from finetune_kit.platform.jobs import JobRecord
from finetune_kit.platform.records import FileRecord

if TYPE_CHECKING:
    from finetune_kit.dataset.hf_tokens import OpenWeights

__all__ = ["check_file", "validate_job_files"]


def check_file(content: bytes, purpose: str, filename: str) -> str | None:
    """Why a just-uploaded file fails processing (None: it is processed)."""
    if purpose not in ("fine-tune", "batch"):
        return None
    if not filename.endswith(".jsonl"):
        return f"Invalid file format for {purpose}: the file must be a .jsonl file."
    for number, line in enumerate(content.split(b"\n"), start=1):
        if line.strip():
            try:
                pydantic_core.from_json(line)
            except ValueError:
                return f"Invalid file format. Line {number} is not valid JSON."
    return None


def validate_job_files(
    files: Mapping[str, FileRecord], job: JobRecord, *, open_weights: OpenWeights | None = None
) -> tuple[int, int] | dict[str, Any]:
    """Validate a job's files with `Dataset.validate`'s checks, as the server would.

    `open_weights`: count tokens with that model's chat template (a local platform's base
    model) instead of the job's model in the catalog of hosted models.
    """
    if job.fault is not None and job.fault.kind == "invalid_file":
        return {
            "code": job.fault.code or "invalid_training_file",
            "message": job.fault.message or "The job failed due to an invalid training file.",
            "param": "training_file",
        }
    fmt_method = {"supervised": "supervised", "dpo": "dpo", "reinforcement": "reinforcement"}[
        job.method_type
    ]
    result: tuple[int, int] | None = None
    for param, file_id in (
        ("training_file", job.training_file),
        ("validation_file", job.validation_file),
    ):
        if file_id is None:
            continue
        record = files[file_id]
        if record.error:  # still processing at creation; processing failed since
            return {
                "code": f"invalid_{param}",
                "message": f"The job failed due to an invalid {param.replace('_', ' ')}. "
                f"{record.error}",
                "param": param,
            }
        lines = record.content.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        fmt = sniff_format(lines[:1000], fmt_method)  # type: ignore[arg-type]
        report = validate_lines(
            lines, source=record.filename, settings=settings_for(job.model, fmt, open_weights)
        )
        if not report.ok:
            first = report.errors[0]
            where = (
                f"Line {first.line}" + (f', key "{first.field}"' if first.field else "")
                if first.line
                else "File"
            )
            return {
                "code": f"invalid_{param}",
                "message": f"The job failed due to an invalid {param.replace('_', ' ')}. "
                f"Invalid file format. {where}: {first.message}",
                "param": param,
            }
        if param == "training_file":
            result = (report.stats.examples, report.estimate.tokens_per_epoch)
    assert result is not None  # noqa: S101 - training_file is required
    return result
