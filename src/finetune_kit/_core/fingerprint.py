"""The fingerprint that makes job creation exactly-once: same inputs, same fingerprint, anywhere.

A sha256 over the canonical JSON of what defines a training run. It is stored in the job's
metadata, so any process on any machine can find the job its inputs already created.
(Python's `hash()` is salted per process: useless for this.)
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["FINGERPRINT_KEY", "fingerprint"]

FINGERPRINT_KEY = "ftk_fingerprint"
"""The metadata key the fingerprint is stored under."""


def fingerprint(
    *,
    training: str,
    validation: str | None,
    model: str,
    method: dict[str, Any],
    suffix: str | None,
    seed: int | None,
    extra: dict[str, Any] | None = None,
) -> str:
    """Return the 32-hex-digit fingerprint of a training run.

    Args:
        training: The training data's identity: `sha256:<hex>` of its bytes, or `file:<id>`.
        validation: The same for the validation data, or None.
        model: The base model.
        method: The normalised method (type, hyperparameters, grader...).
        suffix: The model-name suffix.
        seed: The seed.
        extra: Anything else that makes the run different (e.g. Azure's trainingType).
    """
    canonical = json.dumps(
        {
            "training": training,
            "validation": validation,
            "model": model,
            "method": method,
            "suffix": suffix,
            "seed": seed,
            "extra": extra or {},
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
