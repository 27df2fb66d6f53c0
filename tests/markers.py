"""Marks shared by the test modules."""

from __future__ import annotations

import pytest

from provenance import native

needs_native = pytest.mark.skipif(
    not native.ENABLED,
    reason=f"checks the native lane itself, and the native module is {native.status()}",
)
"""For a test that asserts the native lane was taken (not only that the result is right)."""
