"""The native accelerator (``provenance/_native.c``): loaded when it was built, never required.

Every native function either returns exactly what the pure-Python reference path returns or
declines (``None``), and the caller then runs the reference path. So when the module is absent (the
install had no C compiler or no OpenSSL headers) or switched off (``PROVENANCE_NATIVE=0``), the
stand-ins of :mod:`provenance._declining` decline everything and every command gives the same
verdicts, bytes and exit codes, only more slowly.

Callers import :data:`lib` from here, never ``provenance._native`` itself.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

__all__ = ["ENABLED", "SWITCH_ENV", "lib", "notice", "status"]

SWITCH_ENV: Final = "PROVENANCE_NATIVE"
"""Set to ``0`` (or ``off``, ``false``, ``no``) to run the pure-Python path on a native install."""

HOW_TO_BUILD: Final = (
    "reinstall with a C compiler, the Python headers and OpenSSL's headers "
    "(Debian: apt install gcc python3-dev libssl-dev), or install a binary wheel"
)
"""What a user does to get the fast path."""


def _switched_off() -> bool:
    return os.environ.get(SWITCH_ENV, "").strip().lower() in {"0", "off", "false", "no"}


def _load() -> tuple[object | None, str]:
    if _switched_off():
        return None, f"off ({SWITCH_ENV}={os.environ[SWITCH_ENV]})"
    try:
        from provenance import _native
    except ImportError:
        return None, "not built"
    return _native, "on"


_module, _status = _load()

ENABLED: Final = _module is not None
"""Whether the native module is in use in this process."""

if TYPE_CHECKING:
    from provenance import _native as lib
else:
    if _module is None:
        from provenance import _declining as lib
    else:
        lib = _module


def status() -> str:
    """``on``, ``not built`` or ``off (PROVENANCE_NATIVE=…)``, for ``--version`` and reports."""
    return _status


def notice() -> str | None:
    """The one line a data command writes on stderr when the native module was not built (not
    when the user switched it off), else None."""
    if _module is not None or _switched_off():
        return None
    return (
        "provenance: note: the native fast path is not built; results are the same, only slower "
        f"(to get it, {HOW_TO_BUILD})"
    )
