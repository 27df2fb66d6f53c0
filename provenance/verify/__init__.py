"""Verification of signed records (see :mod:`provenance.verify.verifier`)."""

from __future__ import annotations

from provenance.verify.verifier import (
    BatchPosition,
    Outcome,
    RecordResult,
    Status,
    Verified,
    Verifier,
)

__all__ = ["BatchPosition", "Outcome", "RecordResult", "Status", "Verified", "Verifier"]
