"""Evidence bundles: the zip layout, its seal, and verification offline (no registry needed).

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
* ``datasets/*`` — each dataset's members (or, for large datasets, a sample with inclusion proofs
  in the dataset digest) and ``manifests.jsonl`` — their manifests as signed;
* ``lineage.prov.json`` (W3C PROV-JSON), ``lineage.yaml``, ``trust.yaml``, ``keys/*.pub`` and
  ``registry-key.pub`` (the key that signed the bundle).

The zip's comment is a *seal*: a DSSE envelope over the SHA-256 of every byte of the zip before its
end-of-central-directory record (and the bundle's ``created_at``), whose fields are checked against
the central directory. So one changed byte anywhere in the file fails verification, and the other
checks say which part changed.

Verification reads a hostile file safely. The seal and the signed index are checked before any
other file is read (but the bundle's own key, when no trust store is given); each file is then streamed through SHA-256 and counted, and reading stops at
the size the signed index states (the zip's own sizes are never trusted), at
``Limits.max_bundle_entry_bytes`` and, over all files, at ``Limits.max_bundle_bytes``. A file the
index does not name is never read. Files are parsed only once their digest matched and only when
the index is signed by an accepted key, each with a bounded reader: JSON documents with
:func:`provenance.bounded.parse_json_document`, YAML with :func:`provenance.bounded.parse_yaml`,
JSONL line by line (each line at most ``Limits.max_record_bytes``) with
:func:`provenance.canonical.parse_json`. A bundle beyond a bound gets no verdict
(:class:`BundleRefused`, exit 2); a changed or damaged bundle does not verify (exit 1).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from provenance import canonical, dsse, merkle
from provenance.bounded import parse_json_document, parse_yaml
from provenance.errors import InputError, MalformedJSONError, ProvenanceError
from provenance.keys import Signer, VerifyingKey
from provenance.limits import DEFAULT_LIMITS, Limits
from provenance.manifest import PAYLOAD_TYPE, STATEMENT_TYPE, ManifestError
from provenance.registry.logtree import (
    LogError,
    body_hash,
    entry_hash,
    leaf,
    now_text,
    parse_checkpoint,
    proves,
    read_statement,
)
from provenance.registry.manifests import check_manifest
from provenance.registry.prov import check_prov
from provenance.registry.signing import REGISTRY_KINDS, RegistryTrust, claimed_time, store_trust
from provenance.trust import TrustedKey, TrustStore

EVIDENCE_PREDICATE = "https://provenance.dev/evidence-bundle/v1"
REPORT_PREDICATE = "https://provenance.dev/audit-report/v1"
SEAL_PREDICATE = "https://provenance.dev/evidence-seal/v1"
INDEX = "bundle.dsse.json"
_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_CHUNK = 1 << 20
_KEY_BYTES = 64 * 1024
"""Largest public key file read from a bundle (a PEM key is well under 1 KiB)."""
_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
"""The compression methods a bundle may use (the writer uses deflate)."""


class BundleRefused(InputError):
    """A bundle beyond one of the bounds of :class:`~provenance.limits.Limits`: no verdict."""


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
    if raw[-_EOCD_SIZE:][:4] != _EOCD:
        raise ProvenanceError("the zip writer produced an unexpected layout")
    prefix = raw[:-_EOCD_SIZE]
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


# ---- verifying -----------------------------------------------------------------------------


@dataclass
class BundleReport:
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


@dataclass(frozen=True)
class _Layout:
    eocd: int
    """Offset of the end-of-central-directory record."""
    directory_size: int
    entries: int
    comment: bytes


def _eocd(handle: IO[bytes], size: int) -> _Layout | str:
    """Where the end-of-central-directory record is, or why there is none."""
    start = max(0, size - _EOCD_SIZE - 0xFFFF)
    handle.seek(start)
    data = handle.read(size - start)
    position = data.rfind(_EOCD)
    while position >= 0:
        length = int.from_bytes(data[position + 20 : position + 22], "little")
        if position + _EOCD_SIZE + length == len(data):
            break
        position = data.rfind(_EOCD, 0, position)
    if position < 0:
        return "not a zip file, or its end-of-central-directory record was changed"
    fields = [
        int.from_bytes(data[position + i : position + i + 2], "little") for i in (4, 6, 8, 10)
    ]
    cd_size = int.from_bytes(data[position + 12 : position + 16], "little")
    cd_offset = int.from_bytes(data[position + 16 : position + 20], "little")
    if fields[0] or fields[1] or fields[2] != fields[3] or cd_offset + cd_size != start + position:
        return "the zip's end-of-central-directory record does not match its central directory"
    return _Layout(start + position, cd_size, fields[3], data[position + _EOCD_SIZE :])


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
    return _Check(handle, trust, limits, now or datetime.now(UTC)).run()


def _bound(error: ProvenanceError) -> bool:
    """Whether a reader's error is a bound of :class:`Limits` (nesting, expansion), not damage."""
    return error.limit is not None


class _Check:
    """One verification: the file, the keys, what the signed index says, and the report."""

    def __init__(
        self, handle: IO[bytes], trust: TrustStore | None, limits: Limits, now: datetime
    ) -> None:
        self.handle = handle
        self.trust = trust
        self.limits = limits
        self.now = now
        self.report = BundleReport()
        self.archive: zipfile.ZipFile | None = None
        self.members: dict[str, zipfile.ZipInfo] = {}
        self.listed: dict[str, str] = {}
        """Files the index names, with their SHA-256."""
        self.sizes: dict[str, int] | None = None
        """Their sizes as the index states them (None: a bundle made before sizes were signed)."""
        self.verified: set[str] = set()
        """Files whose bytes match the signed index."""
        self.created: datetime | None = None
        self.index_accepted = False
        self.streamed = 0

    def run(self) -> BundleReport:
        report = self.report
        size = self.handle.seek(0, io.SEEK_END)
        if size > self.limits.max_bundle_bytes:
            raise BundleRefused(
                f"the bundle is {size:,} bytes, more than the limit of "
                f"{self.limits.max_bundle_bytes:,}"
            )
        layout = _eocd(self.handle, size)
        if isinstance(layout, str):
            report.problems.append(layout)
            return report
        if layout.directory_size > self.limits.max_document_bytes:
            raise BundleRefused(
                f"the zip's central directory is {layout.directory_size:,} bytes, more than the "
                f"limit of {self.limits.max_document_bytes:,}"
            )
        try:
            self.archive = zipfile.ZipFile(self.handle)
            infos = self.archive.infolist()
        except Exception as exc:  # a damaged zip raises many kinds of error
            report.problems.append(f"not a readable zip: {exc}")
            return report
        if layout.entries != len(infos):
            report.problems.append("the zip's entry count does not match its central directory")
        for info in infos:
            name = info.filename
            if name in self.members or name.startswith("/") or ".." in name:
                report.problems.append(f"unexpected or repeated file name {name!r}")
                continue
            self.members[name] = info
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
        self._stream_all()
        if not self.index_accepted:
            report.facts.append(
                "the files' contents were not examined: the index is not signed by an accepted key"
            )
            return report
        manifest_trust = self._manifest_trust()
        checkpoint = self._check_checkpoint(keys)
        entries = self._check_entries(checkpoint)
        self._check_datasets(entries, manifest_trust)
        self._check_reports(entries, keys)
        self._check_terms(entries)
        self._check_lineage(entries)
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
        info = self.members.get("registry-key.pub")
        if info is None:
            report.problems.append("registry-key.pub is missing")
            return RegistryTrust((), report.trust_source)
        try:
            pem = self._read_whole(info, _KEY_BYTES)
            key = VerifyingKey.from_pem(pem, "registry-key.pub")
        except _Unreadable as exc:
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
        raw = self._verified_bytes("trust.yaml", self.limits.max_yaml_bytes, missing_ok=True)
        if raw is None:
            return TrustStore()
        try:
            data = parse_yaml(raw.decode("utf-8"), "trust.yaml", self.limits, empty=None)
            return TrustStore.from_dict(data, "trust.yaml")
        except UnicodeDecodeError:
            self.report.problems.append("trust.yaml: not UTF-8 text")
        except ProvenanceError as exc:
            if _bound(exc):
                raise BundleRefused(exc.diagnostics()) from None
            self.report.problems.append(f"trust.yaml: {exc.diagnostics()}")
        return TrustStore()

    # ---- the seal and the index ----------------------------------------------------------

    def _read_index(self) -> Any:
        """The index envelope as JSON (its signature is checked by the caller), with what it
        lists; None when it is missing or unreadable."""
        report = self.report
        info = self.members.get(INDEX)
        if info is None:
            report.problems.append(f"{INDEX} is missing")
            return None
        try:
            raw = self._read_whole(info, self.limits.max_document_bytes)
        except _Unreadable as exc:
            report.problems.append(f"{INDEX}: {exc}")
            return None
        envelope = self._parse_document(raw, INDEX)
        if envelope is None:
            return None
        try:
            payload = canonical.parse_json(
                dsse.Envelope.from_dict(envelope).payload, max_depth=self.limits.max_json_depth
            )
        except ProvenanceError as exc:
            if _bound(exc):
                raise BundleRefused(f"{INDEX}: {exc.message}") from None
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
                self.listed[str(item.get("name"))] = str(sha)
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
            self.sizes = {str(k): int(v) for k, v in sizes.items()}
            for name, stated in sorted(self.sizes.items()):
                if stated > self.limits.max_bundle_entry_bytes:
                    raise BundleRefused(
                        f"{INDEX} states that {name} is {stated:,} bytes, more than the limit "
                        f"of {self.limits.max_bundle_entry_bytes:,} per file"
                    )
            total = sum(self.sizes.values())
            if total > self.limits.max_bundle_bytes:
                raise BundleRefused(
                    f"{INDEX} states {total:,} bytes of files, more than the limit of "
                    f"{self.limits.max_bundle_bytes:,}"
                )
            for name in sorted(set(self.listed) - set(self.sizes)):
                report.problems.append(f"{INDEX}: no size stated for {name}")
        return envelope

    def _check_seal(self, layout: _Layout, keys: RegistryTrust) -> None:
        report = self.report
        comment = layout.comment
        if not comment:
            report.problems.append("the zip carries no seal (its comment is empty)")
            return
        envelope = self._parse_document(comment, "the zip's seal")
        if envelope is None:
            return
        try:
            _, seal = read_statement(envelope, SEAL_PREDICATE, "seal")
        except LogError as exc:
            if _bound(exc):
                raise BundleRefused(
                    f"the zip's seal: {exc.message.removeprefix('seal: ')}"
                ) from None
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
        digest = hashlib.sha256()
        self.handle.seek(0)
        left = layout.eocd
        while left:
            chunk = self.handle.read(min(_CHUNK, left))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
        if left or sealed != digest.hexdigest():
            report.problems.append(
                "the zip's bytes were changed after it was sealed (headers, data or directory)"
            )

    def _parse_document(self, raw: bytes, what: str) -> Any:
        """A JSON document, bounded; None (with a problem) when it is not strict JSON. A document
        beyond the bounds gets no verdict."""
        try:
            return parse_json_document(raw, what, self.limits)
        except MalformedJSONError as exc:
            if _bound(exc) or len(raw) > self.limits.max_document_bytes:
                raise BundleRefused(exc.message) from None
            self.report.problems.append(f"{what} is not valid JSON ({exc.message})")
            return None

    # ---- reading files -------------------------------------------------------------------

    def _chunks(self, info: zipfile.ZipInfo, bound: int) -> Iterator[bytes]:
        """A file's bytes, counted while read: raises :class:`_TooLong` past ``bound`` bytes
        (whatever the zip states) and :class:`BundleRefused` past ``max_bundle_bytes`` in all."""
        if info.compress_type not in _COMPRESSION:
            raise _Unreadable(f"compressed with method {info.compress_type} (bundles use deflate)")
        assert self.archive is not None
        read = 0
        try:
            with self.archive.open(info) as stream:
                while True:
                    chunk = stream.read(min(_CHUNK, bound + 1 - read))
                    if not chunk:
                        return
                    read += len(chunk)
                    self.streamed += len(chunk)
                    if self.streamed > self.limits.max_bundle_bytes:
                        raise BundleRefused(
                            f"the bundle unpacks to more than the limit of "
                            f"{self.limits.max_bundle_bytes:,} bytes"
                        )
                    if read > bound:
                        raise _TooLong(bound)
                    yield chunk
        except (_TooLong, BundleRefused):
            raise
        except Exception as exc:  # a damaged member raises many kinds of error
            raise _Unreadable(f"corrupt in the zip ({exc})") from None

    def _bound_of(self, name: str) -> int:
        stated = None if self.sizes is None else self.sizes.get(name)
        most = self.limits.max_bundle_entry_bytes
        return most if stated is None else min(stated, most)

    def _read_whole(self, info: zipfile.ZipInfo, bound: int) -> bytes:
        """A small file read whole (the index, a key) before the index is checked."""
        try:
            return b"".join(self._chunks(info, bound))
        except _TooLong:
            raise BundleRefused(
                f"{info.filename} is more than the limit of {bound:,} bytes"
            ) from None

    def _stream_all(self) -> None:
        """Check every file against the signed index, reading none whole: a file the index does
        not name is not read at all."""
        report = self.report
        for name, info in self.members.items():
            if name == INDEX:
                continue
            expected = self.listed.get(name)
            if expected is None:
                report.problems.append(f"{name} is not listed in the signed index (added)")
                continue
            bound = self._bound_of(name)
            digest = hashlib.sha256()
            read = 0
            try:
                for chunk in self._chunks(info, bound):
                    digest.update(chunk)
                    read += len(chunk)
            except _TooLong:
                if not self._stated(name):
                    raise BundleRefused(
                        f"{name} unpacks to more than the limit of {bound:,} bytes per file"
                    ) from None
                report.problems.append(
                    f"{name} was changed: it holds more than the {bound:,} bytes the signed "
                    "index states (reading stopped there)"
                )
                continue
            except _Unreadable as exc:
                report.problems.append(f"{name}: {exc}")
                continue
            if digest.hexdigest() != expected or (self._stated(name) and read != bound):
                report.problems.append(
                    f"{name} was changed (its SHA-256 differs from the signed index)"
                )
                continue
            self.verified.add(name)
        report.problems.extend(
            f"{name} is listed in the signed index but missing"
            for name in sorted(self.listed)
            if name not in self.members
        )

    def _stated(self, name: str) -> bool:
        return self.sizes is not None and name in self.sizes

    def _verified_bytes(self, name: str, bound: int, *, missing_ok: bool = False) -> bytes | None:
        """A file whose digest matched, read whole again (and checked again) for parsing; None
        when it is missing (a problem unless ``missing_ok``) or did not match (already said)."""
        if name not in self.verified:
            if name not in self.listed and name not in self.members and not missing_ok:
                self.report.problems.append(f"{name} is missing")
            return None
        stated = self._bound_of(name)
        if stated > bound:
            raise BundleRefused(
                f"{name} is {stated:,} bytes, more than the limit of {bound:,} for a file read whole"
            )
        try:
            data = b"".join(self._chunks(self.members[name], stated))
        except (_TooLong, _Unreadable):
            data = b""
        if hashlib.sha256(data).hexdigest() != self.listed[name]:
            self.report.problems.append(f"{name} changed while it was being read")
            return None
        return data

    def _document(self, name: str) -> Any:
        """A JSON file of the bundle whose digest matched, parsed (bounded); None otherwise."""
        raw = self._verified_bytes(name, self.limits.max_document_bytes)
        return None if raw is None else self._parse_document(raw, name)

    def _jsonl(self, name: str) -> Iterator[Any]:
        """The values of a JSONL file whose digest matched, line by line (each line bounded)."""
        if name not in self.verified:
            return
        digest = hashlib.sha256()
        pending = b""
        number = 0
        most = self.limits.max_record_bytes
        try:
            for chunk in self._chunks(self.members[name], self._bound_of(name)):
                digest.update(chunk)
                pending += chunk
                *lines, pending = pending.split(b"\n")
                if len(pending) > most:
                    raise BundleRefused(
                        f"{name}: a line is longer than the limit of {most:,} bytes"
                    )
                for line in lines:
                    number += 1
                    if len(line) > most:
                        raise BundleRefused(
                            f"{name} line {number} is longer than the limit of {most:,} bytes"
                        )
                    value = self._line(name, number, line)
                    if value is not None:
                        yield value
        except (_TooLong, _Unreadable):
            pass
        number += 1
        value = self._line(name, number, pending)
        if value is not None:
            yield value
        if digest.hexdigest() != self.listed[name]:
            self.report.problems.append(f"{name} changed while it was being read")

    def _line(self, name: str, number: int, line: bytes) -> Any:
        if not line.strip():
            return None
        try:
            return canonical.parse_json(line, max_depth=self.limits.max_json_depth)
        except MalformedJSONError as exc:
            if _bound(exc):
                raise BundleRefused(f"{name} line {number}: {exc.message}") from None
            self.report.problems.append(f"{name} line {number} is not valid JSON")
            return None

    def _names(self, prefix: str, suffix: str = "") -> list[str]:
        return sorted(n for n in self.verified if n.startswith(prefix) and n.endswith(suffix))

    # ---- what the files say --------------------------------------------------------------

    def _check_checkpoint(self, keys: RegistryTrust) -> _Checkpoint | None:
        report = self.report
        envelope = self._document("checkpoint.json")
        if envelope is None:
            return None
        try:
            checkpoint = parse_checkpoint(envelope, "checkpoint.json")
        except LogError as exc:
            if _bound(exc):
                raise BundleRefused(exc.message) from None
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
        for item in self._jsonl("log/entries.jsonl"):
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
            if checkpoint is None or not self._proves(
                seq, checkpoint.size, leaf(entry), item.get("proof"), checkpoint.root
            ):
                report.problems.append(
                    f"log entry #{seq} ({label}) is not proven by the checkpoint"
                )
                continue
            proven[seq] = item
        return proven

    def _proves(self, index: int, size: int, leaf_hash: bytes, path: Any, root: bytes) -> bool:
        if not isinstance(path, list) or len(path) > self.limits.max_audit_path:
            return False
        return proves(index, size, leaf_hash, path, root)

    def _check_datasets(self, entries: Mapping[int, dict[str, Any]], trust: TrustStore) -> None:
        report = self.report
        manifests: dict[str, dict[str, Any]] = {}
        for item in self._jsonl("manifests.jsonl"):
            if isinstance(item, dict):
                manifests[str(item.get("envelope_digest"))] = item
        logged = _of_kind(entries, "dataset")
        for name in self._names("datasets/", ".json"):
            info = self._document(name)
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
                members = list(self._jsonl(stem + ".members.jsonl"))
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
                        checked, bad = self._member(member, manifests, trust, name, checked, bad)
            else:
                try:
                    root_bytes = bytes.fromhex(str(digest).removeprefix("sha256:"))
                except ValueError:
                    report.problems.append(f"{name}: dataset digest is not hex")
                    continue
                for member in self._jsonl(stem + ".sample.jsonl"):
                    try:
                        member_leaf = merkle.leaf_hash(bytes.fromhex(member["content_digest"]))
                        position = int(member["position"])
                    except (KeyError, TypeError, ValueError):
                        report.problems.append(f"{stem}.sample.jsonl: a malformed member")
                        continue
                    if not isinstance(records, int) or not self._proves(
                        position, records, member_leaf, member.get("proof"), root_bytes
                    ):
                        report.problems.append(
                            f"{name}: sample record at position {position} is not proven in the "
                            "dataset digest"
                        )
                        continue
                    checked, bad = self._member(member, manifests, trust, name, checked, bad)
            report.facts.append(
                f"dataset {info.get('name')} {digest}: {records} records ({mode}), "
                f"{checked} manifests verified" + (f", {bad} failed" if bad else "")
            )

    def _member(
        self,
        member: Mapping[str, Any],
        manifests: Mapping[str, dict[str, Any]],
        trust: TrustStore,
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
            stored.get("provenance"), str(member.get("content_digest")), trust, self.now
        )
        if not result.ok:
            report.problems.append(
                f"{name}: record {member.get('record_id')}: {result.status} ({result.reason})"
            )
            return checked + 1, bad + 1
        return checked + 1, bad

    def _check_reports(self, entries: Mapping[int, dict[str, Any]], keys: RegistryTrust) -> None:
        """Each report is signed when its bundle is made, so it is judged at the bundle's
        ``created_at`` (which the index, binding the report's bytes, states)."""
        report = self.report
        recorded = {
            e["body"]["report"]: e
            for e in _of_kind(entries, "audit")
            if isinstance(e["body"].get("report"), str)
        }
        for name in self._names("reports/"):
            envelope = self._document(name)
            if envelope is None:
                continue
            try:
                _, signed = read_statement(envelope, REPORT_PREDICATE, name)
            except LogError as exc:
                if _bound(exc):
                    raise BundleRefused(exc.message) from None
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
        for name in self._names("terms/"):
            data = self._verified_bytes(name, self.limits.max_document_bytes)
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
                if _bound(exc):
                    raise BundleRefused(exc.message) from None
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
        document = self._document("lineage.prov.json")
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


class _TooLong(Exception):
    """A file holds more bytes than its bound."""

    def __init__(self, bound: int) -> None:
        super().__init__(f"more than {bound} bytes")
        self.bound = bound


class _Unreadable(Exception):
    """A file the zip cannot give back (damaged, encrypted, an unknown compression)."""


@dataclass(frozen=True)
class _Checkpoint:
    size: int
    root: bytes


def _of_kind(entries: Mapping[int, dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for _, e in sorted(entries.items()) if e["kind"] == kind]
