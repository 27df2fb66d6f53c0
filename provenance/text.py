"""How counts read in messages and text reports: ``1 record``, ``300,000 records``.

One helper, so that every summary line says a number the same way (with thousands separators, as
the reports' tables do) and never ``1 records`` or ``file(s)``.
"""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, in the plural unless ``n`` is 1, the number with thousands separators:
    ``count(1, "record")`` is ``1 record``, ``count(300000, "record")`` is ``300,000 records``.
    ``plural`` is for nouns that do not take an ``s`` (``count(2, "batch", "batches")``)."""
    word = noun if n == 1 else (plural if plural is not None else f"{noun}s")
    return f"{n:,} {word}"
