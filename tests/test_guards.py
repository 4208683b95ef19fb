"""Guards that keep the test suite honest: no network, the respx bridge loaded, nothing read from
outside the repository."""

from __future__ import annotations

import hashlib
import re
import socket
from pathlib import Path

import httpx2
import pytest
import respx


def test_respx_httpcore2_bridge_is_registered() -> None:
    """respx can mock httpx2 only through the pytest-httpx2 bridge; without it, nothing is mocked."""
    assert "httpcore2" in respx.mocks.Mocker.registry


def test_respx_mock_intercepts_httpx2() -> None:
    """A respx route answers an httpx2 request: the request never reaches the network."""
    with respx.mock(using="httpcore2", base_url="https://api.test/v1") as mock:
        route = mock.get("/ping").respond(200, json={"pong": True})
        response = httpx2.get("https://api.test/v1/ping")
    assert route.call_count == 1
    assert response.json() == {"pong": True}


def test_sockets_are_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The offline fixture makes any connection attempt fail loudly."""
    from tests.offline import block_network

    block_network(monkeypatch)
    with pytest.raises(OSError, match="network access in a test"):
        socket.create_connection(("example.com", 443), timeout=1)


# --- the repository is self-contained ---------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
# What a user's clone holds and a test, doc, example or benchmark may read or run.
_SCANNED_FOLDERS = ("src", "tests", "docs", "examples", "benchmarks")
_SCANNED_FILES = ("README.md", "mkdocs.yml", "pyproject.toml")
_TEXT_SUFFIXES = {".py", ".md", ".yml", ".yaml", ".toml", ".txt", ".cfg", ".ini", ".sh"}
_SKIPPED_PARTS = {"__pycache__", ".data"}
# `../shared`, `shared/data`, `shared/reference` and a pathlib `/ "shared"`: the folder that sits
# beside the checkout where the project is developed, which a user's clone does not have.
_OUTSIDE = re.compile(r"""\.\./shared\b|\bshared/(?:data|reference|hooks)\b|/\s*["']shared["']""")
# `Path(__file__).resolve().parents[2].parent`...: how far up from the file a path climbs.
_CLIMB = re.compile(r"Path\(__file__\)(?:\.resolve\(\))?((?:\.parents\[\d+\]|\.parent\b)+)")


def _climb(chain: str) -> int:
    """How many folders up `.parent` / `.parents[n]` steps go from the file."""
    parents = sum(int(n) + 1 for n in re.findall(r"\.parents\[(\d+)\]", chain))
    return parents + len(re.findall(r"\.parent\b", chain))


def _scanned() -> list[Path]:
    found = [REPO / name for name in _SCANNED_FILES if (REPO / name).is_file()]
    for folder in _SCANNED_FOLDERS:
        found += [
            path
            for path in (REPO / folder).rglob("*")
            if path.suffix in _TEXT_SUFFIXES
            and path.is_file()
            and not _SKIPPED_PARTS & set(path.relative_to(REPO).parts)
        ]
    return sorted(found)


def _reads_outside(relative: str, text: str) -> list[str]:
    """Each line of `text` (the file at `relative`) that names a path outside the repository."""
    depth = len(Path(relative).parts)  # `depth` steps up from the file is the repository root
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        climbs = [_climb(chain) for chain in _CLIMB.findall(line)]
        if _OUTSIDE.search(line) or any(up > depth for up in climbs):
            found.append(f"{relative}:{number}: {line.strip()}")
    return found


@pytest.mark.parametrize(
    ("relative", "line"),
    [
        ("tests/conftest.py", 'DATA = Path(__file__).resolve().parents[1].parent / "x"'),
        ("tests/testing/schema.py", "SPEC = Path(__file__).resolve().parents[3] / 'x.json'"),
        ("tests/a.py", "ROOT = Path(__file__).parent.parent.parent"),
        ("tests/a.py", 'SPEC = ROOT / "shared" / "reference" / "spec.json"'),
        ("docs/guide.md", "python demo.py ../shared/data/elle-training-data.jsonl"),
        ("examples/x.py", 'open("/work/shared/data/real/toy.jsonl")'),
    ],
)
def test_guard_spots_a_path_outside_the_repository(relative: str, line: str) -> None:
    """The scan below catches each way a file has reached (or could reach) outside the clone."""
    assert _reads_outside(relative, f"x = 1\n{line}\n") == [f"{relative}:2: {line}"]


@pytest.mark.parametrize(
    ("relative", "line"),
    [
        ("tests/conftest.py", 'ELLE = Path(__file__).resolve().parents[1] / "src"'),
        ("tests/testing/schema.py", 'SPEC = Path(__file__).resolve().parents[1] / "data"'),
        ("tests/report/test_x.py", "DOCS = Path(__file__).resolve().parents[2] / 'docs'"),
        ("tests/a.py", '"""Fixtures shared by the tests: a shared system prompt."""'),
    ],
)
def test_guard_lets_paths_inside_the_repository_pass(relative: str, line: str) -> None:
    """Paths that stay inside the clone, and the word "shared" in prose, are fine."""
    assert _reads_outside(relative, line) == []


def test_nothing_reads_outside_the_repository() -> None:
    """No test, doc, example or benchmark reads a file from beside the checkout.

    A user's `git clone` has nothing beside it: what the tests need lives in `tests/data/`.
    """
    files = _scanned()
    assert REPO / "tests" / "conftest.py" in files
    assert REPO / "tests" / "testing" / "schema.py" in files
    found = [
        hit
        for path in files
        if path != Path(__file__).resolve()
        for hit in _reads_outside(
            path.relative_to(REPO).as_posix(), path.read_text(encoding="utf-8", errors="replace")
        )
    ]
    assert found == []


def test_test_data_is_what_its_readme_says() -> None:
    """Each file in tests/data has a row in its README with its true size and sha256.

    They are other projects' files (MIT): the README gives the source and licence of each, so
    each must be there, unchanged.
    """
    readme = (TEST_DATA / "README.md").read_text(encoding="utf-8")
    rows = {
        name: (int(size), digest)
        for name, size, digest in re.findall(
            r"^\| `([^`]+)` \| (\d+) \| `([0-9a-f]{64})` \|", readme, flags=re.MULTILINE
        )
    }
    data = sorted(
        p.name
        for p in TEST_DATA.iterdir()
        if p.name != "README.md" and not p.name.startswith("LICENSE")
    )
    assert {"openai-openapi-subset.json", "toy_chat_fine_tuning.jsonl"} <= set(data)
    assert sorted(rows) == data
    for name in data:
        content = (TEST_DATA / name).read_bytes()
        assert rows[name] == (len(content), hashlib.sha256(content).hexdigest()), name
    for licence in ("LICENSE-openai-openapi", "LICENSE-openai-cookbook"):
        assert (
            (TEST_DATA / licence)
            .read_text(encoding="utf-8")
            .startswith(("The MIT License", "MIT License"))
        )
        assert f"]({licence})" in readme
