"""The public surface: sorted, complete, documented, and pure where promised."""

from __future__ import annotations

import ast
import re
import typing
from pathlib import Path

import finetune_kit
from finetune_kit.dataset import CODES

SRC = Path(finetune_kit.__file__).resolve().parent
ROOT = SRC.parents[1]


def test_all_is_sorted_and_every_name_exists() -> None:
    """`__all__` is sorted and each name in it is importable from the package."""
    assert finetune_kit.__all__ == sorted(finetune_kit.__all__)
    for name in finetune_kit.__all__:
        assert getattr(finetune_kit, name) is not None


def test_version_comes_from_the_installed_metadata() -> None:
    """`finetune_kit.__version__` is the installed distribution's version."""
    from importlib.metadata import version

    assert finetune_kit.__version__ == version("finetune-kit")


def test_public_objects_have_docstrings_with_added_in() -> None:
    """Every public class and function says what it does and when it was added."""
    for name in finetune_kit.__all__:
        obj = getattr(finetune_kit, name)
        if typing.get_origin(obj) is typing.Annotated:  # a type alias, documented in docs/api.md
            continue
        doc = obj.__doc__ or ""
        assert doc.strip(), name
        assert "Added in" in doc, name


def test_dataset_package_does_no_network_io() -> None:
    """The dataset layer is pure: it imports no HTTP client, socket or openai module."""
    banned = {"openai", "httpx", "httpx2", "socket", "requests", "urllib"}
    for path in (SRC / "dataset").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {
            id(child)
            for node in ast.walk(tree)
            if isinstance(node, ast.If)
            and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
            for child in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:  # annotations only: never imported at run time
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in banned, f"{path.name} imports {name}"


def test_docs_list_every_finding_code_with_its_severity() -> None:
    """The Datasets guide's code table matches the CODES registry exactly."""
    text = (ROOT / "docs" / "guides" / "datasets.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z0-9_]+)` \| (error|warning) \|", text, flags=re.MULTILINE))
    assert rows == {code.name: code.severity for code in CODES.values()}


def test_readme_starts_with_the_two_setup_commands() -> None:
    """The README's first code block holds exactly the main job and the test command."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["uv run finetune-kit demo", "uv run pytest"]


_PUBLIC_PACKAGES = (
    "finetune_kit",
    "finetune_kit.cli",
    "finetune_kit.compare",
    "finetune_kit.dataset",
    "finetune_kit.local",
    "finetune_kit.platform",
    "finetune_kit.report",
    "finetune_kit.testing",
)


def _exported() -> set[tuple[str, str]]:
    """(module, qualified name) of every class, function and module a public package exports."""
    import importlib
    import inspect

    found: set[tuple[str, str]] = set()
    for package in _PUBLIC_PACKAGES:
        try:
            module = importlib.import_module(package)
        except ImportError:  # pragma: no cover - an extra that is not installed
            continue
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                found.add((obj.__module__, obj.__qualname__))
            elif inspect.ismodule(obj):
                found.add((obj.__name__, ""))
    return found


def test_added_in_marks_only_public_objects() -> None:
    """'Added in' is for what a user imports: never on private modules, helpers or members
    (a member added with its class needs no mark of its own)."""
    exported = _exported()
    stray: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        module = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        tree = ast.parse(path.read_text(encoding="utf-8"))

        def visit(
            node: ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef,
            qualname: str,
            module: str = module,
            path: Path = path,
        ) -> None:
            doc = ast.get_docstring(node, clean=False)
            if doc and "Added in" in doc and (module, qualname) not in exported:
                stray.append(f"{path.relative_to(ROOT)}: {qualname or '(module)'}")
            for child in getattr(node, "body", []):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    visit(child, f"{qualname}.{child.name}" if qualname else child.name)

        visit(tree, "")
    assert stray == []
