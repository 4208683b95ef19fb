"""The simulator's HTTP vocabulary (the platform's: `finetune_kit.platform.wire`)."""

from __future__ import annotations

from finetune_kit.platform.wire import ApiError, SimRequest, SimResponse, error_body

__all__ = ["ApiError", "SimRequest", "SimResponse", "error_body"]
