"""Imports: modules import only downward, and nothing loads what it does not need.

The graph is read from the source with `ast`: an edge for each import a module runs when it is
imported (module level, `try`/`if` included; `if TYPE_CHECKING:` blocks and imports inside
functions left out). A name imported from a package that imports lazily (PEP 562) is followed
to the module it comes from (the package's own imports of it say which), so a lazy package
hides no edge.

The start-up checks run a fresh interpreter each and read its `sys.modules`: no timing here
(benchmarks/startup.py times them).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import finetune_kit

SRC = Path(finetune_kit.__file__).resolve().parent
ELLE = SRC / "data" / "elle.jsonl"

EXEMPT: tuple[str, ...] = ()
"""Packages whose circles are not checked (none: the simulator's circle went with the platform
split)."""

UPWARD: dict[tuple[str, str], str] = {
    ("finetune_kit.dataset.dataset", "finetune_kit.files"): (
        "Dataset.upload() delegates to the I/O layer at call time; nothing below files imports it"
    ),
}
"""The deferred imports (inside a function) allowed to point up, each with its reason. Any other
edge that closes a circle fails the test."""


def _is_type_checking(test: ast.expr) -> bool:
    return ast.unparse(test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _run_time_imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """The import statements that can run: at module level and inside functions and classes
    (a deferred import is still a dependency); only `if TYPE_CHECKING:` blocks are left out."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            found += _run_time_imports(node.orelse)
            continue
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            for child in getattr(node, field, None) or []:
                if isinstance(child, ast.stmt):
                    found += _run_time_imports([child])
                else:  # an except handler or a match case: its own body
                    found += _run_time_imports(child.body)
    return found


def _modules(root: Path, package: str) -> dict[str, tuple[ast.Module, bool]]:
    """Each module under `root` (the directory of `package`): its tree, and whether a package."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        found[name] = (ast.parse(path.read_text(encoding="utf-8")), is_package)
    return found


def _absolute(node: ast.ImportFrom, module: str, *, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _homes(modules: dict[str, tuple[ast.Module, bool]]) -> dict[tuple[str, str], str]:
    """(package, name) -> the module a package's name comes from, by the package's own imports
    of it, `TYPE_CHECKING` ones included: a lazy package imports it from there on first use."""
    homes = {}
    for name, (tree, is_package) in modules.items():
        if not is_package:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = _absolute(node, name, is_package=True)
                for alias in node.names:
                    homes[name, alias.asname or alias.name] = source
    return homes


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of `package` it imports when it is imported."""
    modules = _modules(root, package)
    homes = _homes(modules)
    graph: dict[str, set[str]] = {name: set() for name in modules}

    def resolve(target: str) -> str | None:
        while target and target not in modules:  # `from a.b import C`: a.b
            target = target.rpartition(".")[0]
        return target or None

    for name, (tree, is_package) in modules.items():
        for node in _run_time_imports(tree.body):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                source = _absolute(node, name, is_package=is_package)
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    if sub in modules:  # `from pkg import submodule`
                        targets.append(sub)
                    else:  # a name: where the package gets it from (a lazy one on first use)
                        targets.append(homes.get((source, alias.name), source))
            for target in targets:
                found = resolve(target)
                if found is not None and found != name:
                    graph[name].add(found)
    return graph


def cycles(graph: dict[str, set[str]], exempt: tuple[str, ...] = ()) -> list[list[str]]:
    """Each circle of imports (a strongly connected component of two or more), as a path."""

    def kept(module: str) -> bool:
        return not any(module == e or module.startswith(f"{e}.") for e in exempt)

    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if not kept(w):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(_path(graph, sorted(component)))

    for v in sorted(graph):
        if kept(v) and v not in index:
            visit(v)
    return found


def _path(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A circle through the component's first module: a -> b -> ... -> a."""
    start, members = component[0], set(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if w not in previous:
                    previous[w] = v
                    nxt.append(w)
        frontier = nxt
    return component  # pragma: no cover - a component always closes


def test_every_module_imports_only_downward() -> None:
    """No circle of imports in finetune_kit, counting deferred imports inside functions too
    (only `if TYPE_CHECKING:` blocks and the listed upward calls are left out)."""
    graph = import_graph(SRC, "finetune_kit")
    for low, high in UPWARD:
        assert high in graph[low], f"{low} no longer imports {high}: drop it from UPWARD"
        graph[low].discard(high)
    found = cycles(graph, exempt=EXEMPT)
    assert found == [], "circles of imports:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_check_finds_a_circle_and_follows_lazy_packages(tmp_path: Path) -> None:
    """The graph sees `TYPE_CHECKING` imports as no edge and a function's import as one, and
    follows a lazy package's name to its module: a -> pkg.b (through pkg's name) -> a is a
    circle, and so is b -> c (in a function) -> a -> b."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n"
    )
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\nfrom pkg import B\n"
        "if TYPE_CHECKING:\n    from pkg.c import C\n"
    )
    (pkg / "b.py").write_text("import pkg.a\nB = 1\ndef f():\n    from pkg import c\n")
    (pkg / "c.py").write_text("from pkg.a import x\n")
    graph = import_graph(pkg, "pkg")
    assert graph == {
        "pkg": set(),
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.a", "pkg.c"},
        "pkg.c": {"pkg.a"},
    }
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.a"]]
    assert cycles(graph, exempt=("pkg.b",)) == []


def _loaded(code: str, *args: str) -> dict[str, bool]:
    """Run `code` in a fresh interpreter; which of the heavy modules it had loaded at the end."""
    probe = (
        "import json, sys\n"
        "heavy = ('openai', 'httpx2', 'pydantic', 'tiktoken', 'anyio')\n"
        "try:\n"
        f"{''.join('    ' + line + chr(10) for line in code.splitlines())}"
        "finally:\n"
        "    sys.stdout.flush()\n"
        "    print(json.dumps({m: m in sys.modules for m in heavy}), file=sys.stderr)\n"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, this test's code
        [sys.executable, "-c", probe, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stderr.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_import_finetune_kit_loads_nothing_heavy() -> None:
    """`import finetune_kit` imports its public names on first use: no SDK, no pydantic."""
    assert _loaded("import finetune_kit") == {
        "openai": False,
        "httpx2": False,
        "pydantic": False,
        "tiktoken": False,
        "anyio": False,
    }


def test_dataset_never_loads_the_sdk() -> None:
    """`from finetune_kit import Dataset`, then validating and counting: no openai, no HTTP."""
    loaded = _loaded(
        "from finetune_kit import Dataset\n"
        "report = Dataset.from_jsonl(sys.argv[1]).validate(model='gpt-4o-mini-2024-07-18')\n"
        "assert report.ok and report.stats.examples == 10, report\n",
        str(ELLE),
    )
    assert (loaded["openai"], loaded["httpx2"], loaded["pydantic"]) == (False, False, True)


def test_validate_command_never_loads_the_sdk() -> None:
    """`finetune-kit validate FILE` runs without importing openai (nor the HTTP client)."""
    loaded = _loaded(
        "from finetune_kit.cli import main\n"
        "code = main(['validate', sys.argv[1], '--model', 'gpt-4o-mini-2024-07-18'])\n"
        "assert code == 0, code\n",
        str(ELLE),
    )
    assert (loaded["openai"], loaded["httpx2"]) == (False, False)


COMMANDS = [
    "chat",
    "compare",
    "dedupe",
    "demo",
    "estimate",
    "events",
    "files",
    "jobs",
    "local",
    "metrics",
    "models",
    "report",
    "sim",
    "split",
    "tune",
    "upload",
    "validate",
    "watch",
]


def test_help_loads_nothing_heavy_and_lists_every_command() -> None:
    """`finetune-kit --help` builds the parser from light modules; every command is listed."""
    loaded = _loaded(
        "import contextlib, io\n"
        "from finetune_kit.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    code = main(['--help'])\n"
        "assert code == 0, code\n"
        "listed = [line.split()[0] for line in out.getvalue().splitlines()\n"
        "          if line.startswith('    ') and not line.startswith('     ')]\n"
        "assert sorted(listed) == sorted(sys.argv[1:]), listed\n",
        *COMMANDS,
    )
    assert loaded == dict.fromkeys(("openai", "httpx2", "pydantic", "tiktoken", "anyio"), False)


def test_public_names_resolve_whatever_was_imported_first() -> None:
    """`compare` is the function even after the module `finetune_kit.compare` was imported
    (which sets the package's attribute to the module); `dir()` lists every public name;
    `import *` gives them all."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import finetune_kit, finetune_kit.compare\n"
                "from finetune_kit.compare import Comparison\n"
                "from finetune_kit import compare\n"
                "print(finetune_kit.compare.__qualname__, compare.__qualname__)\n"
                "print(sorted(set(finetune_kit.__all__) - set(dir(finetune_kit))))\n"
                "ns = {}\n"
                "exec('from finetune_kit import *', ns)\n"
                "print(sorted(set(finetune_kit.__all__) - set(ns)))\n"
            ),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == ["compare compare", "[]", "[]"]


def test_the_command_lines_deadline_is_compares() -> None:
    """`--deadline`'s default, named in the light flags module, is `compare()`'s."""
    from finetune_kit.cli.flags import DEFAULT_DEADLINE
    from finetune_kit.compare import DEFAULT_DEADLINE as COMPARE_DEADLINE

    assert DEFAULT_DEADLINE == COMPARE_DEADLINE == 3600.0
