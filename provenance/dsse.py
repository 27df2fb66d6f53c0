"""DSSE envelopes: signatures over the Pre-Authentication Encoding of a payload.

Spec: https://github.com/secure-systems-lab/dsse/blob/master/protocol.md and envelope.md.
The signed bytes are ``PAE(payloadType, payload)``; the payload is kept as the exact bytes that were
signed and is never re-serialised before verification.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from provenance.errors import VerificationError
from provenance.keys import Signer

_STD_B64 = re.compile(rb"\A(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\Z")
_URL_B64 = re.compile(rb"\A(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?\Z")


class MalformedEnvelopeError(VerificationError):
    """An envelope whose structure or encoding is invalid."""

    status = "malformed"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSEv1 Pre-Authentication Encoding."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(payload), payload)


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: Any, what: str) -> bytes:
    """Decode canonical base64, standard or URL-safe alphabet, with padding.

    DSSE lets writers use either alphabet. Anything else (missing padding, whitespace, characters
    outside the alphabet, non-zero trailing bits) is rejected so one signature has one encoding.
    """
    if not isinstance(text, str):
        raise MalformedEnvelopeError(f"{what} is not a string")
    raw = text.encode("ascii", "replace")
    if _STD_B64.match(raw):
        data = _decode(raw, what, urlsafe=False)
    elif _URL_B64.match(raw):
        data = _decode(raw, what, urlsafe=True)
    else:
        raise MalformedEnvelopeError(f"{what} is not canonical base64 (padded, no whitespace)")
    again = base64.urlsafe_b64encode(data) if b"-" in raw or b"_" in raw else base64.b64encode(data)
    if again != raw:
        raise MalformedEnvelopeError(f"{what} is not canonical base64 (non-zero padding bits)")
    return data


def _decode(raw: bytes, what: str, *, urlsafe: bool) -> bytes:
    try:
        return base64.urlsafe_b64decode(raw) if urlsafe else base64.b64decode(raw, validate=True)
    except binascii.Error as exc:
        raise MalformedEnvelopeError(f"{what} is not valid base64") from exc


@dataclass(frozen=True)
class Signature:
    sig: bytes
    keyid: str | None = None


@dataclass(frozen=True)
class Envelope:
    """A parsed DSSE envelope. ``payload`` holds the exact signed bytes."""

    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    def pae(self) -> bytes:
        return pae(self.payload_type, self.payload)

    @classmethod
    def from_dict(cls, d: Any, *, max_signatures: int = 16) -> Envelope:
        if not isinstance(d, Mapping):
            raise MalformedEnvelopeError("envelope is not a JSON object")
        payload_type = d.get("payloadType")
        if not isinstance(payload_type, str):
            raise MalformedEnvelopeError("envelope has no payloadType string")
        payload = b64decode(d.get("payload"), "envelope payload")
        sigs = d.get("signatures")
        if not isinstance(sigs, Sequence) or isinstance(sigs, str | bytes):
            raise MalformedEnvelopeError("envelope has no signatures list")
        if not sigs:
            raise MalformedEnvelopeError("envelope has an empty signatures list")
        if len(sigs) > max_signatures:
            raise MalformedEnvelopeError(
                f"envelope has {len(sigs)} signatures, more than the limit of {max_signatures}"
            )
        parsed = []
        for i, s in enumerate(sigs):
            if not isinstance(s, Mapping):
                raise MalformedEnvelopeError(f"signature {i} is not an object")
            keyid = s.get("keyid")
            if keyid is not None and not isinstance(keyid, str):
                raise MalformedEnvelopeError(f"signature {i} keyid is not a string")
            parsed.append(Signature(b64decode(s.get("sig"), f"signature {i}"), keyid or None))
        return cls(payload_type, payload, tuple(parsed))

    def to_dict(self) -> dict[str, Any]:
        return {
            "payloadType": self.payload_type,
            "payload": b64encode(self.payload),
            "signatures": [
                {"keyid": s.keyid or "", "sig": b64encode(s.sig)} for s in self.signatures
            ],
        }


def sign(payload_type: str, payload: bytes, signers: Sequence[Signer]) -> Envelope:
    """Sign ``payload`` with every signer; the key ids are written as hints."""
    message = pae(payload_type, payload)
    return Envelope(
        payload_type,
        payload,
        tuple(Signature(s.sign(message), s.keyid) for s in signers),
    )
