"""Evidence bundles: the zip layout, its seal, and verification offline (no registry needed).

A bundle is a zip of JSON, YAML and PEM files (see ``docs/registry.md`` for the full layout):

* ``bundle.dsse.json`` — a DSSE envelope over an in-toto Statement whose subjects are every other
  file of the bundle with its SHA-256 (predicate type ``EVIDENCE_PREDICATE``);
* ``checkpoint.json`` — a signed checkpoint of the registry's log, and ``log/entries.jsonl`` — the
  log entries of the datasets, audit runs, lineage, terms, keys and trust states in the bundle,
  each with its row body and an RFC 9162 inclusion proof in that checkpoint;
* ``reports/*.dsse.json`` — each recorded audit report, signed (predicate type
  ``REPORT_PREDICATE``); ``terms/*`` — the terms documents those audits used, byte for byte;
* ``datasets/*`` — each dataset's members (or, for large datasets, a sample with inclusion proofs
  in the dataset digest) and ``manifests.jsonl`` — their manifests as signed;
* ``lineage.prov.json`` (W3C PROV-JSON), ``lineage.yaml``, ``trust.yaml``, ``keys/*.pub`` and
  ``registry-key.pub`` (the key that signed the bundle).

The zip's comment is a *seal*: a DSSE envelope over the SHA-256 of every byte of the zip before its
end-of-central-directory record, whose fields are checked against the central directory. So one
changed byte anywhere in the file fails verification, and the other checks say which part changed.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from provenance import canonical, dsse, merkle
from provenance.errors import ProvenanceError
from provenance.keys import Signer, VerifyingKey
from provenance.manifest import PAYLOAD_TYPE, STATEMENT_TYPE
from provenance.registry.logtree import (
    LogError,
    body_hash,
    entry_hash,
    leaf,
    parse_checkpoint,
    proves,
    read_statement,
    signed_by,
)
from provenance.registry.manifests import check_manifest
from provenance.registry.prov import check_prov
from provenance.trust import TrustStore

EVIDENCE_PREDICATE = "https://provenance.dev/evidence-bundle/v1"
REPORT_PREDICATE = "https://provenance.dev/audit-report/v1"
SEAL_PREDICATE = "https://provenance.dev/evidence-seal/v1"
INDEX = "bundle.dsse.json"
_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


# ---- writing -------------------------------------------------------------------------------


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
    """The sealed zip of ``files`` plus a signed index over them."""
    subjects = [(name, hashlib.sha256(files[name]).hexdigest()) for name in sorted(files)]
    index = sign_json(signer, statement(subjects, EVIDENCE_PREDICATE, dict(predicate)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in [(INDEX, index), *((n, files[n]) for n in sorted(files))]:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    raw = buffer.getvalue()
    if raw[-_EOCD_SIZE:][:4] != _EOCD:
        raise ProvenanceError("the zip writer produced an unexpected layout")
    prefix = raw[:-_EOCD_SIZE]
    seal = dsse.sign(
        PAYLOAD_TYPE,
        statement(
            [("bundle", hashlib.sha256(prefix).hexdigest())],
            SEAL_PREDICATE,
            {"covers": "every byte before the end-of-central-directory record"},
        ),
        [signer],
    ).to_dict()
    comment = canonical.canonicalize(seal)
    if len(comment) > 0xFFFF:
        raise ProvenanceError("the bundle seal does not fit in a zip comment")
    return raw[:-2] + len(comment).to_bytes(2, "little") + comment


# ---- verifying -----------------------------------------------------------------------------


@dataclass
class BundleReport:
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    subject: dict[str, Any] = field(default_factory=dict)
    signer: str | None = None
    trust_source: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "subject": self.subject,
            "signer": self.signer,
            "trust": self.trust_source,
            "facts": self.facts,
            "problems": self.problems,
        }

    def lines(self) -> list[str]:
        out = [f"bundle for {self.subject.get('kind', '?')} {self.subject.get('name', '?')}"]
        out.append(f"signatures checked against {self.trust_source}")
        out += [f"  {f}" for f in self.facts]
        out += [f"problem: {p}" for p in self.problems]
        out.append("ok: the bundle verifies" if self.ok else "FAILED: the bundle does not verify")
        return out


def _eocd(data: bytes) -> tuple[int, bytes] | str:
    """The offset of the end-of-central-directory record and the comment, or why there is none."""
    lowest = max(0, len(data) - _EOCD_SIZE - 0xFFFF)
    position = data.rfind(_EOCD, lowest)
    while position >= 0:
        size = int.from_bytes(data[position + 20 : position + 22], "little")
        if position + _EOCD_SIZE + size == len(data):
            break
        position = data.rfind(_EOCD, lowest, position)
    if position < 0:
        return "not a zip file, or its end-of-central-directory record was changed"
    fields = [
        int.from_bytes(data[position + i : position + i + 2], "little") for i in (4, 6, 8, 10)
    ]
    cd_size = int.from_bytes(data[position + 12 : position + 16], "little")
    cd_offset = int.from_bytes(data[position + 16 : position + 20], "little")
    if fields[0] or fields[1] or fields[2] != fields[3] or cd_offset + cd_size != position:
        return "the zip's end-of-central-directory record does not match its central directory"
    return position, data[position + _EOCD_SIZE :]


def verify_bundle(data: bytes, trust: TrustStore | None = None) -> BundleReport:
    """Check a bundle offline. With ``trust`` every signature (bundle, checkpoint, reports and
    manifests) must be by its keys; without, the bundle's own key and trust store are used, which
    shows the bundle is whole and unchanged since it was made, not who made it."""
    report = BundleReport()
    layout = _eocd(data)
    if isinstance(layout, str):
        report.problems.append(layout)
        return report
    eocd_offset, comment = layout
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except Exception as exc:  # a damaged zip raises many kinds of error
        report.problems.append(f"not a readable zip: {exc}")
        return report
    count = int.from_bytes(data[eocd_offset + 10 : eocd_offset + 12], "little")
    if count != len(infos):
        report.problems.append("the zip's entry count does not match its central directory")
    files: dict[str, bytes] = {}
    for info in infos:
        if info.filename in files or info.filename.startswith("/") or ".." in info.filename:
            report.problems.append(f"unexpected or repeated file name {info.filename!r}")
            continue
        try:
            files[info.filename] = archive.read(info)
        except Exception as exc:  # a damaged member raises many kinds of error
            report.problems.append(f"{info.filename}: corrupt in the zip ({exc})")
    keys = _registry_keys(files, trust, report)
    manifest_trust = _manifest_trust(files, trust, report)
    _check_index(files, keys, report)
    _check_seal(data[:eocd_offset], comment, keys, report)
    checkpoint = _check_checkpoint(files, keys, report)
    entries = _check_entries(files, checkpoint, report)
    _check_datasets(files, entries, manifest_trust, report)
    _check_reports(files, entries, keys, report)
    _check_terms(files, entries, report)
    _check_lineage(files, entries, report)
    return report


def _json(files: Mapping[str, bytes], name: str, report: BundleReport) -> Any:
    data = files.get(name)
    if data is None:
        report.problems.append(f"{name} is missing")
        return None
    try:
        return json.loads(data)
    except ValueError:
        report.problems.append(f"{name} is not valid JSON")
        return None


def _jsonl(files: Mapping[str, bytes], name: str, report: BundleReport) -> list[Any]:
    out = []
    for number, line in enumerate(files.get(name, b"").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            report.problems.append(f"{name} line {number} is not valid JSON")
    return out


def _registry_keys(
    files: Mapping[str, bytes], trust: TrustStore | None, report: BundleReport
) -> list[VerifyingKey]:
    if trust is not None:
        report.trust_source = "the trust store given (establishes who signed)"
        return [k.key for k in trust.keys if k.revoked_at is None]
    report.trust_source = (
        "the bundle's own key and trust store (shows the bundle is whole and unchanged, "
        "not who made it)"
    )
    pem = files.get("registry-key.pub")
    if pem is None:
        report.problems.append("registry-key.pub is missing")
        return []
    try:
        return [VerifyingKey.from_pem(pem, "registry-key.pub")]
    except ProvenanceError as exc:
        report.problems.append(exc.message)
        return []


def _manifest_trust(
    files: Mapping[str, bytes], trust: TrustStore | None, report: BundleReport
) -> TrustStore:
    if trust is not None:
        return trust
    try:
        return TrustStore.from_dict(yaml.safe_load(files.get("trust.yaml", b"") or b"{}"))
    except (ProvenanceError, yaml.YAMLError) as exc:
        report.problems.append(f"trust.yaml: {exc}")
        return TrustStore()


def _signed(envelope: Any, keys: Sequence[VerifyingKey], what: str, report: BundleReport) -> bool:
    key = signed_by(envelope, keys)
    if key is None:
        report.problems.append(f"{what}: no valid signature by a trusted key")
        return False
    if report.signer is None:
        report.signer = key.keyid
    return True


def _check_index(
    files: Mapping[str, bytes], keys: Sequence[VerifyingKey], report: BundleReport
) -> None:
    envelope = _json(files, INDEX, report)
    if envelope is None:
        return
    try:
        raw = canonical.parse_json(dsse.Envelope.from_dict(envelope).payload)
    except ProvenanceError as exc:
        report.problems.append(f"{INDEX}: {exc.message}")
        return
    if (
        not isinstance(raw, dict)
        or raw.get("_type") != STATEMENT_TYPE
        or raw.get("predicateType") != EVIDENCE_PREDICATE
        or not isinstance(raw.get("subject"), list)
        or not isinstance(raw.get("predicate"), dict)
    ):
        report.problems.append(f"{INDEX}: not an evidence bundle statement")
        return
    _signed(envelope, keys, INDEX, report)
    subject = raw["predicate"].get("subject")
    if isinstance(subject, dict):
        report.subject = subject
    listed: dict[str, str] = {}
    for item in raw["subject"]:
        if isinstance(item, dict):
            listed[str(item.get("name"))] = str((item.get("digest") or {}).get("sha256"))
    for name, data in sorted(files.items()):
        if name == INDEX:
            continue
        expected = listed.pop(name, None)
        if expected is None:
            report.problems.append(f"{name} is not listed in the signed index (added)")
        elif hashlib.sha256(data).hexdigest() != expected:
            report.problems.append(
                f"{name} was changed (its SHA-256 differs from the signed index)"
            )
    report.problems.extend(f"{name} is listed in the signed index but missing" for name in listed)


def _check_seal(
    prefix: bytes, comment: bytes, keys: Sequence[VerifyingKey], report: BundleReport
) -> None:
    if not comment:
        report.problems.append("the zip carries no seal (its comment is empty)")
        return
    try:
        envelope = json.loads(comment)
        _, seal = read_statement(envelope, SEAL_PREDICATE, "seal")
    except (ValueError, LogError) as exc:
        report.problems.append(f"the zip's seal is unreadable: {exc}")
        return
    if canonical.canonicalize(envelope) != comment:
        report.problems.append("the zip's seal was changed (it is not in its canonical form)")
    key = signed_by(envelope, keys)
    if key is None:
        report.problems.append("seal: no valid signature by a trusted key")
    elif any(s.get("keyid") != key.keyid for s in envelope.get("signatures", [])):
        report.problems.append("the zip's seal was changed (its key id)")
    try:
        sealed = seal.subject.sha256
    except ProvenanceError as exc:
        report.problems.append(f"seal: {exc.message}")
        return
    if sealed != hashlib.sha256(prefix).hexdigest():
        report.problems.append(
            "the zip's bytes were changed after it was sealed (headers, data or directory)"
        )


@dataclass(frozen=True)
class _Checkpoint:
    size: int
    root: bytes


def _check_checkpoint(
    files: Mapping[str, bytes], keys: Sequence[VerifyingKey], report: BundleReport
) -> _Checkpoint | None:
    envelope = _json(files, "checkpoint.json", report)
    if envelope is None:
        return None
    try:
        checkpoint = parse_checkpoint(envelope, "checkpoint.json")
    except LogError as exc:
        report.problems.append(exc.message)
        return None
    _signed(envelope, keys, "checkpoint.json", report)
    report.facts.append(
        f"registry {checkpoint.origin}: checkpoint of {checkpoint.size} log entries, root "
        f"{checkpoint.root}"
    )
    try:
        return _Checkpoint(checkpoint.size, bytes.fromhex(checkpoint.root))
    except ValueError:
        report.problems.append("checkpoint.json: root is not hex")
        return None


def _check_entries(
    files: Mapping[str, bytes], checkpoint: _Checkpoint | None, report: BundleReport
) -> dict[int, dict[str, Any]]:
    """The log entries proven in the checkpoint, by number."""
    proven: dict[int, dict[str, Any]] = {}
    for item in _jsonl(files, "log/entries.jsonl", report):
        try:
            seq, kind, label, body = item["seq"], item["kind"], item["label"], item["body"]
            computed = body_hash(kind, body)
            entry = entry_hash(seq, kind, label, computed)
        except (KeyError, TypeError, ProvenanceError):
            report.problems.append("log/entries.jsonl: a malformed entry")
            continue
        if computed != item.get("body_hash") or entry != item.get("entry_hash"):
            report.problems.append(
                f"log entry #{seq} ({label}): its body does not hash to the entry"
            )
            continue
        if checkpoint is None or not proves(
            seq, checkpoint.size, leaf(entry), item.get("proof") or [], checkpoint.root
        ):
            report.problems.append(f"log entry #{seq} ({label}) is not proven by the checkpoint")
            continue
        proven[seq] = item
    return proven


def _of_kind(entries: Mapping[int, dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for _, e in sorted(entries.items()) if e["kind"] == kind]


def _check_datasets(
    files: Mapping[str, bytes],
    entries: Mapping[int, dict[str, Any]],
    trust: TrustStore,
    report: BundleReport,
) -> None:
    manifests: dict[str, dict[str, Any]] = {}
    for item in _jsonl(files, "manifests.jsonl", report):
        if isinstance(item, dict):
            manifests[str(item.get("envelope_digest"))] = item
    logged = _of_kind(entries, "dataset")
    for name in sorted(n for n in files if n.startswith("datasets/") and n.endswith(".json")):
        info = _json(files, name, report)
        if not isinstance(info, dict):
            continue
        digest, records, mode = info.get("dataset_digest"), info.get("records"), info.get("mode")
        match = [
            e
            for e in logged
            if e["body"].get("dataset_digest") == digest
            and e["body"].get("records") == records
            and e["body"].get("name") == info.get("name")
        ]
        if not match:
            report.problems.append(f"{name}: dataset {info.get('name')} is not proven in the log")
            continue
        stem = name[: -len(".json")]
        checked = bad = 0
        if mode == "full":
            members = _jsonl(files, stem + ".members.jsonl", report)
            tree_leaves = []
            for member in members:
                try:
                    tree_leaves.append(merkle.leaf_hash(bytes.fromhex(member["content_digest"])))
                except (KeyError, TypeError, ValueError):
                    report.problems.append(f"{stem}.members.jsonl: a malformed member")
            root = "sha256:" + merkle.root_from_leaf_hashes(tree_leaves).hex()
            if len(members) != records or root != digest:
                report.problems.append(
                    f"{name}: its members do not rebuild dataset digest {str(digest)[:19]}…"
                )
            for member in members:
                checked, bad = _member(member, manifests, trust, report, name, checked, bad)
        else:
            try:
                root_bytes = bytes.fromhex(str(digest).removeprefix("sha256:"))
            except ValueError:
                report.problems.append(f"{name}: dataset digest is not hex")
                continue
            for member in _jsonl(files, stem + ".sample.jsonl", report):
                try:
                    member_leaf = merkle.leaf_hash(bytes.fromhex(member["content_digest"]))
                    position = int(member["position"])
                except (KeyError, TypeError, ValueError):
                    report.problems.append(f"{stem}.sample.jsonl: a malformed member")
                    continue
                if not isinstance(records, int) or not proves(
                    position, records, member_leaf, member.get("proof") or [], root_bytes
                ):
                    report.problems.append(
                        f"{name}: sample record at position {position} is not proven in the "
                        "dataset digest"
                    )
                    continue
                checked, bad = _member(member, manifests, trust, report, name, checked, bad)
        report.facts.append(
            f"dataset {info.get('name')} {digest}: {records} records ({mode}), "
            f"{checked} manifests verified" + (f", {bad} failed" if bad else "")
        )


def _member(
    member: Mapping[str, Any],
    manifests: Mapping[str, dict[str, Any]],
    trust: TrustStore,
    report: BundleReport,
    name: str,
    checked: int,
    bad: int,
) -> tuple[int, int]:
    if member.get("status") != "ok":
        return checked, bad
    stored = manifests.get(str(member.get("envelope_digest")))
    if stored is None:
        report.problems.append(
            f"{name}: the manifest of record {member.get('record_id')} is missing"
        )
        return checked, bad + 1
    text = canonical.canonicalize(stored.get("provenance")).decode("utf-8")
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != member.get("envelope_digest"):
        report.problems.append(
            f"{name}: the manifest of record {member.get('record_id')} was changed"
        )
        return checked, bad + 1
    result = check_manifest(stored.get("provenance"), str(member.get("content_digest")), trust)
    if not result.ok:
        report.problems.append(
            f"{name}: record {member.get('record_id')}: {result.status} ({result.reason})"
        )
        return checked + 1, bad + 1
    return checked + 1, bad


def _check_reports(
    files: Mapping[str, bytes],
    entries: Mapping[int, dict[str, Any]],
    keys: Sequence[VerifyingKey],
    report: BundleReport,
) -> None:
    recorded = {e["body"].get("report"): e for e in _of_kind(entries, "audit")}
    for name in sorted(n for n in files if n.startswith("reports/")):
        envelope = _json(files, name, report)
        if envelope is None:
            continue
        try:
            _, signed = read_statement(envelope, REPORT_PREDICATE, name)
        except LogError as exc:
            report.problems.append(exc.message)
            continue
        _signed(envelope, keys, name, report)
        text = canonical.canonicalize(signed.predicate).decode("utf-8")
        entry = recorded.get(text)
        if entry is None:
            report.problems.append(f"{name}: not the report the registry recorded")
            continue
        body = entry["body"]
        report.facts.append(
            f"audit of {body.get('target')} recorded {body.get('recorded_at')} (log #{entry['seq']}): "
            f"{body.get('verdict')}, outcome {body.get('outcome')}, dataset "
            f"{str(body.get('dataset_digest'))[:19]}…"
        )


def _check_terms(
    files: Mapping[str, bytes], entries: Mapping[int, dict[str, Any]], report: BundleReport
) -> None:
    logged = {e["body"].get("digest"): e["body"] for e in _of_kind(entries, "terms")}
    present: set[str] = set()
    for name in sorted(n for n in files if n.startswith("terms/")):
        digest = "sha256:" + hashlib.sha256(files[name]).hexdigest()
        body = logged.get(digest)
        if body is None or body.get("content") != files[name].decode("utf-8", "replace"):
            report.problems.append(f"{name}: not a terms document the registry recorded")
            continue
        present.add(digest)
    for entry in _of_kind(entries, "audit"):
        for policy in json.loads(entry["body"].get("policies") or "[]"):
            if policy.get("digest") and policy["digest"] not in present:
                report.facts.append(
                    f"terms document {policy.get('id')} ({policy['digest'][:19]}…) used by an "
                    "audit is not in the bundle"
                )


def _check_lineage(
    files: Mapping[str, bytes], entries: Mapping[int, dict[str, Any]], report: BundleReport
) -> None:
    document = _json(files, "lineage.prov.json", report)
    if document is not None:
        report.problems.extend(f"lineage.prov.json: {p}" for p in check_prov(document))
    audits = _of_kind(entries, "audit")
    for edge in _of_kind(entries, "edge"):
        body = edge["body"]
        if body.get("kind") != "trained-on":
            continue
        target = body.get("target_digest")
        before = [
            a
            for a in audits
            if target and a["body"].get("dataset_digest") == target and a["seq"] < edge["seq"]
        ]
        if before:
            first = before[0]
            report.facts.append(
                f"model {body.get('model')} trained on {body.get('target')} (log #{edge['seq']}): "
                f"audited before, at log #{first['seq']} ({first['body'].get('verdict')})"
            )
        else:
            report.facts.append(
                f"model {body.get('model')} trained on {body.get('target')} (log #{edge['seq']}): "
                "no audit of it was recorded before"
            )
