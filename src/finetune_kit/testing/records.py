"""What the simulator stores, and how long things take in it.

The platform's records (`finetune_kit.platform.records`) and the simulator's `Timing`.
"""

from __future__ import annotations

from finetune_kit.platform.records import (
    BatchRecord,
    DeploymentRecord,
    FileRecord,
    Flavor,
    UploadRecord,
)
from finetune_kit.testing.jobs import Timing

__all__ = ["BatchRecord", "DeploymentRecord", "FileRecord", "Flavor", "Timing", "UploadRecord"]
