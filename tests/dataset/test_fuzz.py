"""Property tests: malformed files never crash validation, never lose a line, and parallel = sequential."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from finetune_kit.dataset import Dataset, ValidationReport, parallel
from finetune_kit.dataset.engine import Method, example_key, settings_for, validate_path
from finetune_kit.dataset.formats import HEAD_BYTES, not_text_reason
from finetune_kit.dataset.lines import LineWorker
from finetune_kit.dataset.report import Format

BOM = b"\xef\xbb\xbf"
MODELS = ["gpt-4o-mini-2024-07-18", "gpt-3.5-turbo-0613", "my-own-model"]
METHODS: list[Method | None] = [None, "supervised", "dpo", "reinforcement"]
FORMATS: list[Format] = ["chat", "dpo", "reinforcement", "completion"]
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_IMAGE = "data:image/png;base64,iVBORw0KGgo="
VALID_ROWS: list[dict[str, Any]] = [
    {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi", "name": "bob"},
            {"role": "assistant", "content": "Hello!", "weight": 1},
        ]
    },
    {
        "tools": [
            {
                "type": "function",
                "function": {"name": "f", "parameters": {"type": "object", "properties": {}}},
            }
        ],
        "parallel_tool_calls": False,
        "messages": [
            {"role": "user", "content": "Call f"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
            {"role": "assistant", "content": "Done."},
        ],
    },
    {
        "functions": [{"name": "g", "parameters": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "Call g"},
            {"role": "assistant", "function_call": {"name": "g", "arguments": '{"a": 1}'}},
            {"role": "function", "name": "g", "content": "ok"},
            {"role": "assistant", "content": "ok", "refusal": None},
        ],
    },
    {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": _IMAGE, "detail": "low"}},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "A dot."}]},
        ]
    },
    {
        "input": {"messages": [{"role": "user", "content": "Pick one"}]},
        "preferred_output": [{"role": "assistant", "content": "A"}],
        "non_preferred_output": [{"role": "assistant", "content": "B"}],
    },
    {
        "messages": [
            {"role": "developer", "content": "Grade me"},
            {"role": "user", "content": "2+2"},
        ],
        "answer": "4",
    },
    {"prompt": "2+2=", "completion": " 4"},
]

ROLES = ["system", "developer", "user", "assistant", "tool", "function", "", "USER", "bot"]
KEYS = [
    "messages",
    "role",
    "content",
    "name",
    "weight",
    "tool_calls",
    "tool_call_id",
    "function",
    "arguments",
    "type",
    "text",
    "image_url",
    "url",
    "detail",
    "input",
    "preferred_output",
    "non_preferred_output",
    "prompt",
    "completion",
    "tools",
    "refusal",
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["<|endoftext|>", " ", "", "{not json", "data:image/gif;base64,AAAA"])
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


def _slots(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) pair in a JSON tree, the tree's own children first."""
    out: list[tuple[Any, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((node, key))
            out.extend(_slots(value))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((node, i))
            out.extend(_slots(value))
    return out


@st.composite
def mutated_rows(draw: st.DrawFn) -> Any:
    """A valid row of some format with up to four random mutations applied."""
    row: Any = copy.deepcopy(draw(st.sampled_from(VALID_ROWS)))
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        slots = _slots(row)
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        op = draw(st.sampled_from(["drop", "rename", "replace", "role", "garbage", "wrap"]))
        if op == "drop":
            del container[key]
        elif op == "rename" and isinstance(container, dict):
            new_key = draw(st.sampled_from(KEYS) | st.text(max_size=8))
            container[new_key] = container.pop(key)
        elif op == "role":
            container[key] = draw(st.sampled_from(ROLES) | st.text(max_size=6))
        elif op == "garbage":
            container[key] = draw(json_values)
        elif op == "wrap":
            container[key] = [container[key]] if draw(st.booleans()) else {"x": container[key]}
        else:  # replace with a value of another type
            container[key] = draw(json_scalars)
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        row = draw(json_values)
    return row


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    """One line of a JSONL file (without its newline), well-formed or not."""
    kind = draw(
        st.sampled_from(["row", "row", "row", "truncated", "bytes", "blank", "utf8", "value"])
    )
    if kind == "blank":
        return draw(st.sampled_from([b"", b" ", b"\t", b"\r", b"  \r", b"\x0c"]))
    if kind == "bytes":
        return draw(st.binary(max_size=40)).replace(b"\n", b"")
    if kind == "value":
        return json.dumps(draw(json_values)).encode()
    text = json.dumps(draw(mutated_rows()), ensure_ascii=draw(st.booleans()))
    data = text.encode()
    if kind == "truncated":
        return data[: draw(st.integers(min_value=0, max_value=max(0, len(data) - 1)))]
    if kind == "utf8":
        at = draw(st.integers(min_value=0, max_value=len(data)))
        return data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + data[at:]
    return data


@st.composite
def files(draw: st.DrawFn) -> bytes:
    """A whole JSONL file: lines, maybe a BOM, maybe a final newline, maybe CRLF."""
    body = draw(st.lists(lines(), min_size=0, max_size=14))
    duplicate: bool = draw(st.booleans())
    if duplicate and body:
        body.append(body[draw(st.integers(min_value=0, max_value=len(body) - 1))])  # a duplicate
    newline = b"\r\n" if draw(st.integers(min_value=0, max_value=4)) == 0 else b"\n"
    data = newline.join(body)
    final_newline: bool = draw(st.booleans())
    if body and final_newline:
        data += b"\n"
    if draw(st.integers(min_value=0, max_value=4)) == 0:
        data = BOM + data
    return data


def _file_lines(data: bytes) -> list[bytes]:
    """The lines the file holds, as a reader that splits on newline sees them."""
    out = data.split(b"\n")
    if out[-1] == b"":
        out.pop()
    return out


def _non_blank(all_lines: list[bytes]) -> set[int]:
    return {
        n
        for n, raw in enumerate(all_lines, start=1)
        if (raw.removeprefix(BOM) if n == 1 else raw).strip()
    }


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(FUZZ, max_examples=100)
@given(
    data=files(),
    model=st.sampled_from(MODELS),
    method=st.sampled_from(METHODS),
)
def test_validate_never_crashes_nor_loses_a_line(
    work_dir: Path, *, data: bytes, model: str, method: Method | None
) -> None:
    """Any file validates to a report in which every non-blank line is an example or has an error."""
    path = work_dir / "fuzz.jsonl"
    path.write_bytes(data)
    report = Dataset.from_jsonl(path).validate(
        model=model,
        method=method,
        workers=1,
        max_findings=1_000_000,
        known_models={"my-own-model"},  # a name of the provider's own
    )
    assert isinstance(report, ValidationReport)
    stats = report.stats
    # A start that is not text (a NUL byte, as git and grep judge it, or mostly not UTF-8) is
    # said once for the whole file, and nothing is counted; any other file is read line by line.
    reason = not_text_reason(data[:HEAD_BYTES])
    assert ("not_jsonl_text" in report.counts) == (reason is not None)
    if reason is not None:
        assert report.counts == {"not_jsonl_text": 1}
        assert [f.message for f in report.errors] == [reason]
        assert (stats.rows, stats.examples) == (0, 0)
        return
    all_lines = _file_lines(data)
    non_blank = _non_blank(all_lines)

    # Rows are exactly the non-blank lines; nothing is dropped or invented.
    assert stats.rows == len(non_blank)
    assert report.omitted == 0
    assert sum(report.counts.values()) == len(report.errors) + len(report.warnings)
    findings = report.errors + report.warnings
    assert all(f.line is None or 1 <= f.line <= len(all_lines) for f in findings)
    blank_warned = {f.line for f in report.warnings if f.code == "blank_line"}
    assert blank_warned == set(range(1, len(all_lines) + 1)) - non_blank

    # Count invariant: every row that is not an example carries an error on its line.
    error_lines = {f.line for f in report.errors if f.line is not None}
    assert stats.rows - stats.examples <= len(error_lines & non_blank)
    assert 0 <= stats.examples <= stats.rows

    # Line-exact invariant: the lines the engine counted, and every other non-blank line errs.
    worker = LineWorker(settings_for(model, report.format))
    counted = set(worker.run(iter(all_lines), first=True).ex_line)
    assert len(counted) == stats.examples
    assert counted <= non_blank
    assert non_blank - counted <= error_lines


def _padded(data: bytes, chunk_bytes: int) -> bytes:
    """Make the file big enough that validate_path really goes parallel."""
    filler = json.dumps(VALID_ROWS[0]).encode()
    while len(data) < 2 * chunk_bytes + 1:
        data = data + b"\n" + filler if data else filler
    return data


@pytest.fixture(scope="module")
def can_fork() -> None:
    if parallel.fork_context() is None:  # pragma: no cover - depends on the platform
        pytest.fail("fork is unavailable (or threads are running): parallel validation is off")


@FUZZ
@given(
    data=files(),
    model=st.sampled_from(MODELS),
    fmt=st.sampled_from(FORMATS),
    chunk_bytes=st.sampled_from([16, 64, 200]),
    with_validation=st.booleans(),
    n_epochs=st.sampled_from(["auto", 2]),
)
def test_parallel_equals_sequential(
    work_dir: Path,
    can_fork: None,
    *,
    data: bytes,
    model: str,
    fmt: Format,
    chunk_bytes: int,
    with_validation: bool,
    n_epochs: int | str,
) -> None:
    """Validating in 2 worker processes gives exactly the sequential report."""
    path = work_dir / "parallel.jsonl"
    data = _padded(data, chunk_bytes)
    path.write_bytes(data)
    all_lines = _file_lines(data)
    vkeys = (
        {example_key(raw): n for n, raw in enumerate(all_lines[::2], start=1) if raw.strip()}
        if with_validation
        else None
    )
    common: dict[str, Any] = {
        "settings": settings_for(model, fmt),
        "validation_keys": vkeys,
        "n_epochs": n_epochs,
        "max_findings": 1_000_000,
    }
    sequential = validate_path(path, workers=1, chunk_bytes=chunk_bytes, **common)
    parallel = validate_path(path, workers=2, chunk_bytes=chunk_bytes, **common)
    assert parallel.model_dump() == sequential.model_dump()


_ROW = json.dumps(VALID_ROWS[0]).encode()


@FUZZ
@given(
    data=files(),
    fmt=st.sampled_from(FORMATS),
    max_findings=st.integers(min_value=0, max_value=6),
)
# A duplicate in one chunk and a bad line in the next: the single listed finding must not
# depend on how the file was cut.
@example(data=_ROW + b"\n" + _ROW + b"\n{bad" + b" " * 60 + b"\n", fmt="chat", max_findings=1)
def test_parallel_equals_sequential_with_few_findings_listed(
    work_dir: Path, can_fork: None, *, data: bytes, fmt: Format, max_findings: int
) -> None:
    """With findings capped, the listed ones still don't depend on the number of workers."""
    path = work_dir / "capped.jsonl"
    data = _padded(data, 64)
    path.write_bytes(data)
    common: dict[str, Any] = {
        "settings": settings_for("gpt-4o-mini-2024-07-18", fmt),
        "max_findings": max_findings,
        "chunk_bytes": 64,
    }
    sequential = validate_path(path, workers=1, **common)
    parallel = validate_path(path, workers=2, **common)
    assert parallel.model_dump() == sequential.model_dump()
