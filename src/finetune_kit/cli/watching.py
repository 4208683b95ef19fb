"""`watch`: a job's progress as it trains, live in a terminal or as plain lines in a log.

`WatchState` is the pure part (step, total, ETA from the events' own timestamps, the loss
sparkline); `Display` prints it, through rich's live progress bar on a terminal (the `cli`
extra) or as plain lines elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the events' module loads the SDK's types: `watch` has loaded them already
    from typing import TypeAlias

    from finetune_kit._core.events import MessageEvent, MetricsEvent

    Event: TypeAlias = MessageEvent | MetricsEvent

__all__ = ["Display", "WatchState", "format_duration"]


def format_duration(seconds: float) -> str:
    """`42s`, `3m05s`, `1h02m`."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class WatchState:
    """What is known of a job's progress from its events so far (pure: no I/O, no clock)."""

    def __init__(self, *, started_at: int | None = None) -> None:
        self.started_at = started_at
        self.step: int | None = None
        self.total: int | None = None
        self.losses: list[float] = []
        self.valid_loss: float | None = None
        self._first: tuple[int, int] | None = None  # (step, time) of the first metrics event
        self._last_time: int | None = None

    def update(self, event: Event) -> None:
        """Take one event into account."""
        if self.started_at is None:
            self.started_at = event.created_at
        from finetune_kit._core.events import MetricsEvent  # noqa: PLC0415

        if not isinstance(event, MetricsEvent) or event.step is None:
            return
        self.step, self.total = event.step, event.total_steps or self.total
        if event.train_loss is not None:
            self.losses.append(event.train_loss)
        if event.valid_loss is not None:
            self.valid_loss = event.valid_loss
        if self._first is None:
            self._first = (event.step, event.created_at)
        self._last_time = event.created_at

    def eta_seconds(self) -> float | None:
        """Seconds left at the pace of the steps seen so far (None until two are apart)."""
        if self._first is None or self.step is None or not self.total or self._last_time is None:
            return None
        steps = self.step - self._first[0]
        elapsed = self._last_time - self._first[1]
        if steps <= 0 or elapsed <= 0:
            return None
        return (self.total - self.step) * elapsed / steps

    def summary(self, *, width: int = 20) -> str:
        """`step 12/30 (40%)  loss 0.843 ▇▆▅▄▃  ETA 1m05s`, or `waiting for the first step`."""
        if self.step is None:
            return "waiting for the first step"
        parts = [f"step {self.step}/{self.total}" if self.total else f"step {self.step}"]
        if self.total:
            parts[0] += f" ({self.step / self.total:.0%})"
        if self.losses:
            from finetune_kit.report.curves import sparkline  # noqa: PLC0415

            parts.append(f"loss {self.losses[-1]:.3f} {sparkline(self.losses, width)}")
        if self.valid_loss is not None:
            parts.append(f"valid {self.valid_loss:.3f}")
        eta = self.eta_seconds()
        if eta is not None and self.step != self.total:
            parts.append(f"ETA {format_duration(eta)}")
        return "  ".join(parts)

    def offset(self, event: Event) -> str:
        """`[+ 1m05s]`: when an event happened, from the job's start."""
        start = self.started_at if self.started_at is not None else event.created_at
        return f"[+{format_duration(event.created_at - start):>6}]"


class Display:
    """Prints a job's events and progress: plain lines, or a live bar when `live`."""

    def __init__(
        self,
        job_id: str,
        *,
        started_at: int | None,
        live: bool,
        out: Callable[[str], None] | None = None,
    ) -> None:
        self.job_id = job_id
        self.out = out
        self.state = WatchState(started_at=started_at)
        self.live = live
        self._progress: Any = None
        self._task: Any = None
        self._printed_step: int | None = None

    def __enter__(self) -> Display:  # noqa: PYI034 - Self is 3.11+
        if self.live:
            from rich.progress import (  # noqa: PLC0415 - the `cli` extra
                BarColumn,
                Progress,
                TextColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description:<10}"),
                BarColumn(bar_width=30),
                TextColumn("{task.fields[summary]}"),
                transient=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("starting", total=None, summary="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
            self._progress = None

    def _print(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
        elif self.out is not None:
            self.out(text)
        else:
            print(text, flush=True)

    def event(self, event: Event) -> None:
        """Show one event (the `on_event` of `FineTuneJob.wait`)."""
        state = self.state
        state.update(event)
        from finetune_kit._core.events import MessageEvent  # noqa: PLC0415

        if isinstance(event, MessageEvent):
            self._print(f"  {state.offset(event)} {event.message}")
            if self._progress is not None and state.step is None:
                self._progress.update(self._task, description=_phase(event.message))
        elif self._progress is not None:
            self._progress.update(
                self._task,
                description="training",
                completed=state.step,
                total=state.total,
                summary=state.summary(),
            )
        elif self._due(state):
            self._print(f"  {state.offset(event)} {state.summary()}")
            self._printed_step = state.step

    def _due(self, state: WatchState) -> bool:
        """Plain lines show about 20 progress lines per job, and always the last step."""
        if state.step is None:
            return False
        every = max(1, (state.total or 20) // 20)
        return state.step == state.total or state.step % every == 0

    def status(self, text: str) -> None:
        """A line outside the event stream (the end of the job, a hint)."""
        self._print(text)


def _phase(message: str) -> str:
    """A short word for the live display from a status message."""
    text = message.lower()
    for needle, word in (("validat", "validating"), ("queued", "queued"), ("started", "starting")):
        if needle in text:
            return word
    return "waiting"


def utc(timestamp: int | None) -> str:
    """`2026-11-25 12:00:05 UTC`, or `-`."""
    if timestamp is None:
        return "-"
    return f"{dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC"
