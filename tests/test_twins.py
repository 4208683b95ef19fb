"""The sync and async twins stay in step: the same members, kinds and parameters.

Each sync class or function has an async twin kept by hand (openai-python's
`assert_signatures_in_sync`, here for classes too). For every pair this checks:

- the same public members (names), instance attributes set in `__init__` included;
- the same kinds (property, method, classmethod, staticmethod); a sync method's twin is
  `async def` (or an async generator, or an async context manager), unless `SYNC_BY_DESIGN`
  says why not;
- identical parameters (names, kinds, defaults) and annotations, after mapping the sync types
  to their async twins (`SYNC_TO_ASYNC`, written out below) — the return annotation too.

A failure lists every difference found, not only the first. A new twin joins `CLASS_PAIRS` or
`FUNCTION_PAIRS`; `test_every_twin_is_checked` fails on a public `Async*` class or `a*`
function of the package whose sync twin is not listed.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from finetune_kit import AsyncFineTuneJob, AsyncTunedModel, FineTuneJob, TunedModel
from finetune_kit.dataset.dataset import Dataset
from finetune_kit.testing import Simulator

# Modules by name: `finetune_kit.compare` is also the name of the function the package exports.
_lock = importlib.import_module("finetune_kit._lock")
azure_module = importlib.import_module("finetune_kit.azure")
batch_module = importlib.import_module("finetune_kit.batch")
compare_module = importlib.import_module("finetune_kit.compare")
files_module = importlib.import_module("finetune_kit.files")
jobs_module = importlib.import_module("finetune_kit.jobs")
models_module = importlib.import_module("finetune_kit.models")

SYNC_TO_ASYNC: tuple[tuple[str, str], ...] = (
    (r"\bOpenAI\b", "AsyncOpenAI"),
    (r"\bAzureOpenAI\b", "AsyncAzureOpenAI"),
    (r"\bFineTuneJob\b", "AsyncFineTuneJob"),
    (r"\bTunedModel\b", "AsyncTunedModel"),
    (r"\bIterator\b", "AsyncIterator"),
    (r"\bhttpx2\.Client\b", "httpx2.AsyncClient"),
    (r"Callable\[\[float\], None\]", "Callable[[float], Awaitable[None]]"),
)
"""Sync type (a regular expression over the annotation's text) -> its async twin."""

ASYNC_ALIASES: tuple[tuple[str, str], ...] = (
    (r"\bAsyncSleep\b", "Callable[[float], Awaitable[None]]"),
)
"""Names the async side uses for a type spelled out elsewhere (`jobs.AsyncSleep`)."""

DEFAULTS: dict[Any, Any] = {time.sleep: anyio.sleep}
"""A sync default -> the async twin's default."""

SYNC_BY_DESIGN: dict[tuple[str, str], str] = {
    ("TunedModel", "from_checkpoint"): "a constructor: it reads the name, no request",
}
"""(sync twin, member) -> why the async twin's member is a plain `def`, not `async def`."""


@dataclass(frozen=True)
class FunctionPair:
    sync: Callable[..., Any]
    asynchronous: Callable[..., Any]
    awaited: bool = True
    """Whether the async twin is awaited (`async def`, an async generator or context manager);
    False for factories such as `Simulator.async_client`, sync on both sides by design."""

    @property
    def id(self) -> str:
        return f"{self.sync.__qualname__}/{self.asynchronous.__qualname__}"


CLASS_PAIRS: list[tuple[type, type]] = [
    (FineTuneJob, AsyncFineTuneJob),
    (TunedModel, AsyncTunedModel),
]

FUNCTION_PAIRS: list[FunctionPair] = [
    FunctionPair(compare_module.compare, compare_module.acompare),
    FunctionPair(files_module.upload, files_module.aupload),
    FunctionPair(files_module.wait_processed, files_module.await_processed),
    FunctionPair(Dataset.upload, Dataset.aupload),
    FunctionPair(batch_module.run_batch, batch_module.arun_batch),
    FunctionPair(_lock.fingerprint_lock, _lock.afingerprint_lock),
    FunctionPair(jobs_module.served_models, jobs_module.aserved_models),
    FunctionPair(models_module.resolve, models_module.aresolve),
    FunctionPair(azure_module.deploy, azure_module.adeploy),
    FunctionPair(Simulator.client, Simulator.async_client, awaited=False),
    FunctionPair(Simulator.azure_client, Simulator.async_azure_client, awaited=False),
    FunctionPair(Simulator.transport, Simulator.async_transport, awaited=False),
]


def _to_async(annotation: str) -> str:
    for pattern, replacement in SYNC_TO_ASYNC:
        annotation = re.sub(pattern, replacement, annotation)
    return _normal(annotation)


def _normal(annotation: str) -> str:
    for pattern, replacement in ASYNC_ALIASES:
        annotation = re.sub(pattern, replacement, annotation)
    return annotation


def _text(annotation: object) -> str:
    if annotation is inspect.Parameter.empty:
        return "<none>"
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


def _is_async(function: Callable[..., Any]) -> bool:
    inner = inspect.unwrap(function)
    return inspect.iscoroutinefunction(inner) or inspect.isasyncgenfunction(inner)


def _signature_differences(
    name: str, sync: Callable[..., Any], twin: Callable[..., Any]
) -> list[str]:
    """Parameters (name, kind, default, annotation) and return annotation, sync mapped to async."""
    found: list[str] = []
    ours, theirs = inspect.signature(sync), inspect.signature(twin)
    names, twin_names = list(ours.parameters), list(theirs.parameters)
    if names != twin_names:
        found.append(f"{name}: parameters {names} != {twin_names}")
    for param in ours.parameters.values():
        other = theirs.parameters.get(param.name)
        if other is None:
            continue
        if param.kind != other.kind:
            found.append(f"{name}({param.name}): kind {param.kind} != {other.kind}")
        default = DEFAULTS.get(param.default, param.default)
        if default != other.default:
            found.append(f"{name}({param.name}): default {param.default!r} != {other.default!r}")
        want, got = _to_async(_text(param.annotation)), _normal(_text(other.annotation))
        if want != got:
            found.append(f"{name}({param.name}): annotation {want!r} != {got!r}")
    want, got = _to_async(_text(ours.return_annotation)), _normal(_text(theirs.return_annotation))
    if want != got:
        found.append(f"{name}: returns {want!r} != {got!r}")
    return found


def _kind(member: object) -> str:
    if isinstance(member, property):
        return "property"
    if isinstance(member, classmethod):
        return "classmethod"
    if isinstance(member, staticmethod):
        return "staticmethod"
    if callable(member):
        return "method"
    return "attribute"


def _function(member: object) -> Callable[..., Any]:
    if isinstance(member, (classmethod, staticmethod)):
        return member.__func__
    assert callable(member)
    return member


def _instance_attributes(cls: type) -> set[str]:
    """The public `self.name = ...` of `__init__`."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls.__init__)))  # type: ignore[misc]
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Store)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
        and not node.attr.startswith("_")
    }


def _public(cls: type) -> set[str]:
    return {name for name in vars(cls) if not name.startswith("_")}


def class_differences(sync: type, twin: type) -> list[str]:
    """Every difference of members, kinds and parameters between `sync` and its `twin`."""
    found: list[str] = []
    ours, theirs = _public(sync), _public(twin)
    found.extend(f"{sync.__name__}.{name}: no twin" for name in sorted(ours - theirs))
    found.extend(f"{twin.__name__}.{name}: no sync twin" for name in sorted(theirs - ours))
    attrs, twin_attrs = _instance_attributes(sync), _instance_attributes(twin)
    found.extend(f"{sync.__name__}().{name}: no twin" for name in sorted(attrs - twin_attrs))
    found.extend(f"{twin.__name__}().{name}: no sync twin" for name in sorted(twin_attrs - attrs))
    for name in sorted((ours & theirs) | {"__init__"}):
        member, other = inspect.getattr_static(sync, name), inspect.getattr_static(twin, name)
        label = f"{sync.__name__}.{name}"
        if _kind(member) != _kind(other):
            found.append(f"{label}: a {_kind(member)}, its twin a {_kind(other)}")
            continue
        if _kind(member) == "property":
            assert isinstance(member, property)
            assert isinstance(other, property)
            assert member.fget is not None
            assert other.fget is not None
            found.extend(_signature_differences(label, member.fget, other.fget))
            continue
        if _kind(member) == "attribute":
            continue
        function, twin_function = _function(member), _function(other)
        if _is_async(function):
            found.append(f"{label}: async in the sync twin")
        by_design = (sync.__name__, name) in SYNC_BY_DESIGN or name == "__init__"
        if not by_design and not _is_async(twin_function):
            found.append(f"{label}: the twin is not async (nor listed in SYNC_BY_DESIGN)")
        if by_design and name != "__init__" and _is_async(twin_function):
            found.append(f"{label}: listed in SYNC_BY_DESIGN, but the twin is async")
        found.extend(_signature_differences(label, function, twin_function))
    return found


def function_differences(pair: FunctionPair) -> list[str]:
    """Every difference of kind and parameters between a function and its async twin."""
    found: list[str] = []
    if _is_async(pair.sync):
        found.append(f"{pair.sync.__qualname__}: async in the sync twin")
    if _is_async(pair.asynchronous) != pair.awaited:
        want = "async" if pair.awaited else "a plain def"
        found.append(f"{pair.asynchronous.__qualname__}: should be {want}")
    found.extend(_signature_differences(pair.sync.__qualname__, pair.sync, pair.asynchronous))
    return found


@pytest.mark.parametrize(("sync", "twin"), CLASS_PAIRS, ids=lambda cls: cls.__name__)
def test_class_twins_are_in_step(sync: type, twin: type) -> None:
    """The same members, kinds and parameters: differences are listed, one per line."""
    differences = class_differences(sync, twin)
    assert not differences, "the twins differ:\n" + "\n".join(differences)


@pytest.mark.parametrize("pair", FUNCTION_PAIRS, ids=lambda pair: pair.id)
def test_function_twins_are_in_step(pair: FunctionPair) -> None:
    """The same parameters; the async twin is async (unless a factory, sync by design)."""
    differences = function_differences(pair)
    assert not differences, "the twins differ:\n" + "\n".join(differences)


MODULES = [
    "finetune_kit",
    "finetune_kit.azure",
    "finetune_kit.batch",
    "finetune_kit.compare",
    "finetune_kit.files",
    "finetune_kit.jobs",
    "finetune_kit.models",
]


def test_every_twin_is_checked() -> None:
    """A public `AsyncX` class or `aX` function with a public sync twin `X` is in a pair list."""
    checked = {(a.__qualname__, b.__qualname__) for a, b in CLASS_PAIRS} | {
        (p.sync.__qualname__, p.asynchronous.__qualname__) for p in FUNCTION_PAIRS
    }
    unchecked: set[tuple[str, str]] = set()
    for name in MODULES:
        module = importlib.import_module(name)
        for public in getattr(module, "__all__", ()):
            for prefix in ("Async", "a"):
                rest = public.removeprefix(prefix)
                if rest == public or not hasattr(module, rest):
                    continue
                sync, twin = getattr(module, rest), getattr(module, public)
                if not (callable(sync) and callable(twin)):
                    continue
                key = (sync.__qualname__, twin.__qualname__)
                if key not in checked:
                    unchecked.add(key)
    assert sorted(unchecked) == []


# --- the checker itself finds drift -----------------------------------------------------------


class _Sync:
    def __init__(self, client: int, *, sleep: Callable[[float], None] | None = None) -> None:
        self.client = client
        self.only_sync = 1

    @property
    def date(self) -> str:
        return ""

    def call(self, x: int, y: int = 1) -> _Sync:
        return self

    def gone(self) -> None:
        return None


class _AsyncSync:
    def __init__(self, client: int, *, sleep: Callable[[float], None] | None = None) -> None:
        self.client = client

    async def date(self) -> str:
        return ""

    def call(self, x: int, y: int = 2) -> _AsyncSync:
        return self


def test_the_checker_lists_each_kind_of_difference() -> None:
    """Missing members and attributes, a property against a method, a twin that isn't async,
    a different default, an unmapped annotation: each listed, none stopping the others."""
    assert class_differences(_Sync, _AsyncSync) == [
        "_Sync.gone: no twin",
        "_Sync().only_sync: no twin",
        (
            "_Sync.__init__(sleep): annotation "
            "'Callable[[float], Awaitable[None]] | None' != 'Callable[[float], None] | None'"
        ),
        "_Sync.call: the twin is not async (nor listed in SYNC_BY_DESIGN)",
        "_Sync.call(y): default 1 != 2",
        "_Sync.call: returns '_Sync' != '_AsyncSync'",
        "_Sync.date: a property, its twin a method",
    ]
