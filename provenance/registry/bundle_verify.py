"""Verifying an evidence bundle offline (no registry needed): its seal, its signed index, and
then what its files say.

Verification reads a hostile file safely. The seal and the signed index are checked before any
other file is read (but the bundle's own key, when no trust store is given); each file is then
streamed through SHA-256 and counted (:class:`~provenance.registry.bundle_files.BundleFiles`), and
reading stops at the size the signed index states (the zip's own sizes are never trusted), at
``Limits.max_bundle_entry_bytes`` and, over all files, at ``Limits.max_bundle_bytes``. A file the
index does not name is never read. Files are parsed only once their digest matched and only when
the index is signed by an accepted key, each with a bounded reader: JSON documents with
:func:`provenance.bounded.parse_json_document`, YAML with :func:`provenance.bounded.parse_yaml`,
JSONL line by line (each line at most ``Limits.max_record_bytes``) with
:func:`provenance.canonical.parse_json`. A bundle beyond a bound gets no verdict
(:class:`BundleRefused`, exit 2); a changed or damaged bundle does not verify (exit 1).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from provenance import canonical, dsse
from provenance.bounded import parse_yaml
from provenance.errors import ProvenanceError
from provenance.keys import VerifyingKey
from provenance.limits import DEFAULT_LIMITS, Limits
from provenance.manifest import STATEMENT_TYPE, ManifestError
from provenance.registry.bundle import EVIDENCE_PREDICATE, INDEX, SEAL_PREDICATE
from provenance.registry.bundle_contents import BundleContents
from provenance.registry.bundle_files import (
    BundleFiles,
    BundleRefused,
    Unreadable,
    ZipLayout,
    refuse_if_bound,
)
from provenance.registry.logtree import LogError, read_statement
from provenance.registry.signing import REGISTRY_KINDS, RegistryTrust, claimed_time, store_trust
from provenance.trust import TrustedKey, TrustStore

__all__ = ["BundleRefused", "BundleReport", "verify_bundle"]

_KEY_BYTES = 64 * 1024
"""Largest public key file read from a bundle (a PEM key is well under 1 KiB)."""


@dataclass
class BundleReport:
    """What verifying a bundle found: its subject, who signed it, facts and problems."""

    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    subject: dict[str, Any] = field(default_factory=dict)
    signer: str | None = None
    trust_source: str = ""
    """Which keys signatures were accepted from, and by which rule."""

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


def verify_bundle(
    source: bytes | IO[bytes],
    trust: TrustStore | None = None,
    limits: Limits = DEFAULT_LIMITS,
    *,
    now: datetime | None = None,
) -> BundleReport:
    """Check a bundle offline (its bytes, or a seekable binary file). With ``trust`` every signature
    must be by a key it trusts for that kind of signature (``evidence`` for the bundle, its seal and
    reports; ``checkpoints`` or ``evidence`` for the checkpoint; ``records`` for manifests), not
    revoked, valid at the time the signed content claims; without, the bundle's own key and trust store are used,
    which shows the bundle is whole and unchanged since it was made, not who made it.

    Raises :class:`BundleRefused` (no verdict) for a bundle beyond a bound of ``limits``."""
    handle: IO[bytes] = io.BytesIO(source) if isinstance(source, bytes) else source
    return _Verification(handle, trust, limits, now or datetime.now(UTC)).run()


class _Verification:
    """One verification: the keys, the seal, what the signed index says, and the report."""

    def __init__(
        self, handle: IO[bytes], trust: TrustStore | None, limits: Limits, now: datetime
    ) -> None:
        self.trust = trust
        self.limits = limits
        self.now = now
        self.report = BundleReport()
        self.files = BundleFiles(handle, limits, self.report.problems)
        self.created: datetime | None = None
        self.index_accepted = False

    def run(self) -> BundleReport:
        report = self.report
        layout = self.files.open()
        if layout is None:
            return report
        keys = self._registry_keys()
        index = self._read_index()
        self._check_seal(layout, keys)
        if index is not None:
            accepted = keys.check(index, "evidence", self.created, self.now)
            if accepted.key is None:
                report.problems.append(f"{INDEX}: {accepted.problem}")
            else:
                self.index_accepted = True
                report.signer = accepted.key.keyid
        self.files.stream_all()
        if not self.index_accepted:
            report.facts.append(
                "the files' contents were not examined: the index is not signed by an accepted key"
            )
            return report
        manifest_trust = self._manifest_trust()
        BundleContents(self.files, report, self.now, self.created).run(keys, manifest_trust)
        return report

    # ---- keys and trust ------------------------------------------------------------------

    def _registry_keys(self) -> RegistryTrust:
        report = self.report
        if self.trust is not None:
            keys = store_trust(self.trust, "given (establishes who signed)")
            report.trust_source = (
                keys.rule + "; manifests by keys it trusts to sign records, in their scope"
            )
            return keys
        report.trust_source = (
            "the bundle's own key and trust store (shows the bundle is whole and unchanged, "
            "not who made it): registry-key.pub for the bundle, its seal, checkpoint and "
            "reports; trust.yaml, by its own entries, for manifests"
        )
        info = self.files.members.get("registry-key.pub")
        if info is None:
            report.problems.append("registry-key.pub is missing")
            return RegistryTrust((), report.trust_source)
        try:
            pem = self.files.read_whole(info, _KEY_BYTES)
            key = VerifyingKey.from_pem(pem, "registry-key.pub")
        except Unreadable as exc:
            report.problems.append(f"registry-key.pub: {exc}")
            return RegistryTrust((), report.trust_source)
        except ProvenanceError as exc:
            report.problems.append(exc.message)
            return RegistryTrust((), report.trust_source)
        entry = TrustedKey("registry-key.pub", key, signs=REGISTRY_KINDS)
        return RegistryTrust((entry,), report.trust_source)

    def _manifest_trust(self) -> TrustStore:
        if self.trust is not None:
            return self.trust
        raw = self.files.verified_bytes("trust.yaml", self.limits.max_yaml_bytes, missing_ok=True)
        if raw is None:
            return TrustStore()
        try:
            data = parse_yaml(raw.decode("utf-8"), "trust.yaml", self.limits, empty=None)
            return TrustStore.from_dict(data, "trust.yaml")
        except UnicodeDecodeError:
            self.report.problems.append("trust.yaml: not UTF-8 text")
        except ProvenanceError as exc:
            refuse_if_bound(exc, exc.diagnostics())
            self.report.problems.append(f"trust.yaml: {exc.diagnostics()}")
        return TrustStore()

    # ---- the seal and the index ----------------------------------------------------------

    def _read_index(self) -> Any:
        """The index envelope as JSON (its signature is checked by the caller), with what it
        lists; None when it is missing or unreadable."""
        report = self.report
        info = self.files.members.get(INDEX)
        if info is None:
            report.problems.append(f"{INDEX} is missing")
            return None
        try:
            raw = self.files.read_whole(info, self.limits.max_document_bytes)
        except Unreadable as exc:
            report.problems.append(f"{INDEX}: {exc}")
            return None
        envelope = self.files.parse_document(raw, INDEX)
        if envelope is None:
            return None
        try:
            payload = canonical.parse_json(
                dsse.Envelope.from_dict(envelope).payload, max_depth=self.limits.max_json_depth
            )
        except ProvenanceError as exc:
            refuse_if_bound(exc, f"{INDEX}: {exc.message}")
            report.problems.append(f"{INDEX}: {exc.message}")
            return None
        if (
            not isinstance(payload, dict)
            or payload.get("_type") != STATEMENT_TYPE
            or payload.get("predicateType") != EVIDENCE_PREDICATE
            or not isinstance(payload.get("subject"), list)
            or not isinstance(payload.get("predicate"), dict)
        ):
            report.problems.append(f"{INDEX}: not an evidence bundle statement")
            return None
        predicate = payload["predicate"]
        subject = predicate.get("subject")
        if isinstance(subject, dict):
            report.subject = subject
        for item in payload["subject"]:
            if isinstance(item, dict):
                digest = item.get("digest")
                sha = digest.get("sha256") if isinstance(digest, dict) else None
                self.files.listed[str(item.get("name"))] = str(sha)
        self.created = claimed_time(predicate.get("created_at"))
        sizes = predicate.get("sizes")
        if sizes is None:
            report.facts.append(
                "the index states no file sizes (a bundle made before sizes were signed): each "
                "file is bounded by the limits only"
            )
        elif not isinstance(sizes, dict) or not all(
            type(v) is int and v >= 0 for v in sizes.values()
        ):
            report.problems.append(f"{INDEX}: sizes must map file names to byte counts")
        else:
            self.files.sizes = {str(k): int(v) for k, v in sizes.items()}
            for name, stated in sorted(self.files.sizes.items()):
                if stated > self.limits.max_bundle_entry_bytes:
                    raise BundleRefused(
                        f"{INDEX} states that {name} is {stated:,} bytes, more than the limit "
                        f"of {self.limits.max_bundle_entry_bytes:,} per file"
                    )
            total = sum(self.files.sizes.values())
            if total > self.limits.max_bundle_bytes:
                raise BundleRefused(
                    f"{INDEX} states {total:,} bytes of files, more than the limit of "
                    f"{self.limits.max_bundle_bytes:,}"
                )
            for name in sorted(set(self.files.listed) - set(self.files.sizes)):
                report.problems.append(f"{INDEX}: no size stated for {name}")
        return envelope

    def _check_seal(self, layout: ZipLayout, keys: RegistryTrust) -> None:
        report = self.report
        comment = layout.comment
        if not comment:
            report.problems.append("the zip carries no seal (its comment is empty)")
            return
        envelope = self.files.parse_document(comment, "the zip's seal")
        if envelope is None:
            return
        try:
            _, seal = read_statement(envelope, SEAL_PREDICATE, "seal")
        except LogError as exc:
            refuse_if_bound(exc, f"the zip's seal: {exc.message.removeprefix('seal: ')}")
            report.problems.append(f"the zip's seal is unreadable: {exc.message}")
            return
        if canonical.canonicalize(envelope) != comment:
            report.problems.append("the zip's seal was changed (it is not in its canonical form)")
        claimed = claimed_time(seal.predicate.get("created_at")) if seal.predicate else None
        accepted = keys.check(envelope, "evidence", claimed or self.created, self.now)
        if accepted.key is None:
            report.problems.append(f"seal: {accepted.problem}")
        elif any(s.get("keyid") != accepted.key.keyid for s in envelope.get("signatures", [])):
            report.problems.append("the zip's seal was changed (its key id)")
        try:
            sealed = seal.subject.sha256
        except ManifestError as exc:
            report.problems.append(f"seal: {exc.message}")
            return
        actual = self.files.sealed_digest(layout)
        if actual is None or sealed != actual:
            report.problems.append(
                "the zip's bytes were changed after it was sealed (headers, data or directory)"
            )
