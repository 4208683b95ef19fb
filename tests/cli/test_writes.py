"""`compare --report`, `metrics --plot` and the demo never destroy a file.

A symbolic link at the output path is replaced by the new file (its target keeps its bytes); a
write that fails halfway (a full disk, `ulimit -f`) is one line, exit 2, and the old file stays.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from finetune_kit.cli.demo import DemoOptions, run_demo
from finetune_kit.cli.main import bundled_dataset
from finetune_kit.testing import Simulator
from tests.cli.conftest import MODEL, Cli
from tests.offline import block_network

ELLE = str(bundled_dataset())
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
posix_only = pytest.mark.skipif(os.name != "posix", reason="symbolic links are POSIX here")


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _tuned(cli: Cli) -> str:
    job_id = cli.tune("--suffix", "elle")
    out = cli("watch", job_id).out
    return out.split("\nTuned model: ")[1].split("\n")[0]


def _finished_job(cli: Cli) -> str:
    job_id = cli.tune()
    assert cli("watch", job_id).code == 0
    return job_id


def _fail_before_the_rename(monkeypatch: pytest.MonkeyPatch, error: OSError) -> None:
    """Every byte is in the temporary file, then the disk says no (as `ulimit -f` would)."""

    def fail(fd: int) -> None:
        raise error

    monkeypatch.setattr("finetune_kit._io.os.fsync", fail)


@posix_only
def test_compare_report_onto_a_symlink_replaces_the_link(cli: Cli, tmp_path: Path) -> None:
    """`--report compare.html` where compare.html links elsewhere: the link's target is kept."""
    tuned = _tuned(cli)
    target = tmp_path / "notes.txt"
    target.write_bytes(b"my notes\n")
    report = tmp_path / "compare.html"
    report.symlink_to(target)
    result = cli("compare", MODEL, tuned, "--prompts", ELLE, "--report", str(report))
    assert result.code == 0, result.err
    assert result.out.endswith(f"HTML report: {report}\n")
    assert target.read_bytes() == b"my notes\n"
    assert not report.is_symlink()
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_compare_report_that_cannot_be_written_keeps_the_old_one(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write failing halfway: one line naming the file, exit 2, the old report intact."""
    tuned = _tuned(cli)
    report = tmp_path / "compare.html"
    report.write_bytes(b"<!DOCTYPE html><p>last week's complete report</p>\n")
    _fail_before_the_rename(monkeypatch, OSError(errno.EFBIG, "File too large"))
    result = cli("compare", MODEL, tuned, "--prompts", ELLE, "--report", str(report))
    assert (result.code, result.err) == (2, f"finetune-kit: error: {report}: File too large\n")
    assert report.read_bytes() == b"<!DOCTYPE html><p>last week's complete report</p>\n"
    assert _names(tmp_path) == ["compare.html"]


@posix_only
def test_metrics_plot_onto_a_symlink_replaces_the_link(cli: Cli, tmp_path: Path) -> None:
    """`--plot loss.png` where loss.png links to a photo: the photo is kept."""
    job_id = _finished_job(cli)
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"my photo")
    png = tmp_path / "loss.png"
    png.symlink_to(photo)
    result = cli("metrics", job_id, "--plot", str(png))
    assert result.code == 0, result.err
    assert result.out.endswith(f"Plot: {png}\n")
    assert photo.read_bytes() == b"my photo"
    assert not png.is_symlink()
    assert png.read_bytes()[:8] == PNG_SIGNATURE


def test_metrics_plot_that_cannot_be_written_keeps_the_old_one(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk while drawing: one line naming the file, exit 2, the old picture intact."""
    job_id = _finished_job(cli)
    png = tmp_path / "loss.png"
    assert cli("metrics", job_id, "--plot", str(png)).code == 0
    old = png.read_bytes()
    _fail_before_the_rename(monkeypatch, OSError(errno.ENOSPC, "No space left on device"))
    result = cli("metrics", job_id, "--plot", str(png))
    assert result.code == 2
    assert result.err == f"finetune-kit: error: {png}: No space left on device\n"
    assert png.read_bytes() == old
    assert _names(tmp_path) == ["loss.png"]


@posix_only
def test_demo_outputs_onto_symlinks_replace_the_links(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The demo's report.html and loss.png links are replaced; the files they point to are kept."""
    block_network(monkeypatch)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    (tmp_path / "keep.html").write_bytes(b"keep html")
    (tmp_path / "keep.png").write_bytes(b"keep png")
    (tmp_path / "report.html").symlink_to(tmp_path / "keep.html")
    (tmp_path / "loss.png").symlink_to(tmp_path / "keep.png")
    lines: list[str] = []
    options = DemoOptions(
        dataset=bundled_dataset(),
        model=MODEL,
        simulator=Simulator(),
        report=str(tmp_path / "report.html"),
        plot=str(tmp_path / "loss.png"),
    )
    assert run_demo(options, out=lines.append) == 0
    assert (tmp_path / "keep.html").read_bytes() == b"keep html"
    assert (tmp_path / "keep.png").read_bytes() == b"keep png"
    assert not (tmp_path / "report.html").is_symlink()
    assert not (tmp_path / "loss.png").is_symlink()
    assert (tmp_path / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert (tmp_path / "loss.png").read_bytes()[:8] == PNG_SIGNATURE
    text = "\n".join(lines)
    assert f"Training curves: {tmp_path / 'loss.png'}" in text
    assert f"HTML report (training curves and comparison): {tmp_path / 'report.html'}" in text
    assert _names(tmp_path) == ["keep.html", "keep.png", "loss.png", "report.html"]
