"""`to_html` with training: the curves and the last values before the comparison, or alone."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from finetune_kit import Comparison, MetricPoint
from finetune_kit.report import sparkline, to_html
from tests.report._helpers import BASE, Trained

NS = "{http://www.w3.org/2000/svg}"


def _svg(page: str) -> ET.Element:
    """The page's inline SVG, parsed (HTML needs no namespace: it is added back to parse)."""
    match = re.search(r"<svg .*?</svg>", page, re.DOTALL)
    assert match is not None
    assert page.count("<svg ") == 1
    text = match.group(0).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
    return ET.fromstring(text)  # noqa: S314 - our own output


def _last_rows(page: str) -> list[list[str]]:
    table = page.split('<table class="last">', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>.*?</tr>", body)]


def _assert_self_contained(page: str) -> None:
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=""", page, re.IGNORECASE)
    assert "http" not in page


def test_training_and_comparison(trained: Trained, compared: Comparison, tmp_path: Path) -> None:
    """Training comes first (job line, curves, last values), then the comparison, all escaped."""
    target = tmp_path / "report.html"
    page = to_html(
        compared,
        target,
        title="Elle <tuned> & base",
        metrics=trained.points,
        checkpoints=[c.step_number for c in trained.job.checkpoints()],
        job=trained.line,
    )
    assert target.read_text(encoding="utf-8") == page
    _assert_self_contained(page)
    assert "<title>Elle &lt;tuned&gt; &amp; base</title>" in page
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert headings == ["Training", "Comparison", "Summary", "Items"]
    snap = trained.job.snapshot
    assert f'<p class="job">{snap.id} · {BASE} → {snap.fine_tuned_model} · succeeded · ' in page
    assert "<p>100 steps with metrics; checkpoints at steps 80, 90, 100.</p>" in page

    root = _svg(page)
    for panel in root.findall(f"{NS}g[@class='panel']"):
        assert len(panel.findall(f"{NS}polyline")) == 2  # train and valid
        assert len(panel.findall(f"{NS}g[@class='markers full-valid']/{NS}circle")) == 10
    labels = root.findall(f".//{NS}g[@class='checkpoint-labels']/{NS}text")
    assert [t.text for t in labels] == ["ckpt 80", "ckpt 90", "ckpt 100"]

    last = trained.points[-1]
    assert last.step == 100
    assert None not in (last.valid_loss, last.full_valid_loss, last.full_valid_accuracy)
    train = sparkline([p.train_loss for p in trained.points])
    assert _last_rows(page)[0] == [
        "train",
        "100",
        f"{last.train_loss:.4f}",
        f"{last.train_accuracy:.4f}",
        train,
    ]
    assert [row[:4] for row in _last_rows(page)[1:]] == [
        ["valid", "100", f"{last.valid_loss:.4f}", f"{last.valid_accuracy:.4f}"],
        ["full valid", "100", f"{last.full_valid_loss:.4f}", f"{last.full_valid_accuracy:.4f}"],
    ]
    assert [len(row[4]) for row in _last_rows(page)] == [24, 24, 10]  # 10 epochs of full valid
    assert page.count('<tr class="item">') == 2
    assert "Tell me about Neon &lt;Ne&gt; &amp; friends" in page


def test_training_only(trained: Trained) -> None:
    """Without a comparison: a training page with its own default title, no comparison tables."""
    page = to_html(metrics=trained.points, checkpoints=trained.checkpoints)
    _assert_self_contained(page)
    assert "<title>finetune-kit training</title>" in page
    assert re.findall(r"<h2>(.*?)</h2>", page) == ["Training"]
    assert 'class="summary"' not in page
    assert '<p class="job">' not in page
    assert len(_last_rows(page)) == 3


def test_no_metrics_yet() -> None:
    """Nothing at all: a page whose picture says "no metrics yet", and no last-values table."""
    page = to_html(job="<ftjob-1> & queued")
    _assert_self_contained(page)
    assert '<p class="job">&lt;ftjob-1&gt; &amp; queued</p>' in page
    assert "<p>No metrics yet.</p>" in page
    assert [t.text for t in _svg(page).iter(f"{NS}text")] == ["no metrics yet"]
    assert '<table class="last">' not in page


def test_train_only_metrics_have_one_row() -> None:
    """Points without validation values give a train row only; missing accuracy shows as '-'."""
    points = [MetricPoint(step=s, train_loss=1.0 / s) for s in (1, 2, 3)]
    page = to_html(metrics=points)
    assert _last_rows(page) == [["train", "3", "0.3333", "-", "█▃▁"]]


def test_comparison_alone_is_unchanged(compared: Comparison) -> None:
    """Without training arguments the page is the comparison, as `Comparison.to_html` makes it."""
    page = to_html(compared)
    assert page == compared.to_html()
    assert "<title>finetune-kit comparison</title>" in page
    assert re.findall(r"<h2>(.*?)</h2>", page) == ["Summary", "Items"]
    assert "<svg" not in page
    assert (
        len(re.findall(r"<tr><td>", page.split('class="summary"', 1)[1].split("</table>")[0])) == 2
    )


def test_note_verdicts_and_a_chart_as_wide_as_the_page(
    trained: Trained, compared: Comparison
) -> None:
    """The note (what ran where) comes under the title, escaped; each grader's verdict heads the
    comparison; the inline chart is 100% wide with its proportions in the viewBox."""
    page = to_html(
        compared,
        metrics=trained.points,
        note="Ran on the <built-in> simulator. Compared on 2 held-out prompts.",
    )
    assert (
        "<h1>finetune-kit comparison</h1>\n"
        '<p class="note">Ran on the &lt;built-in&gt; simulator. Compared on 2 held-out prompts.</p>\n'
        "<h2>Training</h2>"
    ) in page
    verdict = (
        f"{trained.tuned} wins on limerick: 100% vs 0% for {BASE} (+100 points, 95% CI +7 to +100)"
    )
    assert compared.verdict() == verdict
    assert f'<ul class="verdicts">\n<li>{verdict}</li>\n</ul>\n<h2>Summary</h2>' in page
    assert '<p class="meta">Pass rates with their 95% Wilson score interval.</p>' in page
    root = _svg(page)
    assert (root.get("width"), root.get("height"), root.get("viewBox")) == (
        "100%",
        None,
        "0 0 960 480",
    )
    assert "figure.curves svg{display:block;width:100%;height:auto}" in page
