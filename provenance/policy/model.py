"""The policy inputs as data: terms documents, the model catalog, intents, lineage and waivers.

Each class is frozen and reads itself with ``from_dict`` from a mapping shaped as in
``docs/policy-format.md`` (the loader passes mappings that remember line numbers, so errors name file,
line and field) and writes itself back with ``to_dict``. Nothing here reads a file.

Each kind of document has a module of its own; this module names them all in one place:

* :mod:`provenance.policy.vocabulary` — outcomes and their severity, field values, schema names,
  terms references;
* :mod:`provenance.policy.terms` — :class:`TermsDocument`, :class:`Clause`, :class:`Obligation`;
* :mod:`provenance.policy.generation` — :class:`Generation`, a model writing data, and
  :func:`channel_of`;
* :mod:`provenance.policy.catalog` — :class:`Catalog`, :class:`CatalogModel`,
  :class:`CatalogDataset`;
* :mod:`provenance.policy.intent` — :class:`Intent`, :class:`Target`, :class:`Thresholds`;
* :mod:`provenance.policy.declaration` — :class:`LineageDeclaration`, :class:`LineageModel`,
  :class:`LineageDataset`;
* :mod:`provenance.policy.waivers` — :class:`Waiver`, :func:`waivers_from_dict`.
"""

from __future__ import annotations

from provenance.policy.catalog import Catalog, CatalogDataset, CatalogModel
from provenance.policy.declaration import LineageDataset, LineageDeclaration, LineageModel
from provenance.policy.generation import Generation, channel_of
from provenance.policy.intent import Intent, Target, Thresholds
from provenance.policy.terms import Clause, Obligation, TermsDocument
from provenance.policy.vocabulary import (
    BINDS,
    CATALOG_SCHEMA,
    CONFIDENCES,
    EFFECTS,
    INTENT_SCHEMA,
    LINEAGE_SCHEMA,
    OBLIGATION_KINDS,
    ORG_PROVIDER,
    OUTCOMES,
    SEVERITY,
    TERMS_SCHEMA,
    WAIVERS_SCHEMA,
    Outcome,
    check_ref,
    most_severe,
    split_ref,
)
from provenance.policy.waivers import Waiver, waivers_from_dict

__all__ = [
    "BINDS",
    "CATALOG_SCHEMA",
    "CONFIDENCES",
    "EFFECTS",
    "INTENT_SCHEMA",
    "LINEAGE_SCHEMA",
    "OBLIGATION_KINDS",
    "ORG_PROVIDER",
    "OUTCOMES",
    "SEVERITY",
    "TERMS_SCHEMA",
    "WAIVERS_SCHEMA",
    "Catalog",
    "CatalogDataset",
    "CatalogModel",
    "Clause",
    "Generation",
    "Intent",
    "LineageDataset",
    "LineageDeclaration",
    "LineageModel",
    "Obligation",
    "Outcome",
    "Target",
    "TermsDocument",
    "Thresholds",
    "Waiver",
    "channel_of",
    "check_ref",
    "most_severe",
    "split_ref",
    "waivers_from_dict",
]
