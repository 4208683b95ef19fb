"""Adding chunks up: exact statistics and duplicates in memory that does not grow with the file.

`Merged.add` takes each `ChunkResult` in file order; `Merged.report` builds the
`ValidationReport`. See `KeyStore` for how the duplicate keys stay out of memory.
"""

from __future__ import annotations

import heapq
import io
import tempfile
from array import array
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import IO, Literal

from finetune_kit.dataset.catalog import model_info
from finetune_kit.dataset.cost import estimate_cost
from finetune_kit.dataset.lines import ChunkResult, Settings, finding
from finetune_kit.dataset.report import DatasetStats, Distribution, Finding, ValidationReport

__all__ = ["KEYS_IN_MEMORY", "MIN_EXAMPLES", "KeyStore", "Merged"]

MIN_EXAMPLES = 10

KEYS_IN_MEMORY = 1 << 20
"""Duplicate keys (16 bytes each with their line) held in memory before they go to a temporary
file: about 16 MB. Smaller datasets never touch the disk."""
_KEY_BUCKET_SHIFT = 56  # 256 buckets, by the top 8 bits of a key


class KeyStore:
    """Every example's duplicate key and line, in memory that does not grow with the file.

    The (key, line) pairs are split by the top 8 bits of the key into 256 buckets, so all the
    copies of an example land in one bucket, in line order. Past `KEYS_IN_MEMORY` pairs the
    buckets are appended to an anonymous temporary file (16 bytes per example on disk, nothing
    per example in memory). At the end each bucket is read back on its own (1/256th of the
    keys) to find its duplicates, exactly: the same 64-bit keys as `example_key`, and the first
    line of each is the first copy's line.
    """

    __slots__ = ("_file", "_keys", "_lines", "_segments", "_spill_at", "buffered", "spilled")

    def __init__(self, spill_at: int | None = None) -> None:
        self._spill_at = KEYS_IN_MEMORY if spill_at is None else spill_at
        self._keys = [array("Q") for _ in range(256)]
        self._lines = [array("q") for _ in range(256)]
        # Per bucket, (offset, count) of each of its runs in the file, flat: 16 bytes per run.
        self._segments = [array("q") for _ in range(256)]
        self._file: IO[bytes] | None = None
        self.buffered = 0
        """Pairs in memory."""
        self.spilled = 0
        """Pairs in the temporary file."""

    def add(self, keys: array[int], lines: array[int], offset: int) -> None:
        """Add the keys of a chunk's examples, and their lines (plus `offset`)."""
        key_to = [a.append for a in self._keys]
        line_to = [a.append for a in self._lines]
        shift = _KEY_BUCKET_SHIFT
        for key, line in zip(keys, lines, strict=True):
            b = key >> shift
            key_to[b](key)
            line_to[b](line + offset)
        self.buffered += len(keys)
        if self.buffered >= self._spill_at:
            self._spill()

    def memory_bytes(self) -> int:
        """Bytes of the pairs held in memory (the arrays' contents)."""
        return sum(a.itemsize * len(a) for a in (*self._keys, *self._lines))

    def _spill(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="finetune-kit-keys-")  # noqa: SIM115
        f = self._file
        f.seek(0, io.SEEK_END)
        for keys, lines, segments in zip(self._keys, self._lines, self._segments, strict=True):
            if keys:
                segments.extend((f.tell(), len(keys)))
                keys.tofile(f)
                lines.tofile(f)
                del keys[:]  # frees the array's memory
                del lines[:]
        self.spilled += self.buffered
        self.buffered = 0

    def _bucket(self, b: int) -> tuple[array[int], array[int]]:
        keys: array[int] = array("Q")
        lines: array[int] = array("q")
        if self._file is not None:
            runs = self._segments[b]
            for start, count in zip(runs[::2], runs[1::2], strict=True):
                self._file.seek(start)
                keys.fromfile(self._file, count)
                lines.fromfile(self._file, count)
        keys.extend(self._keys[b])
        lines.extend(self._lines[b])
        return keys, lines

    def duplicates(self) -> Generator[tuple[int, int], None, None]:
        """(line, line of the first copy) for every later copy of an example, bucket by bucket."""
        for b in range(256):
            keys, lines = self._bucket(b)
            if len(set(keys)) == len(keys):
                continue
            first: dict[int, int] = {}
            for key, line in zip(keys, lines, strict=True):
                at = first.setdefault(key, line)
                if at != line:
                    yield line, at

    def __del__(self) -> None:  # a run that failed half-way: delete the file all the same
        f = getattr(self, "_file", None)
        if f is not None:
            f.close()

    def close(self) -> None:
        """Drop the pairs and delete the temporary file."""
        if self._file is not None:
            self._file.close()
            self._file = None
        for a in (*self._keys, *self._lines, *self._segments):
            del a[:]
        self.buffered = self.spilled = 0


@dataclass(slots=True)
class Merged:
    """The running totals of a validation, chunk by chunk, and the report they make."""

    settings: Settings
    source: str
    max_findings: int
    validation_keys: dict[int, int] | None
    lines: int = 0
    rows: int = 0
    examples: int = 0
    # Memory that does not grow with the number of examples: the statistics are exact value
    # counts (token and message counts are small integers, so a Counter holds one entry per
    # distinct value, not per example), and the duplicate keys go to a `KeyStore`.
    tokens: Counter[int] = field(default_factory=Counter)
    assistant: Counter[int] = field(default_factory=Counter)
    messages: Counter[int] = field(default_factory=Counter)
    no_system: int = 0
    no_user: int = 0
    images: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    keys: KeyStore = field(default_factory=KeyStore)

    def add(self, chunk: ChunkResult) -> None:
        """Add the next chunk of the file (chunks come in file order)."""
        offset = self.lines
        shifted = [
            f if not offset or f.line is None else f.model_copy(update={"line": f.line + offset})
            for f in chunk.findings
        ]
        context = self.settings.context
        vkeys = self.validation_keys
        overlaps: list[Finding] = []
        if vkeys:
            for rel, key in zip(chunk.ex_line, chunk.keys, strict=True):
                if key in vkeys:
                    overlaps.append(
                        finding(
                            "train_validation_overlap",
                            rel + offset,
                            None,
                            f"also line {vkeys[key]} of the validation set: remove it "
                            "from one of them, or the validation loss is meaningless",
                        )
                    )
        too_long: list[Finding] = []
        if context is not None and chunk.tokens and max(chunk.tokens) > context:
            for rel, tokens in zip(chunk.ex_line, chunk.tokens, strict=True):
                if tokens > context:
                    # Counting stops early on a very long example once it is over the context.
                    size = f"at least {tokens:,}" if rel in chunk.partial else f"{tokens:,}"
                    too_long.append(
                        finding(
                            "example_too_long",
                            rel + offset,
                            None,
                            f"{size} tokens, over the {context:,}-token training "
                            "context of this model: it will be truncated; shorten or "
                            "split it",
                        )
                    )
        # Line order, whatever the chunking: the max_findings cap then keeps the same findings.
        # (`heapq.merge` is stable: on one line, the chunk's findings, then overlap, then length.)
        for f in heapq.merge(shifted, overlaps, too_long, key=lambda f: f.line or 0):
            self._keep(f)
        self.keys.add(chunk.keys, chunk.ex_line, offset)
        self.examples += len(chunk.tokens)
        self.tokens.update(chunk.tokens)
        self.assistant.update(chunk.assistant)
        self.messages.update(chunk.messages)
        self.no_system += chunk.no_system
        self.no_user += chunk.no_user
        self.images += chunk.images
        self.rows += chunk.rows
        self.lines += chunk.lines

    def _duplicates(self) -> None:
        """Count every later copy of an example; list the earliest ones that fit the cap."""
        room = max(self.max_findings - len(self.findings), 0)
        total = 0
        # The `room` smallest lines, in a max-heap of (-line, first line): bounded by the cap,
        # however many copies there are.
        heap: list[tuple[int, int]] = []
        try:
            for line, first in self.keys.duplicates():
                total += 1
                if len(heap) < room:
                    heapq.heappush(heap, (-line, first))
                elif heap and line < -heap[0][0]:
                    heapq.heapreplace(heap, (-line, first))
        finally:
            self.keys.close()
        for neg_line, first in sorted(heap, reverse=True):
            self._keep(
                finding(
                    "duplicate_example",
                    -neg_line,
                    None,
                    f"same example as line {first}: remove one copy",
                )
            )
        if total > len(heap):
            self.counts["duplicate_example"] += total - len(heap)

    def _keep(self, f: Finding) -> None:
        self.counts[f.code] += 1
        if len(self.findings) < self.max_findings:
            self.findings.append(f)

    def report(  # noqa: D102 - the ValidationReport of everything added
        self, n_epochs: int | Literal["auto"], prices: dict[str, float] | None
    ) -> ValidationReport:
        s = self.settings
        info = model_info(s.model)
        if not info.known and s.open_weights is None:
            self._keep(
                finding(
                    "unknown_model",
                    None,
                    None,
                    f"finetune-kit does not know {s.model!r} (the provider lists it): tokens "
                    "are counted with o200k_base and no context limit is checked",
                )
            )
        if self.rows < MIN_EXAMPLES:
            self._keep(
                finding(
                    "too_few_examples",
                    None,
                    None,
                    f"{self.rows} example(s) (non-blank lines): the API requires at least {MIN_EXAMPLES} "
                    "(50-100 good ones usually show an improvement)",
                )
            )
        if s.fmt == "completion" and s.legacy_model:
            self._keep(
                finding(
                    "legacy_format",
                    None,
                    None,
                    f"prompt/completion rows train the legacy {info.family}; current models "
                    "train on chat 'messages' and are usually the better choice",
                )
            )
        elif (s.fmt == "completion") != s.legacy_model and self.rows:
            self._keep(
                finding(
                    "model_format_mismatch",
                    None,
                    None,
                    f"{info.family} trains on prompt/completion rows only: convert the file or "
                    "pick a chat model"
                    if s.legacy_model
                    else "prompt/completion rows only fit babbage-002 and davinci-002: convert "
                    "them to chat 'messages', or pick one of those models",
                )
            )
        self._duplicates()
        context = s.context
        tokens = self.tokens  # tokens of an example -> number of examples
        total = sum(t * n for t, n in tokens.items())
        capped = (
            sum(min(t, context) * n for t, n in tokens.items()) if context is not None else total
        )
        over = sum(n for t, n in tokens.items() if t > context) if context is not None else 0
        ordered = sorted(self.findings, key=lambda f: -1 if f.line is None else f.line)
        stats = DatasetStats(
            rows=self.rows,
            examples=self.examples,
            messages_per_example=Distribution.from_counts(self.messages),
            tokens_per_example=Distribution.from_counts(tokens),
            assistant_tokens_per_example=Distribution.from_counts(self.assistant),
            total_tokens=total,
            training_context=context,
            examples_over_context=over,
            examples_without_system=self.no_system,
            examples_without_user=self.no_user,
            images=self.images,
        )
        return ValidationReport(
            source=self.source,
            format=s.fmt,
            model=s.model,
            encoding=s.encoding,
            errors=tuple(f for f in ordered if f.severity == "error"),
            warnings=tuple(f for f in ordered if f.severity == "warning"),
            counts=dict(sorted(self.counts.items())),
            omitted=sum(self.counts.values()) - len(self.findings),
            stats=stats,
            estimate=estimate_cost(
                model=s.model,
                fmt=s.fmt,
                examples=self.examples,
                tokens_per_epoch=capped,
                n_epochs=n_epochs,
                prices=prices,
            ),
        )
