"""DSSE envelopes: PAE bytes, base64 strictness, signing with both key types."""

from __future__ import annotations

import pytest

from provenance import dsse
from provenance.errors import VerificationError
from provenance.keys import PrivateKeySigner


def test_pae_matches_the_dsse_protocol_example() -> None:
    # DSSE protocol.md, "Test Vectors"
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


@pytest.mark.parametrize("algorithm", ["ed25519", "ecdsa-p256"])
def test_envelope_round_trip_verifies(algorithm: str) -> None:
    signer = PrivateKeySigner.generate(algorithm)  # type: ignore[arg-type]
    envelope = dsse.sign("application/vnd.in-toto+json", b'{"a":1}', [signer])
    parsed = dsse.Envelope.from_dict(envelope.to_dict())
    assert parsed.payload == b'{"a":1}'
    assert signer.verifying_key().verify(parsed.signatures[0].sig, parsed.pae())
    assert not signer.verifying_key().verify(parsed.signatures[0].sig, dsse.pae("x", b"{}"))


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("aGVsbG8=", True),
        ("aGk/", True),
        ("aGk_", True),  # URL-safe alphabet is allowed by DSSE
        ("aGVsbG8", False),  # missing padding
        ("aGVs bG8=", False),  # whitespace
        ("aGVsbG9=", False),  # non-zero padding bits
        ("aGk/aGk_", False),  # mixed alphabets
        ("", True),
        ("!!!!", False),
    ],
)
def test_base64_accepts_only_canonical_forms(text: str, ok: bool) -> None:
    if ok:
        dsse.b64decode(text, "x")
    else:
        with pytest.raises(VerificationError, match="base64"):
            dsse.b64decode(text, "x")


def test_envelope_without_signatures_is_malformed() -> None:
    with pytest.raises(VerificationError, match="empty signatures"):
        dsse.Envelope.from_dict({"payloadType": "t", "payload": "", "signatures": []})
