"""Signing and verifying keys: Ed25519 (default) and ECDSA P-256, as PEM.

The key id is the hex SHA-256 of the public key's SubjectPublicKeyInfo DER. It is a hint that lets a
verifier try the likely key first; it is never a reason to trust a signature
(https://github.com/secure-systems-lab/dsse/blob/master/protocol.md).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal, Protocol

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from provenance.errors import SigningKeyError

Algorithm = Literal["ed25519", "ecdsa-p256"]
ALGORITHMS: tuple[Algorithm, ...] = ("ed25519", "ecdsa-p256")

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


_PEM_BEGIN = re.compile(rb"^-----BEGIN ([^\r\n-]+)-----", re.MULTILINE)


def _one_pem_block(pem: bytes, source: str, what: str) -> None:
    """Refuse a PEM text holding more than one block: the PEM readers would take the first and
    silently ignore the rest (a second key meant to be trusted, or a key that is not the one the
    user thinks it is)."""
    labels = _PEM_BEGIN.findall(pem)
    if len(labels) <= 1:
        return
    if all(label.endswith(what.upper().encode("ascii")) for label in labels):
        held = f"{len(labels)} {what}s"
    else:
        kinds = ", ".join(label.decode("ascii", "replace") for label in labels)
        held = f"{len(labels)} PEM blocks ({kinds})"
    raise SigningKeyError(f"{source} holds {held}; give one per file")


def key_id(public_key: PublicKey) -> str:
    """Hex SHA-256 of the SPKI DER of ``public_key``."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def _algorithm_of(key: PrivateKey | PublicKey) -> Algorithm:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key.curve, ec.SECP256R1):
        return "ecdsa-p256"
    raise SigningKeyError(f"unsupported elliptic curve {key.curve.name}; use Ed25519 or P-256")


class Signer(Protocol):
    """Anything that signs bytes and names its public key."""

    @property
    def keyid(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...

    def verifying_key(self) -> VerifyingKey: ...


@dataclass(frozen=True)
class VerifyingKey:
    """A public key that checks signatures."""

    public_key: PublicKey
    keyid: str
    algorithm: Algorithm

    @classmethod
    def from_public_key(cls, public_key: PublicKey) -> VerifyingKey:
        return cls(public_key, key_id(public_key), _algorithm_of(public_key))

    @classmethod
    def from_pem(cls, pem: bytes, source: str = "public key") -> VerifyingKey:
        """The one public key of a PEM text; an error for anything else, or for more than one
        PEM block."""
        _one_pem_block(pem, source, "public key")
        try:
            loaded = serialization.load_pem_public_key(pem)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise SigningKeyError(f"{source}: not a PEM public key ({exc})") from exc
        if not isinstance(loaded, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
            raise SigningKeyError(f"{source}: only Ed25519 and ECDSA P-256 keys are supported")
        return cls.from_public_key(loaded)

    def pem(self) -> bytes:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True when ``signature`` is valid over ``data``; never raises for a bad signature."""
        try:
            if isinstance(self.public_key, ed25519.Ed25519PublicKey):
                self.public_key.verify(signature, data)
            else:
                self.public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class PrivateKeySigner:
    """A :class:`Signer` backed by an in-memory private key. Its ``repr`` never shows the key."""

    private_key: PrivateKey
    name: str = ""

    def __repr__(self) -> str:
        return f"PrivateKeySigner(name={self.name!r}, keyid={self.keyid[:16]}…)"

    @property
    def algorithm(self) -> Algorithm:
        return _algorithm_of(self.private_key)

    @property
    def keyid(self) -> str:
        return self.verifying_key().keyid

    def verifying_key(self) -> VerifyingKey:
        return VerifyingKey.from_public_key(self.private_key.public_key())

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.private_key, ed25519.Ed25519PrivateKey):
            return self.private_key.sign(data)
        return self.private_key.sign(data, ec.ECDSA(hashes.SHA256()))

    def private_pem(self, passphrase: bytes | None = None) -> bytes:
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    @classmethod
    def generate(cls, algorithm: Algorithm = "ed25519", name: str = "") -> PrivateKeySigner:
        if algorithm == "ed25519":
            return cls(ed25519.Ed25519PrivateKey.generate(), name)
        if algorithm == "ecdsa-p256":
            return cls(ec.generate_private_key(ec.SECP256R1()), name)
        raise SigningKeyError(f"unknown algorithm '{algorithm}'; choose one of {ALGORITHMS}")

    @classmethod
    def from_pem(
        cls,
        pem: bytes,
        passphrase: bytes | None = None,
        *,
        source: str = "private key",
        name: str = "",
    ) -> PrivateKeySigner:
        """The one private key of a PEM text (decrypted with ``passphrase``); an error for
        anything else, or for more than one PEM block."""
        _one_pem_block(pem, source, "private key")
        try:
            loaded = serialization.load_pem_private_key(pem, password=passphrase)
        except TypeError as exc:
            hint = (
                "set PROVENANCE_KEY_PASSPHRASE"
                if passphrase is None
                else "the key is not encrypted; unset PROVENANCE_KEY_PASSPHRASE"
            )
            raise SigningKeyError(f"{source}: {exc}", hint=hint) from exc
        except (ValueError, UnsupportedAlgorithm) as exc:
            # Do not echo the exception text: it can quote key material.
            raise SigningKeyError(
                f"{source}: cannot load the private key (wrong passphrase or not a PEM key)"
            ) from exc
        if not isinstance(loaded, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise SigningKeyError(f"{source}: only Ed25519 and ECDSA P-256 keys are supported")
        _algorithm_of(loaded)
        return cls(loaded, name)
