"""`compare`: the sync shell, on daemon threads; its retries are `_core.retry.answer_flow`."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import openai

from finetune_kit._core import retry
from finetune_kit._core.drive import drive
from finetune_kit._core.scoring import Grader
from finetune_kit._defaults import now_for, sleep_for, timer_for
from finetune_kit.batch import run_batch
from finetune_kit.compare.answers import _assemble, _from_batch
from finetune_kit.compare.calls import (
    _Deadline,
    _NotFound,
    _raw_create,
    _resolved,
    _settled,
)
from finetune_kit.compare.gate import _Gate, _Stopped
from finetune_kit.compare.plan import Prices, _batch_requests, _messages, _setup, _Task
from finetune_kit.compare.results import (
    DEFAULT_DEADLINE,
    INTERRUPTED,
    Answer,
    CompareInterrupted,
    Comparison,
)
from finetune_kit.dataset import Dataset

_SLICE = 0.1
"""Seconds the caller's thread waits at a time: Ctrl-C is seen within this."""
_GRACE = 1.0
"""Seconds a stopped run waits for calls already in flight to land (then abandons them)."""


def _pause(sleep: Callable[[float], None], stop: threading.Event) -> Callable[[float], None]:
    """`sleep`, except that the real `time.sleep` becomes a wait that `stop` cuts short."""
    if sleep is not time.sleep:
        return sleep

    def wait(seconds: float) -> None:
        stop.wait(seconds)

    return wait


def _run_threads(
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
    now = now_for(client)  # the wall clock a Retry-After date is read on
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
        messages = _messages(item, shots)

        def perform(command: retry.ModelCall) -> retry.Reply:  # the loop is `answer_flow`
            match command:
                case retry.AskModel():
                    with gate:  # a slot only while calling: a task waiting out a 429 holds none
                        start = timer()
                        raw = create(model=model_id, messages=messages, **params)
                        return retry.Called(raw, latency=timer() - start)
                case retry.ReadTimer():
                    return timer()
                case retry.Pace(rate_limited=rate_limited):
                    gate.outcome(rate_limited=rate_limited)
                case retry.Resolve(error=error):
                    return _resolved(client, found, found_lock, model_id, error)
                case retry.Announce(line=line, attempt=attempt):
                    with found_lock:
                        found.announce(model_id, attempt, line)
            return None

        def wait(seconds: float) -> None:
            pause(seconds)
            if stop.is_set():
                raise _Stopped

        if stop.is_set():
            raise _Stopped
        flow = retry.answer_flow(model_id, timer=timer(), deadline=limit.at)
        result = drive(flow, perform, sleep=wait, now=now)
        return _settled(result, limit, item=item, model_id=model_id, graders=on_call, prices=prices)

    tasks = [(item, label, model_id, shots) for item in items for label, model_id, shots in plan]
    answers, reason = _run_threads(
        tasks, run, workers=concurrency, gate=gate, stop=stop, deadline=limit
    )
    if reason == INTERRUPTED:
        partial = _assemble(items, plan, answers, chosen, reference_model, missing=INTERRUPTED)
        raise CompareInterrupted(partial) from None
    missing = None if reason is None else limit.exceeded().error
    return _assemble(items, plan, answers, chosen, reference_model, missing=missing)
