"""Plain-text tables and numbers for the commands' output."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["num", "table"]


def table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print rows under a header, columns padded to their widest cell."""
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows, strict=False)]
    for row in (head, *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def num(value: float | None) -> str:
    """`0.1234`, or `-` for a value the provider didn't give."""
    return "-" if value is None else f"{value:.4f}"
