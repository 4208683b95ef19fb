"""Scriptable faults.

The platform's (`finetune_kit.platform.faults`, whose docstring lists the route names).
"""

from __future__ import annotations

from finetune_kit.platform.faults import Fault, Faults, JobFault

__all__ = ["Fault", "Faults", "JobFault"]
