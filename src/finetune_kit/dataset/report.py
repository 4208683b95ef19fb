"""The validation report: findings, statistics and the cost estimate, readable and as JSON."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field

from finetune_kit.dataset.codes import CODES, Severity
from finetune_kit.exceptions import DatasetError

__all__ = ["CostEstimate", "DatasetStats", "Distribution", "Finding", "ValidationReport"]

Format = Literal["chat", "dpo", "reinforcement", "completion", "unknown"]


class Finding(BaseModel):
    """One problem found in a dataset, with where it is and how to fix it.

    Added in 0.1.0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    severity: Severity
    """`"error"`: the provider would reject the file; `"warning"`: it would accept it, but
    something is probably wrong (truncation, duplicates, legacy format...)."""
    code: str
    """A stable machine-readable code, e.g. `"empty_content"`. See the Datasets guide."""
    line: int | None
    """The 1-based line in the file, or `None` for findings about the whole file."""
    field: str | None
    """The path of the field inside the line, e.g. `"messages[2].content"`."""
    message: str
    """What is wrong and how to fix it. Never contains training text."""

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        field = f" {self.field}" if self.field else ""
        return f"{where}{field}: [{self.code}] {self.message}"


class Distribution(BaseModel):
    """Summary of a list of numbers (percentiles interpolate linearly, like numpy's default).

    Added in 0.1.0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    min: int
    mean: float
    p50: float
    p90: float
    p95: float
    max: int

    @classmethod
    def of(cls, values: Iterable[int]) -> Distribution:
        """Summarise `values` (none at all gives zeros).

        Works on value counts, so a million examples take a few kilobytes, not a sorted copy.
        """
        return cls.from_counts(Counter(values))

    @classmethod
    def from_counts(cls, counts: Mapping[int, int]) -> Distribution:
        """Summarise the values that `counts` maps to how often each occurs.

        The same summary as `of()` over the values themselves, exactly, from a mapping whose size
        is the number of distinct values: e.g. `Distribution.from_counts({1: 3, 10: 1})` is
        `Distribution.of([1, 1, 1, 10])`. Values counted zero times (or fewer) are left out.
        """
        counts = {v: c for v, c in counts.items() if c > 0}
        n = sum(counts.values())
        if not n:
            return cls(min=0, mean=0.0, p50=0.0, p90=0.0, p95=0.0, max=0)
        distinct = sorted(counts)
        total = sum(v * c for v, c in counts.items())

        def at(rank: int) -> int:  # the rank-th smallest value (0-based)
            seen = 0
            for v in distinct:
                seen += counts[v]
                if rank < seen:
                    return v
            return distinct[-1]

        def quantile(q: float) -> float:
            pos = (n - 1) * q
            lo = int(pos)
            low, high = at(lo), at(min(lo + 1, n - 1))
            return round(low + (high - low) * (pos - lo), 2)

        return cls(
            min=distinct[0],
            mean=round(total / n, 2),
            p50=quantile(0.5),
            p90=quantile(0.9),
            p95=quantile(0.95),
            max=distinct[-1],
        )

    def __str__(self) -> str:
        return (
            f"min {self.min:,} · mean {self.mean:,.1f} · p50 {self.p50:,.0f} · "
            f"p90 {self.p90:,.0f} · p95 {self.p95:,.0f} · max {self.max:,}"
        )


class CostEstimate(BaseModel):
    """What a training job on this dataset would bill, before anything is spent.

    `cost = price per 1M tokens × billed_tokens / 1M`, where
    `billed_tokens = n_epochs × Σ min(tokens per example, training context)`.
    Validation files are not billed. Reinforcement fine-tuning is billed by time, so its
    estimate has tokens but no price.

    Added in 0.1.0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    """The model the estimate is for."""
    examples: int
    """Examples counted."""
    tokens_per_epoch: int
    """Billed tokens in one pass: each example capped at the training context."""
    n_epochs: int
    """Epochs: the given number, or the cookbook heuristic for `"auto"`."""
    n_epochs_auto: bool
    """Whether `n_epochs` comes from the `"auto"` heuristic (the server's own is unpublished)."""
    billed_tokens: int
    """`n_epochs × tokens_per_epoch`."""
    usd_per_million: float | None
    """Training price per 1M tokens, or `None` when no source gives one."""
    price_source: str | None
    """Where the price comes from."""
    cost_usd: float | None
    """The estimated cost, or `None` when the price is unknown."""
    usd_per_hour: float | None = None
    """Reinforcement fine-tuning: the published price per hour of training, when there is one
    (the hours can't be known from the data, so `cost_usd` stays `None`). Added in 0.1.0."""

    def __str__(self) -> str:
        epochs = f"{self.n_epochs} epoch{'s' if self.n_epochs != 1 else ''}"
        if self.n_epochs_auto:
            epochs += " (auto, cookbook heuristic)"
        text = f"{self.tokens_per_epoch:,} tokens × {epochs} = {self.billed_tokens:,} billed tokens"
        if self.usd_per_hour is not None and self.cost_usd is None:
            return (
                text + f"; billed per hour of training instead (${self.usd_per_hour:g}/h, "
                f"{self.price_source}), and the hours can't be known before the job runs"
            )
        if self.cost_usd is None:
            return text + f"; price of {self.model} unknown (no published price in the table)"
        return (
            text + f" ≈ ${self.cost_usd:,.2f} at ${self.usd_per_million:g}/1M ({self.price_source})"
        )


class DatasetStats(BaseModel):
    """Counts and distributions over the examples that could be parsed.

    Added in 0.1.0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rows: int
    """Non-blank lines: what the provider counts as examples."""
    examples: int
    """Rows that parsed into an example of the file's format: what the statistics cover."""
    messages_per_example: Distribution
    tokens_per_example: Distribution
    """Tokens per example, counted as the cookbook does (see the Datasets guide)."""
    assistant_tokens_per_example: Distribution
    """Tokens of the assistant (or preferred/non-preferred) content per example."""
    total_tokens: int
    """Tokens over all examples, uncapped."""
    training_context: int | None
    """The model's training context, when known."""
    examples_over_context: int
    """Examples longer than the training context (the provider truncates them)."""
    examples_without_system: int
    examples_without_user: int
    images: int
    """Image parts over all examples."""


class ValidationReport(BaseModel):
    """The outcome of [`Dataset.validate`][finetune_kit.Dataset.validate].

    `str(report)` is a readable summary; `report.model_dump_json()` (or
    [`to_json`][finetune_kit.ValidationReport.to_json]) is a stable JSON form a CI job can gate on
    (`ok`, `counts`).

    Added in 0.1.0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    """The file validated, or the name of in-memory data (`Dataset.source`: `"<records>"`
    unless named, e.g. `"train.jsonl (test split)"`)."""
    format: Format
    """The detected (or given) format of the file."""
    model: str
    """The model validated for."""
    encoding: str
    """The tokenizer used for counting."""
    errors: tuple[Finding, ...]
    """Error findings, in line order (capped at `max_findings`; see `counts`)."""
    warnings: tuple[Finding, ...]
    """Warning findings, in line order (capped at `max_findings`; see `counts`)."""
    counts: dict[str, int]
    """Exact number of findings per code, including any not listed."""
    omitted: int
    """Findings counted but not listed because of `max_findings`."""
    stats: DatasetStats
    estimate: CostEstimate

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        """`True` when there are no errors (warnings allowed)."""
        return self.error_count == 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def error_count(self) -> int:
        """Number of errors, including unlisted ones."""
        return sum(n for code, n in self.counts.items() if CODES[code].severity == "error")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def warning_count(self) -> int:
        """Number of warnings, including unlisted ones."""
        return sum(self.counts.values()) - self.error_count

    def raise_for_errors(self) -> ValidationReport:
        """Raise [`DatasetError`][finetune_kit.DatasetError] if there are errors; else return self."""
        if self.ok:
            return self
        first = self.errors[0] if self.errors else None
        if "not_jsonl_text" in self.counts:  # one line says it all
            reason = first.message if first else "not a JSONL text file"
            raise DatasetError(
                f"{self.source}: {reason}",
                report=self,
                findings=self.errors,
                source=self.source,
            )
        shown = "\n".join(f"  {self.source}:{_loc(f)}" for f in self.errors[:10])
        more = self.error_count - min(len(self.errors), 10)
        tail = f"\n  ... and {more:,} more" if more > 0 else ""
        raise DatasetError(
            f"{self.source}: {self.error_count:,} error(s) the provider would reject:\n{shown}{tail}",
            report=self,
            findings=self.errors,
            source=self.source,
            line=first.line if first else None,
        )

    def to_json(self, *, indent: int | None = 2) -> str:
        """Return the report as JSON (`ok`, `error_count` and `warning_count` included)."""
        return self.model_dump_json(indent=indent)

    def __str__(self) -> str:
        s = self.stats
        not_text = "not_jsonl_text" in self.counts  # nothing was counted: no stats to show
        lines = [
            (
                f"{self.source}: no rows read"
                if not_text
                else f"{self.source}: {s.rows:,} row(s), {s.examples:,} counted as {self.format} "
                f"examples for {self.model} [{self.encoding}]"
            ),
            (
                f"{'OK' if self.ok else 'NOT OK'}: {self.error_count:,} error(s), "
                f"{self.warning_count:,} warning(s)"
            ),
        ]
        for title, items in (("errors", self.errors), ("warnings", self.warnings)):
            if items:
                lines.append(f"{title}:")
                lines.extend(f"  {self.source}:{_loc(f)}" for f in items[:50])
                if len(items) > 50:
                    lines.append(f"  ... {len(items) - 50:,} more listed in the JSON form")
        if self.omitted:
            lines.append(f"  ({self.omitted:,} more findings counted but not listed)")
        if not_text:
            return "\n".join(lines)
        lines += [
            "stats:",
            f"  messages per example  {s.messages_per_example}",
            f"  tokens per example    {s.tokens_per_example}",
            f"  assistant tokens      {s.assistant_tokens_per_example}",
            f"  total tokens          {s.total_tokens:,}",
        ]
        if s.training_context is not None:
            lines.append(
                f"  over {s.training_context:,}-token context: {s.examples_over_context:,} "
                "(truncated when training)"
            )
        lines.append(
            f"  without system / user message: {s.examples_without_system:,} / "
            f"{s.examples_without_user:,}"
        )
        if s.images:
            lines.append(f"  images                {s.images:,}")
        lines += ["estimate:", f"  {self.estimate}"]
        return "\n".join(lines)


def _loc(f: Finding) -> str:
    where = f"{f.line}:" if f.line is not None else ""
    field = f" {f.field}" if f.field else ""
    return f"{where}{field} [{f.code}] {f.message}"
