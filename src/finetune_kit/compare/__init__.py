"""`compare` / `acompare`: the same prompts against several models, side by side, in numbers.

Per item and model: the output, latency, prompt and completion tokens, cost (when prices are
given) and each grader's verdict. Per model: pass rates with 95% Wilson score intervals, latency
p50/p95, tokens and cost per item; per grader, a one-line verdict (`Comparison.verdict`). A base model can also be run with few-shot examples in the
prompt, to show the tokens fine-tuning saves.

Failures are loud and bounded: a model none of whose calls were answered has no rates (None,
"n/a" in the reports) and is listed in `Comparison.failed_models`; live calls stop at a
deadline (an hour by default); Ctrl-C stops a sync run within a second and raises
`CompareInterrupted` carrying what had finished.

The package, by concept: `results` (what a comparison holds and reports), `plan` (items,
few-shot variants, messages), `answers` (answers from replies, the comparison assembled),
`calls` (a live call's deadline and "not found"), `gate` (the concurrency gates), and the two
shells, `run_sync` (`compare`) and `run_async` (`acompare`). Each call's retries are one flow,
`finetune_kit._core.retry.answer_flow`, that both shells drive.
"""

from __future__ import annotations

from finetune_kit.compare.results import (
    DEFAULT_DEADLINE,
    INTERRUPTED,
    Answer,
    CompareInterrupted,
    Comparison,
    ModelSummary,
    Row,
)
from finetune_kit.compare.run_async import acompare
from finetune_kit.compare.run_sync import compare

__all__ = [
    "DEFAULT_DEADLINE",
    "INTERRUPTED",
    "Answer",
    "CompareInterrupted",
    "Comparison",
    "ModelSummary",
    "Row",
    "acompare",
    "compare",
]
