"""Which key signs for the registry, and which keys its signatures are checked against.

Checkpoints, audit-report envelopes and evidence bundles are signed by a project key: the one named
with ``--key``, else the one named by ``PROVENANCE_REGISTRY_KEY``, else the only private key in
``.provenance/keys/``. They are checked against the keys of a trust store file given by the user,
else against the project's trust store and the project's own public keys.
"""

from __future__ import annotations

import os
from pathlib import Path

from provenance import project
from provenance.errors import ConfigError, SigningKeyError
from provenance.keys import PrivateKeySigner, VerifyingKey
from provenance.trust import TrustStore

REGISTRY_KEY_ENV = "PROVENANCE_REGISTRY_KEY"


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
            hint="make one with 'provenance keys generate NAME', or pass --key",
        )
    names = ", ".join(p.stem for p in found)
    raise SigningKeyError(
        f"the project has several keys ({names})",
        hint=f"choose one with --key or {REGISTRY_KEY_ENV}",
    )


def trusted_keys(store: TrustStore) -> list[VerifyingKey]:
    """The keys of a trust store that are not revoked."""
    return [k.key for k in store.keys if k.revoked_at is None]


def verification_keys(trust_file: Path | None = None) -> list[VerifyingKey]:
    """Keys that registry signatures are checked against: the given trust store's, else the
    project's trust store and public keys."""
    if trust_file is not None:
        return trusted_keys(project.load_trust(trust_file))
    home = project.find_project()
    if home is None:
        raise ConfigError(
            "no trust store to check signatures against",
            hint="pass --trust FILE or run inside a project",
        )
    keys = trusted_keys(project.load_trust(home / project.TRUST_FILE))
    revoked = {k.keyid for k in project.load_trust(home / project.TRUST_FILE).keys if k.revoked_at}
    for pub in sorted(project.keys_dir(home).glob("*.pub")):
        key = VerifyingKey.from_pem(pub.read_bytes(), str(pub))
        if key.keyid not in revoked and all(k.keyid != key.keyid for k in keys):
            keys.append(key)
    return keys
