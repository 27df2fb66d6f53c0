"""Pure-Python stand-ins for :mod:`provenance._native`, used when it is absent or switched off
(see :mod:`provenance.native`).

Each stand-in declines where the native function may decline (``None``: the caller runs the
reference path) and does the work itself where the caller needs an answer (``line_end``), so a
process without the native module gives the same results as one with it.
"""

from __future__ import annotations

from collections.abc import Callable


def scan(
    line: bytes, max_depth: int, number_writer: Callable[[float], str], key: str | None = None, /
) -> tuple[bytes, int, int] | None:
    """Declines: :func:`provenance.canonical.parse_record` reads the line."""
    return None


def scan_batch(
    line: bytes,
    max_depth: int,
    number_writer: Callable[[float], str],
    prefix: bytes | None = None,
    /,
) -> tuple[str, int, int] | None:
    """Declines: the record is read by the reference path and its manifest parsed in Python."""
    return None


def tag_batch(
    data: bytes,
    max_depth: int,
    number_writer: Callable[[float], str],
    id_key: str,
    prefix: bytes,
    batch_size: int,
    finish: Callable[[bytes, int], bytes],
    /,
) -> tuple[bytes, int] | None:
    """Declines: the Python tagger signs the task."""
    return None


def b64decode(text: object, /) -> bytes | None:
    """Declines: :func:`provenance.dsse.b64decode` decodes and gives the verdict."""
    return None


def keep_freed_memory() -> None:
    """Nothing to tune without the native allocator settings."""


def line_end(data: bytes, start: int, count: int, /) -> tuple[int, int]:
    """Where the ``count``-th newline of ``data`` from ``start`` on is, and 0; or -1 and how many
    newlines are still wanted after the end of ``data``."""
    if start < 0 or count < 1:
        raise TypeError("line_end() needs bytes, a start and a count")
    at = start
    while True:
        at = data.find(b"\n", at)
        if at < 0:
            return -1, count
        count -= 1
        if count == 0:
            return at, 0
        at += 1
