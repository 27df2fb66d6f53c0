"""The trust store: which public keys may sign what, for whom, and when.

A key is trusted for the *kinds* of signature listed in ``signs`` (:data:`SIGNATURE_KINDS`):
``records`` (record manifests), ``evidence`` (evidence bundles, their seals and the audit reports
in them), ``checkpoints`` (signed checkpoints of the registry's log) and ``libraries`` (terms
libraries, see :mod:`provenance.policy.updates`). An entry without ``signs`` signs records only:
trust is explicit, and trust stores written before ``signs`` existed keep verifying records
exactly as before.

For records a key is further trusted for a *scope*: the providers whose models it may attest
(``*`` = any) and the organisations that may appear as the generating account (``*`` = any).
``valid_from``/``valid_until`` bound the signing time the signed content claims (a manifest's
``signed_at``, a checkpoint's or a bundle's ``created_at``): use ``valid_until`` to retire a key
after rotation. ``revoked_at`` marks a compromised key: every signature by it is rejected, whatever
time it claims, because a thief can claim any time.

This module is the pure model; reading and writing ``trust.yaml`` lives in ``provenance.project``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from provenance.errors import ConfigError, ProvenanceError, shown
from provenance.keys import VerifyingKey
from provenance.manifest import format_time, parse_when


def _times(d: Mapping[str, Any], key: str, where: str) -> datetime | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return parse_when(str(value), f"{where}: {key}")
    except ProvenanceError as exc:
        raise ConfigError(exc.message, hint=exc.hint) from None


SIGNATURE_KINDS: tuple[str, ...] = ("records", "evidence", "checkpoints", "libraries")
"""What a key may be trusted to sign, in the order they are written."""
DEFAULT_SIGNS: tuple[str, ...] = ("records",)
"""What a trust store entry without ``signs`` is trusted to sign."""


def parse_signs(value: Any, where: str) -> tuple[str, ...]:
    """The kinds of ``signs`` (a name, a list of names, or comma-separated text), in the order of
    :data:`SIGNATURE_KINDS`; an unknown or missing kind is a :class:`ConfigError` naming ``where``."""
    if value is None:
        return DEFAULT_SIGNS
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            f"{where}: must be a list of {', '.join(SIGNATURE_KINDS)}",
            hint="for example signs: [records, evidence, checkpoints]",
        )
    unknown = [v for v in value if v not in SIGNATURE_KINDS]
    if unknown:
        raise ConfigError(
            f"{where}: unknown kind '{shown(unknown[0])}'",
            hint=f"use {', '.join(SIGNATURE_KINDS)}",
        )
    if not value:
        raise ConfigError(
            f"{where}: names no kind of signature",
            hint=f"use {', '.join(SIGNATURE_KINDS)}, or revoke the key",
        )
    return tuple(kind for kind in SIGNATURE_KINDS if kind in value)


def _names(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ("*",)
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{where}: must be a name or a list of names")


@dataclass(frozen=True)
class TrustedKey:
    """One public key and what it is trusted for."""

    name: str
    key: VerifyingKey
    providers: tuple[str, ...] = ("*",)
    organizations: tuple[str, ...] = ("*",)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    revoked_at: datetime | None = None
    revoked_reason: str | None = None
    signs: tuple[str, ...] = DEFAULT_SIGNS
    """The kinds of signature the key is trusted for (:data:`SIGNATURE_KINDS`)."""

    @property
    def keyid(self) -> str:
        return self.key.keyid

    def covers_provider(self, provider: str) -> bool:
        return "*" in self.providers or provider.lower() in (p.lower() for p in self.providers)

    def covers_organization(self, organization: str | None) -> bool:
        if "*" in self.organizations:
            return True
        return organization is not None and organization in self.organizations

    def kind_problem(self, kind: str) -> str | None:
        """Why the key may not sign ``kind`` (one of :data:`SIGNATURE_KINDS`), or None."""
        if kind in self.signs:
            return None
        return f"key '{self.name}' is not trusted to sign {kind} (it signs {', '.join(self.signs)})"

    def refuses(self, kind: str, signed_at: datetime | None, now: datetime) -> str | None:
        """Why a signature of ``kind`` by this key, claiming ``signed_at`` (else judged at
        ``now``), is not accepted — not trusted for the kind, revoked, or outside the validity
        window — or None. Scopes of provider and organisation concern records only and are judged
        by the record verifier."""
        problem = self.kind_problem(kind)
        if problem:
            return problem
        if self.revoked_at is not None and self.revoked_at <= now:
            reason = f" ({self.revoked_reason})" if self.revoked_reason else ""
            return f"key '{self.name}' was revoked{reason}"
        when = signed_at or now
        problem = self.window_problem(when)
        if problem:
            return f"signed at {format_time(when)}: {problem}"
        return None

    def record_problem(
        self,
        providers: Iterable[str],
        organization: str | None,
        signed_at: datetime | None,
        now: datetime,
    ) -> tuple[str, str] | None:
        """Why a record manifest signed by this key, naming ``providers`` and ``organization``
        and claiming ``signed_at`` (else judged at ``now``), is not accepted, as the verifier's
        status and message — revoked, not trusted for records, outside the validity window, or
        not trusted for a provider or the organisation — or None. The verifier judges signed
        records by it and ``provenance tag`` judges its key by it before signing."""
        if self.revoked_at is not None and self.revoked_at <= now:
            reason = f" ({self.revoked_reason})" if self.revoked_reason else ""
            return "revoked-signer", f"signed by key '{self.name}', revoked{reason}"
        problem = self.kind_problem("records")
        if problem:
            return "untrusted-signer", problem
        when = signed_at or now
        problem = self.window_problem(when)
        if problem:
            return "expired-signer", f"signed at {when.isoformat()}: {problem}"
        for provider in providers:
            if not self.covers_provider(provider):
                return (
                    "untrusted-signer",
                    f"key '{self.name}' is not trusted to sign for provider '{provider}'",
                )
        if not self.covers_organization(organization):
            return (
                "untrusted-signer",
                f"key '{self.name}' is not trusted to sign for organisation '{organization}'",
            )
        return None

    def window_problem(self, signed_at: datetime) -> str | None:
        """Why ``signed_at`` falls outside the key's validity window, or None."""
        if self.valid_from is not None and signed_at < self.valid_from:
            return f"key '{self.name}' is valid from {format_time(self.valid_from)}"
        if self.valid_until is not None and signed_at >= self.valid_until:
            return f"key '{self.name}' expired at {format_time(self.valid_until)}"
        return None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str) -> TrustedKey:
        if not isinstance(d, Mapping):
            raise ConfigError(f"{where}: must be a mapping")
        known = {
            "name",
            "keyid",
            "public_key",
            "providers",
            "organizations",
            "valid_from",
            "valid_until",
            "revoked_at",
            "revoked_reason",
            "signs",
        }
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(
                f"{where}: unknown field '{unknown[0]}'",
                hint=f"known fields: {', '.join(sorted(known))}",
            )
        pem = d.get("public_key")
        if not isinstance(pem, str):
            raise ConfigError(f"{where}: public_key (PEM) is missing")
        if not pem.isascii():
            raise ConfigError(f"{where}: public_key must be a PEM block (ASCII text)")
        key = VerifyingKey.from_pem(pem.encode("ascii"), where)
        stated = d.get("keyid")
        if stated is not None and stated != key.keyid:
            raise ConfigError(f"{where}: keyid does not match the public key (it is {key.keyid})")
        return cls(
            name=str(d.get("name") or key.keyid[:16]),
            key=key,
            providers=_names(d.get("providers"), f"{where}.providers"),
            organizations=_names(d.get("organizations"), f"{where}.organizations"),
            valid_from=_times(d, "valid_from", where),
            valid_until=_times(d, "valid_until", where),
            revoked_at=_times(d, "revoked_at", where),
            revoked_reason=d.get("revoked_reason"),
            signs=parse_signs(d.get("signs"), f"{where}.signs"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "keyid": self.keyid,
            "public_key": self.key.pem().decode("ascii"),
            "providers": list(self.providers),
            "organizations": list(self.organizations),
        }
        if self.signs != DEFAULT_SIGNS:
            # Left out when it is the default, so stores without it are written back unchanged
            # (and their digests in the registry stay the same).
            out["signs"] = list(self.signs)
        for field in ("valid_from", "valid_until", "revoked_at"):
            value = getattr(self, field)
            if value is not None:
                out[field] = format_time(value)
        if self.revoked_reason:
            out["revoked_reason"] = self.revoked_reason
        return out


@dataclass(frozen=True)
class TrustStore:
    """The set of trusted keys. ``threshold`` distinct trusted keys must sign each envelope.

    ``version`` grows by one with every change, so an audit can say which trust state it used.
    """

    keys: tuple[TrustedKey, ...] = ()
    version: int = 1
    threshold: int = 1

    def by_keyid(self, keyid: str | None) -> TrustedKey | None:
        if not keyid:
            return None
        for entry in self.keys:
            if entry.keyid == keyid:
                return entry
        return None

    def candidates(self, hint: str | None) -> Iterable[TrustedKey]:
        """Keys to try for a signature: the one the hint names first, then every other key."""
        first = self.by_keyid(hint)
        if first is not None:
            yield first
        for entry in self.keys:
            if entry is not first:
                yield entry

    def add(self, entry: TrustedKey) -> TrustStore:
        if self.by_keyid(entry.keyid) is not None:
            raise ConfigError(f"key {entry.keyid} is already in the trust store")
        if any(k.name == entry.name for k in self.keys):
            raise ConfigError(f"a trusted key is already named '{entry.name}'")
        return replace(self, keys=(*self.keys, entry), version=self.version + 1)

    def find(self, name_or_keyid: str) -> TrustedKey:
        for entry in self.keys:
            if name_or_keyid in (entry.name, entry.keyid) or (
                len(name_or_keyid) >= 8 and entry.keyid.startswith(name_or_keyid)
            ):
                return entry
        raise ConfigError(f"no trusted key named or with id '{name_or_keyid}'")

    def update(self, old: TrustedKey, new: TrustedKey) -> TrustStore:
        keys = tuple(new if k is old else k for k in self.keys)
        return replace(self, keys=keys, version=self.version + 1)

    @classmethod
    def from_dict(cls, d: Any, where: str = "trust store") -> TrustStore:
        if d is None:
            return cls()
        if not isinstance(d, Mapping):
            raise ConfigError(f"{where}: must be a mapping with 'keys'")
        unknown = sorted(set(d) - {"version", "threshold", "keys"})
        if unknown:
            raise ConfigError(f"{where}: unknown field '{unknown[0]}'")
        raw_keys = d.get("keys") or []
        if not isinstance(raw_keys, list):
            raise ConfigError(f"{where}: 'keys' must be a list")
        threshold = d.get("threshold", 1)
        if type(threshold) is not int or threshold < 1:
            raise ConfigError(f"{where}: threshold must be a whole number of at least 1")
        version = d.get("version", 1)
        if type(version) is not int or version < 1:
            raise ConfigError(f"{where}: version must be a whole number of at least 1")
        keys = tuple(TrustedKey.from_dict(k, f"{where}: keys[{i}]") for i, k in enumerate(raw_keys))
        if len({k.keyid for k in keys}) != len(keys):
            raise ConfigError(f"{where}: the same key is listed twice")
        return cls(keys=keys, version=version, threshold=threshold)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "threshold": self.threshold,
            "keys": [k.to_dict() for k in self.keys],
        }
