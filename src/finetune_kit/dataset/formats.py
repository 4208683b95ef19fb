"""Which training format a file holds, and whether it is JSONL text at all: from keys and bytes."""

from __future__ import annotations

import codecs
from typing import Any

from finetune_kit.dataset.report import Format

__all__ = ["CHAT_TOP", "HEAD_BYTES", "detect_format", "family_of", "not_text_reason"]

CHAT_TOP = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
"""The top-level keys of a supervised chat row."""


def family_of(obj: dict[str, Any]) -> Format:
    """Guess the format of one parsed line from its keys alone."""
    if "messages" in obj:
        return "reinforcement" if not obj.keys() <= CHAT_TOP else "chat"
    if (
        "input" in obj
        or "preferred_output" in obj
        or "non_preferred_output" in obj
        or "preferred_completion" in obj
    ):
        return "dpo"
    if "prompt" in obj or "completion" in obj:
        return "completion"
    return "unknown"


def detect_format(families: dict[Format, int]) -> Format:
    """Pick the file's format from per-family line counts (ties: chat, dpo, rft, completion)."""
    order: tuple[Format, ...] = ("chat", "dpo", "reinforcement", "completion")
    messages_rows = families.get("chat", 0) + families.get("reinforcement", 0)
    # A chat file with a stray extra key is still chat; an RFT file is mostly rows with extra keys.
    merged: dict[Format, int] = {
        "chat": messages_rows if families.get("reinforcement", 0) * 2 <= messages_rows else 0,
        "reinforcement": messages_rows
        if families.get("reinforcement", 0) * 2 > messages_rows
        else 0,
        "dpo": families.get("dpo", 0),
        "completion": families.get("completion", 0),
    }
    best: Format = "unknown"
    best_n = 0
    for fmt in order:
        if merged[fmt] > best_n:
            best, best_n = fmt, merged[fmt]
    return best


HEAD_BYTES = 1024
"""How much of the start of a file `not_text_reason` looks at."""
_NOT_TEXT = "not a JSONL text file"
_MAX_INVALID_SHARE = 0.1
"""Above this share of bytes that are not UTF-8, the start of a file is not UTF-8 text."""
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (
        b"\x1f\x8b",
        "gzip-compressed data: name it .jsonl.gz to have it read as such, or decompress it",
    ),
    (b"PK\x03\x04", "a ZIP archive (.zip, .xlsx, .docx...): export the examples as JSONL"),
    (b"%PDF-", "a PDF document: export the examples as JSONL"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (
        b"PAR1",
        "a Parquet file: export it as JSONL (e.g. pandas' to_json(orient='records', lines=True))",
    ),
    (b"SQLite format 3\x00", "an SQLite database: export the examples as JSONL"),
    (b"\xfd7zXZ\x00", "xz-compressed data: decompress it (.jsonl.gz is read as is)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data: decompress it (.jsonl.gz is read as is)"),
    (b"BZh", "bzip2-compressed data: decompress it (.jsonl.gz is read as is)"),
    (b"\x00\x00\xfe\xff", "UTF-32 text: re-save it as UTF-8"),
    (b"\xff\xfe\x00\x00", "UTF-32 text: re-save it as UTF-8"),
    (b"\xff\xfe", "UTF-16 text: re-save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text: re-save it as UTF-8"),
)


def not_text_reason(head: bytes) -> str | None:
    """Say that (and why) the start of a file is not JSONL text, or return `None` when it may be.

    `head` is the first `HEAD_BYTES` of the file (after decompression, for a `.jsonl.gz`).
    Binary data (a known file signature, or a NUL byte: UTF-8 JSON never holds one) and text in
    another encoding (more than a tenth of the bytes not UTF-8) are not JSONL text; a file that
    is mostly UTF-8 with a few bad bytes is, and gets a finding per line instead.
    """
    for magic, what in _SIGNATURES:
        if head.startswith(magic) and (magic != b"BZh" or head[4:10] == b"1AY&SY"):
            return f"{_NOT_TEXT}: it is {what}"
    nul = head.find(b"\x00")
    if nul >= 0:
        if head[1::2].count(0) * 2 >= len(head) // 2 or head[0::2].count(0) * 2 >= len(head) // 2:
            return f"{_NOT_TEXT}: it is UTF-16 text (no byte-order mark): re-save it as UTF-8"
        return (
            f"{_NOT_TEXT}: it is binary data (a NUL byte at byte {nul + 1:,}); training data is "
            "UTF-8 text, one JSON object per line"
        )
    # Cut off a character split at the end of the head: it is not an error.
    decoded = codecs.getincrementaldecoder("utf-8")("replace").decode(head, final=False)
    invalid = decoded.count("\ufffd") - head.decode("utf-8", "ignore").count("\ufffd")
    if head and invalid > _MAX_INVALID_SHARE * len(head):
        return (
            f"{_NOT_TEXT}: it is not UTF-8 ({invalid:,} of its first {len(head):,} bytes are not "
            "UTF-8): re-save it as UTF-8"
        )
    return None
