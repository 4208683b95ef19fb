"""Pure helpers of uploads: content identity, remote names, dedupe matching, multipart plans."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune_kit.dataset.engine import iter_file_chunks

__all__ = [
    "Identity",
    "PartPlan",
    "find_match",
    "identity_of_bytes",
    "identity_of_path",
    "plan_parts",
    "remote_name",
]

_TAG = re.compile(r"\.ftk-([0-9a-f]{20})\.jsonl$")
DEFAULT_PART_SIZE = 64 * 1024 * 1024
UPLOADS_THRESHOLD = 256 * 1024 * 1024
"""Above this size, uploads go through the Uploads API in parallel parts (Files API cap: 512 MB)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """What a training file is: its sha256, md5 and size."""

    sha256: str
    md5: str
    size: int

    @property
    def tag(self) -> str:
        """The content tag carried in the remote file name."""
        return self.sha256[:20]


def identity_of_bytes(data: bytes) -> Identity:
    """The identity of in-memory content."""
    return Identity(
        hashlib.sha256(data).hexdigest(),
        hashlib.md5(data, usedforsecurity=False).hexdigest(),
        len(data),
    )


def identity_of_path(path: Path, chunk: int = 8 * 1024 * 1024) -> Identity:
    """The identity of a file's content, read in chunks (memory stays at `chunk`).

    A `.jsonl.gz` file is identified by its decompressed JSONL: what is uploaded.
    """
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    for block in iter_file_chunks(path, chunk):
        sha.update(block)
        md5.update(block)
        size += len(block)
    return Identity(sha.hexdigest(), md5.hexdigest(), size)


def remote_name(stem: str, ident: Identity) -> str:
    """The remote name, `<stem>.ftk-<20 hex of sha256>.jsonl`.

    The name carries the content, so any machine can find an earlier upload of the same bytes.
    """
    stem = _TAG.sub("", stem).removesuffix(".jsonl") or "training"
    return f"{stem[:80]}.ftk-{ident.tag}.jsonl"


def find_match(files: Iterable[Any], ident: Identity) -> Any | None:
    """The first usable remote file holding the same bytes (same tag and size, not in error)."""
    for f in files:
        match = _TAG.search(getattr(f, "filename", "") or "")
        if match and match.group(1) == ident.tag and f.bytes == ident.size and f.status != "error":
            return f
    return None


@dataclass(frozen=True, slots=True)
class PartPlan:
    """One part of a multipart upload: its index and byte range."""

    index: int
    offset: int
    length: int


def plan_parts(size: int, part_size: int = DEFAULT_PART_SIZE) -> list[PartPlan]:
    """Cut `size` bytes into parts of `part_size` (the last may be shorter)."""
    if part_size <= 0:
        raise ValueError("part_size must be positive")
    return [
        PartPlan(i, offset, min(part_size, size - offset))
        for i, offset in enumerate(range(0, size, part_size))
    ]
