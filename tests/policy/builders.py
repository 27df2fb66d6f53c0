"""Builders for the policy tests: manifests made directly from the dataclasses, the fixture library,
and a few intents."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from provenance import canonical, dsse
from provenance.keys import PrivateKeySigner
from provenance.manifest import (
    PAYLOAD_TYPE,
    Contribution,
    Generator,
    Manifest,
    Parent,
    RecordPredicate,
    Statement,
    TermsRef,
    build_statement,
)
from provenance.policy.library import PolicyLibrary
from provenance.policy.loader import load_library, load_org_policies
from provenance.policy.model import Intent, Target, TermsDocument
from provenance.project import save_trust
from provenance.trust import TrustedKey, TrustStore

ASSETS = Path(__file__).parent.parent / "assets" / "policy"
LIBRARY_DIR = ASSETS / "library"

_LIBRARY: PolicyLibrary | None = None


def library() -> PolicyLibrary:
    """The fixture library (loaded once: the tests never change it)."""
    global _LIBRARY
    if _LIBRARY is None:
        _LIBRARY = load_library(LIBRARY_DIR)
    return _LIBRARY


def org_policies() -> tuple[TermsDocument, ...]:
    return load_org_policies(ASSETS / "org")


def when(text: str) -> datetime:
    """An aware UTC time from ``YYYY-MM-DD`` or a full RFC 3339 time."""
    if len(text) == 10:
        text += "T12:00:00Z"
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def part(
    provider: str,
    model: str,
    *,
    service: str | None = "self-hosted",
    pointer: str = "",
    role: str = "response",
    generated_at: str | None = "2024-10-01",
    terms: str | None = None,
    model_returned: str | None = None,
) -> Contribution:
    return Contribution(
        generator=Generator(
            provider=provider, model=model, service=service, model_returned=model_returned
        ),
        pointer=pointer,
        role=role,
        terms=None if terms is None else TermsRef(terms),
        generated_at=None if generated_at is None else when(generated_at),
    )


def manifest(
    record_id: str,
    *contributions: Contribution,
    organization: str | None = "acme",
    datasets: tuple[str, ...] = (),
) -> Manifest:
    predicate = RecordPredicate(
        contributions=tuple(contributions),
        organization=organization,
        parents=tuple(Parent(kind="dataset", name=name) for name in datasets),
    )
    statement = Statement.from_dict(build_statement(record_id, "ab" * 32, predicate))
    return Manifest.from_statement(statement)


TEST_SIGNER = PrivateKeySigner(Ed25519PrivateKey.from_private_bytes(bytes(range(32))), "test")
"""A fixed key for records the policy tests sign."""


def signed_record(m: Manifest, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A record carrying ``m`` signed by :data:`TEST_SIGNER`, its subject digest set to the
    record's real content digest (so it verifies against :func:`write_trust`)."""
    content = body or {"text": "hello"}
    statement = m.statement.to_dict()
    statement["subject"][0]["digest"] = {"sha256": canonical.content_digest(content)}
    envelope = dsse.sign(PAYLOAD_TYPE, canonical.canonicalize(statement), [TEST_SIGNER])
    return {**content, "_provenance": {"dsse": envelope.to_dict()}}


def write_trust(path: Path) -> Path:
    """A trust store holding :data:`TEST_SIGNER`'s public key."""
    save_trust(TrustStore().add(TrustedKey("test", TEST_SIGNER.verifying_key())), path)
    return path


BASE_INTENT = Intent(
    target=Target(name="acme-chat", organization="acme", kind="chat-assistant"),
    activity="fine-tune",
    commercial=True,
    distribution="api",
    date=when("2025-01-10").date(),
    competes_with=(),
)


def intent(**changes: Any) -> Intent:
    """The base intent (commercial fine-tune, served by API, competing with nobody) with changes;
    ``target_name``/``target_kind``/``target_organization`` change the target."""
    target = BASE_INTENT.target
    for key in ("name", "kind", "organization"):
        if f"target_{key}" in changes:
            target = replace(target, **{key: changes.pop(f"target_{key}")})
    return replace(BASE_INTENT, target=target, **changes)
