"""Reports: sparkline, SVG and PNG curves, the HTML page (also in Chromium), the docs pictures."""
