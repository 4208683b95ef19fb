"""The machinery behind `tests/test_docs.py`: find the code blocks of a page and run them.

Two independent readings of each page:

- `inventory()` scans the Markdown line by line and lists every fenced block with its language
  (and the `<!-- not run: ... -->` marker before it, if any). It decides what *must* run.
- `run_page()` lets Sybil parse the page and evaluates what Sybil found, counting each block
  and each command only once it has run to completion.

`tests/test_docs.py` compares the two: a block Sybil does not see (an unusual fence, an info
string with extra words...) fails the page instead of being skipped in silence.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import json
import re
import shlex
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sybil import Document, Example
from sybil.evaluators.python import PythonEvaluator
from sybil.parsers.markdown import CodeBlockParser

from finetune_kit.testing import Simulator, VirtualClock
from tests.offline import block_network

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
ELLE = REPO / "src" / "finetune_kit" / "data" / "elle.jsonl"

RUN = frozenset({"python", "console"})
"""Languages whose blocks are executed."""
SHELL = frozenset({"bash", "sh", "shell"})
"""Shell blocks: never executed; setup commands only, unless marked `<!-- not run: why -->`."""
DATA = frozenset(
    {"text", "json", "jsonl", "toml", "yaml", "csv", "html", "xml", "svg", "ini", "markdown"}
)
"""Outputs, file contents and configuration: shown, never executed."""

SETUP_COMMANDS = (
    "pip install ",
    "python -m pip install ",
    "pipx install ",
    "uv add ",
    "uv sync",
    "uv pip install ",
    "uv tool install ",
    "uv run pytest",
    "uv run ruff ",
    "uv run mypy",
    "uv run zensical ",
    "bash .ci/run",
    "git clone ",
    "cd ",
)
"""How an unmarked shell block's commands may start: installing, or the project's dev tools."""

CONSOLE_PROGRAM = "finetune-kit"
NOT_RUN = re.compile(r"^\s*<!--\s*not run:\s*(?P<reason>.*?)\s*-->\s*$")
_FENCE = re.compile(r"^(?P<indent>[ \t]*(?:>[ \t]*)*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_EXIT = re.compile(r"#\s*exit\s+(?P<code>\d+)\b")
_UNSUPPORTED = re.compile(
    r"<!--+\s*(?:invisible-code(?:-block)?|code(?:-block)?|skip|clear-namespace)\b"
)


@dataclass(frozen=True, slots=True)
class Block:
    """A fenced block, as a line scanner sees it."""

    line: int
    """1-based line of the opening fence."""
    language: str
    """The info string's first word ('' when there is none)."""
    info: str
    """The whole info string."""
    source: str
    """The block's text, its indentation removed."""
    marker: str | None
    """The reason of a `<!-- not run: reason -->` line right before the block."""


def inventory(text: str) -> list[Block]:
    """Every fenced code block of a Markdown text, in order."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        body: list[str] = []
        end = index + 1
        while end < len(lines):
            closing = _FENCE.match(lines[end])
            if (
                closing
                and closing["fence"][0] == fence[0]
                and len(closing["fence"]) >= len(fence)
                and not closing["info"].strip()
            ):
                break
            body.append(lines[end][indent:] if lines[end][:indent].isspace() else lines[end])
            end += 1
        before = next((ln for ln in reversed(lines[:index]) if ln.strip()), "")
        marker = NOT_RUN.match(before)
        info = opening["info"].strip()
        blocks.append(
            Block(
                line=index + 1,
                language=info.split()[0].lstrip("{.").rstrip("}") if info else "",
                info=info,
                source="\n".join(body) + "\n",
                marker=marker["reason"] if marker else None,
            )
        )
        index = end + 1
    return blocks


def problems(text: str) -> list[str]:
    """What breaks the docs' code-block convention on a page (empty when all is well)."""
    found: list[str] = []
    found += [
        f"line {text.count(chr(10), 0, m.start()) + 1}: Sybil directives are not used here "
        "(no hidden or skipped code): write visible code that runs"
        for m in _UNSUPPORTED.finditer(text)
    ]
    for block in inventory(text):
        where = f"line {block.line} ({block.info or 'no language'})"
        if block.language in RUN and block.info != block.language:
            found.append(f"{where}: write the fence as ```{block.language} with nothing after it")
        elif block.language == "console":
            found += [f"{where}: {p}" for p in console_problems(block.source)]
        elif block.language in SHELL:
            if block.marker is None:
                found += [f"{where}: {p}" for p in shell_problems(block.source)]
            elif not block.marker:
                found.append(f"{where}: say why it is not run: <!-- not run: <reason> -->")
        elif block.language not in RUN | DATA:
            found.append(
                f"{where}: unknown language; use one of {sorted(RUN | SHELL | DATA)} "
                "(python and console blocks run; the others are shown only)"
            )
        if block.marker is not None and block.language == "python":
            found += [f"{where}: {p}" for p in unrun_python_problems(block)]
        elif block.marker is not None and block.language not in SHELL:
            found.append(f"{where}: only shell and python blocks can be marked 'not run'")
    return found


def missing_imports(source: str) -> list[str]:
    """The top-level modules a python block imports that are not installed here."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module.split(".")[0])
    return sorted(m for m in modules if importlib.util.find_spec(m) is None)


def unrun_python_problems(block: Block) -> list[str]:
    """Why a python block may not be marked 'not run' (empty: it may).

    Only code for another tool's integration (wandb, mlflow...) is shown without running: it
    must compile, say why, and import a module that is not installed here. Once the module is
    installed, the block has to run like any other.
    """
    if not block.marker:
        return ["say why it is not run: <!-- not run: <reason> -->"]
    try:
        missing = missing_imports(block.source)
    except SyntaxError as exc:
        return [f"it does not compile ({exc.msg}, line {exc.lineno}): a block not run still must"]
    if not missing:
        return [
            (
                "a python block not run must import a module that is not installed here "
                "(another tool's integration); this one can run: remove the marker"
            )
        ]
    return []


def unrun_python_lines(text: str) -> frozenset[int]:
    """The opening-fence lines of the python blocks marked 'not run' (Sybil skips them)."""
    return frozenset(b.line for b in inventory(text) if b.language == "python" and b.marker)


def shell_commands(source: str) -> list[str]:
    """The commands of a shell block: continuations joined, comments and blank lines dropped."""
    commands: list[str] = []
    pending = ""
    for raw in source.splitlines():
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith("#"):
            commands.append(line)
    return commands


def shell_problems(source: str) -> list[str]:
    """Commands of an unmarked shell block that are not setup commands."""
    return [
        f"`{command}` is not a setup command: show it as a ```console block that runs "
        f"(`$ {CONSOLE_PROGRAM} ...`), or mark the block <!-- not run: <reason> -->"
        for command in shell_commands(source)
        if not command.startswith(SETUP_COMMANDS)
    ]


# --- console blocks -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Command:
    """One `$ finetune-kit ...` line of a console block and the output shown under it."""

    line: str
    argv: list[str]
    """The arguments after `finetune-kit`."""
    exit_code: int
    """0, or N from a trailing `# exit N` comment."""
    shown: list[str]
    """The output lines shown under the command (checked in order; `...` matches anything)."""


def console_commands(source: str) -> list[Command]:
    """Parse a console block: `$ ` lines are commands, the lines after each are its output."""
    commands: list[Command] = []
    for raw in source.splitlines():
        if raw.startswith("$ "):
            line = raw[2:].strip()
            words = shlex.split(line, comments=True)
            code = _EXIT.search(line)
            commands.append(Command(line, words[1:], int(code["code"]) if code else 0, shown=[]))
        elif commands and raw.strip() and raw.strip() != "...":
            commands[-1].shown.append(raw.strip())
    return commands


def console_problems(source: str) -> list[str]:
    """What a console block can't run: no command, text before it, another program."""
    found: list[str] = []
    first = next((ln for ln in source.splitlines() if ln.strip()), "")
    if not first.startswith("$ "):
        found.append("a console block starts with a `$ ` command line")
    found.extend(
        f"`{raw}`: console blocks run only `{CONSOLE_PROGRAM}` commands "
        "(use a ```bash block marked <!-- not run: <reason> --> for others)"
        for raw in source.splitlines()
        if raw.startswith("$ ") and not raw.startswith(f"$ {CONSOLE_PROGRAM} ")
    )
    return found


def _pattern(shown: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part.strip()) for part in shown.split("...")))


def missing_output(shown: list[str], printed: str) -> list[str]:
    """The shown lines not found, in order, among the printed lines (empty: all found)."""
    lines = iter(ln.strip() for ln in printed.splitlines())
    return [want for want in shown if not any(_pattern(want).fullmatch(got) for got in lines)]


# --- running a page -----------------------------------------------------------------------------


@dataclass(slots=True)
class PageRun:
    """What running a page did."""

    ran: Counter[str] = field(default_factory=Counter)
    """Blocks run to completion, by language."""
    commands: int = 0
    """Console commands run (each with the expected exit code and output)."""
    namespace: dict[str, Any] = field(default_factory=dict)
    """The page's Python namespace after its last block."""


def scratch(folder: Path) -> Path:
    """Fill the folder the pages run in with the files they name; return it.

    - `train.jsonl` and `elle.jsonl`: the bundled Elle dataset (10 valid chat examples);
    - `valid.jsonl`: its last two examples (so `ds.overlap("valid.jsonl")` finds them).
    """
    text = ELLE.read_text(encoding="utf-8")
    (folder / "train.jsonl").write_text(text, encoding="utf-8")
    (folder / "elle.jsonl").write_text(text, encoding="utf-8")
    (folder / "valid.jsonl").write_text("".join(text.splitlines(keepends=True)[-2:]), "utf-8")
    return folder


@contextlib.contextmanager
def _openai_answered_by(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`OpenAI()` built by a page is answered by `sim`, and `time.sleep` is `sim`'s clock."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-docs-test")
    for name in ("OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(time, "sleep", sim.clock.sleep)
    with sim.mock(base_url="https://api.openai.com/v1"):
        yield


def run_page(page: Path, monkeypatch: pytest.MonkeyPatch, *, openai_env: bool = False) -> PageRun:
    """Run a page's python and console blocks in order, offline, in the current folder.

    Args:
        page: The Markdown file.
        monkeypatch: Blocks the network and, with `openai_env`, patches time and environment.
        openai_env: Answer `OpenAI()` clients the page builds itself with a simulator, and let
            `time.sleep` pass virtual time (for pages written for the real API, like README).
    """
    block_network(monkeypatch)
    sim = Simulator(clock=VirtualClock())
    result = PageRun()
    python = PythonEvaluator()

    def run_python(example: Example) -> None:
        __tracebackhide__ = True
        python(example)
        result.ran["python"] += 1

    def run_console(example: Example) -> str | None:
        __tracebackhide__ = True
        # Imported here: a page without console blocks does not depend on the command line.
        from finetune_kit.cli.context import Context
        from finetune_kit.cli.main import main

        ctx = Context.on_simulator(sim)
        for command in console_commands(str(example.parsed)):
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                try:
                    code = main(command.argv, context=ctx)
                except SystemExit as exc:  # argparse: bad usage
                    code = exc.code if isinstance(exc.code, int) else 2
            sys.stdout.write(f"$ {command.line}\n{printed.getvalue()}")
            if code != command.exit_code:
                return (
                    f"`{command.line}` exited {code}, not {command.exit_code}:\n"
                    f"{printed.getvalue()}"
                )
            missing = json.dumps(
                missing_output(command.shown, printed.getvalue()), ensure_ascii=False
            )
            if missing != "[]":
                return (
                    f"`{command.line}` did not print, in this order: {missing}\n"
                    f"it printed:\n{printed.getvalue()}"
                )
            result.commands += 1
        result.ran["console"] += 1
        return None

    document = Document.parse(
        str(page),
        CodeBlockParser("python", run_python),
        CodeBlockParser("console", run_console),
    )
    unrun = unrun_python_lines(page.read_text(encoding="utf-8"))
    document.namespace["__name__"] = f"docs.{page.stem}"
    stack = contextlib.ExitStack()
    if openai_env:
        stack.enter_context(_openai_answered_by(sim, monkeypatch))
    with stack:
        for example in document:
            if example.line in unrun:  # another tool's code, marked and checked by problems()
                continue
            example.evaluate()
    sys.stdout.flush()
    result.namespace = document.namespace
    return result
