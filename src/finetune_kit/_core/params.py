"""Checks of job parameters before anything is spent: method, hyperparameters, suffix, metadata.

One table of ranges (OPENAI-FACTS.md §3) serves the library's pre-flight checks and the
simulator's server-side ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "HYPERPARAMETER_RANGES",
    "METHODS",
    "ParamProblem",
    "check_metadata",
    "check_method",
    "check_suffix",
]

METHODS = ("supervised", "dpo", "reinforcement")
REASONING_EFFORTS = frozenset({"default", "low", "medium", "high"})
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
MAX_SUFFIX = 64


@dataclass(frozen=True, slots=True)
class Range:
    """An allowed numeric range."""

    kind: type
    low: float | None
    high: float | None
    low_open: bool = False

    def describe(self) -> str:
        """Human text, e.g. `an integer from 1 to 50`."""
        what = "an integer" if self.kind is int else "a number"
        if self.high is None:
            return f"{what} {'above' if self.low_open else 'of at least'} {self.low:g}"
        lower = f"above {self.low:g}" if self.low_open else f"from {self.low:g}"
        return f"{what} {lower} to {self.high:g}"


_COMMON = {
    "n_epochs": Range(int, 1, 50),
    "batch_size": Range(int, 1, 256),
    "learning_rate_multiplier": Range(float, 0, None, low_open=True),
}
HYPERPARAMETER_RANGES: dict[str, dict[str, Range]] = {
    "supervised": dict(_COMMON),
    "dpo": {**_COMMON, "beta": Range(float, 0, 2, low_open=True)},
    "reinforcement": {
        **_COMMON,
        "compute_multiplier": Range(float, 0.00001, 10, low_open=True),
        "eval_interval": Range(int, 1, None),
        "eval_samples": Range(int, 1, None),
    },
}
"""Per method: hyperparameter -> allowed range (`"auto"` is always allowed)."""


@dataclass(frozen=True, slots=True)
class ParamProblem:
    """A parameter the API would refuse, with where it is and what is allowed."""

    param: str
    message: str


def check_method(
    method: Any, hyperparameters: Any = None
) -> tuple[dict[str, Any], list[ParamProblem]]:
    """Normalise `method` (a name or the API's dict) and check it; return (method dict, problems).

    `hyperparameters` (the deprecated top-level form) is merged into the method's section.
    """
    problems: list[ParamProblem] = []
    if method is None:
        method = "supervised"
    if isinstance(method, str):
        method = {"type": method}
    if not isinstance(method, dict) or method.get("type") not in METHODS:
        kind = method.get("type") if isinstance(method, dict) else method
        return {"type": "supervised"}, [
            ParamProblem("method.type", f"method must be one of {', '.join(METHODS)}, not {kind!r}")
        ]
    kind = method["type"]
    section = method.get(kind) or {}
    if not isinstance(section, dict):
        return {"type": kind}, [ParamProblem(f"method.{kind}", "must be an object")]
    hp = dict(section.get("hyperparameters") or {})
    if hyperparameters:
        if not isinstance(hyperparameters, dict):
            problems.append(ParamProblem("hyperparameters", "must be an object"))
        else:
            hp = {**hyperparameters, **hp}
    for name, value in hp.items():
        param = f"method.{kind}.hyperparameters.{name}"
        if name == "reasoning_effort" and kind == "reinforcement":
            if value not in REASONING_EFFORTS:
                problems.append(ParamProblem(param, "must be default, low, medium or high"))
            continue
        rule = HYPERPARAMETER_RANGES[kind].get(name)
        if rule is None:
            allowed = ", ".join(sorted(HYPERPARAMETER_RANGES[kind]))
            problems.append(ParamProblem(param, f"is not a {kind} hyperparameter (use {allowed})"))
            continue
        if value == "auto":
            continue
        if not _in_range(value, rule):
            problems.append(
                ParamProblem(param, f"must be 'auto' or {rule.describe()}, not {value!r}")
            )
    if kind == "reinforcement" and not isinstance(section.get("grader"), dict):
        problems.append(
            ParamProblem("method.reinforcement.grader", "reinforcement fine-tuning needs a grader")
        )
    # "auto" is what leaving a hyperparameter out means: drop it, so both spell the same run.
    hp = {k: v for k, v in hp.items() if v != "auto"}
    normalised = {"type": kind, kind: {**section, "hyperparameters": hp}}
    return normalised, problems


def _in_range(value: Any, rule: Range) -> bool:
    numeric = isinstance(value, int) if rule.kind is int else isinstance(value, (int, float))
    if isinstance(value, bool) or not numeric:
        return False
    if rule.low is not None and (value <= rule.low if rule.low_open else value < rule.low):
        return False
    return rule.high is None or value <= rule.high


def check_suffix(suffix: Any) -> list[ParamProblem]:
    """Check a model-name suffix (1 to 64 characters)."""
    if suffix is None:
        return []
    if not isinstance(suffix, str) or not 1 <= len(suffix) <= MAX_SUFFIX:
        return [ParamProblem("suffix", f"must be 1 to {MAX_SUFFIX} characters")]
    return []


def check_metadata(metadata: Any, *, reserved: int = 0) -> list[ParamProblem]:
    """Check job metadata: at most 16 pairs (minus `reserved`), keys ≤64, string values ≤512."""
    if metadata is None:
        return []
    if not isinstance(metadata, dict):
        return [ParamProblem("metadata", "must be an object of string keys and values")]
    problems: list[ParamProblem] = []
    limit = MAX_METADATA_PAIRS - reserved
    if len(metadata) > limit:
        problems.append(
            ParamProblem("metadata", f"holds at most {limit} pairs here, not {len(metadata)}")
        )
    for key, value in metadata.items():
        if not isinstance(key, str) or len(key) > MAX_METADATA_KEY:
            problems.append(
                ParamProblem(
                    f"metadata.{str(key)[:20]}",
                    f"keys are strings of at most {MAX_METADATA_KEY} characters",
                )
            )
        if not isinstance(value, str) or len(value) > MAX_METADATA_VALUE:
            problems.append(
                ParamProblem(
                    f"metadata.{str(key)[:20]}",
                    f"values are strings of at most {MAX_METADATA_VALUE} characters",
                )
            )
    return problems
