"""One line at a time: parse, check and count the examples of a run of lines.

`LineWorker.run` turns lines into a `ChunkResult`: compact per-example numbers (tokens,
assistant tokens, messages, duplicate keys) and the findings, with line numbers relative to the
run's start. The same worker runs in this process, in a forked worker and in a fresh
interpreter (`parallel.py`); `merge.py` adds the chunks up.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pydantic_core

from finetune_kit.dataset.catalog import model_info
from finetune_kit.dataset.checks import LineChecker
from finetune_kit.dataset.codes import CODES
from finetune_kit.dataset.formats import detect_format, family_of
from finetune_kit.dataset.report import Finding, Format
from finetune_kit.dataset.tokens import TokenCounter

if TYPE_CHECKING:  # transformers loads only when an open-weights model is validated
    from finetune_kit.dataset.hf_tokens import OpenWeights

__all__ = [
    "BOM",
    "TEMPLATE_ENCODING",
    "ChunkResult",
    "LineWorker",
    "Method",
    "Settings",
    "TokenizerFailedError",
    "example_key",
    "finding",
    "settings_for",
    "sniff_format",
]

Method = Literal["supervised", "dpo", "reinforcement"]

BOM = b"\xef\xbb\xbf"

_VISION_FAMILIES = frozenset({"gpt-4o", "gpt-4.1", "unknown"})
_LEGACY_FAMILIES = frozenset({"babbage-002", "davinci-002"})
_METHOD_FORMAT: dict[str, Format] = {
    "supervised": "chat",
    "dpo": "dpo",
    "reinforcement": "reinforcement",
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a worker needs to check lines on its own."""

    model: str
    fmt: Format
    encoding: str
    vision_model: bool
    legacy_model: bool = False
    open_weights: OpenWeights | None = None
    """An open-weights model: its chat template counts the tokens (`dataset.hf_tokens`)."""

    @property
    def context(self) -> int | None:
        """Tokens per training example before truncation (`None`: no limit known)."""
        if self.open_weights is not None:
            return self.open_weights.context
        return model_info(self.model).training_context


def example_key(raw: bytes) -> int:
    """Return the duplicate-detection key of a line: a 64-bit hash of its stripped bytes."""
    return int.from_bytes(hashlib.blake2b(raw.strip(), digest_size=8).digest(), "little")


@dataclass(slots=True)
class ChunkResult:
    """Per-example numbers and findings of a run of lines; line numbers relative to its start."""

    lines: int = 0
    rows: int = 0
    ex_line: array[int] = field(default_factory=lambda: array("q"))
    tokens: array[int] = field(default_factory=lambda: array("q"))
    assistant: array[int] = field(default_factory=lambda: array("q"))
    messages: array[int] = field(default_factory=lambda: array("q"))
    keys: array[int] = field(default_factory=lambda: array("Q"))
    no_system: int = 0
    no_user: int = 0
    images: int = 0
    findings: list[Finding] = field(default_factory=list)
    partial: set[int] = field(default_factory=set)
    """Lines (relative) of examples counted only until they were over the training context."""


class TokenizerFailedError(Exception):
    """tiktoken failed on a line (it may raise a `BaseException`: a Rust panic)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(line, reason)
        self.line = line
        self.reason = reason


class LineWorker:
    """Parses, checks and counts lines with one model's settings."""

    def __init__(self, settings: Settings) -> None:
        self.template: Any = None
        if settings.open_weights is not None:
            from finetune_kit.dataset.hf_tokens import TemplateCounter  # noqa: PLC0415

            self.template = TemplateCounter(settings.open_weights)
            self.checker = LineChecker(settings.fmt, vision_model=settings.vision_model)
        else:
            self.counter = TokenCounter(settings.encoding)
            self.checker = LineChecker(
                settings.fmt,
                vision_model=settings.vision_model,
                role_tokens=self.counter.role_tokens(),
            )
        self.limit = settings.context

    def run(self, lines: Iterable[bytes], *, first: bool) -> ChunkResult:  # noqa: PLR0915
        """The numbers and findings of `lines` (`first`: they start the file)."""
        res = ChunkResult()
        findings = res.findings
        check = self.checker.check
        template = self.template
        plan_tokens = self.counter.plan_upto if template is None else None
        limit = self.limit
        from_json = pydantic_core.from_json
        blake2b = hashlib.blake2b
        from_bytes = int.from_bytes
        to_line = res.ex_line.append
        to_tokens = res.tokens.append
        to_assistant = res.assistant.append
        to_messages = res.messages.append
        to_keys = res.keys.append
        no_system = no_user = images = 0
        n = 0
        for line_bytes in lines:
            raw = line_bytes
            n += 1
            if n == 1 and first and raw.startswith(BOM):
                findings.append(
                    finding(
                        "bom",
                        1,
                        None,
                        "the file starts with a UTF-8 byte-order "
                        "mark (BOM): save it as UTF-8 without BOM",
                    )
                )
                raw = raw[len(BOM) :]
            try:
                obj = from_json(raw, allow_inf_nan=False)
            except ValueError as exc:
                if not raw.strip():
                    findings.append(finding("blank_line", n, None, "blank line: remove it"))
                    continue
                res.rows += 1
                obj = _diagnose(raw, n, exc, findings)
                if obj is None:
                    continue
            else:
                res.rows += 1
            before = len(findings)
            plan = check(obj, n, findings)
            if plan is None:
                continue
            if template is not None:
                counted = _template_count(template, obj, n, findings, before)
                if counted is None:
                    continue
                tokens, assistant = counted
                exact = True
            else:
                try:
                    tokens, assistant, exact = plan_tokens(plan, limit)  # type: ignore[misc]
                except (KeyboardInterrupt, SystemExit, GeneratorExit):
                    raise
                except BaseException as exc:  # noqa: BLE001 - a Rust panic is a BaseException
                    raise TokenizerFailedError(n, f"{type(exc).__name__}: {exc}"[:300]) from None
            if not exact:
                res.partial.add(n)
            to_line(n)
            to_tokens(tokens)
            to_assistant(assistant)
            to_messages(plan.messages)
            # `example_key`, inlined
            to_keys(from_bytes(blake2b(raw.strip(), digest_size=8).digest(), "little"))
            no_system += not plan.has_system
            no_user += not plan.has_user
            images += plan.images
        res.lines = n
        res.no_system = no_system
        res.no_user = no_user
        res.images = images
        return res


def _template_count(
    template: Any, obj: Any, line: int, findings: list[Finding], before: int
) -> tuple[int, int] | None:
    """(tokens, trained tokens) of a row by the model's chat template; `None` if not rendered.

    A row the template can't render gets a `template_cannot_render` finding, unless the checks
    already found an error on it (its data is wrong: the template's complaint would only echo
    that).
    """
    from finetune_kit.dataset.hf_tokens import Rejection  # noqa: PLC0415

    counted = template.count(obj)
    if isinstance(counted, Rejection):
        if not any(f.severity == "error" for f in findings[before:]):
            findings.append(finding("template_cannot_render", line, counted.field, counted.message))
        return None
    tokens, trained = counted
    return int(tokens), int(trained)


def finding(code: str, line: int | None, fld: str | None, message: str) -> Finding:
    """A finding of `code` (its severity from the catalogue of codes)."""
    return Finding(severity=CODES[code].severity, code=code, line=line, field=fld, message=message)


def _diagnose(raw: bytes, line: int, exc: ValueError, findings: list[Finding]) -> object | None:
    """Explain why a line did not parse; return the object if it parses once repaired."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        findings.append(
            finding(
                "invalid_utf8",
                line,
                None,
                f"byte {err.start + 1} is not valid UTF-8: re-save the file as UTF-8",
            )
        )
        repaired = raw.decode("utf-8", errors="replace").encode()
        try:
            parsed: object = pydantic_core.from_json(repaired, allow_inf_nan=False)
        except ValueError as exc2:
            exc = exc2
        else:
            return parsed
    reason = str(exc).split(" at line ")[0]
    column = str(exc).rsplit("column ", 1)[-1] if "column " in str(exc) else "?"
    findings.append(
        finding(
            "invalid_json",
            line,
            None,
            f"not valid JSON at column {column}: {reason} (each line must be one complete JSON "
            "object; check quotes, commas and brackets)",
        )
    )
    return None


TEMPLATE_ENCODING = "chat template"
"""The `encoding` of a report whose tokens an open-weights model's chat template counted."""


def settings_for(model: str, fmt: Format, open_weights: OpenWeights | None = None) -> Settings:
    """Settings for checking `fmt` lines for `model` (an open-weights one: its chat template)."""
    if open_weights is not None:
        return Settings(
            model=model,
            fmt=fmt,
            encoding=TEMPLATE_ENCODING,
            vision_model=False,
            open_weights=open_weights,
        )
    info = model_info(model)
    return Settings(
        model=model,
        fmt=fmt,
        encoding=info.encoding,
        vision_model=info.family in _VISION_FAMILIES,
        legacy_model=info.family in _LEGACY_FAMILIES,
    )


def sniff_format(lines: Iterable[bytes], method: Method | None) -> Format:
    """The file's format: from `method` when given, else from its first lines."""
    if method is not None:
        return _METHOD_FORMAT[method]
    families: Counter[Format] = Counter()
    for raw in lines:
        try:
            obj = pydantic_core.from_json(raw.lstrip(BOM))
        except ValueError:
            continue
        if isinstance(obj, dict):
            families[family_of(obj)] += 1
    return detect_format(families)
