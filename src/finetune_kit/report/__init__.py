"""Reports of comparisons: self-contained HTML pages.

Added in 0.1.0.
"""

from finetune_kit.report.html import to_html

__all__ = ["to_html"]
