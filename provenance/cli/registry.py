"""``provenance ingest``, ``trace``, ``query``, ``evidence``, ``summary``, ``log``, ``db`` and
``lineage``: the evidence registry."""

from __future__ import annotations
