"""The docs' pictures are what the code draws: `docs/assets/curves.svg` is regenerated and compared."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from tests.report.test_plot import png_size

DOCS = Path(__file__).resolve().parents[2] / "docs"
REGENERATE = "run `uv run python docs/pictures.py` and commit docs/assets/"


def _pictures() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_pictures", DOCS / "pictures.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_svg_equals_the_drawing() -> None:
    """Regenerating the docs' SVG from the seeded simulator run gives the committed file."""
    pictures = _pictures()
    committed = DOCS / "assets" / "curves.svg"
    assert committed.is_file(), f"{committed} is missing: {REGENERATE}"
    points, checkpoints = pictures.run()
    assert checkpoints == [80, 90, 100]
    assert committed.read_text(encoding="utf-8") == pictures.svg(points, checkpoints), (
        f"{committed} is out of date: {REGENERATE}"
    )


def test_committed_png_is_the_default_size() -> None:
    """The docs' PNG is there, a PNG of `plot_metrics`' default size (its bytes depend on the
    matplotlib and FreeType builds, so they are not compared)."""
    png = DOCS / "assets" / "loss.png"
    assert png.is_file(), f"{png} is missing: {REGENERATE}"
    assert png_size(png.read_bytes()) == (960, 640)
