"""`to_html` and `plot_metrics` never destroy a file: links replaced, failures leave old bytes."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from finetune_kit import MetricPoint
from finetune_kit.report import plot_metrics, to_html

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
posix_only = pytest.mark.skipif(os.name != "posix", reason="links and rlimits are POSIX here")
POINTS = [MetricPoint(step=s, train_loss=2 / s, train_accuracy=1 - 1 / s) for s in range(1, 101)]


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@posix_only
def test_to_html_onto_a_symlink_replaces_the_link_not_its_target(tmp_path: Path) -> None:
    """A `report.html` link used to overwrite the file it pointed to; now the link is replaced."""
    target = tmp_path / "notes.txt"
    target.write_bytes(b"my notes")
    link = tmp_path / "report.html"
    link.symlink_to(target)
    page = to_html(None, link, title="t")
    assert target.read_bytes() == b"my notes"
    assert not link.is_symlink()
    assert link.read_text(encoding="utf-8") == page
    assert _names(tmp_path) == ["notes.txt", "report.html"]


@posix_only
def test_plot_onto_a_symlink_replaces_the_link_not_its_target(tmp_path: Path) -> None:
    """The picture replaces the `loss.png` link; the file it pointed to keeps its bytes."""
    target = tmp_path / "photo.png"
    target.write_bytes(b"my photo")
    link = tmp_path / "loss.png"
    link.symlink_to(target)
    assert plot_metrics(POINTS, link) == link
    assert target.read_bytes() == b"my photo"
    assert not link.is_symlink()
    assert link.read_bytes()[:8] == PNG_SIGNATURE
    assert _names(tmp_path) == ["loss.png", "photo.png"]


def test_plot_failing_halfway_leaves_the_old_picture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk-full error during the drawing: the old picture stays whole, no temporary file."""
    old = plot_metrics([], tmp_path / "loss.png", width=320, height=240).read_bytes()
    from matplotlib.figure import Figure

    real = Figure.savefig

    def full_disk(self: Figure, fname: Any, **kwargs: Any) -> None:
        real(self, fname, **kwargs)  # the whole picture written into the temporary file...
        raise OSError(errno.ENOSPC, "No space left on device")  # ...then the disk is full

    monkeypatch.setattr(Figure, "savefig", full_disk)
    with pytest.raises(OSError, match="No space left on device") as caught:
        plot_metrics(POINTS, tmp_path / "loss.png")
    assert caught.value.filename == str(tmp_path / "loss.png")
    assert (tmp_path / "loss.png").read_bytes() == old
    assert _names(tmp_path) == ["loss.png"]


def test_plot_svg_and_pdf_follow_the_suffix(tmp_path: Path) -> None:
    """Written through a file object, the format still follows the suffix."""
    svg = plot_metrics(POINTS, tmp_path / "loss.svg").read_bytes()
    pdf = plot_metrics(POINTS, tmp_path / "loss.pdf").read_bytes()
    assert svg.startswith(b"<?xml")
    assert b"<svg" in svg
    assert pdf.startswith(b"%PDF-")


_UNDER_ULIMIT = """
import resource, sys
from finetune_kit import MetricPoint
from finetune_kit.report import plot_metrics, to_html

report, picture, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
points = [MetricPoint(step=s, train_loss=2 / s, train_accuracy=1 - 1 / s) for s in range(1, 101)]
for write in (
    lambda: to_html(None, report, title="x" * 4 * limit),
    lambda: plot_metrics(points, picture),
):
    try:
        write()
    except OSError as exc:
        print(exc.errno, exc.filename)
"""


@posix_only
@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE behaviour checked on Linux")
def test_under_ulimit_f_the_complete_old_files_stay(tmp_path: Path) -> None:
    """`ulimit -f` cuts a write short (EFBIG): the old report and picture stay whole."""
    report, picture = tmp_path / "report.html", tmp_path / "loss.png"
    to_html(None, report, title="complete")
    plot_metrics([], picture, width=320, height=240)
    old_report, old_picture = report.read_bytes(), picture.read_bytes()
    limit = max(len(old_report), len(old_picture)) + 1
    script = textwrap.dedent(_UNDER_ULIMIT)
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script, str(report), str(picture), str(limit)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{errno.EFBIG} {report}\n{errno.EFBIG} {picture}\n"
    assert report.read_bytes() == old_report
    assert picture.read_bytes() == old_picture
    assert _names(tmp_path) == ["loss.png", "report.html"]
