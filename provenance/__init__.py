"""provenance: signed provenance for synthetic training data, and a policy gate over provider terms.

The SDK surface: :func:`load_signer`, :class:`Tagger`, :class:`RecordDraft`, and the manifest model.
"""

from __future__ import annotations

__version__ = "0.1.0"

from provenance.auditor import AuditReport, audit
from provenance.manifest import Contribution, Generator, Manifest, Parent, TermsRef
from provenance.project import load_signer
from provenance.tagging import RecordDraft, Tagger, prompt_parent

__all__ = [
    "AuditReport",
    "Contribution",
    "Generator",
    "Manifest",
    "Parent",
    "RecordDraft",
    "Tagger",
    "TermsRef",
    "__version__",
    "audit",
    "load_signer",
    "prompt_parent",
]
