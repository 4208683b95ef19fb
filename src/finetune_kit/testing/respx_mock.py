"""Mount a `Simulator` on respx (the platform's mount: `finetune_kit.platform.respx_mock`)."""

from __future__ import annotations

from finetune_kit.platform.respx_mock import mount

__all__ = ["mount"]
