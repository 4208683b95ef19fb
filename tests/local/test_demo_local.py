"""`finetune-kit demo --local`: the demo trained for real on this machine, on the tiny model.

The end-to-end run trains the tiny model folder (no question: a folder downloads nothing) for
one epoch of batch 2 on the bundled 10 rows (5 steps) on the CPU. The download question is
asked about a hub id that is not in the test session's (empty, offline) Hugging Face cache,
with the size lookup and the download replaced: nothing here touches the network.
"""

from __future__ import annotations

import builtins
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from finetune_kit.cli import main
from finetune_kit.cli.context import Context
from finetune_kit.cli.demo import DemoOptions, run_demo
from finetune_kit.dataset.bundled import bundled_dataset
from finetune_kit.exceptions import FinetuneKitError
from tests.local.conftest import require_local_stack
from tests.local.test_training import require_trainer_stack

HUB_ID = "example-org/Tiny-Instruct"


def _no_input(prompt: str = "") -> str:
    pytest.fail(f"the demo asked a question: {prompt!r}")


def _no_network(model_id: str) -> Any:
    pytest.fail(f"the demo reached for the hub about {model_id}")


def test_demo_local_trains_the_tiny_model_and_compares_it(
    tiny_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_trainer_stack()
    import torch

    monkeypatch.setattr(builtins, "input", _no_input)
    root, report, plot = tmp_path / "root", tmp_path / "out" / "report.html", tmp_path / "loss.png"
    report.parent.mkdir()
    code = main(
        [
            "demo",
            "--local",
            "--base-model",
            str(tiny_model_dir),
            "--root",
            str(root),
            "--epochs",
            "1",
            "--report",
            str(report),
            "--plot",
            str(plot),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, out + err
    name = tiny_model_dir.name
    assert (
        f"Running on this machine: {name} ({tiny_model_dir.resolve()}), 1 epoch of batch 2." in out
    )
    # said once, by the demo (with how long it takes), not again in the job's events
    assert out.count("no GPU") == (0 if torch.cuda.is_available() else 1), out
    assert ("no GPU: training on the CPU (minutes, for the bundled dataset)" in out) is (
        not torch.cuda.is_available()
    )
    tuned = re.search(rf"Tuned model: (ft:{re.escape(name)}:local:demo:[0-9a-f]{{8}}) ", out)
    assert tuned is not None, out
    # 10 rows, batch 2, 1 epoch: 5 steps, each printed as it trains
    assert re.search(r"^5 steps, training loss \d+\.\d{3} -> \d+\.\d{3}; ", out, re.MULTILINE), out
    assert re.search(r"\bStep 5/5\b", out, re.IGNORECASE), out
    assert "== 5. Compare: base vs base + few-shot vs tuned, on 10 held-out prompts" in out
    assert f"| {name} + 2-shot |" in out
    assert f"| {tuned[1]} |" in out
    assert "Ran on this machine:" in out
    assert "Done." in out
    # the report, written atomically (no temporary file left beside it)
    assert sorted(p.name for p in report.parent.iterdir()) == ["report.html"]
    html = report.read_text(encoding="utf-8")
    assert tuned[1] in html
    assert "fine-tuned for real (LoRA, TRL)" in html
    # what was trained stays in --root
    jobs = list((root / "jobs").iterdir())
    assert len(jobs) == 1
    assert (jobs[0] / "model" / "adapter_model.safetensors").is_file()


def test_a_hub_id_not_in_the_cache_is_asked_about_with_its_size_and_no_is_no(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    require_local_stack()
    require_trainer_stack()
    asked: list[str] = []

    def answer(prompt: str = "") -> str:
        asked.append(prompt)
        return "n"

    monkeypatch.setattr(builtins, "input", answer)
    lines: list[str] = []
    options = DemoOptions(
        dataset=bundled_dataset(),
        model="unused",
        local=True,
        base_model=HUB_ID,
        root=tmp_path / "root",
        download_size=lambda model_id: {HUB_ID: 988_097_824}[model_id],
        download=_no_network,
        # `cached` left to the default: the session's Hugging Face cache is empty and offline
    )
    code = run_demo(options, out=lines.append, context=Context(interactive=True))
    assert code == 0
    assert asked == [
        (
            f"{HUB_ID} is not in the Hugging Face cache: download it from huggingface.co "
            "(about 988 MB)? [y/N] "
        )
    ]
    assert lines == [
        (
            "Nothing was downloaded. Run again and answer y (or pass --yes), or give a model "
            "folder with --base-model."
        )
    ]
    assert not (tmp_path / "root").exists()


def test_yes_downloads_without_asking_and_says_the_size(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    require_local_stack()
    require_trainer_stack()
    monkeypatch.setattr(builtins, "input", _no_input)
    downloaded: list[str] = []

    def download(model_id: str) -> str:
        downloaded.append(model_id)
        raise FinetuneKitError("stop here")

    lines: list[str] = []
    options = DemoOptions(
        dataset=bundled_dataset(),
        model="unused",
        yes=True,
        local=True,
        base_model=HUB_ID,
        root=tmp_path / "root",
        cached=lambda _: None,
        download_size=lambda _: 1_543_000_000,
        download=download,
    )
    with pytest.raises(FinetuneKitError, match="stop here"):
        run_demo(options, out=lines.append, context=Context(interactive=False))
    assert downloaded == [HUB_ID]
    assert lines == [f"{HUB_ID} is not in the Hugging Face cache: downloading it (about 1.5 GB)."]


def test_without_a_terminal_or_yes_nothing_is_looked_up_and_it_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    require_local_stack()
    require_trainer_stack()
    monkeypatch.setattr(builtins, "input", _no_input)
    monkeypatch.setattr("finetune_kit.cli.hub.download_size", _no_network)
    monkeypatch.setattr("finetune_kit.cli.hub.download", _no_network)
    code = main(
        ["demo", "--local", "--base-model", HUB_ID, "--root", str(tmp_path / "root")],
        context=Context(interactive=False),
    )
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err == (
        f"finetune-kit: error: {HUB_ID} is not in the Hugging Face cache and there is no "
        "terminal to ask on: run with --yes to download it, or give a model folder with "
        "--base-model\n"
    )
    assert not (tmp_path / "root").exists()


def test_without_the_local_extra_one_line_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in ("torch", "transformers", "trl", "peft"):
        monkeypatch.setitem(sys.modules, name, None)  # `import name` raises ImportError
    code = main(["demo", "--local", "--base-model", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err == (
        "finetune-kit: error: demo --local needs the `local` extra (torch, transformers, trl, peft "
        "not installed): pip install 'finetune-kit[local]'\n"
    )


def test_base_model_without_local_is_bad_usage(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["demo", "--base-model", str(tmp_path)], context=Context(interactive=False))
    assert code == 2
    assert (
        capsys.readouterr().err == "finetune-kit: error: --base-model and --root go with --local\n"
    )
