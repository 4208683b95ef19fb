"""`to_html`: training curves and a comparison as one self-contained HTML page.

Inline CSS and an inline SVG; no scripts, no links.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

from finetune_kit._io import write_text
from finetune_kit.report import summary
from finetune_kit.report.curves import Series, _render, series, sparkline

if TYPE_CHECKING:  # compare is above: its Comparison.to_html imports this module
    from finetune_kit._core.metrics import MetricPoint
    from finetune_kit.compare import Answer, Comparison, ModelSummary, Row

__all__ = ["to_html"]

_CSS = """\
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1f2328}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.35rem .5rem;vertical-align:top;text-align:left}
th{background:#f6f8fa;position:sticky;top:0}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
pre{white-space:pre-wrap;word-break:break-word;margin:0;font-family:inherit}
.meta{color:#57606a;font-size:.8rem;margin-top:.3rem}
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}
.error{color:#cf222e}
tr:nth-child(even) td{background:#fbfcfd}
.job{color:#57606a}
figure.curves{margin:.5rem 0}figure.curves svg{display:block;width:100%;height:auto}
.note{background:#f6f8fa;border-left:4px solid #d0d7de;padding:.5rem .75rem}
ul.verdicts{padding-left:1.2rem}ul.verdicts li{margin:.2rem 0;font-weight:600}
table.last{width:auto}td.spark{font-family:ui-monospace,monospace;letter-spacing:-1px}
"""


def _summary_table(comparison: Comparison, graders: list[str]) -> str:
    out = [
        '<table class="summary">',
        "<thead><tr>"
        + "".join(f"<th>{escape(h)}</th>" for h in summary.head(graders))
        + "</tr></thead>",
        "<tbody>",
    ]
    for model in comparison.models:
        s: ModelSummary | None = comparison.summaries.get(model)
        if s is None:
            continue
        name, *numbers = summary.row(model, s, graders)
        cells = [
            f"<td>{escape(name)}</td>",
            *(f'<td class="num">{escape(n)}</td>' for n in numbers),
        ]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _answer_cell(answer: Answer | None) -> str:
    if answer is None:
        return "<td>-</td>"
    if answer.error is not None:
        return f'<td><pre class="error">error: {escape(answer.error)}</pre></td>'
    marks = " ".join(
        f'<span class="{"pass" if ok else "fail"}">{"✓" if ok else "✗"} {escape(name)}</span>'
        for name, ok in sorted(answer.grades.items())
    )
    meta = f"{answer.latency:.2f} s · {answer.prompt_tokens} + {answer.completion_tokens} tok" + (
        f" · ${answer.cost_usd:.5f}" if answer.cost_usd is not None else ""
    )
    return (
        f"<td><pre>{escape(answer.output)}</pre>"
        f'<div class="meta">{escape(meta)}</div>'
        + (f'<div class="meta">{marks}</div>' if marks else "")
        + "</td>"
    )


def _row(row: Row, models: list[str]) -> str:
    reference = escape(row.reference) if row.reference is not None else "-"
    return (
        '<tr class="item">'
        f'<td class="num">{row.index}</td>'
        f"<td><pre>{escape(row.prompt)}</pre></td>"
        f"<td><pre>{reference}</pre></td>"
        + "".join(_answer_cell(row.answers.get(m)) for m in models)
        + "</tr>"
    )


def _items_table(comparison: Comparison) -> str:
    head = ["#", "prompt", "reference", *comparison.models]
    rows = "\n".join(_row(r, comparison.models) for r in comparison.rows)
    return (
        '<table class="items">\n'
        "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead>\n"
        f"<tbody>\n{rows}\n</tbody></table>"
    )


def _value(curve: Series | None) -> str:
    return f"{curve.last[1]:.4f}" if curve is not None else "-"


def _last_values(points: Sequence[MetricPoint]) -> str:
    loss = {c.name: c for c in series(points, metric="loss")}
    accuracy = {c.name: c for c in series(points, metric="accuracy")}
    head = ["", "last step", "loss", "mean token accuracy", "loss trend"]
    out = [
        '<table class="last">',
        "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead>",
        "<tbody>",
    ]
    for name in ("train", "valid", "full_valid"):
        curves = [c for c in (loss.get(name), accuracy.get(name)) if c is not None]
        if not curves:
            continue
        step = max(c.last[0] for c in curves)
        trend = sparkline([v for _, v in loss[name].points]) if name in loss else ""
        out.append(
            f"<tr><td>{escape(curves[0].label)}</td>"
            f'<td class="num">{step}</td>'
            f'<td class="num">{_value(loss.get(name))}</td>'
            f'<td class="num">{_value(accuracy.get(name))}</td>'
            f'<td class="spark">{escape(trend)}</td></tr>'
        )
    out.append("</tbody></table>")
    return "\n".join(out)


def _training(points: Sequence[MetricPoint], checkpoints: Sequence[int], job: str | None) -> str:
    steps = sorted({p.step for p in points})
    ckpts = sorted(set(checkpoints))
    facts = [f"{len(steps)} steps with metrics" if steps else "no metrics yet"]
    if ckpts:
        facts.append("checkpoints at steps " + ", ".join(str(c) for c in ckpts))
    text = "; ".join(facts)
    out = ["<h2>Training</h2>"]
    if job is not None:
        out.append(f'<p class="job">{escape(job)}</p>')
    out.append(f"<p>{escape(text[0].upper() + text[1:])}.</p>")
    # Inline SVG needs no namespace declaration in HTML (and the page then names no URL at all);
    # drawn wide and scaled to the page's width.
    svg = _render(points, checkpoints=ckpts, width=960, height=480, standalone=False)
    out.append(f'<figure class="curves">\n{svg}</figure>')
    if steps:
        out.append(_last_values(points))
    return "\n".join(out)


def _comparison(comparison: Comparison) -> list[str]:
    graders = comparison.graders
    verdicts = (
        ['<ul class="verdicts">']
        + [f"<li>{escape(comparison.verdict(g))}</li>" for g in graders]
        + ["</ul>"]
        if graders
        else []
    )
    return [
        f"<p>{len(comparison.rows)} items × {len(comparison.models)} models.</p>",
        *verdicts,
        "<h2>Summary</h2>",
        _summary_table(comparison, graders),
        '<p class="meta">Pass rates with their 95% Wilson score interval.</p>',
        "<h2>Items</h2>",
        _items_table(comparison),
    ]


def to_html(
    comparison: Comparison | None = None,
    path: str | os.PathLike[str] | None = None,
    *,
    title: str | None = None,
    metrics: Sequence[MetricPoint] = (),
    checkpoints: Sequence[int] = (),
    job: str | None = None,
    note: str | None = None,
) -> str:
    """Write training curves and a comparison as one self-contained HTML page (or just return it).

    With metrics (or a job line, or no comparison at all), a "Training" section comes first:
    the job line, the loss and mean-token-accuracy curves as an inline SVG
    (`curves_svg`, checkpoints marked) and a table of the last
    train, valid and full-valid values with a sparkline of each loss.

    With a comparison: one line per grader saying what it found (`Comparison.verdict`: who
    wins, by how many points, with the 95% interval of the difference), the aggregates per
    model (items, errors, each grader's pass rate with its 95% Wilson interval, latency
    p50/p95, tokens and cost per item); below, every item side by side: the
    prompt, the reference and each model's output with its latency, tokens, cost and pass/fail
    marks per grader (or its error).

    CSS is inline; there are no scripts and no external resources, and all text is HTML-escaped.

    Args:
        comparison: What [`compare`][finetune_kit.compare.compare] returned; None for a
            training-only page.
        path: Where to write the page (UTF-8); None: only return it. Written whole or not at
            all (see `Dataset.to_jsonl`): a failure leaves the old file as it was, and a
            symbolic link is replaced by the page, its target left alone.
        title: The page's title and heading; default "finetune-kit comparison", or
            "finetune-kit training" without a comparison.
        metrics: The training curve (e.g. `FineTuneJob.metrics()`).
        checkpoints: Checkpoint steps to mark on the curves (e.g. `[c.step_number for c in
            job.checkpoints()]`).
        job: A line describing the job, shown above the curves (e.g. its id, model, status and
            trained tokens).
        note: A paragraph under the title: what ran where and on which prompts (e.g. "Ran on
            the built-in simulator; compared on 10 held-out prompts").

    Returns:
        The HTML page.

    Added in 0.1.0.
    """
    if title is None:
        title = "finetune-kit comparison" if comparison is not None else "finetune-kit training"
    body = [f"<h1>{escape(title)}</h1>"]
    if note is not None:
        body.append(f'<p class="note">{escape(note)}</p>')
    heading = len(body)
    if metrics or checkpoints or job is not None or comparison is None:
        body.append(_training(metrics, checkpoints, job))
    if comparison is not None:
        if len(body) > heading:
            body.append("<h2>Comparison</h2>")
        body += _comparison(comparison)
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>\n{_CSS}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )
    if path is not None:
        write_text(path, page)  # atomic: a failure keeps the old page; a link is replaced
    return page
