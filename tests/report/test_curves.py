"""`sparkline`, `series` and `curves_svg`: exact values, SVG structure, escaping, determinism."""

from __future__ import annotations

import math
import random
import xml.etree.ElementTree as ET

import pytest

from finetune_kit import MetricPoint
from finetune_kit.exceptions import ConfigurationError
from finetune_kit.report import Series, curves_svg, series, sparkline

NS = "{http://www.w3.org/2000/svg}"


# --- sparkline ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "width", "expected"),
    [
        ([], 24, ""),
        ([None, None], 24, ""),
        ([1, 2, 3, 4, 5, 6, 7, 8], 24, "▁▂▃▄▅▆▇█"),
        ([2.0, 1.0, 0.5, 0.25], 24, "█▄▂▁"),
        ([0, None, 1], 24, "▁█"),
        ([1.0, math.nan, 2.0, math.inf], 24, "▁█"),
        ([2.5] * 5, 24, "▄▄▄▄▄"),
        ([3.0], 24, "▄"),
        (list(range(100)), 5, "▁▃▅▆█"),
        ([0] * 99 + [5], 3, "▁▁█"),
        ([3, 1, 2], 1, "▄"),
        ([3, 1, 2], 3, "█▁▅"),
    ],
    ids=[
        "empty",
        "only-none",
        "eight-levels",
        "falling-loss",
        "none-skipped",
        "nan-inf-skipped",
        "constant",
        "single",
        "resampled",
        "last-value-kept",
        "width-one-is-the-last",
        "exact-fit",
    ],
)
def test_sparkline_exact(values: list[float | None], width: int, expected: str) -> None:
    """Each case draws exactly the expected blocks."""
    assert sparkline(values, width) == expected


def test_sparkline_default_width_is_24() -> None:
    """A long series is resampled to 24 blocks, from the lowest to the highest."""
    line = sparkline([float(i) for i in range(1000)])
    assert len(line) == 24
    assert (line[0], line[-1]) == ("▁", "█")


def test_sparkline_width_must_be_positive() -> None:
    """A width under 1 is a `ConfigurationError` naming the width."""
    with pytest.raises(ConfigurationError, match="at least 1, not 0"):
        sparkline([1.0], 0)


# --- series -------------------------------------------------------------------------------------

POINTS = [
    MetricPoint(step=2, train_loss=1.0, train_accuracy=0.5, valid_loss=1.2),
    MetricPoint(step=1, train_loss=2.0, train_accuracy=0.3),
    MetricPoint(step=3, train_loss=0.5, full_valid_loss=0.9, full_valid_accuracy=0.7),
    MetricPoint(step=4, train_loss=math.nan),
]


def test_series_loss() -> None:
    """Loss curves in step order; a curve only when it has values; NaN left out."""
    assert series(POINTS, metric="loss") == [
        Series(name="train", metric="loss", points=((1, 2.0), (2, 1.0), (3, 0.5))),
        Series(name="valid", metric="loss", points=((2, 1.2),)),
        Series(name="full_valid", metric="loss", points=((3, 0.9),)),
    ]


def test_series_accuracy() -> None:
    """Accuracy curves: no valid accuracy anywhere, so no valid curve."""
    curves = series(POINTS, metric="accuracy")
    assert curves == [
        Series(name="train", metric="accuracy", points=((1, 0.3), (2, 0.5))),
        Series(name="full_valid", metric="accuracy", points=((3, 0.7),)),
    ]
    assert [(c.label, c.last) for c in curves] == [("train", (2, 0.5)), ("full valid", (3, 0.7))]


def test_series_of_nothing() -> None:
    """No points, no curves."""
    assert series([], metric="loss") == []


# --- curves_svg ---------------------------------------------------------------------------------


def _points(n: int = 20) -> list[MetricPoint]:
    """n steps with train and valid values each step and full valid every 5 steps."""
    return [
        MetricPoint(
            step=s,
            train_loss=2.0 / s,
            train_accuracy=1 - 1 / (s + 1),
            valid_loss=2.2 / s,
            valid_accuracy=1 - 1.2 / (s + 1),
            full_valid_loss=2.3 / s if s % 5 == 0 else None,
            full_valid_accuracy=1 - 1.3 / (s + 1) if s % 5 == 0 else None,
        )
        for s in range(1, n + 1)
    ]


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output


def _texts(root: ET.Element, cls: str) -> list[str]:
    group = root.find(f".//{NS}g[@class='{cls}']")
    assert group is not None, cls
    return [t.text or "" for t in group.iter(f"{NS}text")]


def test_svg_structure() -> None:
    """Two panels, train and valid lines in each, full valid as markers, checkpoints marked."""
    root = _parse(curves_svg(_points(), checkpoints=[10, 20], title="Elle"))
    assert root.tag == f"{NS}svg"
    assert (root.get("width"), root.get("height"), root.get("viewBox")) == (
        "720",
        "480",
        "0 0 720 480",
    )
    panels = root.findall(f"{NS}g[@class='panel']")
    assert [p.get("data-metric") for p in panels] == ["loss", "accuracy"]
    for panel in panels:
        lines = panel.findall(f"{NS}polyline")
        assert [line.get("class") for line in lines] == ["series train", "series valid"]
        assert [len((line.get("points") or "").split()) for line in lines] == [20, 20]
        assert [line.get("stroke") for line in lines] == ["#1f6feb", "#d1570c"]
        markers = panel.findall(f"{NS}g[@class='markers full-valid']/{NS}circle")
        assert len(markers) == 4
    assert len(root.findall(f".//{NS}g[@class='checkpoints']/{NS}line")) == 4  # 2 × 2 panels
    assert _texts(root, "checkpoint-labels") == ["ckpt 10", "ckpt 20"]
    assert _texts(root, "legend") == ["train", "valid", "full valid", "checkpoint"]
    assert root.findtext(f"{NS}title") == "Elle"


def test_svg_coordinates_are_exact() -> None:
    """Two points map onto the corners of the loss panel; ticks are round numbers."""
    points = [MetricPoint(step=0, train_loss=0.0), MetricPoint(step=10, train_loss=1.0)]
    root = _parse(curves_svg(points))
    line = root.find(f".//{NS}polyline")
    assert line is not None
    assert line.get("points") == "60,225 700,52"
    loss = root.find(f"{NS}g[@data-metric='loss']")
    assert loss is not None
    assert _texts(loss, "y-ticks") == ["0.0", "0.5", "1.0"]
    assert _texts(loss, "x-ticks") == ["0", "2", "4", "6", "8", "10"]


def test_svg_escapes_all_text() -> None:
    """A title with markup is escaped in the drawn heading and the accessible title."""
    svg = curves_svg(_points(3), title='<b>&</b> "q" <script>alert(1)</script>')
    assert "<script>" not in svg
    assert "<b>" not in svg
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in svg
    root = _parse(svg)
    assert root.findtext(f"{NS}title") == '<b>&</b> "q" <script>alert(1)</script>'
    assert root.find(f".//{NS}script") is None


def test_svg_is_self_contained() -> None:
    """No scripts, styles, links or images: only the SVG namespace names a URL."""
    svg = curves_svg(_points(), checkpoints=[5])
    for banned in ("<script", "<style", "href", "<image", "url(", "<foreignObject"):
        assert banned not in svg
    assert svg.count("http") == 1
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" ')
    assert svg.endswith("</svg>\n")


def test_svg_is_deterministic() -> None:
    """The same points give the same bytes, whatever their order."""
    points = _points()
    shuffled = points[:]
    random.Random(0).shuffle(shuffled)
    first = curves_svg(points, checkpoints=[10, 20], title="t")
    assert first == curves_svg(points, checkpoints=[10, 20], title="t")
    assert first == curves_svg(shuffled, checkpoints=[20, 10, 20], title="t")


def test_svg_without_points_says_so() -> None:
    """No points: a valid SVG that says "no metrics yet", no lines, no checkpoints."""
    root = _parse(curves_svg([], checkpoints=[10], title="waiting"))
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert texts == ["waiting", "no metrics yet"]
    assert root.find(f".//{NS}polyline") is None


def test_svg_single_point_is_a_marker() -> None:
    """A one-point curve is a marker; the accuracy panel without values says so."""
    root = _parse(curves_svg([MetricPoint(step=3, train_loss=1.2)], checkpoints=[3]))
    assert root.find(f".//{NS}polyline") is None
    markers = root.findall(f".//{NS}g[@class='markers train']/{NS}circle")
    assert len(markers) == 1
    assert markers[0].findtext(f"{NS}title") == "step 3: train loss 1.2"
    accuracy = root.find(f"{NS}g[@data-metric='accuracy']")
    assert accuracy is not None
    assert [t.text for t in accuracy.iter(f"{NS}text")] == [
        "mean token accuracy",
        "no mean token accuracy values",
    ]
    assert _texts(root, "checkpoint-labels") == ["ckpt 3"]


def test_svg_accuracy_axis_stays_within_zero_and_one() -> None:
    """Accuracy ticks never go past 1.0 (nor below 0)."""
    points = [MetricPoint(step=1, train_accuracy=0.02), MetricPoint(step=2, train_accuracy=0.97)]
    root = _parse(curves_svg(points))
    accuracy = root.find(f"{NS}g[@data-metric='accuracy']")
    assert accuracy is not None
    assert _texts(accuracy, "y-ticks") == ["0.0", "0.5", "1.0"]


def test_svg_close_checkpoint_labels_do_not_overlap() -> None:
    """Labels of nearby checkpoints go on separate rows."""
    root = _parse(curves_svg(_points(100), checkpoints=[98, 99, 100]))
    group = root.find(f".//{NS}g[@class='checkpoint-labels']")
    assert group is not None
    rows = [t.get("y") for t in group.iter(f"{NS}text")]
    assert len(set(rows)) == 3


def test_svg_crowded_checkpoint_labels_keep_three_rows_and_the_last_on_top() -> None:
    """Labels are placed from the last checkpoint back, on three rows at most: the last one is
    always labelled, on the top row; one that would need a fourth row is dropped, its line kept."""
    root = _parse(curves_svg(_points(100), checkpoints=[10, 50, 51, 52, 53, 100]))
    group = root.find(f".//{NS}g[@class='checkpoint-labels']")
    assert group is not None
    placed = [
        (t.text, t.get("x"), t.get("y"), t.get("text-anchor")) for t in group.iter(f"{NS}text")
    ]
    assert placed == [
        ("ckpt 10", "127", "64", "start"),
        ("ckpt 51", "389.4", "88", "start"),  # ckpt 50 would need a fourth row
        ("ckpt 52", "395.8", "76", "start"),
        ("ckpt 53", "402.2", "64", "start"),
        ("ckpt 100", "697", "64", "end"),  # at the right edge: to the left of its line
    ]
    assert len(root.findall(f".//{NS}g[@class='checkpoints']/{NS}line")) == 12  # 6 × 2 panels


def test_svg_size_is_configurable_and_checked() -> None:
    """Width and height set the canvas; a too-small one is a `ConfigurationError`."""
    root = _parse(curves_svg(_points(), width=960, height=600))
    assert (root.get("width"), root.get("height")) == ("960", "600")
    with pytest.raises(ConfigurationError, match="at least 320 × 240 pixels, not 100 × 100"):
        curves_svg(_points(), width=100, height=100)
