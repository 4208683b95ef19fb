"""Pictures of training without dependencies: a text sparkline and an inline SVG of the curves.

Pure functions of the metric points: no I/O, no matplotlib, and the same input always gives the
same output, byte for byte (a committed picture can be checked against regenerated output).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Literal

from pydantic import BaseModel, ConfigDict

from finetune_kit._core.metrics import MetricPoint
from finetune_kit.exceptions import ConfigurationError

__all__ = ["Series", "curves_svg", "series", "sparkline"]

Metric = Literal["loss", "accuracy"]
SeriesName = Literal["train", "valid", "full_valid"]

BLOCKS = "▁▂▃▄▅▆▇█"
"""The sparkline's eight levels, lowest first."""

COLORS: dict[SeriesName, str] = {"train": "#1f6feb", "valid": "#d1570c", "full_valid": "#1a7f37"}
"""One color per series, shared by the SVG and the matplotlib picture."""

LABELS: dict[SeriesName, str] = {"train": "train", "valid": "valid", "full_valid": "full valid"}
_METRICS: tuple[Metric, ...] = ("loss", "accuracy")
PANELS: dict[Metric, str] = {"loss": "loss", "accuracy": "mean token accuracy"}
CHECKPOINT_COLOR = "#6e7781"
_FIELDS: dict[SeriesName, tuple[str, str]] = {
    "train": ("train_loss", "train_accuracy"),
    "valid": ("valid_loss", "valid_accuracy"),
    "full_valid": ("full_valid_loss", "full_valid_accuracy"),
}
_SVG_NS = ' xmlns="http://www.w3.org/2000/svg"'


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def sparkline(values: Sequence[float | None], width: int = 24) -> str:
    """Draw values as a one-line sparkline of unicode blocks (`▁▂▃▄▅▆▇█`), lowest to highest.

    None (and NaN or infinite) values are skipped. A series longer than `width` is resampled to
    `width` values picked evenly along it, the first and the last value exactly; a shorter one
    gives one block per value. The blocks split the range of the shown values into eight equal
    bands: the minimum is `▁`, the maximum `█`. A constant series is all `▄`.

    Args:
        values: The series, oldest first (e.g. a training loss per step).
        width: The most blocks to draw (at least 1).

    Returns:
        The sparkline; `""` when there is no value.

    Raises:
        ConfigurationError: `width` is less than 1.

    Example:
        ```python
        from finetune_kit.report import sparkline

        assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
        ```

    Added in 0.1.0.
    """
    if width < 1:
        raise ConfigurationError(f"sparkline width must be at least 1, not {width}")
    kept = [v for v in values if v is not None and math.isfinite(v)]
    n = len(kept)
    if n > width:
        if width == 1:
            kept = [kept[-1]]
        else:  # evenly spaced indices, rounded half up in integers: the last one is n - 1
            kept = [kept[(i * (n - 1) + (width - 1) // 2) // (width - 1)] for i in range(width)]
    if not kept:
        return ""
    lo, hi = min(kept), max(kept)
    if hi == lo:
        return BLOCKS[3] * len(kept)
    top = len(BLOCKS) - 1
    return "".join(BLOCKS[min(top, int((v - lo) / (hi - lo) * len(BLOCKS)))] for v in kept)


class Series(BaseModel):
    """One curve of one metric: (step, value) pairs in step order.

    Added in 0.1.0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: SeriesName
    """`"train"`, `"valid"` (the sampled validation batch) or `"full_valid"` (the whole
    validation file, computed at the end of each epoch)."""
    metric: Metric
    """`"loss"` or `"accuracy"` (the mean token accuracy)."""
    points: tuple[tuple[int, float], ...]
    """(step, value) pairs, steps ascending; steps without a value are left out."""

    @property
    def label(self) -> str:
        """The name for people: `train`, `valid` or `full valid`."""
        return LABELS[self.name]

    @property
    def last(self) -> tuple[int, float]:
        """The last (step, value) pair."""
        return self.points[-1]


def series(points: Sequence[MetricPoint], *, metric: Metric) -> list[Series]:
    """Split metric points into their train, valid and full-valid curves of one metric.

    A curve is returned only if it has at least one value, in the order train, valid, full
    valid. Points are taken in step order (stable for repeated steps); None, NaN and infinite
    values are left out.

    Args:
        points: What `FineTuneJob.metrics()` returned, for example.
        metric: `"loss"` or `"accuracy"` (the mean token accuracy).

    Returns:
        The curves that have data: between zero and three.

    Added in 0.1.0.
    """
    index = 0 if metric == "loss" else 1
    ordered = sorted(points, key=lambda p: p.step)
    out: list[Series] = []
    for name, fields in _FIELDS.items():
        field = fields[index]
        pairs = tuple(
            (p.step, value)
            for p in ordered
            if (value := getattr(p, field)) is not None and math.isfinite(value)
        )
        if pairs:
            out.append(Series(name=name, metric=metric, points=pairs))
    return out


# --- the SVG ---------------------------------------------------------------------------------


def _num(value: float) -> str:
    """A coordinate: two decimals at most, no trailing zeros, never `-0`."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _nice_step(span: float, target: int) -> float:
    raw = span / target
    base = 10.0 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5):
        if raw <= mult * base * (1 + 1e-9):
            return mult * base
    return 10 * base


class _Axis:
    """A linear scale over nice bounds with its tick values and labels."""

    def __init__(self, lo: float, hi: float, *, target: int, integer: bool = False) -> None:
        if hi - lo <= 1e-12:
            pad = 1.0 if integer else max(abs(lo) * 0.1, 1e-3)
            lo, hi = lo - pad, hi + pad
        step = _nice_step(hi - lo, target)
        if integer:
            step = max(1.0, step)
        k_lo = math.floor(lo / step + 1e-9)
        k_hi = math.ceil(hi / step - 1e-9)
        self.lo, self.hi = k_lo * step, k_hi * step
        decimals = max(0, -math.floor(math.log10(step) + 1e-9))
        self.ticks = [(k * step, f"{k * step:.{decimals}f}") for k in range(k_lo, k_hi + 1)]

    def clamp(self, lo: float, hi: float) -> None:
        self.lo, self.hi = max(self.lo, lo), min(self.hi, hi)
        self.ticks = [(v, t) for v, t in self.ticks if self.lo - 1e-9 <= v <= self.hi + 1e-9]

    def scale(self, value: float, start: float, end: float) -> float:
        return start + (value - self.lo) / (self.hi - self.lo) * (end - start)


def _text(x: float, y: float, text: str, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return f'<text x="{_num(x)}" y="{_num(y)}"{extra}>{escape(text)}</text>'


def _text_width(text: str, size: float) -> float:
    """A rough width for layout (no font metrics here): 0.6 em per character."""
    return len(text) * size * 0.6


class _Frame:
    """Where a panel's plot area is, in SVG pixels."""

    def __init__(self, left: float, top: float, right: float, bottom: float) -> None:
        self.left, self.top, self.right, self.bottom = left, top, right, bottom

    def rect(self) -> str:
        """The plot area's border."""
        return (
            f'<rect x="{_num(self.left)}" y="{_num(self.top)}" '
            f'width="{_num(self.right - self.left)}" height="{_num(self.bottom - self.top)}" '
            'fill="none" stroke="#d0d7de"/>'
        )


def _panel(
    metric: Metric,
    curves: list[Series],
    frame: _Frame,
    x_axis: _Axis,
) -> list[str]:
    out = [
        f'<g class="panel" data-metric="{metric}">',
        _text(frame.left, frame.top - 6, PANELS[metric], font_size="12", font_weight="600"),
    ]
    values = [v for c in curves for _, v in c.points]
    if not values:
        out += [
            frame.rect(),
            _text(
                (frame.left + frame.right) / 2,
                (frame.top + frame.bottom) / 2,
                f"no {PANELS[metric]} values",
                text_anchor="middle",
                fill="#57606a",
            ),
            "</g>",
        ]
        return out
    y_axis = _Axis(min(values), max(values), target=4)
    if metric == "accuracy":
        y_axis.clamp(0.0, 1.0)

    def px(step: float) -> float:
        return x_axis.scale(step, frame.left, frame.right)

    def py(value: float) -> float:
        return y_axis.scale(value, frame.bottom, frame.top)

    out.append('<g class="grid" stroke="#eaeef2">')
    out += [
        f'<line x1="{_num(frame.left)}" y1="{_num(py(v))}" x2="{_num(frame.right)}" '
        f'y2="{_num(py(v))}"/>'
        for v, _ in y_axis.ticks
    ]
    out.append("</g>")
    out.append(frame.rect())
    out.append('<g class="y-ticks" fill="#57606a" text-anchor="end">')
    out += [_text(frame.left - 6, py(v) + 4, label) for v, label in y_axis.ticks]
    out.append("</g>")
    out.append('<g class="x-ticks" fill="#57606a" text-anchor="middle">')
    out += [_text(px(v), frame.bottom + 15, label) for v, label in x_axis.ticks]
    out.append("</g>")
    for curve in curves:
        color = COLORS[curve.name]
        cls = curve.name.replace("_", "-")
        if curve.name != "full_valid" and len(curve.points) > 1:
            coords = " ".join(f"{_num(px(s))},{_num(py(v))}" for s, v in curve.points)
            out.append(
                f'<polyline class="series {cls}" points="{coords}" fill="none" '
                f'stroke="{color}" stroke-width="1.6" stroke-linejoin="round"/>'
            )
            continue
        out.append(f'<g class="markers {cls}" fill="{color}" stroke="#ffffff">')
        out += [
            f'<circle cx="{_num(px(s))}" cy="{_num(py(v))}" r="3.5">'
            f"<title>step {s}: {escape(curve.label)} {metric} {v:g}</title></circle>"
            for s, v in curve.points
        ]
        out.append("</g>")
    out.append("</g>")
    return out


_LABEL_ROWS = 3
"""Rows of checkpoint labels at most; a label that fits none is left out (its line stays)."""


def _checkpoints(steps: list[int], frames: list[_Frame], x_axis: _Axis) -> list[str]:
    if not steps:
        return []
    group = f'<g class="checkpoints" stroke="{CHECKPOINT_COLOR}" stroke-dasharray="4 3">'
    out = [group]
    for step in steps:
        at = _num(x_axis.scale(step, frames[0].left, frames[0].right))
        out += [
            f'<line x1="{at}" y1="{_num(f.top)}" x2="{at}" y2="{_num(f.bottom)}"/>' for f in frames
        ]
    out.append("</g>")
    # Labels inside the loss panel, at the top (loss falls: the top right is usually empty),
    # beside their line. They are placed from the last checkpoint (the tuned model) back: one
    # that would overlap a label already placed goes a row lower, and one that would need a
    # fourth row is left out (its line stays).
    top, right = frames[0].top, frames[0].right
    rows: list[float] = []  # the left end of the last label placed in each row
    placed: list[tuple[int, str]] = []
    for step in reversed(steps):
        label = f"ckpt {step}"
        x = x_axis.scale(step, frames[0].left, right)
        width = _text_width(label, 10)
        if x + 3 + width > right:
            start, anchor, text_x = x - 3 - width, "end", x - 3
        else:
            start, anchor, text_x = x + 3, "start", x + 3
        row = next((i for i, left in enumerate(rows) if start + width + 4 < left), len(rows))
        if row >= _LABEL_ROWS:
            continue
        if row == len(rows):
            rows.append(start)
        else:
            rows[row] = start
        placed.append((step, _text(text_x, top + 12 + 12 * row, label, text_anchor=anchor)))
    return [
        *out,
        f'<g class="checkpoint-labels" fill="{CHECKPOINT_COLOR}" font-size="10">',
        *(text for _, text in sorted(placed)),
        "</g>",
    ]


def _legend(names: list[SeriesName], *, checkpoints: bool, x: float, y: float) -> list[str]:
    out = ['<g class="legend">']
    for name in names:
        color, label = COLORS[name], LABELS[name]
        if name == "full_valid":
            out.append(
                f'<circle cx="{_num(x + 9)}" cy="{_num(y - 4)}" r="3.5" fill="{color}" '
                'stroke="#ffffff"/>'
            )
        else:
            out.append(
                f'<line x1="{_num(x)}" y1="{_num(y - 4)}" x2="{_num(x + 18)}" y2="{_num(y - 4)}" '
                f'stroke="{color}" stroke-width="2"/>'
            )
        out.append(_text(x + 24, y, label))
        x += 24 + _text_width(label, 11) + 18
    if checkpoints:
        out.append(
            f'<line x1="{_num(x)}" y1="{_num(y - 4)}" x2="{_num(x + 18)}" y2="{_num(y - 4)}" '
            f'stroke="{CHECKPOINT_COLOR}" stroke-dasharray="4 3"/>'
        )
        out.append(_text(x + 24, y, "checkpoint"))
    out.append("</g>")
    return out


def _render(
    points: Sequence[MetricPoint],
    *,
    checkpoints: Sequence[int] = (),
    title: str | None = None,
    width: int = 720,
    height: int = 480,
    standalone: bool = True,
) -> str:
    """`curves_svg`, or to inline in HTML (`standalone=False`): no XML namespace, 100% wide."""
    if width < 320 or height < 240:
        raise ConfigurationError(
            f"the curves need at least 320 × 240 pixels, not {width} × {height}"
        )
    name = title if title is not None else "training curves"
    # Inline in a page, the picture takes the page's width (its height follows the viewBox).
    size = f'width="{width}" height="{height}"' if standalone else 'width="100%"'
    head = (
        f'<svg{_SVG_NS if standalone else ""} class="curves" {size} '
        f'viewBox="0 0 {width} {height}" role="img" font-family="system-ui, sans-serif" '
        'font-size="11" fill="#1f2328">'
    )
    out = [
        head,
        f"<title>{escape(name)}</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    top = 10.0
    if title is not None:
        out.append(_text(12, top + 15, title, font_size="15", font_weight="600"))
        top += 28
    by_metric: dict[Metric, list[Series]] = {m: series(points, metric=m) for m in _METRICS}
    steps = [p.step for p in points]
    if not steps:
        out.append(
            _text(
                width / 2,
                (top + height) / 2,
                "no metrics yet",
                text_anchor="middle",
                fill="#57606a",
            )
        )
        out += ["</svg>", ""]
        return "\n".join(out)
    present = {c.name for curves in by_metric.values() for c in curves}
    names: list[SeriesName] = [n for n in ("train", "valid", "full_valid") if n in present]
    ckpts = sorted(set(checkpoints))
    out += _legend(names, checkpoints=bool(ckpts), x=60, y=top + 12)
    top += 24
    x_axis = _Axis(float(min(steps + ckpts)), float(max(steps + ckpts)), target=5, integer=True)
    x_axis.clamp(0.0, math.inf)
    left, right = 60.0, width - 20.0
    block = (height - top - 20) / 2  # two panels, then the "step" label
    frames = [
        _Frame(left, top + 18 + i * block, right, top + (i + 1) * block - 22) for i in range(2)
    ]
    for metric, frame in zip(_METRICS, frames, strict=True):
        out += _panel(metric, by_metric[metric], frame, x_axis)
    out += _checkpoints(ckpts, frames, x_axis)
    out.append(_text((left + right) / 2, height - 8, "step", text_anchor="middle", fill="#57606a"))
    out += ["</svg>", ""]
    return "\n".join(out)


def curves_svg(
    points: Sequence[MetricPoint],
    *,
    checkpoints: Sequence[int] = (),
    title: str | None = None,
    width: int = 720,
    height: int = 480,
) -> str:
    """Draw the training curves as a self-contained SVG document.

    Two panels share the step axis: the loss on top, the mean token accuracy below. Each has
    the train and valid curves as lines and the full-valid values (computed once per epoch) as
    markers, a few tick labels and light grid lines; a legend names what is drawn. Checkpoint
    steps are dashed vertical lines through both panels, labelled `ckpt <step>` (labels too
    close to fit side by side are stacked, three rows at most, the last checkpoint's on top;
    beyond that an earlier line goes unlabelled). With no points the picture says "no metrics yet"; a curve of a single point
    is drawn as a marker.

    The SVG has no scripts, styles or external references, and all text is escaped, so it can
    be inlined in a page or committed as a file. The output is deterministic: the same points
    give the same bytes.

    Args:
        points: The metric points (e.g. `FineTuneJob.metrics()`), in any order.
        checkpoints: Checkpoint steps to mark (e.g. `[c.step_number for c in
            job.checkpoints()]`).
        title: A heading drawn on top (and the SVG's accessible title).
        width: The picture's width in pixels (at least 320).
        height: The picture's height in pixels (at least 240).

    Returns:
        The SVG document (`<svg xmlns=...>...</svg>` and a newline).

    Raises:
        ConfigurationError: The size is under 320 × 240.

    Added in 0.1.0.
    """
    return _render(points, checkpoints=checkpoints, title=title, width=width, height=height)
