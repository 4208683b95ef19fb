"""`plot_metrics`: a valid picture of the configured size, deterministic, and a clear error
without matplotlib."""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import pytest

from finetune_kit import MetricPoint
from finetune_kit.exceptions import ConfigurationError
from finetune_kit.report import plot as plot_module
from finetune_kit.report import plot_metrics
from tests.report._helpers import Trained

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """The width and height from a PNG's IHDR chunk, after checking the signature and CRC."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    body = data[16 : 16 + length]
    (crc,) = struct.unpack(">I", data[16 + length : 20 + length])
    assert crc == zlib.crc32(kind + body)
    width, height = struct.unpack(">II", body[:8])
    return width, height


def test_png_of_a_training_run(trained: Trained, tmp_path: Path) -> None:
    """A PNG of exactly the configured size is written where asked, and the path returned."""
    target = tmp_path / "loss.png"
    written = plot_metrics(
        trained.points,
        target,
        checkpoints=trained.checkpoints,
        title="Elle <b>&",
        width=803,
        height=517,
    )
    assert written == target
    assert png_size(target.read_bytes()) == (803, 517)


@pytest.mark.parametrize(
    ("width", "height"),
    [(803, 251), (804, 253), (805, 402), (1003, 406), (1606, 1004), (801, 809), (1201, 1001)],
)
def test_png_size_is_exact(width: int, height: int, tmp_path: Path) -> None:
    """Any size gives exactly that many pixels. matplotlib before 3.11 truncates the canvas size,
    and 803 px at 100 dpi is 8.03 in, which times 100 is 802.999...: such sizes lost a pixel."""
    points = [MetricPoint(step=s, train_loss=1 / s, valid_loss=1.5 / s) for s in range(1, 9)]
    target = plot_metrics(
        points, tmp_path / "size.png", checkpoints=[4], width=width, height=height
    )
    assert png_size(target.read_bytes()) == (width, height)


def test_canvas_size_truncates_to_the_pixels_asked_for() -> None:
    """For every size up to 10,000 px, the figure's size in inches times the dpi truncates (as
    matplotlib 3.8 to 3.10 do) to that many pixels, and overshoots by a rounding error at most."""
    dpi = plot_module._DPI
    wrong = [
        n
        for n in range(240, 10_001)
        if int(plot_module._inches(n) * dpi) != n or plot_module._inches(n) * dpi - n > 1e-9
    ]
    assert wrong == []


def test_png_default_size(trained: Trained, tmp_path: Path) -> None:
    """The default picture is 960 × 640 pixels."""
    target = plot_metrics(trained.points, tmp_path / "loss.png")
    assert png_size(target.read_bytes()) == (960, 640)


def test_png_is_deterministic(trained: Trained, tmp_path: Path) -> None:
    """The same points give the same bytes: no date or software version in the metadata."""
    a = plot_metrics(trained.points, tmp_path / "a.png", checkpoints=trained.checkpoints)
    b = plot_metrics(trained.points, tmp_path / "b.png", checkpoints=trained.checkpoints)
    assert a.read_bytes() == b.read_bytes()
    assert b"Software" not in a.read_bytes()


def test_svg_suffix_is_deterministic(tmp_path: Path) -> None:
    """The suffix picks the format; an SVG is deterministic too (salted ids, no date)."""
    points = [MetricPoint(step=s, train_loss=1 / s) for s in range(1, 6)]
    a = plot_metrics(points, tmp_path / "a.svg", checkpoints=[5])
    b = plot_metrics(points, tmp_path / "b.svg", checkpoints=[5])
    text = a.read_text(encoding="utf-8")
    assert "<svg" in text
    assert text == b.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "points",
    [[], [MetricPoint(step=3, train_loss=1.2)], [MetricPoint(step=1, train_accuracy=0.5)]],
    ids=["empty", "single-point", "accuracy-only"],
)
def test_png_edge_cases(points: list[MetricPoint], tmp_path: Path) -> None:
    """No points, one point, or one metric only: still a valid picture."""
    target = plot_metrics(points, tmp_path / "edge.png", checkpoints=[3], width=400, height=300)
    assert png_size(target.read_bytes()) == (400, 300)


def test_too_small(tmp_path: Path) -> None:
    """A picture under 320 × 240 is a `ConfigurationError`."""
    with pytest.raises(ConfigurationError, match="at least 320 × 240 pixels, not 100 × 80"):
        plot_metrics([], tmp_path / "x.png", width=100, height=80)
    assert not (tmp_path / "x.png").exists()


def test_without_matplotlib(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without matplotlib: one clear line naming the extra to install, and no file."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ConfigurationError) as info:
        plot_metrics([MetricPoint(step=1, train_loss=1.0)], tmp_path / "loss.png")
    assert str(info.value) == "plotting needs matplotlib: pip install 'finetune-kit[plot]'"
    assert info.value.__cause__ is None
    assert not (tmp_path / "loss.png").exists()
