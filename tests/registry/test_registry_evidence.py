"""Evidence bundles built from the examples verify offline; any changed byte fails with a reason."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import orjson
import pytest

from provenance.keys import PrivateKeySigner
from provenance.registry.bundle_verify import verify_bundle
from provenance.registry.evidence import build_bundle
from provenance.registry.store import Registry
from provenance.trust import TrustedKey, TrustStore
from tests.conftest import Runner
from tests.registry.registry_data import signed_file

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"


@pytest.fixture
def example_bundle(registry_keyed: Path, cli: Runner) -> Path:
    """The example corpus ingested, audited (recorded) and declared, bundled for its model (by the
    project's registry key)."""
    registry_project = registry_keyed
    out = registry_project / "out"
    made = subprocess.run(
        [sys.executable, str(EXAMPLES / "make_corpus.py"), "gen", str(out)],
        cwd=registry_project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert cli("ingest", out / "upstream" / "gemma-seed.jsonl").code == 0
    ingested = cli("ingest", out / "corpus", "--name", "corpus")
    assert ingested.code == 0, ingested.err
    assert (
        cli(
            "lineage",
            "add",
            "example-org/helper-2b",
            "--trained-on",
            "gemma-seed",
            "--base-model",
            "google/gemma-2-2b-it",
            "--activity",
            "fine-tune",
        ).code
        == 0
    )
    lineage = registry_project / "lineage.yaml"
    lineage.write_text(
        (EXAMPLES / "lineage.yaml")
        .read_text()
        .replace("out/upstream/gemma-seed.jsonl", str(out / "upstream" / "gemma-seed.jsonl"))
    )
    audited = cli(
        "audit",
        out / "corpus",
        "--intent",
        EXAMPLES / "intents" / "research-eval.yaml",
        "--lineage",
        lineage,
        "--record",
        "--fail-on",
        "never",
    )
    assert audited.code == 0, audited.err
    assert (
        cli(
            "lineage",
            "add",
            "example-org/probe-350m",
            "--trained-on",
            "corpus",
            "--activity",
            "evaluate",
        ).code
        == 0
    )
    bundle = registry_project / "bundle.zip"
    built = cli("evidence", "example-org/probe-350m", "-o", bundle)
    assert built.code == 0, built.err
    return bundle


def test_example_bundle_verifies_offline(example_bundle: Path, cli: Runner) -> None:
    names = set(zipfile.ZipFile(example_bundle).namelist())
    assert {
        "bundle.dsse.json",
        "checkpoint.json",
        "log/entries.jsonl",
        "manifests.jsonl",
        "lineage.prov.json",
        "lineage.yaml",
        "trust.yaml",
        "registry-key.pub",
    } <= names
    assert any(n.startswith("reports/") for n in names)
    assert any(n.startswith("terms/") for n in names)
    assert any(n.startswith("keys/") for n in names)
    result = cli("evidence", "verify", example_bundle, "--format", "json")
    assert result.code == 0, result.out
    report = orjson.loads(result.out)
    assert report["ok"] is True
    assert report["subject"]["name"] == "example-org/probe-350m"
    facts = "\n".join(report["facts"])
    assert "trained on corpus" in facts and "audited before" in facts
    assert "manifests verified" in facts
    text = cli("evidence", "verify", example_bundle)
    assert "ok: the bundle verifies" in text.out
    assert "not who made it" in text.out
    trusted = cli(
        "evidence",
        "verify",
        example_bundle,
        "--trust",
        example_bundle.parent / ".provenance" / "trust.yaml",
    )
    assert trusted.code == 0, trusted.out
    assert "establishes who signed" in trusted.out


def test_bundle_signed_by_an_unknown_key_fails_against_your_trust(
    example_bundle: Path, tmp_path: Path, cli: Runner
) -> None:
    stranger = PrivateKeySigner.generate()
    trust = TrustStore((TrustedKey("stranger", stranger.verifying_key()),))
    report = verify_bundle(example_bundle.read_bytes(), trust)
    assert not report.ok
    assert any("no valid signature by a trusted key" in p for p in report.problems)


def test_every_changed_byte_fails_with_a_reason(example_bundle: Path, db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the bundle check is offline: once is enough")
    data = example_bundle.read_bytes()
    rng = random.Random(20250701)
    positions = set(rng.sample(range(len(data)), 160))
    positions |= {0, 1, 4, 10, 14, 26, 30, len(data) - 1, len(data) // 2}
    eocd = data.rfind(b"PK\x05\x06")
    positions |= set(range(eocd, eocd + 22))  # the end-of-central-directory record
    positions |= set(rng.sample(range(eocd + 22, len(data)), 150))  # the seal
    central = data.rfind(b"PK\x01\x02")
    positions |= set(range(central, central + 46))
    for position in sorted(p for p in positions if 0 <= p < len(data)):
        changed = bytearray(data)
        changed[position] ^= 0x01
        report = verify_bundle(bytes(changed))
        assert not report.ok, f"byte {position} changed and the bundle still verifies"
        assert all(p.strip() for p in report.problems)


def test_changed_file_is_named(example_bundle: Path, tmp_path: Path) -> None:
    source = zipfile.ZipFile(example_bundle)
    rebuilt = tmp_path / "rebuilt.zip"
    with zipfile.ZipFile(rebuilt, "w") as out:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "manifests.jsonl":
                content = content.replace(b'"record_id":"', b'"record_id":"x', 1)
            out.writestr(info, content)
    report = verify_bundle(rebuilt.read_bytes())
    assert not report.ok
    assert any(p.startswith("manifests.jsonl was changed") for p in report.problems)
    assert any("no seal" in p or "sealed" in p for p in report.problems)


def test_large_dataset_carries_a_proven_sample(
    registry_project: Path, db_url: str, cli: Runner
) -> None:
    data = signed_file(registry_project / "big.jsonl", "big", 60, untagged=5)
    assert cli("ingest", data).code == 0
    from provenance.project import load_signer

    signer = load_signer("gen")
    with Registry.open(db_url) as registry:
        bundle, info = build_bundle(registry, "big", signer, max_manifests=20, sample=7)
    assert info.kind == "dataset"
    archive = zipfile.ZipFile(__import__("io").BytesIO(bundle))
    names = archive.namelist()
    assert "datasets/001.sample.jsonl" in names
    assert "datasets/001.members.jsonl" not in names
    sample = [json.loads(x) for x in archive.read("datasets/001.sample.jsonl").splitlines()]
    assert len(sample) == 7
    assert all(s["proof"] for s in sample)
    report = verify_bundle(bundle)
    assert report.ok, report.problems
    assert any("65 records (sample), 7 manifests verified" in f for f in report.facts)
    # The building blocks fail on their own: a wrong proof is named.
    from provenance.registry.bundle import write_bundle

    files = {n: archive.read(n) for n in names if n != "bundle.dsse.json"}
    lines = files["datasets/001.sample.jsonl"].splitlines()
    first = json.loads(lines[0])
    first["proof"][0] = "00" * 32
    lines[0] = json.dumps(first).encode()
    files["datasets/001.sample.jsonl"] = b"\n".join(lines) + b"\n"
    forged = write_bundle(files, signer, {"subject": {"kind": "dataset", "name": "big"}})
    report = verify_bundle(forged)
    assert any("not proven in the dataset digest" in p for p in report.problems)


def test_no_bundle_from_a_tampered_store(registry_project: Path, db_url: str, cli: Runner) -> None:
    data = signed_file(registry_project / "d.jsonl", "d", 5)
    assert cli("ingest", data).code == 0
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE manifests SET record_id = 'x' WHERE record_id = 'd-1'"))
    engine.dispose()
    result = cli("evidence", "d", "-o", registry_project / "b.zip")
    assert result.code == 2
    assert "does not match its log" in result.err
