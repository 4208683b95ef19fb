"""Every code block of the docs runs as written: offline, on the simulator, page by page.

The convention, for every Markdown file under `docs/` and for README.md:

- ```` ```python ```` blocks run, in page order, in one namespace per page (a later block sees
  the names of earlier ones), with the network blocked and the output captured. The one
  exception is another tool's integration (W&B, MLflow): a block marked by the line before it,
  `<!-- not run: <reason> -->`, is shown only if it compiles and imports a module that is not
  installed here; once that module is installed, the marker is refused and the block must run.
- ```` ```console ```` blocks run their `$ finetune-kit ...` lines in-process, through
  `finetune_kit.cli.main(argv, context=ctx)`, where `ctx` holds one simulator per page
  (`Simulator(clock=VirtualClock())`: its client, its clock, nothing to confirm). Each command
  must exit 0, or N when the line ends with `# exit N`. Lines under a command are its output:
  each must appear, in order, in what the command prints (`...` stands for any text; a line
  of only `...` stands for omitted lines). A console block runs nothing but `finetune-kit`.
- ```` ```bash ```` (`sh`, `shell`) blocks never run. Under `docs/` they hold setup commands
  only (installing, or the project's dev tools: see `SETUP_COMMANDS` in `tests/docs_runner.py`);
  any other shell block is marked by the line before it, `<!-- not run: <reason> -->`, and
  the reason says where it is covered instead (a server that runs until Ctrl-C, CI's job...).
- ```` ```text ````, ```` ```json ```` and the other data languages are shown, never run.
  A fence with no language, or a language not listed above, fails the page.
- No hidden code: Sybil's `invisible-code`/`skip` directives are refused. What runs is what
  readers see.

Every page runs in a fresh scratch folder (the current directory), never in the repository,
holding the files pages name by relative path: `train.jsonl`, `elle.jsonl` (the bundled Elle
dataset, 10 valid examples) and `valid.jsonl` (its last two examples); `scratch()` in
`tests/docs_runner.py` lists them: add a file there when a page needs one. README.md is
written for the real API (`OpenAI()`, real time): it runs with such clients answered by a
simulator and `time.sleep` passing virtual time.

`test_every_block_ran` compares what ran with an independent scan of the page, so a block that
is not picked up fails the page instead of being skipped in silence.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.docs_runner import (
    DOCS,
    REPO,
    PageRun,
    console_commands,
    inventory,
    missing_output,
    problems,
    run_page,
    scratch,
    shell_problems,
)


def _pages() -> list[Path]:
    pages = sorted(DOCS.rglob("*.md"))
    readme = REPO / "README.md"
    if any(b.language == "python" for b in inventory(readme.read_text(encoding="utf-8"))):
        pages.append(readme)
    return pages


PAGES = _pages()
IDS = [str(p.relative_to(REPO)) for p in PAGES]
OPENAI_ENV = {"README.md"}
"""Pages written for the real API: their `OpenAI()` is answered by a simulator."""


def _run(page: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> PageRun:
    monkeypatch.chdir(scratch(tmp_path))
    name = str(page.relative_to(REPO))
    return run_page(page, monkeypatch, openai_env=name in OPENAI_ENV)


# --- what each page must print ------------------------------------------------------------------

Check = Callable[[str, PageRun], None]


def _prints(*snippets: str) -> Check:
    def check(out: str, _run: PageRun) -> None:
        for snippet in snippets:
            assert snippet in out, f"{snippet!r} not printed"

    return check


def _comparing(out: str, run: PageRun) -> None:
    assert "| gpt-4o-mini-2024-07-18 + 1-shot |" in out
    tuned, base = run.namespace["tuned"], "gpt-4o-mini-2024-07-18"
    assert f"\n{tuned}\n" in out  # best("exact") is the tuned model
    assert "| 10 | 0 | 100% [72%, 100%] | 100% [72%, 100%] |" in out  # Wilson, not [100%, 100%]
    assert (
        f"- {tuned} wins on exact: 100% vs 0% for {base} (+100 points, 95% CI +61 to +100)\n" in out
    )
    assert "\n(1.0, 0.3423802239546" in out  # 2 of 2 limericks
    assert out.rstrip().endswith(
        f"\n{tuned}\n{tuned} wins on limerick: 100% vs 0% for {base} (+100 points, 95% CI +7 to +100)"
    )


def _datasets(out: str, run: PageRun) -> None:
    assert "train.jsonl: 10 row(s), 10 counted as chat examples" in out  # print(report)
    assert run.namespace["report"].ok
    assert run.namespace["ds"].overlap("valid.jsonl") == [(9, 1), (10, 2)]
    assert "$ finetune-kit estimate train.jsonl --model gpt-4.1-mini-2025-04-14 --price 5\n" in out
    assert (  # a spreadsheet: one finding, no statistics
        "train.xlsx: no rows read\nNOT OK: 1 error(s), 0 warning(s)\nerrors:\n"
        "  train.xlsx: [not_jsonl_text] not a JSONL text file: it is a ZIP archive" in out
    )
    assert "\ntrain.jsonl (test split)\n" in out


def _async(out: str, run: PageRun) -> None:
    tuned = run.namespace["tuned"]
    assert tuned.startswith("ft:gpt-4o-mini-2024-07-18:finetune-kit-sim:async:")
    assert ":ep3:" in out
    assert f"\n1\n{tuned}\n" in out  # one upload for four jobs; best("exact") is the tuned model
    assert out.endswith("2027-01-14\n")


CHECKS: dict[str, Check] = {
    "README.md": _prints("OK: 0 error(s)", "The job has successfully completed"),
    "docs/index.md": _prints("786 tokens × 10 epochs (auto, cookbook heuristic)"),
    "docs/quickstart.md": _prints(
        "True 786 tokens × 10 epochs",
        "validating_files\n",
        "train.jsonl: 10 row(s), 10 counted as chat examples",
        "ft:gpt-4o-mini-2024-07-18:finetune-kit-sim:quickstart:",
        "Helium",
    ),
    "docs/guides/datasets.md": _datasets,
    "docs/guides/jobs.md": _prints("succeeded step 30/30", "gpt-4o-mini-2024-07-18.ft-"),
    "docs/guides/events-metrics.md": _prints(
        "Created fine-tuning job\n",
        "info Checkpoint created at step 10\n",
        "running step 15/30, ETA ",
        "succeeded step 30/30\n",
        ":ckpt-step-10\n",
        "▁",
        "\n1 {'train_loss': ",  # what the MLflow loop logs at step 1
        "{'batch_size': 1, 'learning_rate_multiplier': 1.8, 'n_epochs': 3}\n",
    ),
    "docs/guides/models.md": _prints("gpt-4o-mini-2024-07-18\n", "2027-01-14"),
    "docs/guides/comparing.md": _comparing,
    "docs/guides/async.md": _async,
    "docs/guides/testing.md": _prints("succeeded", "\nGreat question.\n73\n"),  # the stream
    "docs/guides/migrating.md": _prints(
        "file_not_ready\n",
        "jobs created: 2\n",  # the raw SDK's retry: a second paid job
        "jobs created: 1\n",  # FineTuneJob.create, with the same fault
        "FineTuningUnavailableError the provider refused",
        "shuts down on 2027-01-14 (in 7 day(s))",
        "gpt-4o-mini-2024-07-18.ft-",
        "\nelle-prod\n",
    ),
}


# --- the tests ----------------------------------------------------------------------------------


def test_the_pages_are_found() -> None:
    """The guides and the new pages are all collected (a glob that finds nothing tests nothing)."""
    names = set(IDS)
    assert {"docs/index.md", "docs/quickstart.md", "README.md"} <= names
    assert len([n for n in names if n.startswith("docs/guides/")]) >= 8
    assert set(CHECKS) <= names, "a page with checks is missing"


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_blocks_follow_the_convention(page: Path) -> None:
    """Each block has a known language; shell blocks set up or say why they aren't run."""
    text = page.read_text(encoding="utf-8")
    found = problems(text)
    if page.name == "README.md":  # not a page of the site: its shell blocks are not restricted
        found = [p for p in found if "not a setup command" not in p]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_every_block_ran(
    page: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every python and console block of the page runs, in order, and prints what it should."""
    blocks = inventory(page.read_text(encoding="utf-8"))
    present = Counter(
        b.language
        for b in blocks
        if b.language in {"python", "console"} and not (b.language == "python" and b.marker)
    )
    commands = sum(len(console_commands(b.source)) for b in blocks if b.language == "console")
    run = _run(page, monkeypatch, tmp_path)
    out = capsys.readouterr().out
    assert run.ran == present, f"ran {dict(run.ran)}, the page has {dict(present)}"
    assert run.commands == commands
    check = CHECKS.get(str(page.relative_to(REPO)))
    if check is not None:
        check(out, run)


def test_nothing_is_written_into_the_repository(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pages run in a scratch folder: a file a page writes (clean.jsonl) lands there."""
    _run(DOCS / "guides" / "datasets.md", monkeypatch, tmp_path)
    capsys.readouterr()
    assert (tmp_path / "clean.jsonl").exists()
    assert not (REPO / "clean.jsonl").exists()
    assert not (DOCS / "guides" / "clean.jsonl").exists()


# --- the site ------------------------------------------------------------------------------------


def _site_setting(name: str) -> list[str]:
    """The lines of a block setting of mkdocs.yml (`name: |` text, or a `- item` list)."""
    config = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    found = re.search(rf"^{name}:[^\n]*\n((?:[ ]+[^\n]*\n)+)", config, flags=re.MULTILINE)
    assert found, f"mkdocs.yml has no {name}"
    return [line.strip().removeprefix("- ") for line in found.group(1).splitlines()]


def test_the_site_publishes_pages_and_assets_only() -> None:
    """Every file under docs/ is a page, a picture or a stylesheet, or is excluded from the site:
    docs/pictures.py (the script that draws docs/assets/) is not published."""
    published = {".md", ".svg", ".png", ".css"}
    others = {
        p.relative_to(DOCS).as_posix()
        for p in DOCS.rglob("*")
        if p.is_file() and p.suffix not in published and "__pycache__" not in p.parts
    }
    assert others == {"pictures.py"}
    assert set(_site_setting("exclude_docs")) == others


def test_code_blocks_wrap_instead_of_running_off_the_page() -> None:
    """The site's stylesheet makes long code lines wrap (they were cut off at the right edge)."""
    assert _site_setting("extra_css") == ["stylesheets/extra.css"]
    css = (DOCS / "stylesheets" / "extra.css").read_text(encoding="utf-8")
    rule = re.search(r"\.md-typeset pre > code \{([^}]*)\}", css)
    assert rule, css
    assert "white-space: pre-wrap;" in rule.group(1)


# --- the runner's own rules ---------------------------------------------------------------------


def test_a_block_the_runner_cannot_see_is_counted() -> None:
    """An info string with extra words is listed by the scan and refused by the convention."""
    text = "# Page\n\n```python title='x'\nprint(1)\n```\n\n```py\nprint(2)\n```\n"
    assert [b.language for b in inventory(text)] == ["python", "py"]
    found = problems(text)
    assert any("nothing after it" in p for p in found)
    assert any("unknown language" in p for p in found)


def test_shell_blocks_need_a_reason_to_hold_more_than_setup() -> None:
    """`pip install` passes; a command that does work needs `<!-- not run: why -->`."""
    assert shell_problems("pip install 'finetune-kit[cli]'\nuv run pytest  # tests\n") == []
    assert shell_problems("uv run finetune-kit sim serve --port 8000\n")
    marked = "<!-- not run: serves until Ctrl-C -->\n```bash\nuv run finetune-kit sim serve\n```\n"
    assert problems(marked) == []
    assert problems("<!-- not run: -->\n```bash\nfinetune-kit demo\n```\n")
    assert problems("<!-- invisible-code-block: python\nx = 1\n-->\n")


def test_python_blocks_not_run_are_other_tools_code_only() -> None:
    """A python block marked 'not run' must compile and import something not installed."""
    marked = "<!-- not run: needs {what} -->\n```python\n{code}\n```\n"
    integration = marked.format(what="wandb", code="from wandb_not_here import sync\nsync()")
    assert problems(integration) == []
    runnable = problems(marked.format(what="nothing", code="import json\nprint(json.dumps(1))"))
    assert len(runnable) == 1
    assert "this one can run: remove the marker" in runnable[0]
    broken = problems(marked.format(what="wandb", code="import wandb_not_here\nprint(("))
    assert len(broken) == 1
    assert "does not compile" in broken[0]
    unexplained = "<!-- not run: -->\n```python\nimport wandb_not_here\n```\n"
    assert problems(unexplained) == [
        "line 2 (python): say why it is not run: <!-- not run: <reason> -->"
    ]
    assert problems("<!-- not run: data -->\n```json\n{}\n```\n") == [
        "line 2 (json): only shell and python blocks can be marked 'not run'"
    ]


def test_console_blocks_parse_exit_codes_and_output() -> None:
    """`# exit N` sets the expected code; the lines under a command are its expected output."""
    source = (
        "$ finetune-kit validate bad.jsonl --model m  # exit 1\n"
        "bad.jsonl: 2 row(s)...\n"
        "...\n"
        "NOT OK: 1 error(s)...\n"
        "$ finetune-kit estimate train.jsonl --model m\n"
    )
    first, second = console_commands(source)
    assert first.argv == ["validate", "bad.jsonl", "--model", "m"]
    assert first.exit_code == 1
    assert first.shown == ["bad.jsonl: 2 row(s)...", "NOT OK: 1 error(s)..."]
    assert (second.exit_code, second.shown) == (0, [])
    printed = "bad.jsonl: 2 row(s), 2 counted\nstats\nNOT OK: 1 error(s), 0 warning(s)\n"
    assert missing_output(first.shown, printed) == []
    assert missing_output(first.shown[::-1], printed) == ["bad.jsonl: 2 row(s)..."]
    assert problems("```console\n$ ls\n```\n")
