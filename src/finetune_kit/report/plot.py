"""`plot_metrics`: the training curves as a PNG (or any format matplotlib writes).

matplotlib is optional (`pip install 'finetune-kit[plot]'`) and imported only when a picture is
drawn. No pyplot: the figure is a plain `matplotlib.figure.Figure` on an Agg canvas, so nothing
leaks into (or depends on) pyplot's global state.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune_kit._core.metrics import MetricPoint
from finetune_kit._io import atomic_write
from finetune_kit.exceptions import ConfigurationError
from finetune_kit.report.curves import CHECKPOINT_COLOR, COLORS, PANELS, Metric, series

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_metrics"]

_DPI = 100
# What would make two drawings of the same points differ: dates and versions in the metadata.
_METADATA: dict[str, dict[str, Any]] = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "Creator": None, "Producer": None},
}


def _inches(pixels: int) -> float:
    """`pixels / _DPI`, nudged up so that matplotlib's canvas is exactly `pixels` wide.

    matplotlib before 3.11 truncates the canvas size (`int(inches * dpi)`), and 803 / 100 * 100 is
    802.999...: the PNG came out 802 pixels wide. The smallest float whose product with `_DPI` is
    at least `pixels` truncates to `pixels` on every version (an exact product is not always
    there: 7 / 100 * 100 is 7.000000000000001, and no float gives 7.0).
    """
    inches = pixels / _DPI
    while inches * _DPI < pixels:
        inches = math.nextafter(inches, math.inf)
    return inches


def _panel(ax: Axes, points: Sequence[MetricPoint], metric: Metric) -> None:
    ax.set_title(PANELS[metric], loc="left", fontsize=11, fontweight="bold")
    ax.grid(visible=True, color="#eaeef2", linewidth=0.8)
    ax.set_axisbelow(True)
    curves = series(points, metric=metric)
    if not curves:
        ax.text(
            0.5,
            0.5,
            f"no {PANELS[metric]} values",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="#57606a",
        )
        return
    for curve in curves:
        steps = [s for s, _ in curve.points]
        values = [v for _, v in curve.points]
        color = COLORS[curve.name]
        if curve.name == "full_valid" or len(curve.points) == 1:
            ax.plot(
                steps,
                values,
                linestyle="none",
                marker="o",
                markersize=5,
                color=color,
                markeredgecolor="white",
                label=curve.label,
                zorder=3,
            )
        else:
            ax.plot(steps, values, color=color, linewidth=1.6, label=curve.label)


def plot_metrics(
    points: Sequence[MetricPoint],
    path: str | os.PathLike[str],
    *,
    checkpoints: Sequence[int] = (),
    title: str | None = None,
    width: int = 960,
    height: int = 640,
) -> Path:
    """Draw the training curves into an image file: PNG, or any format matplotlib writes.

    The same two panels as `curves_svg`: the loss on top,
    the mean token accuracy below, sharing the step axis; train and valid as lines, full valid
    as markers, checkpoints as dashed vertical lines labelled `ckpt <step>`. With no points the
    picture says "no metrics yet". The format follows the suffix (`.png`, `.svg`, `.pdf`...);
    dates and software versions are left out of the metadata, so the same points give the same
    file on the same matplotlib.

    Args:
        points: The metric points (e.g. `FineTuneJob.metrics()`), in any order.
        path: Where to write the picture (its parent directory must exist).
        checkpoints: Checkpoint steps to mark.
        title: A heading on top of the picture.
        width: The width in pixels (at 100 dpi).
        height: The height in pixels (at 100 dpi).

    Returns:
        The path written.

    Raises:
        ConfigurationError: matplotlib is not installed, the size is under 320 × 240, the
            suffix is not an image format, or the folder does not exist.

    Added in 0.1.0.
    """
    try:
        from matplotlib import rc_context  # noqa: PLC0415 - optional
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415
        from matplotlib.lines import Line2D  # noqa: PLC0415
        from matplotlib.ticker import MaxNLocator  # noqa: PLC0415
    except ImportError:
        raise ConfigurationError(
            "plotting needs matplotlib: pip install 'finetune-kit[plot]'"
        ) from None
    if width < 320 or height < 240:
        raise ConfigurationError(
            f"the curves need at least 320 × 240 pixels, not {width} × {height}"
        )
    target = Path(path)
    fmt = target.suffix.lower().lstrip(".")
    if fmt not in FigureCanvasAgg.get_supported_filetypes():
        known = ", ".join(f".{k}" for k in sorted(FigureCanvasAgg.get_supported_filetypes()))
        raise ConfigurationError(
            f"{target}: can't draw a '{target.suffix}' file; use one of {known}"
        )
    if not target.parent.is_dir():
        raise ConfigurationError(f"{target}: the folder {target.parent} does not exist")
    fig = Figure(figsize=(_inches(width), _inches(height)), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    if title is not None:
        fig.suptitle(title, x=0.01, ha="left", fontsize=13, fontweight="bold")
    if not points:
        fig.text(0.5, 0.5, "no metrics yet", ha="center", va="center", color="#57606a")
    else:
        loss, accuracy = fig.subplots(2, 1, sharex=True)
        _panel(loss, points, "loss")
        _panel(accuracy, points, "accuracy")
        accuracy.set_xlabel("step")
        accuracy.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        for step in sorted(set(checkpoints)):
            for ax in (loss, accuracy):
                ax.axvline(step, color=CHECKPOINT_COLOR, linestyle="--", linewidth=1, zorder=1)
            loss.annotate(
                f"ckpt {step}",
                xy=(step, 1),
                xycoords=("data", "axes fraction"),
                xytext=(-3, -3),
                textcoords="offset points",
                ha="right",
                va="top",
                fontsize=8,
                color=CHECKPOINT_COLOR,
                rotation=90,
            )
        handles, labels = loss.get_legend_handles_labels()
        if checkpoints:
            handles.append(Line2D([], [], color=CHECKPOINT_COLOR, linestyle="--", linewidth=1))
            labels.append("checkpoint")
        if handles:
            loss.legend(  # above the panel, right-aligned: the title stays free
                handles,
                labels,
                loc="lower right",
                bbox_to_anchor=(1, 1),
                ncols=len(handles),
                frameon=False,
                fontsize=9,
                borderaxespad=0.2,
            )
    metadata = _METADATA.get(target.suffix.lower().lstrip("."))
    # SVG ids are salted with a random uuid unless a salt is set; set for this drawing only.
    # Atomic (finetune_kit._io): a failure keeps the old picture; a link is replaced, not followed.
    with rc_context({"svg.hashsalt": "finetune-kit"}), atomic_write(target) as f:
        fig.savefig(f, format=fmt, dpi=_DPI, metadata=metadata)
    return target
