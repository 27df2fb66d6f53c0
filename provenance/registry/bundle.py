"""Evidence bundles: the zip layout, and writing and sealing one.

A bundle is a zip of JSON, YAML and PEM files (see ``docs/registry.md`` for the full layout):

* ``bundle.dsse.json`` — the signed index: a DSSE envelope over an in-toto Statement whose subjects
  are every other file of the bundle with its SHA-256 (predicate type ``EVIDENCE_PREDICATE``); its
  predicate states the bundle's subject, its ``created_at`` and, per file, its size in bytes
  (``sizes``);
* ``checkpoint.json`` — a signed checkpoint of the registry's log, and ``log/entries.jsonl`` — the
  log entries of the datasets, audit runs, lineage, terms, keys and trust states in the bundle,
  each with its row body and an RFC 9162 inclusion proof in that checkpoint;
* ``reports/*.dsse.json`` — each recorded audit report, signed (predicate type
  ``REPORT_PREDICATE``); ``terms/*`` — the terms documents those audits used, byte for byte;
  ``reaudits.jsonl`` — the recorded re-judgements of those audits (``provenance reaudit
  --record``), each a row body proven by its log entry;
* ``datasets/*`` — each dataset's members (or, for large datasets, a sample with inclusion proofs
  in the dataset digest) and ``manifests.jsonl`` — their manifests as signed;
* ``lineage.prov.json`` (W3C PROV-JSON), ``lineage.yaml``, ``trust.yaml``, ``keys/*.pub`` and
  ``registry-key.pub`` (the key that signed the bundle).

The zip's comment is a *seal*: a DSSE envelope over the SHA-256 of every byte of the zip before its
end-of-central-directory record (and the bundle's ``created_at``), whose fields are checked against
the central directory. So one changed byte anywhere in the file fails verification, and the other
checks say which part changed.

:mod:`provenance.registry.bundle_verify` checks a bundle offline, reading it under bounds.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

from provenance import canonical, dsse
from provenance.errors import ProvenanceError
from provenance.keys import Signer
from provenance.manifest import PAYLOAD_TYPE, STATEMENT_TYPE
from provenance.registry.logtree import now_text

EVIDENCE_PREDICATE = "https://provenance.dev/evidence-bundle/v1"
REPORT_PREDICATE = "https://provenance.dev/audit-report/v1"
SEAL_PREDICATE = "https://provenance.dev/evidence-seal/v1"
INDEX = "bundle.dsse.json"
EOCD_SIGNATURE = b"PK\x05\x06"
"""How the zip's end-of-central-directory record starts."""
EOCD_SIZE = 22
"""Bytes of that record without its comment (the seal)."""
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def statement(subjects: Sequence[tuple[str, str]], predicate_type: str, predicate: Any) -> bytes:
    """Canonical bytes of an in-toto Statement over ``(name, sha256 hex)`` subjects."""
    return canonical.canonicalize(
        {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": n, "digest": {"sha256": d}} for n, d in subjects],
            "predicateType": predicate_type,
            "predicate": predicate,
        }
    )


def sign_json(signer: Signer, payload: bytes) -> bytes:
    envelope = dsse.sign(PAYLOAD_TYPE, payload, [signer]).to_dict()
    return json.dumps(envelope, indent=2).encode("utf-8") + b"\n"


def write_bundle(files: Mapping[str, bytes], signer: Signer, predicate: Mapping[str, Any]) -> bytes:
    """The sealed zip of ``files`` plus a signed index over them. The index's predicate is
    ``predicate`` with ``created_at`` (now, unless given) and the size of every file added."""
    signed = dict(predicate)
    created = str(signed.setdefault("created_at", now_text()))
    signed["sizes"] = {name: len(files[name]) for name in sorted(files)}
    subjects = [(name, hashlib.sha256(files[name]).hexdigest()) for name in sorted(files)]
    index = sign_json(signer, statement(subjects, EVIDENCE_PREDICATE, signed))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in [(INDEX, index), *((n, files[n]) for n in sorted(files))]:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    raw = buffer.getvalue()
    if raw[-EOCD_SIZE:][:4] != EOCD_SIGNATURE:
        raise ProvenanceError("the zip writer produced an unexpected layout")
    prefix = raw[:-EOCD_SIZE]
    seal = dsse.sign(
        PAYLOAD_TYPE,
        statement(
            [("bundle", hashlib.sha256(prefix).hexdigest())],
            SEAL_PREDICATE,
            {
                "covers": "every byte before the end-of-central-directory record",
                "created_at": created,
            },
        ),
        [signer],
    ).to_dict()
    comment = canonical.canonicalize(seal)
    if len(comment) > 0xFFFF:
        raise ProvenanceError("the bundle seal does not fit in a zip comment")
    return raw[:-2] + len(comment).to_bytes(2, "little") + comment
