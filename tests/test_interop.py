"""Interop with securesystemslib, an independent DSSE implementation.

Envelopes written by ``provenance`` verify with securesystemslib given the exported public key, and
envelopes written by securesystemslib over a ``provenance`` statement verify with
``provenance verify``. securesystemslib names keys by the SHA-256 of their canonical JSON form,
``provenance`` by the SHA-256 of their SubjectPublicKeyInfo DER: the two key ids differ, and
``provenance`` treats a key id only as a hint.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.exceptions import VerificationError as SslibVerificationError
from securesystemslib.signer import (  # type: ignore[attr-defined]  # no __all__
    CryptoSigner,
    Signature,
    SSlibKey,
)

from provenance import canonical, dsse
from provenance.keys import PrivateKeySigner
from provenance.manifest import PAYLOAD_TYPE
from provenance.project import save_trust
from provenance.trust import TrustedKey, TrustStore
from tests.conformance.generate import ECDSA_KEY, GEN, GENERATED_AT, chat, tagger
from tests.conftest import Runner, write_jsonl

SIGNERS = [pytest.param(GEN, id="ed25519"), pytest.param(ECDSA_KEY, id="ecdsa-p256")]


def _provenance_envelope(signer: PrivateKeySigner) -> dict[str, Any]:
    record = tagger(signer).tag(chat(1), generated_at=GENERATED_AT)
    envelope: dict[str, Any] = record["_provenance"]["dsse"]
    return envelope


def _sslib_envelope(data: dict[str, Any]) -> SslibEnvelope:
    # securesystemslib's from_dict rewrites the signature entries it is given.
    return SslibEnvelope.from_dict(copy.deepcopy(data))


def _exported_key(cli: Runner, signer: PrivateKeySigner, folder: Path) -> Any:
    """The public key as ``provenance keys export`` prints it, loaded by ``cryptography``."""
    pem = folder / f"{signer.name}.pub"
    pem.write_bytes(signer.verifying_key().pem())
    exported = cli("keys", "export", pem)
    assert exported.code == 0, exported.err
    assert exported.out.startswith("-----BEGIN PUBLIC KEY-----")
    return serialization.load_pem_public_key(exported.out.encode("ascii"))


def _trust(folder: Path, signer: PrivateKeySigner) -> Path:
    path = folder / "trust.yaml"
    save_trust(TrustStore(keys=(TrustedKey(signer.name, signer.verifying_key()),)), path)
    return path


# ---- provenance writes, securesystemslib verifies ----------------------------------------------


@pytest.mark.parametrize("signer", SIGNERS)
def test_provenance_envelope_verifies_with_securesystemslib(
    signer: PrivateKeySigner, cli: Runner, tmp_path: Path
) -> None:
    data = _provenance_envelope(signer)
    key = SSlibKey.from_crypto(_exported_key(cli, signer, tmp_path), keyid=signer.keyid)
    envelope = _sslib_envelope(data)
    assert envelope.payload_type == PAYLOAD_TYPE
    assert envelope.pae() == dsse.pae(PAYLOAD_TYPE, envelope.payload)
    assert list(envelope.signatures) == [signer.keyid]
    accepted = envelope.verify([key], 1)
    assert list(accepted) == [signer.keyid]
    statement = orjson.loads(envelope.payload)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"][0]["digest"]["sha256"] == canonical.content_digest(chat(1))


@pytest.mark.parametrize("signer", SIGNERS)
def test_securesystemslib_default_keyid_differs_but_signature_is_valid(
    signer: PrivateKeySigner, cli: Runner, tmp_path: Path
) -> None:
    key = SSlibKey.from_crypto(_exported_key(cli, signer, tmp_path))
    assert key.keyid != signer.keyid
    envelope = _sslib_envelope(_provenance_envelope(signer))
    # securesystemslib only tries keys whose id equals the signature's key id.
    with pytest.raises(SslibVerificationError):
        envelope.verify([key], 1)
    [signature] = envelope.signatures.values()
    key.verify_signature(Signature(key.keyid, signature.signature), envelope.pae())


@pytest.mark.parametrize("signer", SIGNERS)
def test_securesystemslib_rejects_a_tampered_provenance_envelope(
    signer: PrivateKeySigner, cli: Runner, tmp_path: Path
) -> None:
    data = _provenance_envelope(signer)
    key = SSlibKey.from_crypto(_exported_key(cli, signer, tmp_path), keyid=signer.keyid)
    payload = dsse.b64decode(data["payload"], "payload")
    data["payload"] = dsse.b64encode(payload.replace(b'"acme"', b'"acne"'))
    with pytest.raises(SslibVerificationError):
        _sslib_envelope(data).verify([key], 1)


# ---- securesystemslib writes, provenance verifies ----------------------------------------------


def _sslib_signed_record(signer: PrivateKeySigner, hint: str) -> dict[str, Any]:
    """``chat(1)`` with a per-record manifest whose envelope securesystemslib signed.

    ``hint`` picks the key id written in the signature: securesystemslib's own (``sslib``) or
    provenance's (``provenance``).
    """
    record = chat(1)
    statement = tagger(signer).statement_for(record, generated_at=GENERATED_AT)
    public = SSlibKey.from_crypto(
        signer.private_key.public_key(), keyid=signer.keyid if hint == "provenance" else None
    )
    sslib_signer = CryptoSigner(signer.private_key, public)
    envelope = SslibEnvelope(payload=statement, payload_type=PAYLOAD_TYPE, signatures={})
    envelope.sign(sslib_signer)
    out = dict(record)
    out["_provenance"] = {"dsse": envelope.to_dict()}
    return out


def _verify(cli: Runner, folder: Path, signer: PrivateKeySigner, record: Any) -> dict[str, Any]:
    data = write_jsonl(folder / "signed.jsonl", [record])
    result = cli("verify", data, "--trust", _trust(folder, signer), "--format", "json")
    assert "Traceback" not in result.out + result.err
    report: dict[str, Any] = orjson.loads(result.out)
    report["exit"] = result.code
    return report


@pytest.mark.parametrize("signer", SIGNERS)
def test_securesystemslib_envelope_encoding(signer: PrivateKeySigner) -> None:
    record = _sslib_signed_record(signer, "sslib")
    data = record["_provenance"]["dsse"]
    assert set(data) == {"payload", "payloadType", "signatures"}
    [entry] = data["signatures"]
    assert set(entry) == {"keyid", "sig"}
    expected_keyid = SSlibKey.from_crypto(signer.private_key.public_key()).keyid
    assert entry["keyid"] == expected_keyid != signer.keyid
    # standard alphabet, padded: what provenance's strict decoder accepts
    parsed = dsse.Envelope.from_dict(data)
    assert parsed.to_dict()["signatures"][0]["sig"] == entry["sig"]
    assert parsed.payload == tagger(signer).statement_for(chat(1), generated_at=GENERATED_AT)


@pytest.mark.parametrize("hint", ["sslib", "provenance"])
@pytest.mark.parametrize("signer", SIGNERS)
def test_securesystemslib_envelope_verifies_with_provenance(
    signer: PrivateKeySigner, hint: str, cli: Runner, tmp_path: Path
) -> None:
    report = _verify(cli, tmp_path, signer, _sslib_signed_record(signer, hint))
    assert report["exit"] == 0, report
    assert report["counts"] == {"ok": 1}


@pytest.mark.parametrize("signer", SIGNERS)
def test_changed_content_under_a_securesystemslib_envelope_fails(
    signer: PrivateKeySigner, cli: Runner, tmp_path: Path
) -> None:
    record = _sslib_signed_record(signer, "sslib")
    record["score"] = 4
    report = _verify(cli, tmp_path, signer, record)
    assert report["exit"] == 1
    assert report["counts"] == {"content-mismatch": 1}
    assert report["failures"][0]["line"] == 1
    assert report["failures"][0]["record_id"] == "r1"


# With securesystemslib's key id the signature names no trusted key, so a signature that no trusted
# key verifies is "untrusted-signer"; with provenance's key id it names the trusted key that fails
# it, "bad-signature" (README, Verify).
@pytest.mark.parametrize(
    ("hint", "status"), [("sslib", "untrusted-signer"), ("provenance", "bad-signature")]
)
@pytest.mark.parametrize("part", ["payload", "sig"])
@pytest.mark.parametrize("signer", SIGNERS)
def test_tampered_securesystemslib_envelope_fails(
    signer: PrivateKeySigner, part: str, hint: str, status: str, cli: Runner, tmp_path: Path
) -> None:
    record = _sslib_signed_record(signer, hint)
    data = record["_provenance"]["dsse"]
    if part == "payload":
        statement = orjson.loads(dsse.b64decode(data["payload"], "payload"))
        statement["predicate"]["organization"] = "globex"
        data["payload"] = dsse.b64encode(canonical.canonicalize(statement))
    else:
        sig = bytearray(dsse.b64decode(data["signatures"][0]["sig"], "sig"))
        sig[-1] ^= 0x01
        data["signatures"][0]["sig"] = dsse.b64encode(bytes(sig))
    report = _verify(cli, tmp_path, signer, record)
    assert report["exit"] == 1
    assert report["counts"] == {status: 1}
    assert report["failures"][0]["record_id"] == "r1"
