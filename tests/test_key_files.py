"""Private key files on disk: owner-only or refused (as ssh does), one key per PEM file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from provenance import load_signer
from provenance.errors import SigningKeyError
from provenance.keys import PrivateKeySigner
from tests.conftest import TAG, Runner, chat_records, read_jsonl, write_jsonl
from tests.registry.registry_data import signed_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def data(project_dir: Path) -> Path:
    return write_jsonl(project_dir / "in.jsonl", chat_records(3))


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o610])
def test_tag_refuses_a_private_key_open_to_group_or_others(
    project_dir: Path, data: Path, cli: Runner, mode: int
) -> None:
    key = project_dir / ".provenance" / "keys" / "gen.key"
    key.chmod(mode)
    result = cli("tag", data, "-o", "out.jsonl", *TAG)
    assert result.code == 2
    assert f"{key}: private key is open to group or others (mode {mode:04o})" in result.err
    assert f"chmod 600 {key}" in result.err
    assert "--insecure-key" in result.err and "PROVENANCE_INSECURE_KEY=1" in result.err
    assert "Traceback" not in result.err
    assert not (project_dir / "out.jsonl").exists()
    key.chmod(0o600)
    assert cli("tag", data, "-o", "out.jsonl", *TAG).code == 0


def test_a_pem_path_is_checked_like_a_project_key(
    project_dir: Path, data: Path, cli: Runner
) -> None:
    pem = project_dir / "signing.pem"
    pem.write_bytes(PrivateKeySigner.generate().private_pem())
    pem.chmod(0o644)
    options = ("--model", "gpt-4o", "--provider", "openai", "--generated-at", "now", "--force")
    refused = cli("tag", data, "-o", "out.jsonl", "--key", pem, *options)
    assert refused.code == 2
    assert f"chmod 600 {pem}" in refused.err
    pem.chmod(0o400)
    assert cli("tag", data, "-o", "out.jsonl", "--key", pem, *options).code == 0


def test_insecure_key_option_and_variable_allow_an_open_key(
    project_dir: Path, data: Path, cli: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = project_dir / ".provenance" / "keys" / "gen.key"
    key.chmod(0o644)
    allowed = cli("tag", data, "-o", "out.jsonl", *TAG, "--insecure-key")
    assert allowed.code == 0, allowed.err
    assert len(read_jsonl(project_dir / "out.jsonl")) == 3
    monkeypatch.setenv("PROVENANCE_INSECURE_KEY", "1")
    assert cli("tag", data, "-o", "out2.jsonl", *TAG).code == 0
    assert load_signer("gen").keyid
    monkeypatch.setenv("PROVENANCE_INSECURE_KEY", "0")
    assert cli("tag", data, "-o", "out3.jsonl", *TAG).code == 2
    with pytest.raises(SigningKeyError, match="open to group or others"):
        load_signer("gen")
    assert load_signer("gen", insecure=True).keyid


def test_an_encrypted_owner_only_key_keeps_working(
    workdir: Path, cli: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("init").code == 0
    monkeypatch.setenv("PROVENANCE_KEY_PASSPHRASE", "correct horse")
    assert cli("keys", "generate", "gen", "--trust").code == 0
    data = write_jsonl(workdir / "in.jsonl", chat_records(2))
    signed = cli("tag", data, "-o", "out.jsonl", *TAG)
    assert signed.code == 0, signed.err
    assert cli("verify", "out.jsonl").code == 0
    # An encrypted key is still a key: open to others, it is refused like any other.
    (workdir / ".provenance" / "keys" / "gen.key").chmod(0o644)
    assert cli("tag", data, "-o", "out.jsonl", *TAG).code == 2


def test_generated_and_rotated_keys_are_owner_only_whatever_the_umask(
    workdir: Path, cli: Runner
) -> None:
    before = os.umask(0)
    try:
        assert cli("init").code == 0
        assert cli("keys", "generate", "gen", "--trust").code == 0
        assert cli("keys", "rotate", "gen", "next").code == 0
    finally:
        os.umask(before)
    keys = workdir / ".provenance" / "keys"
    assert _mode(keys) == 0o700
    assert _mode(keys / "gen.key") == 0o600
    assert _mode(keys / "next.key") == 0o600
    data = write_jsonl(workdir / "in.jsonl", chat_records(1))
    assert cli("tag", data, "-o", "out.jsonl", *TAG[:1], "next", *TAG[2:]).code == 0


def test_registry_signing_refuses_an_open_key_unless_told(
    project_dir: Path, cli: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVENANCE_DATABASE_URL", f"sqlite:///{project_dir / 'registry.db'}")
    monkeypatch.delenv("PROVENANCE_REGISTRY_KEY", raising=False)
    assert cli("ingest", signed_file(project_dir / "d1.jsonl", "d1", 5)).code == 0
    key = project_dir / ".provenance" / "keys" / "gen.key"
    key.chmod(0o640)
    out = project_dir / "checkpoint.json"
    for how in ([], ["--key", "gen"], ["--key", str(key)]):
        refused = cli("log", "checkpoint", "-o", out, *how)
        assert refused.code == 2, how
        assert f"chmod 600 {key}" in refused.err
        assert not out.exists()
    monkeypatch.setenv("PROVENANCE_REGISTRY_KEY", "gen")
    assert cli("log", "checkpoint", "-o", out).code == 2
    made = cli("log", "checkpoint", "-o", out, "--insecure-key")
    assert made.code == 0, made.err
    assert out.exists()
    refused = cli("evidence", "build", "d1", "-o", project_dir / "bundle.zip")
    assert refused.code == 2 and "chmod 600" in refused.err
    built = cli("evidence", "build", "d1", "-o", project_dir / "bundle.zip", "--insecure-key")
    assert built.code == 0, built.err
    monkeypatch.setenv("PROVENANCE_INSECURE_KEY", "1")
    assert cli("log", "checkpoint", "-o", out).code == 0


def _two_public_keys(path: Path) -> Path:
    first, second = PrivateKeySigner.generate(), PrivateKeySigner.generate("ecdsa-p256")
    path.write_bytes(first.verifying_key().pem() + second.verifying_key().pem())
    return path


def test_trusting_a_file_of_two_public_keys_is_refused(project_dir: Path, cli: Runner) -> None:
    trust = project_dir / ".provenance" / "trust.yaml"
    before = trust.read_bytes()
    pem = _two_public_keys(project_dir / "pair.pub")
    result = cli("keys", "trust", pem)
    assert result.code == 2
    assert f"{pem} holds 2 public keys; give one per file" in result.err
    assert trust.read_bytes() == before
    assert cli("keys", "export", pem).code == 2


def test_a_private_key_file_of_two_keys_is_refused(
    project_dir: Path, data: Path, cli: Runner
) -> None:
    pem = project_dir / "pair.pem"
    pem.write_bytes(
        PrivateKeySigner.generate().private_pem() + PrivateKeySigner.generate().private_pem()
    )
    pem.chmod(0o600)
    result = cli("tag", data, "-o", "out.jsonl", "--key", pem, *TAG[2:])
    assert result.code == 2
    assert f"{pem} holds 2 private keys; give one per file" in result.err
    assert not (project_dir / "out.jsonl").exists()


def test_a_pem_of_mixed_blocks_names_them(project_dir: Path, cli: Runner) -> None:
    signer = PrivateKeySigner.generate()
    pem = project_dir / "mixed.pub"
    pem.write_bytes(signer.verifying_key().pem() + signer.private_pem())
    result = cli("keys", "trust", pem)
    assert result.code == 2
    assert "holds 2 PEM blocks (PUBLIC KEY, PRIVATE KEY); give one per file" in result.err


def test_a_trust_store_entry_of_two_keys_is_refused(
    project_dir: Path, cli: Runner, data: Path
) -> None:
    assert cli("tag", data, "-o", "out.jsonl", *TAG).code == 0
    trust = project_dir / ".provenance" / "trust.yaml"
    store = yaml.safe_load(trust.read_text())
    store["keys"][0]["public_key"] = _two_public_keys(project_dir / "pair.pub").read_text()
    trust.write_text(yaml.safe_dump(store))
    result = cli("verify", "out.jsonl")
    assert result.code == 2
    assert "holds 2 public keys; give one per file" in result.err
