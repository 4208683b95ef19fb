"""The fine-tuning API as a platform: stores, job lifecycle, routes, wire shapes, server, faults.

It knows nothing of how training or answering happens: that is an engine's, behind the seam
in `finetune_kit.platform.engine`. The simulator (`finetune_kit.testing.Simulator`) is a
`Platform` with simulated engines; a real engine implements the same two Protocols.
"""

from __future__ import annotations

from finetune_kit.platform.clock import Clock, SystemClock
from finetune_kit.platform.core import Platform
from finetune_kit.platform.disk_store import DiskStore, StoreCorruptError
from finetune_kit.platform.engine import (
    Cancelled,
    CheckpointSaved,
    Choice,
    Completion,
    EngineEvent,
    Failed,
    InferenceEngine,
    Message,
    Metrics,
    Paused,
    Piece,
    ServedModel,
    Started,
    Succeeded,
    TrainingEngine,
    TrainingJob,
)
from finetune_kit.platform.faults import Fault, Faults, JobFault
from finetune_kit.platform.records import Timing
from finetune_kit.platform.server import PlatformServer
from finetune_kit.platform.store import MemoryStore, Store
from finetune_kit.platform.wire import ApiError, Request, Response

__all__ = [
    "ApiError",
    "Cancelled",
    "CheckpointSaved",
    "Choice",
    "Clock",
    "Completion",
    "DiskStore",
    "EngineEvent",
    "Failed",
    "Fault",
    "Faults",
    "InferenceEngine",
    "JobFault",
    "MemoryStore",
    "Message",
    "Metrics",
    "Paused",
    "Piece",
    "Platform",
    "PlatformServer",
    "Request",
    "Response",
    "ServedModel",
    "Started",
    "Store",
    "StoreCorruptError",
    "Succeeded",
    "SystemClock",
    "Timing",
    "TrainingEngine",
    "TrainingJob",
]
