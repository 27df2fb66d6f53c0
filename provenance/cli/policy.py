"""``provenance policy`` and ``provenance explain``."""

from __future__ import annotations
