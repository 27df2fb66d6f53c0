"""Names a package exports, imported from their modules on first use (PEP 562).

So ``import provenance`` or ``from provenance.policy import loader`` costs only what is used: a
command that never judges a policy never imports the engine and networkx. Each package lists its
exports for type checkers under ``TYPE_CHECKING`` and for the interpreter in a name → module map.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def exports(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose ``names`` map to modules."""

    def getattr_(name: str) -> object:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def dir_() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return getattr_, dir_
