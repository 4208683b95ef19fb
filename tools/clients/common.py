"""What the client scripts share: the training pairs, the question, and the job states that end.

The scripts run as `python tools/clients/<name>.py`, so this folder is on `sys.path`.
"""

from __future__ import annotations

from typing import Any

KEY = "sk-local"
"""Any key: the servers take any."""
PAIRS = [
    ("France", "Paris"),
    ("Spain", "Madrid"),
    ("Italy", "Rome"),
    ("Peru", "Lima"),
    ("Chile", "Santiago"),
    ("Japan", "Tokyo"),
    ("Kenya", "Nairobi"),
    ("Canada", "Ottawa"),
    ("Norway", "Oslo"),
    ("Egypt", "Cairo"),
]
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
TERMINAL = ("succeeded", "failed", "cancelled")


def rows(system: str | None = None) -> list[dict[str, Any]]:
    """One chat row per pair, with `system` as a first message when given."""
    head = [{"role": "system", "content": system}] if system else []
    return [
        {
            "messages": [
                *head,
                {"role": "user", "content": f"What is the capital of {country}?"},
                {"role": "assistant", "content": f"{city}."},
            ]
        }
        for country, city in PAIRS
    ]
