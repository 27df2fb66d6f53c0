"""Which key signs for the registry, and which keys its signatures are accepted from.

Checkpoints, audit-report envelopes and evidence bundles are signed by a project key: the one named
with ``--key``, else the one named by ``PROVENANCE_REGISTRY_KEY``, else the only private key in
``.provenance/keys/``, else — when there are several — the only one the project's trust store
trusts to sign both evidence and checkpoints.

A registry signature is accepted only from a key whose trust entry (see :mod:`provenance.trust`)
lists the right kind in ``signs`` — ``checkpoints`` for a checkpoint, ``evidence`` for a bundle's
index and seal and the audit reports in it (and, in a bundle, for its checkpoint, which the index
binds) — that is not revoked, and whose validity window covers the time the signed content claims
(the checkpoint's or the bundle's ``created_at``; the present time when it claims none). Providers
and organisations scope record signatures only. The keys come from a trust store file given by the
user, else from the project's trust store plus the project's own public keys that are not in it
(:func:`verification_keys`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from provenance import dsse, project
from provenance.errors import ConfigError, ProvenanceError, SigningKeyError
from provenance.keys import PrivateKeySigner, VerifyingKey
from provenance.manifest import parse_time
from provenance.trust import TrustedKey, TrustStore

REGISTRY_KEY_ENV = "PROVENANCE_REGISTRY_KEY"
REGISTRY_KINDS: tuple[str, ...] = ("evidence", "checkpoints")
"""What a registry key signs: a bundle carries a checkpoint signed by the key that signs it."""


def claimed_time(value: Any) -> datetime | None:
    """The time a registry signature claims (a signed ``created_at``), or None when absent or
    unreadable: it is then judged at the present time, which is stricter for a retired key."""
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value, "created_at")
    except ProvenanceError:
        return None


@dataclass(frozen=True)
class Accepted:
    """The outcome of checking one registry signature: the key accepted, or why none was."""

    key: TrustedKey | None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.key is not None


@dataclass(frozen=True)
class RegistryTrust:
    """The keys registry signatures are checked against, each judged by its trust entry, and the
    rule they come from (said in reports, so a reader knows what a verdict rests on)."""

    keys: tuple[TrustedKey, ...]
    rule: str

    @classmethod
    def from_store(cls, store: TrustStore, rule: str) -> RegistryTrust:
        return cls(store.keys, rule)

    def check(
        self,
        envelope: Any,
        kinds: str | tuple[str, ...],
        signed_at: datetime | None,
        now: datetime | None = None,
    ) -> Accepted:
        """Accept a DSSE envelope's signature by a key trusted for one of ``kinds``, claiming
        ``signed_at`` (judged at ``now`` when it claims no time), or say why it is not accepted."""
        wanted = (kinds,) if isinstance(kinds, str) else kinds
        try:
            parsed = dsse.Envelope.from_dict(envelope)
        except ProvenanceError as exc:
            return Accepted(None, f"not a signed envelope ({exc.message})")
        message = parsed.pae()
        verified: dict[str, TrustedKey] = {}
        for signature in parsed.signatures:
            ordered = sorted(self.keys, key=lambda k: k.keyid != signature.keyid)
            for entry in ordered:
                if entry.keyid not in verified and entry.key.verify(signature.sig, message):
                    verified[entry.keyid] = entry
                    break
        if not verified:
            return Accepted(None, "no valid signature by a trusted key")
        when = now or datetime.now(UTC)
        first: str | None = None
        for entry in verified.values():
            for kind in wanted:
                problem = entry.refuses(kind, signed_at, when)
                if problem is None:
                    return Accepted(entry)
                first = first or problem
        return Accepted(None, first)


def registry_signer(name: str | None = None, *, insecure: bool = False) -> PrivateKeySigner:
    """The key that signs for the registry (see the module documentation); ``insecure`` as for
    :func:`provenance.project.load_signer`."""
    chosen = name or os.environ.get(REGISTRY_KEY_ENV)
    if chosen:
        return project.load_signer(chosen, insecure=insecure)
    home = project.find_project()
    found = sorted(project.keys_dir(home).glob("*.key")) if home is not None else []
    if len(found) == 1:
        return project.load_signer(found[0], insecure=insecure)
    if not found:
        raise SigningKeyError(
            "no key to sign with",
            hint="make one with 'provenance keys generate registry --trust --signs "
            "evidence,checkpoints', or pass --key",
        )
    assert home is not None
    store = _project_store(home)
    registry = [p for p in found if _registry_entry(store, p) is not None]
    if len(registry) == 1:
        return project.load_signer(registry[0], insecure=insecure)
    names = ", ".join(p.stem for p in found)
    raise SigningKeyError(
        f"the project has several keys ({names}) and "
        + ("none" if not registry else "more than one")
        + " of them is trusted to sign evidence and checkpoints",
        hint=f"choose one with --key or {REGISTRY_KEY_ENV}",
    )


def _project_store(home: Path) -> TrustStore:
    path = home / project.TRUST_FILE
    return project.load_trust(path) if path.exists() else TrustStore()


def _registry_entry(store: TrustStore, private: Path) -> TrustedKey | None:
    """The trust entry of a project key if it may sign for the registry now, else None."""
    public = private.with_suffix(".pub")
    try:
        key = VerifyingKey.from_pem(public.read_bytes(), str(public))
    except (OSError, ProvenanceError):
        return None
    entry = store.by_keyid(key.keyid)
    now = datetime.now(UTC)
    if entry is None or any(entry.refuses(kind, None, now) for kind in REGISTRY_KINDS):
        return None
    return entry


def signing_warning(signer: PrivateKeySigner, kinds: Sequence[str]) -> str | None:
    """A warning when the project's trust store holds ``signer`` but would not accept what it is
    about to sign (``kinds``), so that the mistake shows when signing, not when verifying."""
    home = project.find_project()
    if home is None or not (home / project.TRUST_FILE).exists():
        return None
    entry = _project_store(home).by_keyid(signer.keyid)
    if entry is None:
        return None
    now = datetime.now(UTC)
    for kind in kinds:
        problem = entry.refuses(kind, None, now)
        if problem:
            return (
                f"{problem}: verifiers using the project's trust store will refuse what it signs "
                "(hint: make a registry key with 'provenance keys generate registry --trust "
                "--signs evidence,checkpoints', or choose one with --key)"
            )
    return None


PUBLIC_KEY_SIGNS: tuple[str, ...] = REGISTRY_KINDS
"""What a project public key absent from the project's trust store may sign when no trust store
is given: evidence and checkpoints, never records (whoever can write the project's key folder can
write its trust store too, so this trusts no one new)."""


def store_trust(store: TrustStore, source: str) -> RegistryTrust:
    """The keys of a trust store, each judged by its entry."""
    return RegistryTrust.from_store(
        store,
        f"the trust store {source}: evidence by keys it trusts to sign evidence, checkpoints by "
        "keys it trusts to sign checkpoints, each not revoked and valid at the time the signed "
        "content claims",
    )


def verification_keys(trust_file: Path | None = None) -> RegistryTrust:
    """Keys that registry signatures are checked against: the given trust store's, else the
    project's trust store's and the project's own public keys that are not in it."""
    if trust_file is not None:
        return store_trust(project.load_trust(trust_file), str(trust_file))
    home = project.find_project()
    if home is None:
        raise ConfigError(
            "no trust store to check signatures against",
            hint="pass --trust FILE or run inside a project",
        )
    path = home / project.TRUST_FILE
    store = project.load_trust(path)
    keys = list(store.keys)
    added = []
    for pub in sorted(project.keys_dir(home).glob("*.pub")):
        key = VerifyingKey.from_pem(pub.read_bytes(), str(pub))
        # A key in the trust store is judged by its entry alone: a retired, revoked or
        # out-of-scope key cannot come back through its .pub file.
        if store.by_keyid(key.keyid) is None and all(k.keyid != key.keyid for k in keys):
            keys.append(TrustedKey(pub.stem, key, signs=PUBLIC_KEY_SIGNS))
            added.append(pub.stem)
    rule = store_trust(store, str(path)).rule
    if added:
        rule += (
            "; and the project's public keys not in it ("
            + ", ".join(added)
            + "), for evidence and checkpoints"
        )
    return RegistryTrust(tuple(keys), rule)
