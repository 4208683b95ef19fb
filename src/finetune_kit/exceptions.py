"""Every error finetune-kit raises, in one tree.

```text
FinetuneKitError(Exception)                        base for everything finetune-kit raises
├── DatasetError(FinetuneKitError, ValueError)     a dataset the provider would reject
│                                                  (.report, .findings, .line, .source)
└── ConfigurationError(FinetuneKitError, ValueError)
    └── EncodingUnavailableError                   a tokenizer that can't be loaded offline
```

Errors from the `openai` SDK (`openai.APIError` and its subclasses) pass through unchanged.
Messages name files, lines, fields and ids; they never contain API keys or training text.

Added in 0.1.0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finetune_kit.dataset.report import Finding, ValidationReport

__all__ = [
    "ConfigurationError",
    "DatasetError",
    "EncodingUnavailableError",
    "FinetuneKitError",
]


class FinetuneKitError(Exception):
    """Base class of every exception finetune-kit raises.

    Added in 0.1.0.
    """


class DatasetError(FinetuneKitError, ValueError):
    """A dataset has errors that the provider would reject.

    Raised by [`ValidationReport.raise_for_errors`][finetune_kit.ValidationReport.raise_for_errors]
    and by `Dataset` methods that need well-formed rows. The message lists the first errors as
    `file:line field [code] message`; the full list is on `.findings`.

    Attributes:
        report: The validation report, when the error comes from one (else `None`).
        findings: The error findings (empty when the error is about a single line).
        source: The file (or `"<records>"`) the error is about.
        line: The 1-based line of the first error, when it is known.

    Added in 0.1.0.
    """

    def __init__(
        self,
        message: str,
        *,
        report: ValidationReport | None = None,
        findings: tuple[Finding, ...] = (),
        source: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message)
        self.report = report
        self.findings = findings
        self.source = source
        self.line = line


class ConfigurationError(FinetuneKitError, ValueError):
    """An argument or environment setting that can't work, with the fix in the message.

    Added in 0.1.0.
    """


class EncodingUnavailableError(ConfigurationError):
    """A tokenizer encoding could not be loaded without the network.

    The message says exactly how to make it available.

    Added in 0.1.0.
    """
