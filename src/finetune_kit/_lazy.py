"""Public names imported on first use (PEP 562), for the packages that re-export them.

A package keeps `_HOMES` (name -> the submodule it lives in, relative to the package) and lets
`__getattr__` and `__dir__` call these two functions: `import finetune_kit.dataset` then loads
nothing until a name is used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from importlib import import_module
from typing import Any

__all__ = ["attribute", "names"]


def attribute(
    namespace: MutableMapping[str, Any], package: str, homes: Mapping[str, str], name: str
) -> Any:
    """Import `name` from its submodule of `package`, cache it in `namespace`, and return it."""
    home = homes.get(name)
    if home is None:
        msg = f"module {package!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(import_module(f"{package}.{home}"), name)
    namespace[name] = value
    return value


def names(namespace: Iterable[str], public: Iterable[str]) -> list[str]:
    """What `dir()` of the package lists: what it holds and every public name."""
    return sorted({*namespace, *public})
