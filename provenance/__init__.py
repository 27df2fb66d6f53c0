"""provenance: signed provenance for synthetic training data, and a policy gate over provider terms.

The SDK surface: :func:`load_signer`, :class:`Tagger`, :class:`RecordDraft`, the manifest model,
and for checking: :func:`load_trust`, :class:`Verifier`, :func:`audit`.
Each name is imported on first use, so a generation script that only signs never loads the audit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance import _lazy

__version__ = "0.1.0"

if TYPE_CHECKING:
    from provenance.auditor import AuditReport, audit
    from provenance.manifest import Contribution, Generator, Manifest, Parent, TermsRef
    from provenance.project import load_signer, load_trust
    from provenance.sign import RecordDraft, Tagger, prompt_parent
    from provenance.verify import Verifier

__getattr__, __dir__ = _lazy.exports(
    __name__,
    {
        "AuditReport": "provenance.auditor",
        "audit": "provenance.auditor",
        "Contribution": "provenance.manifest",
        "Generator": "provenance.manifest",
        "Manifest": "provenance.manifest",
        "Parent": "provenance.manifest",
        "TermsRef": "provenance.manifest",
        "load_signer": "provenance.project",
        "load_trust": "provenance.project",
        "RecordDraft": "provenance.sign",
        "Tagger": "provenance.sign",
        "prompt_parent": "provenance.sign",
        "Verifier": "provenance.verify",
    },
)

__all__ = [
    "AuditReport",
    "Contribution",
    "Generator",
    "Manifest",
    "Parent",
    "RecordDraft",
    "Tagger",
    "TermsRef",
    "Verifier",
    "__version__",
    "audit",
    "load_signer",
    "load_trust",
    "prompt_parent",
]
