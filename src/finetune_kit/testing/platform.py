"""Published platform facts the simulator reproduces: model shutdown dates, aliases, the wind-down."""

from __future__ import annotations

from finetune_kit.dataset import catalog
from finetune_kit.dataset.catalog import SHUTDOWN_DATES
from finetune_kit.platform.state import day_of

__all__ = ["ALIASES", "DEFAULT_SHUTDOWN_DATES", "WIND_DOWN", "day_of"]

DEFAULT_SHUTDOWN_DATES: dict[str, str | None] = dict(SHUTDOWN_DATES)
"""The simulator's default shutdown table: the published dates (`finetune_kit.dataset.catalog`)."""

ALIASES: dict[str, str] = {**catalog.ALIASES, "gpt-35-turbo-0125": "gpt-3.5-turbo-0125"}
"""Model aliases and Azure spellings, resolved to the dated snapshot a job reports."""

WIND_DOWN = 1_799_193_600
"""2027-01-06T00:00:00Z: from then on OpenAI accepts no new fine-tuning jobs (Azure still does)."""
