"""Verification of signed records.

- :mod:`provenance.verify.reference`: the rules, one step per status, in the order they are
  checked; the specification and the oracle of every fast path.
- :mod:`provenance.verify.strategies`: the fast strategies by name, each beside the step it
  replaces; :mod:`provenance.verify.known` and :mod:`provenance.verify.joint` hold the two larger
  ones.
- :mod:`provenance.verify.verifier`: :class:`Verifier`, the reference path with the strategies.
- :mod:`provenance.verify.results`: :class:`Status`, :class:`RecordResult`, :class:`Verified`.
"""

from __future__ import annotations

from provenance.verify.results import BatchPosition, Outcome, RecordResult, Status, Verified
from provenance.verify.verifier import Verifier

__all__ = ["BatchPosition", "Outcome", "RecordResult", "Status", "Verified", "Verifier"]
