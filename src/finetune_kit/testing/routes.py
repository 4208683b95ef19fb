"""The simulator's hooks into the platform's routes (`finetune_kit.platform.routes`).

The simulator validates a job's files through `validate_job_files` here, looked up at each
call, so a test can replace it (`monkeypatch.setattr(routes, "validate_job_files", ...)`).
`token_pieces` is how the simulated engine cuts a streamed answer into tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finetune_kit.platform import validation
from finetune_kit.testing.chat import token_pieces

if TYPE_CHECKING:
    from finetune_kit.platform.jobs import JobRecord
    from finetune_kit.platform.state import PlatformState

__all__ = ["token_pieces", "validate_job_files"]


def validate_job_files(sim: PlatformState, job: JobRecord) -> tuple[int, int] | dict[str, Any]:
    """Validate a job's files with `Dataset.validate`'s checks, as the server would."""
    return validation.validate_job_files(sim.files, job)
