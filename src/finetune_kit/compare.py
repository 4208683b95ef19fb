"""`compare` / `acompare`: the same prompts against several models, side by side, in numbers.

Per item and model: the output, latency, prompt and completion tokens, cost (when prices are
given) and each grader's verdict. Per model: pass rates with 95% Wilson score intervals, latency
p50/p95, tokens and cost per item; per grader, a one-line verdict (`Comparison.verdict`). A base model can also be run with few-shot examples in the
prompt, to show the tokens fine-tuning saves.

Failures are loud and bounded: a model none of whose calls were answered has no rates (None,
"n/a" in the reports) and is listed in `Comparison.failed_models`; live calls stop at a
deadline (an hour by default); Ctrl-C stops a sync run within a second and raises
`CompareInterrupted` carrying what had finished.

Added in 0.1.0.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import openai
from pydantic import BaseModel, ConfigDict

from finetune_kit._core import ready
from finetune_kit._core.errors import classify, incompatible
from finetune_kit._core.redact import error_text
from finetune_kit._core.scoring import (
    Aimd,
    Grader,
    Interval,
    contains,
    exact,
    mean_interval,
    percentile,
    rate_difference,
    wilson,
)
from finetune_kit._defaults import asleep_for, sleep_for, timer_for
from finetune_kit.batch import arun_batch, run_batch
from finetune_kit.dataset import Dataset
from finetune_kit.exceptions import (
    ConfigurationError,
    IncompatibleEndpointError,
    ModelNotFoundError,
)
from finetune_kit.models import announce, aresolve, resolve

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

Prices = Mapping[str, tuple[float, float]]
"""Model -> (USD per 1M prompt tokens, USD per 1M completion tokens)."""
MAX_ATTEMPTS = 6
RATE_LIMIT_ATTEMPTS = 50
NOT_READY_ATTEMPTS = 14
"""Rate limits are waited out much longer than other errors: a 429 storm passes."""
DEFAULT_DEADLINE = 3600.0
"""Seconds a live `compare` may take by default; what has no answer by then is marked failed."""
INTERRUPTED = "interrupted: no answer before the run was stopped (Ctrl-C)"
"""The error of an answer that had not arrived when a run was interrupted."""
_SLICE = 0.1
"""Seconds the caller's thread waits at a time: Ctrl-C is seen within this."""
_GRACE = 1.0
"""Seconds a stopped run waits for calls already in flight to land (then abandons them)."""


class Answer(BaseModel):
    """One model's answer to one item.

    Added in 0.1.0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    output: str
    latency: float
    """Seconds from request to response."""
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    grades: dict[str, bool]
    """Grader -> passed."""
    scores: dict[str, float] = {}
    """Grader -> score (1 pass / 0 fail; a judge gives 1 win, 0.5 tie, 0 loss)."""
    reasons: dict[str, str] = {}
    """Grader -> its reason, when it gave one (a judge's explanation, what failed...)."""
    error: str | None = None
    """Why there is no answer (the item is kept, never dropped)."""


class Row(BaseModel):
    """One item: its prompt, reference and every model's answer.

    Added in 0.1.0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    prompt: str
    reference: str | None
    answers: dict[str, Answer]


class ModelSummary(BaseModel):
    """One model's aggregates.

    Added in 0.1.0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    items: int
    errors: int
    """Items without an answer (each keeps its error)."""
    pass_rates: dict[str, tuple[float, float, float] | None]
    """Grader -> (rate, 95% low, 95% high), over the items answered and graded, with the Wilson
    score interval (0 of 10 is (0.0, 0.0, 0.2775...)); None when none was (every call failed):
    "n/a" in the reports, `null` in JSON, never 0%."""
    mean_scores: dict[str, tuple[float, float, float] | None] = {}
    """Grader -> (mean score, 95% low, 95% high): for a judge, the win rate (ties count half).
    Scores within [0, 1] get the Wilson interval of their mean, others a seeded bootstrap;
    None when no answer was graded."""
    latency_p50: float
    """Over the items answered; 0 when none was."""
    latency_p95: float
    prompt_tokens_per_item: float
    """Over the items answered; 0 when none was."""
    completion_tokens_per_item: float
    cost_per_item: float | None

    @property
    def answered(self) -> int:
        """Items with an answer."""
        return self.items - self.errors


class Comparison(BaseModel):
    """The outcome of [`compare`][finetune_kit.compare.compare].

    Added in 0.1.0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: list[str]
    rows: list[Row]
    summaries: dict[str, ModelSummary]

    def __str__(self) -> str:
        """The Markdown report, as `to_markdown()` makes it: `print(comparison)` shows it."""
        return self.to_markdown()

    @property
    def graders(self) -> list[str]:
        """The graders' names, sorted."""
        return sorted({g for s in self.summaries.values() for g in s.pass_rates})

    def _grader(self, grader: str | None, method: str) -> str:
        names = self.graders
        if grader is None:
            if len(names) == 1:
                return names[0]
            if not names:
                raise ConfigurationError(f"{method}: nothing was graded (pass graders= to compare)")
            raise ConfigurationError(
                f"{method} needs a grader's name: one of {', '.join(map(repr, names))}"
            )
        if grader not in names:
            known = ", ".join(map(repr, names)) or "none"
            raise ConfigurationError(f"{method}: no grader named {grader!r} (graders: {known})")
        return grader

    def best(self, grader: str | None = None) -> str:
        """The model with the highest pass rate for `grader` (a model without one ranks last).

        Ties go to the model listed first. `grader` may be left out when there is only one.

        Raises:
            ConfigurationError: No grader of that name; or it was left out and there are
                several (the error names them) or none.
        """
        name = self._grader(grader, "best()")

        def rate(model: str) -> float:
            value = self.summaries[model].pass_rates.get(name)
            return -1.0 if value is None else value[0]

        return max(self.models, key=rate)

    def _passes(self, model: str, grader: str) -> Interval | None:
        """The pass rate of `model` for `grader` with its Wilson interval; None if none graded."""
        graded = [
            a.grades.get(grader, False)
            for row in self.rows
            if (a := row.answers.get(model)) is not None and a.error is None and a.grades
        ]
        return wilson(sum(graded), len(graded)) if graded else None

    def verdict(self, grader: str | None = None) -> str:
        """One line that says what the comparison found for `grader`.

        The two models with the highest pass rates, the difference in percentage points and its
        95% interval (Newcombe's, from each rate's Wilson interval). When the interval is above
        zero the leader wins; otherwise there is no clear winner (more items would tell):

        - `ft:...:demo:abc wins on exact: 90% vs 20% for gpt-4o-mini (+70 points, 95% CI +27
          to +87)`
        - `no clear winner on exact: ft:... 60% vs 50% for gpt-4o-mini (+10 points, 95% CI -29
          to +45)`

        Models without a graded answer are left out. `grader` may be left out when there is
        only one.

        Raises:
            ConfigurationError: As for `best`.
        """
        name = self._grader(grader, "verdict()")
        ranked = sorted(
            ((m, r) for m in self.models if (r := self._passes(m, name)) is not None),
            key=lambda pair: -pair[1].value,  # stable: ties keep the models' order
        )
        if not ranked:
            return f"no verdict on {name}: no model's answers were graded"
        if len(ranked) == 1:
            ((model, rate),) = ranked
            return (
                f"only {model} was graded on {name}: {rate.value:.0%} "
                f"(95% CI {rate.low:.0%} to {rate.high:.0%})"
            )
        (first, a), (second, b) = ranked[:2]
        d = rate_difference(a, b)
        head = f"{first} wins on {name}:" if d.low > 0 else f"no clear winner on {name}: {first}"
        return (
            f"{head} {a.value:.0%} vs {b.value:.0%} for {second} "
            f"({_points(d.value)} points, 95% CI {_points(d.low)} to {_points(d.high)})"
        )

    @property
    def failed_models(self) -> list[str]:
        """The models none of whose calls were answered: every item has an error.

        Such a model has no pass rates (None); the command line exits 1 naming it. Empty when
        every model answered at least once.
        """
        return [
            m
            for m in self.models
            if (s := self.summaries.get(m)) is not None and s.items > 0 and s.answered == 0
        ]

    def first_error(self, model: str) -> str | None:
        """The error of `model`'s first failed item, if any."""
        return next((e for row in self.rows if (e := row.answers[model].error) is not None), None)

    def to_json(self, *, indent: int | None = 2) -> str:
        """The whole comparison as JSON."""
        return self.model_dump_json(indent=indent)

    def to_html(
        self, path: str | os.PathLike[str] | None = None, *, title: str = "finetune-kit comparison"
    ) -> str:
        """A self-contained HTML page: the aggregates on top, every item side by side below.

        Written to `path` when given; returned either way.
        """
        from finetune_kit.report.html import to_html  # noqa: PLC0415

        return to_html(self, path, title=title)

    def to_dataframe(self) -> Any:
        """One row per item and model, as a pandas DataFrame (pandas is needed for this only).

        Raises:
            ConfigurationError: pandas is not installed.
        """
        try:
            import pandas as pd  # noqa: PLC0415 - optional
        except ImportError:
            raise ConfigurationError("to_dataframe() needs pandas: pip install pandas") from None
        records = [
            {
                "item": row.index,
                "prompt": row.prompt,
                "reference": row.reference,
                "model": model,
                **a.model_dump(exclude={"grades"}),
                **{f"pass_{k}": v for k, v in a.grades.items()},
            }
            for row in self.rows
            for model, a in row.answers.items()
        ]
        return pd.DataFrame.from_records(records)

    def to_markdown(self, *, items: int = 20) -> str:
        """A summary table, each grader's verdict, then the first `items` items side by side.

        Pass rates read `90% [60%, 98%]` (the 95% Wilson interval); "n/a" for a model with no
        graded answer. `str(comparison)` is this, with the default `items`.
        """
        graders = self.graders
        head = [
            "model",
            "items",
            "errors",
            *[f"{g} pass" for g in graders],
            "latency p50 / p95",
            "prompt tok/item",
            "completion tok/item",
            "cost/item",
        ]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for model in self.models:
            s = self.summaries[model]
            rates = [_rate_text(s.pass_rates.get(g)) for g in graders]
            cost = f"${s.cost_per_item:.5f}" if s.cost_per_item is not None else "-"
            if s.answered:
                latency = f"{s.latency_p50:.2f} / {s.latency_p95:.2f} s"
                tokens = f"{s.prompt_tokens_per_item:.1f} | {s.completion_tokens_per_item:.1f}"
            else:
                latency, tokens = "n/a", "n/a | n/a"
            lines.append(
                f"| {model} | {s.items} | {s.errors} | "
                + " | ".join(rates)
                + (" | " if rates else "")
                + f"{latency} | {tokens} | {cost} |"
            )
        if graders:
            lines += ["", *[f"- {self.verdict(g)}" for g in graders]]
        lines += [
            "",
            "| # | prompt | " + " | ".join(self.models) + " |",
            "|" + "---|" * (len(self.models) + 2),
        ]
        for row in self.rows[:items]:
            cells = [_cell(row.answers[m].error or row.answers[m].output) for m in self.models]
            lines.append(f"| {row.index} | {_cell(row.prompt)} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


class CompareInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped [`compare`][finetune_kit.compare.compare]: `comparison` holds what finished.

    Every item is kept: an answer that had not arrived carries the error `INTERRUPTED`
    ("interrupted: no answer before the run was stopped (Ctrl-C)"). It is a
    `KeyboardInterrupt`, so code that handles Ctrl-C still does.

    Added in 0.1.0.
    """

    def __init__(self, comparison: Comparison) -> None:
        total = sum(len(r.answers) for r in comparison.rows)
        answered = sum(s.answered for s in comparison.summaries.values())
        super().__init__(f"interrupted: {answered} of {total} calls answered")
        self.comparison = comparison


def _rate_text(rate: tuple[float, float, float] | None) -> str:
    """A rate with its interval, `"67% [33%, 100%]"`, or `"n/a"` when there is none."""
    return "n/a" if rate is None else f"{rate[0]:.0%} [{rate[1]:.0%}, {rate[2]:.0%}]"


def _points(difference: float) -> str:
    """A difference of two rates in percentage points, signed: `+70`, `-5`, `+0`."""
    points = round(difference * 100)
    return f"{points:+d}" if points else "+0"


def _cell(text: str, width: int = 120) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass(frozen=True, slots=True)
class _Item:
    index: int
    messages: list[dict[str, Any]]
    prompt: str
    reference: str | None


def _items(
    prompts: Sequence[str] | Dataset | str | os.PathLike[str], system: str | None
) -> list[_Item]:
    if isinstance(prompts, (str, os.PathLike)) and not (
        isinstance(prompts, str) and "\n" in prompts
    ):
        prompts = Dataset.from_jsonl(prompts)
    out: list[_Item] = []
    sys_msg = [{"role": "system", "content": system}] if system else []
    if isinstance(prompts, Dataset):
        for i, row in enumerate(prompts):
            messages = list(row.get("messages") or []) if isinstance(row, dict) else []
            reference = None
            if messages and messages[-1].get("role") == "assistant":
                reference = str(messages.pop().get("content") or "")
            if not messages:
                raise ConfigurationError(f"item {i + 1} of the prompts has no messages to send")
            prompt = next(
                (str(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
            )
            if system and messages[0].get("role") != "system":
                messages = sys_msg + messages
            out.append(_Item(i + 1, messages, prompt, reference))
        return out
    for i, text in enumerate(prompts):
        out.append(
            _Item(i + 1, [*sys_msg, {"role": "user", "content": str(text)}], str(text), None)
        )
    return out


def _shots(few_shot: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        m
        for q, a in few_shot
        for m in ({"role": "user", "content": q}, {"role": "assistant", "content": a})
    ]


def _plan(
    models: Sequence[Any], few_shot: Sequence[tuple[str, str]] | None
) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(label, model id, extra messages before the item) for each variant to run."""
    plan: list[tuple[str, str, list[dict[str, Any]]]] = []
    for model in models:
        model_id = str(getattr(model, "id", model))
        plan.append((model_id, model_id, []))
        if few_shot and not model_id.startswith("ft:") and ".ft-" not in model_id:
            plan.append((f"{model_id} + {len(few_shot)}-shot", model_id, _shots(few_shot)))
    labels = [p[0] for p in plan]
    if len(set(labels)) != len(labels):
        raise ConfigurationError("each model may appear once in models=")
    return plan


def _messages(item: _Item, shots: list[dict[str, Any]]) -> list[Any]:
    if not shots:
        return item.messages
    head = [m for m in item.messages[:1] if m.get("role") == "system"]
    return head + shots + item.messages[len(head) :]


_Reply = tuple[Any, Any, Any]
"""(output, prompt tokens, completion tokens) of one chat completion."""


def _reply(response: Any) -> _Reply:
    """What an answer keeps of a `ChatCompletion` (from a batch's output)."""
    output = response.choices[0].message.content or "" if response.choices else ""
    usage = response.usage
    p, c = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
    return output, p, c


def _raw_reply(raw: Any) -> _Reply:
    """What an answer keeps of a live call's raw response (`with_raw_response`), read from JSON.

    An answer keeps only the text and the token counts, so the body is read with `json.loads`
    rather than built into the SDK's `ChatCompletion` (most of the SDK's cost per call).

    Raises:
        IncompatibleEndpointError: The body is not a chat completion (a web page, a login
            portal...): the base URL is wrong, and every other call would fail the same way.
    """
    http = raw.http_response
    try:
        body = json.loads(http.content)
    except ValueError:  # not JSON (UnicodeDecodeError is a ValueError too)
        body = None
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(choices, list):
        url = str(http.request.url).split("?", 1)[0]
        raise incompatible(
            url, status=http.status_code, content_type=http.headers.get("content-type")
        )
    first = choices[0] if choices else None
    message = first.get("message") if isinstance(first, dict) else None
    output = (message.get("content") if isinstance(message, dict) else None) or ""
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return output, 0, 0
    return output, usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0


def _answer(
    reply: _Reply,
    *,
    latency: float,
    model_id: str,
    item: _Item,
    graders: Mapping[str, Grader],
    prices: Prices | None,
) -> Answer:
    output, p, c = reply
    price = (prices or {}).get(model_id)
    cost = (p * price[0] + c * price[1]) / 1_000_000 if price else None
    answer = Answer(
        output=output,
        latency=latency,
        prompt_tokens=p,
        completion_tokens=c,
        cost_usd=cost,
        grades={},
    )
    return _graded(answer, item.prompt, item.reference, graders)


def _graded(
    answer: Answer, prompt: str, reference: str | None, graders: Mapping[str, Grader]
) -> Answer:
    """The answer with every grader's verdict, score and reason."""
    context = {"reference": reference, "prompt": prompt}
    results = {name: grader(answer.output, context) for name, grader in graders.items()}
    return answer.model_copy(
        update={
            "grades": {n: g.passed for n, g in results.items()},
            "scores": {n: g.score for n, g in results.items()},
            "reasons": {n: g.reason for n, g in results.items() if g.reason},
        }
    )


def _describe(exc: BaseException) -> str:
    return error_text(exc)  # `Type: message`, without any key a provider echoed


def _failed(exc: BaseException | str) -> Answer:
    """An answer that never came: `exc` (or the text given) is its error."""
    return Answer(
        output="",
        latency=0.0,
        prompt_tokens=0,
        completion_tokens=0,
        cost_usd=None,
        grades={},
        error=(exc if isinstance(exc, str) else _describe(exc))[:300],
    )


@dataclass(frozen=True, slots=True)
class _Deadline:
    """When a live run stops calling, on the run's own clock (`timer`)."""

    timer: Callable[[], float]
    seconds: float | None
    at: float | None

    @classmethod
    def start(cls, timer: Callable[[], float], seconds: float | None) -> _Deadline:
        if seconds is not None and not seconds > 0:
            raise ConfigurationError(
                f"deadline must be a positive number of seconds, not {seconds}"
            )
        return cls(timer, seconds, None if seconds is None else timer() + seconds)

    def passed(self) -> bool:
        """The deadline is reached: no call is started any more."""
        return self.at is not None and self.timer() >= self.at

    def allows(self, delay: float) -> bool:
        """A retry after waiting `delay` seconds would still start before the deadline."""
        return self.at is None or self.timer() + delay < self.at

    def exceeded(self, last: BaseException | None = None) -> Answer:
        """The answer of an item the deadline cut short (with the error it last got)."""
        why = f" (last error: {_describe(last)})" if last is not None else ""
        return _failed(f"deadline exceeded: no answer within the {self.seconds:g} s deadline{why}")


class _Stopped(Exception):  # noqa: N818 - internal signal, not an error
    """The run was stopped (Ctrl-C, the deadline, or another worker's bug): leave quietly."""


def _raw_create(client: openai.OpenAI) -> Callable[..., Any]:
    """`chat.completions.create` for a live run: raw responses, none of the SDK's own retries.

    Compare's policy decides every retry: the SDK's retries would run inside its attempts, hold
    the call's slot through their backoff and sleep on the real clock. The body is read by
    `_raw_reply`. The client's copy is made once per run, not per call.
    """
    return client.with_options(max_retries=0).chat.completions.with_raw_response.create


def _araw_create(client: openai.AsyncOpenAI) -> Callable[..., Awaitable[Any]]:
    """The async twin of `_raw_create`."""
    return client.with_options(max_retries=0).chat.completions.with_raw_response.create


def _pause(sleep: Callable[[float], None], stop: threading.Event) -> Callable[[float], None]:
    """`sleep`, except that the real `time.sleep` becomes a wait that `stop` cuts short."""
    if sleep is not time.sleep:
        return sleep

    def wait(seconds: float) -> None:
        stop.wait(seconds)

    return wait


class _Gate:
    """Threads: at most `aimd.limit` calls at once; rate limits shrink the limit."""

    def __init__(self, maximum: int) -> None:
        self.aimd = Aimd(maximum)
        self._cond = threading.Condition()
        self._active = 0
        self._stopped = False

    def __enter__(self) -> None:
        with self._cond:
            while self._active >= self.aimd.limit and not self._stopped:
                self._cond.wait()
            if self._stopped:
                raise _Stopped
            self._active += 1

    def stop(self) -> None:
        """Refuse new calls from now on; wake the tasks waiting for a slot."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def settle(self, timeout: float) -> None:
        """Wait until no call is in flight, `timeout` seconds at most."""
        with self._cond:
            self._cond.wait_for(lambda: self._active == 0, timeout)

    def __exit__(self, *_exc: object) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def outcome(self, *, rate_limited: bool) -> None:
        with self._cond:
            if rate_limited:
                self.aimd.on_rate_limit()
            else:
                self.aimd.on_success()
            self._cond.notify_all()


class _AsyncGate:
    """Tasks: the same adaptive limit as `_Gate`.

    A slot set free wakes one task in line, and a limit grown one per new slot: `notify_all`
    woke every task in line on every call, thousands of them, each to find the slot taken again
    (most of `acompare`'s CPU at 3,000 calls).
    """

    def __init__(self, maximum: int) -> None:
        self.aimd = Aimd(maximum)
        self._cond = anyio.Condition()
        self._active = 0

    async def __aenter__(self) -> None:
        async with self._cond:
            while self._active >= self.aimd.limit:
                await self._cond.wait()
            self._active += 1

    async def __aexit__(self, *_exc: object) -> None:
        async with self._cond:
            self._active -= 1
            if self._active < self.aimd.limit:
                self._cond.notify()

    async def outcome(self, *, rate_limited: bool) -> None:
        async with self._cond:
            before = self.aimd.limit
            if rate_limited:
                self.aimd.on_rate_limit()
            else:
                self.aimd.on_success()
            if self.aimd.limit > before:
                self._cond.notify(self.aimd.limit - before)


def _ready_delay(attempt: int) -> float:
    """The wait before attempt `attempt + 1` of a model not served yet: 5, 10, 20, 40, 60... s."""
    return min(60.0, 5.0 * 2.0 ** (attempt - 1))


READY_BUDGET = sum(_ready_delay(a) for a in range(1, NOT_READY_ATTEMPTS))
"""Seconds a model not served yet is waited for in all (615)."""


def _retry_delay(exc: BaseException, attempt: int, *, not_ready: bool = False) -> float | None:
    """Seconds to wait before retrying a rate-limited or transient call; None: give up.

    A model known to exist that answers 404 (`not_ready`: fresh from its job, or known to the
    provider, see `_NotFound`) is not served yet: that is retried too (5 s, 10 s... for about 10
    minutes), as `TunedModel.chat` does.
    """
    if isinstance(exc, openai.NotFoundError) and not_ready:
        return None if attempt >= NOT_READY_ATTEMPTS else _ready_delay(attempt)
    limit = RATE_LIMIT_ATTEMPTS if isinstance(exc, openai.RateLimitError) else MAX_ATTEMPTS
    if attempt >= limit:
        return None
    c = classify(exc, operation="compare", now=time.time())
    if not c.transient:
        return None
    return c.retry_after or min(30.0, 0.5 * 2 ** (attempt - 1))


class _NotFound:
    """What each model's "not found" means, decided once per model (`resolve`) for all workers.

    A model that does not exist raises `ModelNotFoundError` (the whole run stops); one to wait
    for has each new wait announced once, however many items wait.
    """

    def __init__(self, models: Sequence[Any], on_wait: Callable[[str], object] | None) -> None:
        self.fresh = {str(getattr(m, "id", m)) for m in models if getattr(m, "fresh", False)}
        self.on_wait = on_wait
        self.verdicts: dict[str, ready.Verdict | ModelNotFoundError] = {}
        self.announced: dict[str, int] = {}

    def settled(self, model_id: str) -> bool:
        """True to wait; raises the `ModelNotFoundError` decided for `model_id`."""
        verdict = self.verdicts[model_id]
        if isinstance(verdict, ModelNotFoundError):
            raise verdict
        return verdict == "wait"

    def decided(self, model_id: str, verdict: ready.Verdict | ModelNotFoundError) -> bool:
        self.verdicts.setdefault(model_id, verdict)
        return self.settled(model_id)

    def announce(self, model_id: str, attempt: int, delay: float) -> None:
        """Say, once per attempt number and model, that `model_id` is waited for."""
        if self.announced.get(model_id, 0) >= attempt:
            return
        self.announced[model_id] = attempt
        waited = sum(_ready_delay(a) for a in range(1, attempt))
        line = ready.waiting(model_id, delay, waited, READY_BUDGET, deployment=False)
        announce(line, self.on_wait)


def _not_ready(
    client: openai.OpenAI, found: _NotFound, lock: threading.Lock, model_id: str, exc: Exception
) -> bool:
    """Whether to wait for `model_id` after `exc`; the first 404 of each model decides."""
    if not isinstance(exc, openai.NotFoundError):
        return False
    with lock:  # one look-up per model, whatever the concurrency
        if model_id in found.verdicts:
            return found.settled(model_id)
        try:
            verdict: ready.Verdict | ModelNotFoundError = resolve(
                client, model_id, exc, fresh=model_id in found.fresh
            )
        except ModelNotFoundError as missing:
            verdict = missing
        return found.decided(model_id, verdict)


async def _anot_ready(
    client: openai.AsyncOpenAI, found: _NotFound, lock: anyio.Lock, model_id: str, exc: Exception
) -> bool:
    """The async twin of `_not_ready`."""
    if not isinstance(exc, openai.NotFoundError):
        return False
    async with lock:
        if model_id in found.verdicts:
            return found.settled(model_id)
        try:
            verdict: ready.Verdict | ModelNotFoundError = await aresolve(
                client, model_id, exc, fresh=model_id in found.fresh
            )
        except ModelNotFoundError as missing:
            verdict = missing
        return found.decided(model_id, verdict)


def _setup(  # noqa: PLR0917 - the arguments of compare(), passed through
    prompts: Sequence[str] | Dataset | str | os.PathLike[str],
    system: str | None,
    models: Sequence[Any],
    few_shot: Sequence[tuple[str, str]] | None,
    graders: Mapping[str, Grader] | None,
    reference_model: str | None,
    *,
    params: Mapping[str, Any],
) -> tuple[
    list[_Item],
    list[tuple[str, str, list[dict[str, Any]]]],
    Mapping[str, Grader],
    Mapping[str, Grader],
]:
    """Items, variants, graders, and the graders to apply as answers arrive.

    None are applied on arrival when a reference model is set: answers are graded later,
    against its answers.
    """
    if params.get("stream"):
        raise ConfigurationError("compare reads whole answers: stream=True is not supported")
    items = _items(prompts, system)
    plan = _plan(models, few_shot)
    chosen = _graders(graders, items)
    if reference_model is not None and reference_model not in [p[0] for p in plan]:
        raise ConfigurationError(
            f"reference_model {reference_model!r} is not one of the models compared"
        )
    on_call: Mapping[str, Grader] = {} if reference_model is not None else chosen
    return items, plan, chosen, on_call


def _batch_requests(
    items: list[_Item], plan: list[tuple[str, str, list[dict[str, Any]]]]
) -> tuple[list[tuple[str, str, list[dict[str, Any]]]], dict[str, tuple[_Item, str, str]]]:
    """One batch request per (item, model); custom ids map back to them."""
    requests: list[tuple[str, str, list[dict[str, Any]]]] = []
    keys: dict[str, tuple[_Item, str, str]] = {}
    for item in items:
        for n, (label, model_id, shots) in enumerate(plan):
            custom_id = f"item-{item.index}-model-{n}"
            requests.append((custom_id, model_id, _messages(item, shots)))
            keys[custom_id] = (item, label, model_id)
    return requests, keys


def _from_batch(
    results: Mapping[str, tuple[Any, str | None]],
    keys: Mapping[str, tuple[_Item, str, str]],
    graders: Mapping[str, Grader],
    prices: Prices | None,
) -> dict[tuple[int, str], Answer]:
    answers: dict[tuple[int, str], Answer] = {}
    for custom_id, (item, label, model_id) in keys.items():
        response, error = results.get(custom_id, (None, "missing from the batch output"))
        if response is None:
            answers[(item.index, label)] = _failed(RuntimeError(error or "no response"))
        else:
            answers[(item.index, label)] = _answer(
                _reply(response),
                latency=0.0,
                model_id=model_id,
                item=item,
                graders=graders,
                prices=prices,
            )
    return answers


def _summaries(
    models: list[str], rows: list[Row], graders: Mapping[str, Grader]
) -> dict[str, ModelSummary]:
    out: dict[str, ModelSummary] = {}
    for model in models:
        answers = [r.answers[model] for r in rows]
        ok = [a for a in answers if a.error is None]
        n = len(ok) or 1
        rates: dict[str, tuple[float, float, float] | None] = {}
        means: dict[str, tuple[float, float, float] | None] = {}
        graded = [a for a in ok if a.grades]
        for name in graders:
            if not graded:  # nothing answered (or nothing graded): no rate, not 0%
                rates[name] = means[name] = None
                continue
            interval = wilson(sum(a.grades.get(name, False) for a in graded), len(graded))
            rates[name] = (interval.value, interval.low, interval.high)
            mean = mean_interval([a.scores.get(name, 0.0) for a in graded])
            means[name] = (mean.value, mean.low, mean.high)
        costs = [a.cost_usd for a in ok]
        out[model] = ModelSummary(
            model=model,
            items=len(answers),
            errors=len(answers) - len(ok),
            pass_rates=rates,
            mean_scores=means,
            latency_p50=percentile([a.latency for a in ok], 50),
            latency_p95=percentile([a.latency for a in ok], 95),
            prompt_tokens_per_item=sum(a.prompt_tokens for a in ok) / n,
            completion_tokens_per_item=sum(a.completion_tokens for a in ok) / n,
            cost_per_item=sum(c for c in costs if c is not None) / n
            if ok and None not in costs
            else None,
        )
    return out


def _graders(graders: Mapping[str, Grader] | None, items: list[_Item]) -> Mapping[str, Grader]:
    if graders is not None:
        return graders
    if any(i.reference is not None for i in items):
        return {"exact": exact(), "contains": contains()}
    return {}


def _assemble(
    items: list[_Item],
    plan: list[tuple[str, str, list[dict[str, Any]]]],
    answers: dict[tuple[int, str], Answer],
    graders: Mapping[str, Grader],
    reference_model: str | None = None,
    *,
    missing: str | None = None,
) -> Comparison:
    """The comparison; an answer missing from `answers` gets the error `missing`.

    With `missing` (a stopped run), answers are not graded against the reference model: that
    would mean more calls after Ctrl-C.
    """
    labels = [p[0] for p in plan]
    if missing is not None:
        for item in items:
            for label in labels:
                answers.setdefault((item.index, label), _failed(missing))
    if reference_model is not None and missing != INTERRUPTED:
        # Grade every other model against the reference model's answer to the same item.
        for item in items:
            ref = answers[(item.index, reference_model)]
            for label in labels:
                key = (item.index, label)
                if label == reference_model:
                    answers[key] = answers[key].model_copy(
                        update={"grades": {}, "scores": {}, "reasons": {}}
                    )
                elif answers[key].error is None:
                    reference = None if ref.error else ref.output
                    answers[key] = _graded(answers[key], item.prompt, reference, graders)
    rows = [
        Row(
            index=i.index,
            prompt=i.prompt,
            reference=i.reference,
            answers={lb: answers[(i.index, lb)] for lb in labels},
        )
        for i in items
    ]
    return Comparison(models=labels, rows=rows, summaries=_summaries(labels, rows, graders))


_Task = tuple[_Item, str, str, list[dict[str, Any]]]
"""(item, label, model id, few-shot messages): one call to get one answer."""


def _drive(
    tasks: list[_Task],
    run: Callable[[_Task], Answer],
    *,
    workers: int,
    gate: _Gate,
    stop: threading.Event,
    deadline: _Deadline,
) -> tuple[dict[tuple[int, str], Answer], str | None]:
    """Run `tasks` on daemon threads; return the answers and why the run stopped early (or None).

    The caller's thread waits in short slices, so Ctrl-C reaches it at once; the run then stops
    starting calls, gives the calls in flight `_GRACE` seconds to land and abandons the rest (a
    daemon thread stuck in a call never holds the process open). The deadline is watched here
    too, for a call that hangs past it.

    Raises:
        BaseException: What a worker raised other than an `OpenAIError` (a grader's bug...).
    """
    answers: dict[tuple[int, str], Answer] = {}
    lock = threading.Lock()
    queue = list(reversed(tasks))
    left = len(tasks)
    done = threading.Event()
    raised: list[BaseException] = []
    if not tasks:
        done.set()

    def work() -> None:
        nonlocal left
        while not stop.is_set():
            with lock:
                if not queue:
                    return
                task = queue.pop()
            try:
                answer = run(task)
            except _Stopped:
                return
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                with lock:
                    raised.append(exc)
                done.set()
                return
            with lock:
                answers[(task[0].index, task[1])] = answer
                left -= 1
                if not left:
                    done.set()

    reason: str | None = None
    try:  # Ctrl-C may come at any moment, while starting the threads too
        for n in range(min(max(1, workers), len(tasks))):
            threading.Thread(target=work, name=f"finetune-kit-compare-{n}", daemon=True).start()
        while not done.wait(_SLICE):
            if deadline.passed():
                reason = "deadline"
                break
    except KeyboardInterrupt:
        reason = INTERRUPTED
    finally:
        stop.set()
        gate.stop()
    with lock:
        failure = raised[0] if raised else None
    if isinstance(failure, KeyboardInterrupt):  # e.g. from an injected sleep
        reason = INTERRUPTED
    elif failure is not None:
        raise failure
    if reason is not None:
        gate.settle(_GRACE)
    with lock:
        return dict(answers), reason


def compare(
    client: openai.OpenAI,
    *,
    models: Sequence[Any],
    prompts: Sequence[str] | Dataset | str | os.PathLike[str],
    system: str | None = None,
    few_shot: Sequence[tuple[str, str]] | None = None,
    graders: Mapping[str, Grader] | None = None,
    concurrency: int = 16,
    prices: Prices | None = None,
    mode: Literal["live", "batch"] = "live",
    reference_model: str | None = None,
    deadline: float | None = DEFAULT_DEADLINE,
    sleep: Callable[[float], None] | None = None,
    timer: Callable[[], float] | None = None,
    on_wait: Callable[[str], object] | None = None,
    **params: Any,
) -> Comparison:
    """Run the same prompts against every model; return the side-by-side comparison.

    Args:
        client: The client to call the models with.
        models: Model names or `TunedModel`s (base, tuned, checkpoints...).
        prompts: Strings, a `Dataset` of held-out chat examples (the last assistant message is
            the reference answer), or a JSONL path.
        system: A system prompt for every item (unless the item has one).
        few_shot: (question, answer) pairs: each base model also runs with them in the prompt.
        graders: Name -> grader (`finetune_kit.graders`); default: exact and contains,
            when references exist.
        concurrency: Calls in flight at most (fewer while the provider rate-limits: it halves on
            each 429 and grows back one by one).
        prices: Model -> (USD per 1M prompt tokens, per 1M completion tokens).
        reference_model: Grade every other model against this model's answer (e.g. with
            `llm_judge`, for win/tie/loss rates against it) instead of the items' references.
        mode: `"live"` calls the models; `"batch"` sends every call through the provider's Batch
            API (for thousands of prompts at the batch price; latency is then not measured).
        deadline: Seconds the live calls may take in all (default an hour; None: no limit),
            on `timer`. No call starts after it and no retry waits past it: an item without an
            answer by then is kept with the error "deadline exceeded" (and the error it last
            got). Batch mode waits for its batch instead (up to its 24 h window).
        sleep: What waiting between retries calls (default `time.sleep`, cut short by Ctrl-C;
            for a simulator's client, its clock's).
        timer: The clock for latencies and the deadline (default `time.perf_counter`; for a
            simulator's client, its clock's `now`).
        on_wait: Called with a line saying what is waited for, when a model is not served yet
            (the `finetune_kit.waits` logger gets it at INFO too).
        **params: Chat-completions parameters for every call (`temperature=0`...).

    Rate limits and transient errors are retried with backoff (Retry-After honoured) by compare
    itself: the client's own retries (`max_retries`) are set aside for these calls, so no retry
    holds a slot, waits past the deadline or out of Ctrl-C's reach. An item that still fails is
    kept with its error, never dropped. A model none of whose calls were answered is listed in
    `failed_models` and has no pass rates (None).

    A model's first "not found" decides, as for `TunedModel.chat`: a model known to exist (a
    `TunedModel` fresh from its job, or a name the provider's Models API knows) is waited for,
    each wait announced; any other name raises `ModelNotFoundError` at once.

    Raises:
        ModelNotFoundError: A model does not exist (with the close names the provider lists).
        CompareInterrupted: Ctrl-C: it stops within about a second and carries the comparison
            of what had finished (the rest marked "interrupted").
        IncompatibleEndpointError: The endpoint answered something other than a chat
            completion (a web page, a login portal): the message names the URL.
        ConfigurationError: An argument is wrong (`stream=True`, a `deadline` that is not
            positive, a `reference_model` not compared...).

    Added in 0.1.0.
    """
    items, plan, chosen, on_call = _setup(
        prompts, system, models, few_shot, graders, reference_model, params=params
    )
    sleep = sleep or sleep_for(client)
    timer = timer or timer_for(client)
    found, found_lock = _NotFound(models, on_wait), threading.Lock()

    limit = _Deadline.start(timer, deadline)  # validated in batch mode too; used in live mode
    if mode == "batch":
        requests, keys = _batch_requests(items, plan)
        results = run_batch(client, requests, params=params, sleep=sleep)
        return _assemble(
            items, plan, _from_batch(results, keys, on_call, prices), chosen, reference_model
        )
    gate = _Gate(concurrency)
    stop = threading.Event()
    pause = _pause(sleep, stop)
    create = _raw_create(client)

    def run(task: _Task) -> Answer:
        item, _label, model_id, shots = task
        last: openai.OpenAIError | None = None
        for attempt in range(1, RATE_LIMIT_ATTEMPTS + 1):
            if stop.is_set():
                raise _Stopped
            if limit.passed():
                return limit.exceeded(last)
            with gate:  # a slot only while calling: a task waiting out a 429 holds none
                start = timer()
                try:
                    raw = create(model=model_id, messages=_messages(item, shots), **params)
                except openai.OpenAIError as exc:
                    failure: openai.OpenAIError | None = exc
                else:
                    failure = None
                    latency = timer() - start
            gate.outcome(rate_limited=isinstance(failure, openai.RateLimitError))
            if failure is None:
                return _answer(
                    _raw_reply(raw),
                    latency=latency,
                    model_id=model_id,
                    item=item,
                    graders=on_call,
                    prices=prices,
                )
            last = failure
            not_ready = _not_ready(client, found, found_lock, model_id, failure)
            delay = _retry_delay(failure, attempt, not_ready=not_ready)
            if delay is None:
                return _failed(failure)
            if not limit.allows(delay):  # the retry would come too late: never wait past it
                return limit.exceeded(failure)
            if not_ready:
                with found_lock:
                    found.announce(model_id, attempt, delay)
            pause(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    tasks = [(item, label, model_id, shots) for item in items for label, model_id, shots in plan]
    answers, reason = _drive(tasks, run, workers=concurrency, gate=gate, stop=stop, deadline=limit)
    if reason == INTERRUPTED:
        partial = _assemble(items, plan, answers, chosen, reference_model, missing=INTERRUPTED)
        raise CompareInterrupted(partial) from None
    missing = None if reason is None else limit.exceeded().error
    return _assemble(items, plan, answers, chosen, reference_model, missing=missing)


async def _watch(limit: _Deadline, work: anyio.CancelScope, stopped: list[str]) -> None:
    """Cancel `work` once the deadline passes: for a call that hangs past it."""
    while not limit.passed():  # noqa: ASYNC110 - a clock to poll, no event to wait for
        await anyio.sleep(_SLICE)
    stopped.append("deadline")
    work.cancel()


async def acompare(  # noqa: PLR0915 - compare's flow, in one piece like its twin
    client: openai.AsyncOpenAI,
    *,
    models: Sequence[Any],
    prompts: Sequence[str] | Dataset | str | os.PathLike[str],
    system: str | None = None,
    few_shot: Sequence[tuple[str, str]] | None = None,
    graders: Mapping[str, Grader] | None = None,
    concurrency: int = 16,
    prices: Prices | None = None,
    mode: Literal["live", "batch"] = "live",
    reference_model: str | None = None,
    deadline: float | None = DEFAULT_DEADLINE,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    timer: Callable[[], float] | None = None,
    on_wait: Callable[[str], object] | None = None,
    **params: Any,
) -> Comparison:
    """The async twin of [`compare`][finetune_kit.compare.compare].

    The same deadline; a `KeyboardInterrupt` raised inside a call or a wait raises
    `CompareInterrupted` with what had finished. Cancelling `acompare` itself (a cancel scope,
    a timeout around it) cancels its calls and keeps nothing: bound it with `deadline=` to keep
    the answers.

    Added in 0.1.0.
    """
    items, plan, chosen, on_call = _setup(
        prompts, system, models, few_shot, graders, reference_model, params=params
    )
    sleep = sleep or asleep_for(client)
    timer = timer or timer_for(client)
    found, found_lock = _NotFound(models, on_wait), anyio.Lock()
    limit = _Deadline.start(timer, deadline)  # validated in batch mode too; used in live mode
    if mode == "batch":
        requests, keys = _batch_requests(items, plan)
        results = await arun_batch(client, requests, params=params, sleep=sleep)
        return _assemble(
            items, plan, _from_batch(results, keys, on_call, prices), chosen, reference_model
        )
    gate = _AsyncGate(concurrency)
    create = _araw_create(client)
    answers: dict[tuple[int, str], Answer] = {}
    work = anyio.CancelScope()
    stopped: list[str] = []
    fatal: list[ModelNotFoundError | IncompatibleEndpointError] = []

    async def attempts(item: _Item, model_id: str, shots: list[dict[str, Any]]) -> Answer:
        last: openai.OpenAIError | None = None
        for attempt in range(1, RATE_LIMIT_ATTEMPTS + 1):
            if limit.passed():
                return limit.exceeded(last)
            async with gate:
                start = timer()
                try:
                    raw = await create(model=model_id, messages=_messages(item, shots), **params)
                except openai.OpenAIError as exc:
                    failure: openai.OpenAIError | None = exc
                else:
                    failure = None
                    latency = timer() - start
            await gate.outcome(rate_limited=isinstance(failure, openai.RateLimitError))
            if failure is None:
                return _answer(
                    _raw_reply(raw),
                    latency=latency,
                    model_id=model_id,
                    item=item,
                    graders=on_call,
                    prices=prices,
                )
            last = failure
            not_ready = await _anot_ready(client, found, found_lock, model_id, failure)
            delay = _retry_delay(failure, attempt, not_ready=not_ready)
            if delay is None:
                return _failed(failure)
            if not limit.allows(delay):
                return limit.exceeded(failure)
            if not_ready:
                found.announce(model_id, attempt, delay)
            await sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def run(item: _Item, label: str, model_id: str, shots: list[dict[str, Any]]) -> None:
        try:
            answers[(item.index, label)] = await attempts(item, model_id, shots)
        except KeyboardInterrupt:
            stopped.append(INTERRUPTED)
            work.cancel()
        except (ModelNotFoundError, IncompatibleEndpointError) as exc:  # raised once all stop
            fatal.append(exc)
            work.cancel()

    async with anyio.create_task_group() as outer:
        if limit.at is not None:
            outer.start_soon(_watch, limit, work, stopped)
        with work:
            async with anyio.create_task_group() as tg:
                for item in items:
                    for label, model_id, shots in plan:
                        tg.start_soon(run, item, label, model_id, shots)
        outer.cancel_scope.cancel()
    if fatal:
        raise fatal[0]
    if INTERRUPTED in stopped:
        partial = _assemble(items, plan, answers, chosen, reference_model, missing=INTERRUPTED)
        raise CompareInterrupted(partial)
    missing = limit.exceeded().error if stopped else None
    return _assemble(items, plan, answers, chosen, reference_model, missing=missing)
