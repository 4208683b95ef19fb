"""A cache that holds at most so many characters (or bytes) of keys, emptied when it is full.

Validation caches what repeats (token counts, serialised tool definitions) while memory stays
flat on any file: what really repeats comes straight back after a clearing, and one-off keys
can't pile up.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["BoundedCache"]

K = TypeVar("K", str, bytes)
V = TypeVar("V")


class BoundedCache(dict[K, V], Generic[K, V]):
    """A dict whose `put` empties it first once its keys hold more than `limit` characters."""

    __slots__ = ("_size", "limit")

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self._size = 0

    def put(self, key: K, value: V) -> V:
        """Store `value` under `key` (emptying the cache first when it is full); return it."""
        if self._size > self.limit:
            self.clear()
            self._size = 0
        self[key] = value
        self._size += len(key)
        return value
