"""Reports: pictures of training (sparkline, SVG, PNG) and self-contained HTML pages.

`sparkline`, `series` and `curves_svg` are pure and need nothing else; `plot_metrics` needs
matplotlib (`pip install 'finetune-kit[plot]'`), imported only when it draws. Each name is
imported on first use (PEP 562): `finetune_kit.report.curves` does not load `to_html`'s
`compare` and its SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finetune_kit import _lazy

if TYPE_CHECKING:
    from finetune_kit.report.curves import Series, curves_svg, series, sparkline
    from finetune_kit.report.html import to_html
    from finetune_kit.report.plot import plot_metrics

__all__ = ["Series", "curves_svg", "plot_metrics", "series", "sparkline", "to_html"]

_HOMES: dict[str, str] = {
    "Series": "curves",
    "curves_svg": "curves",
    "plot_metrics": "plot",
    "series": "curves",
    "sparkline": "curves",
    "to_html": "html",
}
"""The submodule each public name lives in: imported from there on first use."""


def __getattr__(name: str) -> Any:
    return _lazy.attribute(globals(), __name__, _HOMES, name)


def __dir__() -> list[str]:
    return _lazy.names(globals(), __all__)
