"""The example dataset shipped with finetune-kit."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["bundled_dataset"]


def bundled_dataset() -> Path:
    """Return the path of the Elle dataset bundled with finetune-kit: 10 valid chat examples.

    Elle answers questions about elements of the periodic table with a limerick (OpenAI
    cookbook's example). The demo, the Quickstart and the guides train on it: enough to see
    every step work, on the simulator or for real (10 examples is the API's minimum).

    Example:
        ```python
        from finetune_kit import Dataset, bundled_dataset

        ds = Dataset.from_jsonl(bundled_dataset())
        ```

    It used to be imported from `finetune_kit.cli.main`, which still works.

    Added in 0.1.0.
    """
    return Path(str(resources.files("finetune_kit") / "data" / "elle.jsonl"))
