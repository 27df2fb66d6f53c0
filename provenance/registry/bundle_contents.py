"""What a verified bundle's files say: the checkpoint and the log entries it proves, each
dataset's members and manifests, the audit reports, the terms documents and the lineage.

:class:`BundleContents` runs once the signed index is accepted; it reads only files whose bytes
matched the index (through :class:`~provenance.registry.bundle_files.BundleFiles`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from provenance import canonical, merkle
from provenance.bounded import parse_json_document
from provenance.errors import MalformedJSONError, ProvenanceError
from provenance.limits import Limits
from provenance.registry.bundle import REPORT_PREDICATE
from provenance.registry.bundle_files import BundleFiles, refuse_if_bound
from provenance.registry.logtree import (
    LogError,
    body_hash,
    entry_hash,
    leaf,
    parse_checkpoint,
    proves,
    read_statement,
)
from provenance.registry.manifests import check_manifest
from provenance.registry.prov import check_prov
from provenance.registry.signing import RegistryTrust, claimed_time
from provenance.trust import TrustStore

if TYPE_CHECKING:
    from provenance.registry.bundle_verify import BundleReport


@dataclass(frozen=True)
class _Checkpoint:
    size: int
    root: bytes


class BundleContents:
    """The checks of what a bundle's files say, each adding facts and problems to ``report``."""

    def __init__(
        self,
        files: BundleFiles,
        report: BundleReport,
        now: datetime,
        created: datetime | None,
    ) -> None:
        self.files = files
        self.limits = files.limits
        self.report = report
        self.now = now
        self.created = created
        """When the signed index says the bundle was made."""

    def run(self, keys: RegistryTrust, manifest_trust: TrustStore) -> None:
        """Check everything: ``keys`` judge the checkpoint and reports, ``manifest_trust`` the
        manifests."""
        checkpoint = self._check_checkpoint(keys)
        entries = self._check_entries(checkpoint)
        _DatasetContents(self, manifest_trust).check(entries)
        self._check_reports(entries, keys)
        self._check_terms(entries)
        self._check_lineage(entries)
        self._check_reaudits(entries)

    def _check_checkpoint(self, keys: RegistryTrust) -> _Checkpoint | None:
        report = self.report
        envelope = self.files.document("checkpoint.json")
        if envelope is None:
            return None
        try:
            checkpoint = parse_checkpoint(envelope, "checkpoint.json")
        except LogError as exc:
            refuse_if_bound(exc, exc.message)
            report.problems.append(exc.message)
            return None
        # The index binds the checkpoint's bytes too, so the key that signs the bundle's evidence
        # vouches for it as well as one trusted to sign checkpoints would.
        accepted = keys.check(
            envelope, ("checkpoints", "evidence"), claimed_time(checkpoint.created_at), self.now
        )
        if accepted.key is None:
            report.problems.append(f"checkpoint.json: {accepted.problem}")
        report.facts.append(
            f"registry {checkpoint.origin}: checkpoint of {checkpoint.size} log entries, root "
            f"{checkpoint.root}"
        )
        try:
            return _Checkpoint(checkpoint.size, bytes.fromhex(checkpoint.root))
        except ValueError:
            report.problems.append("checkpoint.json: root is not hex")
            return None

    def _check_entries(self, checkpoint: _Checkpoint | None) -> dict[int, dict[str, Any]]:
        """The log entries proven in the checkpoint, by number."""
        report = self.report
        proven: dict[int, dict[str, Any]] = {}
        for item in self.files.jsonl("log/entries.jsonl"):
            try:
                seq, kind, label, body = item["seq"], item["kind"], item["label"], item["body"]
                if (
                    type(seq) is not int
                    or not isinstance(kind, str)
                    or not isinstance(label, str)
                    or not isinstance(body, dict)
                ):
                    raise TypeError
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
            if checkpoint is None or not _proves(
                self.limits, seq, checkpoint.size, leaf(entry), item.get("proof"), checkpoint.root
            ):
                report.problems.append(
                    f"log entry #{seq} ({label}) is not proven by the checkpoint"
                )
                continue
            proven[seq] = item
        return proven

    def _check_reports(self, entries: Mapping[int, dict[str, Any]], keys: RegistryTrust) -> None:
        """Each report is signed when its bundle is made, so it is judged at the bundle's
        ``created_at`` (which the index, binding the report's bytes, states)."""
        report = self.report
        recorded = {
            e["body"]["report"]: e
            for e in _of_kind(entries, "audit")
            if isinstance(e["body"].get("report"), str)
        }
        for name in self.files.names("reports/"):
            envelope = self.files.document(name)
            if envelope is None:
                continue
            try:
                _, signed = read_statement(envelope, REPORT_PREDICATE, name)
            except LogError as exc:
                refuse_if_bound(exc, exc.message)
                report.problems.append(exc.message)
                continue
            accepted = keys.check(envelope, "evidence", self.created, self.now)
            if accepted.key is None:
                report.problems.append(f"{name}: {accepted.problem}")
            text = canonical.canonicalize(signed.predicate).decode("utf-8")
            entry = recorded.get(text)
            if entry is None:
                report.problems.append(f"{name}: not the report the registry recorded")
                continue
            body = entry["body"]
            report.facts.append(
                f"audit of {body.get('target')} recorded {body.get('recorded_at')} "
                f"(log #{entry['seq']}): {body.get('verdict')}, outcome {body.get('outcome')}, "
                f"dataset {str(body.get('dataset_digest'))[:19]}…"
            )

    def _check_terms(self, entries: Mapping[int, dict[str, Any]]) -> None:
        report = self.report
        logged = {
            e["body"]["digest"]: e["body"]
            for e in _of_kind(entries, "terms")
            if isinstance(e["body"].get("digest"), str)
        }
        present: set[str] = set()
        for name in self.files.names("terms/"):
            data = self.files.verified_bytes(name, self.limits.max_document_bytes)
            if data is None:
                continue
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            body = logged.get(digest)
            if body is None or body.get("content") != data.decode("utf-8", "replace"):
                report.problems.append(f"{name}: not a terms document the registry recorded")
                continue
            present.add(digest)
        for entry in _of_kind(entries, "audit"):
            seq = entry["seq"]
            text = entry["body"].get("policies") or "[]"
            try:
                policies = parse_json_document(
                    str(text), f"log entry #{seq}: policies", self.limits
                )
            except MalformedJSONError as exc:
                refuse_if_bound(exc, exc.message)
                report.problems.append(exc.message)
                continue
            for policy in policies if isinstance(policies, list) else []:
                if not isinstance(policy, dict):
                    continue
                used = policy.get("digest")
                if isinstance(used, str) and used and used not in present:
                    report.facts.append(
                        f"terms document {policy.get('id')} ({used[:19]}…) used by an "
                        "audit is not in the bundle"
                    )

    def _check_lineage(self, entries: Mapping[int, dict[str, Any]]) -> None:
        report = self.report
        document = self.files.document("lineage.prov.json")
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
                    f"model {body.get('model')} trained on {body.get('target')} "
                    f"(log #{edge['seq']}): audited before, at log #{first['seq']} "
                    f"({first['body'].get('verdict')})"
                )
            else:
                report.facts.append(
                    f"model {body.get('model')} trained on {body.get('target')} "
                    f"(log #{edge['seq']}): no audit of it was recorded before"
                )

    def _check_reaudits(self, entries: Mapping[int, dict[str, Any]]) -> None:
        """``reaudits.jsonl``: the recorded re-judgements of the bundle's audits, each the body of
        a ``reaudit`` log entry the checkpoint proves, and every such entry listed."""
        report = self.report
        logged = {e["seq"]: e for e in _of_kind(entries, "reaudit")}
        audits = {e["seq"] for e in _of_kind(entries, "audit")}
        listed: set[int] = set()
        for item in self.files.jsonl("reaudits.jsonl"):
            seq = item.get("seq") if isinstance(item, dict) else None
            entry = logged.get(seq) if type(seq) is int else None
            body = {k: v for k, v in item.items() if k != "seq"} if isinstance(item, dict) else {}
            if entry is None or canonical.canonicalize(body) != canonical.canonicalize(
                entry["body"]
            ):
                report.problems.append(
                    f"reaudits.jsonl: the re-audit at log #{seq} is not one the log records"
                )
                continue
            listed.add(entry["seq"])
            if body.get("audit_seq") not in audits:
                report.problems.append(
                    f"reaudits.jsonl: the re-audit at log #{seq} judges audit "
                    f"#{body.get('audit_seq')}, which is not in the bundle"
                )
                continue
            report.facts.append(
                f"re-audit of audit #{body.get('audit_seq')} recorded {body.get('reaudited_at')} "
                f"(log #{seq}): {body.get('outcome_before')} → {body.get('outcome_after')}, terms "
                f"library {str(body.get('library_digest'))[:19]}…"
            )
        for seq in sorted(set(logged) - listed):
            report.problems.append(f"log entry #{seq}: a re-audit missing from reaudits.jsonl")


class _DatasetContents:
    """Each dataset in a bundle: its members rebuild its digest (all members) or are proven in it
    (a sample), and their manifests verify against ``trust``."""

    def __init__(self, contents: BundleContents, trust: TrustStore) -> None:
        self.files = contents.files
        self.report = contents.report
        self.now = contents.now
        self.trust = trust

    def check(self, entries: Mapping[int, dict[str, Any]]) -> None:
        report = self.report
        manifests: dict[str, dict[str, Any]] = {}
        for item in self.files.jsonl("manifests.jsonl"):
            if isinstance(item, dict):
                manifests[str(item.get("envelope_digest"))] = item
        logged = _of_kind(entries, "dataset")
        for name in self.files.names("datasets/", ".json"):
            info = self.files.document(name)
            if not isinstance(info, dict):
                continue
            digest, records, mode = (
                info.get("dataset_digest"),
                info.get("records"),
                info.get("mode"),
            )
            match = [
                e
                for e in logged
                if e["body"].get("dataset_digest") == digest
                and e["body"].get("records") == records
                and e["body"].get("name") == info.get("name")
            ]
            if not match:
                report.problems.append(
                    f"{name}: dataset {info.get('name')} is not proven in the log"
                )
                continue
            stem = name[: -len(".json")]
            checked = bad = 0
            if mode == "full":
                members = list(self.files.jsonl(stem + ".members.jsonl"))
                tree_leaves = []
                for member in members:
                    try:
                        tree_leaves.append(
                            merkle.leaf_hash(bytes.fromhex(member["content_digest"]))
                        )
                    except (KeyError, TypeError, ValueError):
                        report.problems.append(f"{stem}.members.jsonl: a malformed member")
                root = "sha256:" + merkle.root_from_leaf_hashes(tree_leaves).hex()
                if len(members) != records or root != digest:
                    report.problems.append(
                        f"{name}: its members do not rebuild dataset digest {str(digest)[:19]}…"
                    )
                for member in members:
                    if isinstance(member, dict):
                        checked, bad = self._member(member, manifests, name, checked, bad)
            else:
                try:
                    root_bytes = bytes.fromhex(str(digest).removeprefix("sha256:"))
                except ValueError:
                    report.problems.append(f"{name}: dataset digest is not hex")
                    continue
                for member in self.files.jsonl(stem + ".sample.jsonl"):
                    try:
                        member_leaf = merkle.leaf_hash(bytes.fromhex(member["content_digest"]))
                        position = int(member["position"])
                    except (KeyError, TypeError, ValueError):
                        report.problems.append(f"{stem}.sample.jsonl: a malformed member")
                        continue
                    if not isinstance(records, int) or not _proves(
                        self.files.limits,
                        position,
                        records,
                        member_leaf,
                        member.get("proof"),
                        root_bytes,
                    ):
                        report.problems.append(
                            f"{name}: sample record at position {position} is not proven in the "
                            "dataset digest"
                        )
                        continue
                    checked, bad = self._member(member, manifests, name, checked, bad)
            report.facts.append(
                f"dataset {info.get('name')} {digest}: {records} records ({mode}), "
                f"{checked} manifests verified" + (f", {bad} failed" if bad else "")
            )

    def _member(
        self,
        member: Mapping[str, Any],
        manifests: Mapping[str, dict[str, Any]],
        name: str,
        checked: int,
        bad: int,
    ) -> tuple[int, int]:
        report = self.report
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
        result = check_manifest(
            stored.get("provenance"), str(member.get("content_digest")), self.trust, self.now
        )
        if not result.ok:
            report.problems.append(
                f"{name}: record {member.get('record_id')}: {result.status} ({result.reason})"
            )
            return checked + 1, bad + 1
        return checked + 1, bad


def _proves(
    limits: Limits, index: int, size: int, leaf_hash: bytes, path: Any, root: bytes
) -> bool:
    """Whether ``path`` (at most ``Limits.max_audit_path`` long) proves a leaf in a tree."""
    if not isinstance(path, list) or len(path) > limits.max_audit_path:
        return False
    return proves(index, size, leaf_hash, path, root)


def _of_kind(entries: Mapping[int, dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for _, e in sorted(entries.items()) if e["kind"] == kind]
