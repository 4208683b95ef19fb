"""Reports: pictures of training (sparkline, SVG, PNG) and self-contained HTML pages.

`sparkline`, `series` and `curves_svg` are pure and need nothing else; `plot_metrics` needs
matplotlib (`pip install 'finetune-kit[plot]'`), imported only when it draws.

Added in 0.1.0.
"""

from finetune_kit.report.curves import Series, curves_svg, series, sparkline
from finetune_kit.report.html import to_html
from finetune_kit.report.plot import plot_metrics

__all__ = ["Series", "curves_svg", "plot_metrics", "series", "sparkline", "to_html"]
