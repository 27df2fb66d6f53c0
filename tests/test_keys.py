"""Keys on disk: generation, owner-only files, passphrases from the environment, loading."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from provenance import load_signer
from provenance.errors import SigningKeyError
from provenance.keys import PrivateKeySigner, VerifyingKey
from tests.conftest import Runner


def test_generated_private_key_is_owner_only_and_never_printed(
    project_dir: Path, cli: Runner
) -> None:
    result = cli("keys", "generate", "second", "--algorithm", "ecdsa-p256")
    assert result.code == 0
    private = project_dir / ".provenance" / "keys" / "second.key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert "PRIVATE KEY" not in result.out + result.err
    listing = cli("keys", "list")
    assert "second" in listing.out and "ecdsa-p256" in listing.out
    assert "PRIVATE KEY" not in listing.out
    export = cli("keys", "export", "second")
    assert "BEGIN PUBLIC KEY" in export.out and "PRIVATE" not in export.out


def test_passphrase_comes_from_the_environment(
    workdir: Path, cli: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("init")
    monkeypatch.setenv("PROVENANCE_KEY_PASSPHRASE", "correct horse")
    assert cli("keys", "generate", "locked").code == 0
    pem = (workdir / ".provenance/keys/locked.key").read_bytes()
    assert b"ENCRYPTED" in pem
    assert load_signer("locked").algorithm == "ed25519"
    monkeypatch.setenv("PROVENANCE_KEY_PASSPHRASE", "wrong")
    with pytest.raises(SigningKeyError, match="wrong passphrase"):
        load_signer("locked")
    monkeypatch.delenv("PROVENANCE_KEY_PASSPHRASE")
    with pytest.raises(SigningKeyError) as info:
        load_signer("locked")
    assert "PROVENANCE_KEY_PASSPHRASE" in info.value.diagnostics()


def test_existing_key_is_never_overwritten(project_dir: Path, cli: Runner) -> None:
    before = (project_dir / ".provenance/keys/gen.key").read_bytes()
    result = cli("keys", "generate", "gen")
    assert result.code == 2
    assert "already exists" in result.err
    assert (project_dir / ".provenance/keys/gen.key").read_bytes() == before


def test_key_id_is_sha256_of_spki_der() -> None:
    import hashlib

    from cryptography.hazmat.primitives import serialization

    signer = PrivateKeySigner.generate()
    der = signer.private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert signer.keyid == hashlib.sha256(der).hexdigest()
    assert VerifyingKey.from_pem(signer.verifying_key().pem()).keyid == signer.keyid
    assert "PRIVATE" not in repr(signer) and signer.keyid[:16] in repr(signer)


def test_unknown_key_name_is_a_clear_error(workdir: Path, cli: Runner) -> None:
    cli("init")
    result = cli(
        "tag",
        "in.jsonl",
        "-o",
        "out.jsonl",
        "--key",
        "nope",
        "--model",
        "m",
        "--provider",
        "p",
        "--generated-at",
        "now",
    )
    assert result.code == 2
    assert "no key file 'nope'" in result.err
    assert "Traceback" not in result.err


def _entries(project: Path) -> dict[str, dict[str, object]]:
    import yaml

    store = yaml.safe_load((project / ".provenance" / "trust.yaml").read_text())
    return {k["name"]: k for k in store["keys"]}


def test_what_a_key_signs_is_chosen_when_it_is_trusted(project_dir: Path, cli: Runner) -> None:
    made = cli("keys", "generate", "registry", "--trust", "--signs", "checkpoints, evidence")
    assert made.code == 0, made.err
    assert "trusted 'registry'" in made.out and "to sign evidence, checkpoints" in made.out
    other = PrivateKeySigner.generate()
    pem = project_dir / "partner.pub"
    pem.write_bytes(other.verifying_key().pem())
    trusted = cli("keys", "trust", pem, "--provider", "openai", "--signs", "records,records")
    assert trusted.code == 0, trusted.err
    entries = _entries(project_dir)
    assert entries["registry"]["signs"] == ["evidence", "checkpoints"]
    assert "signs" not in entries["partner"]  # records, the default, is left out
    assert "signs" not in entries["gen"]
    listing = cli("keys", "list").out
    assert "signs evidence,checkpoints for *" in listing
    assert "signs records for openai" in listing


def test_rotate_carries_what_the_key_signs(project_dir: Path, cli: Runner) -> None:
    made = cli(
        "keys", "generate", "registry", "--trust", "--signs", "evidence,checkpoints",
        "--provider", "contoso",
    )  # fmt: skip
    assert made.code == 0
    assert cli("keys", "rotate", "registry", "registry-2025").code == 0
    entries = _entries(project_dir)
    assert entries["registry-2025"]["signs"] == ["evidence", "checkpoints"]
    assert entries["registry-2025"]["providers"] == ["contoso"]
    assert "valid_until" in entries["registry"]


def test_an_unknown_kind_to_sign_is_refused_before_anything_is_made(
    project_dir: Path, cli: Runner
) -> None:
    result = cli("keys", "generate", "other", "--trust", "--signs", "manifests")
    assert result.code == 2
    assert "--signs: unknown kind 'manifests'" in result.err
    assert "records, evidence, checkpoints" in result.err
    assert not (project_dir / ".provenance" / "keys" / "other.key").exists()
    empty = cli("keys", "trust", "gen", "--name", "again", "--signs", ",")
    assert empty.code == 2
    assert "Traceback" not in empty.err
