"""Registry writes and reads on SQLite and PostgreSQL: schema, ingest, lineage, audit runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from provenance import project
from provenance.errors import InputError
from provenance.policy import loader
from provenance.registry import db
from provenance.registry.ingest import ingest
from provenance.registry.manifests import check_manifest
from provenance.registry.store import Registry
from provenance.registry.tables import metadata_registry
from provenance.trust import TrustStore
from tests.conftest import Runner
from tests.registry.registry_data import POLICY_LIBRARY, counts, signed_file


def test_migrations_create_the_modelled_schema(db_url: str, cli: Runner) -> None:
    first = cli("db", "upgrade", "--db", db_url)
    assert first.code == 0, first.err
    assert "upgraded from empty to 0002" in first.out
    again = cli("db", "upgrade", "--db", db_url)
    assert "nothing to do" in again.out
    engine = db.make_engine(db_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata_registry.metadata) == []
    finally:
        engine.dispose()


def test_registry_opens_and_migrates_on_first_use(db_url: str) -> None:
    with Registry.open(db_url) as registry:
        origin, size = registry.head()
        assert size == 0
        assert len(origin) == 32
        assert registry.counts()["log_entries"] == 0


def test_ingest_twice_adds_nothing(registry_project: Path, db_url: str, cli: Runner) -> None:
    data = signed_file(registry_project / "d1.jsonl", "d1", 30, untagged=3)
    first = cli("ingest", data, "--format", "json")
    assert first.code == 0, first.err
    result = orjson.loads(first.out)
    assert result["dataset"] == "d1"
    assert result["records"] == 33
    assert result["manifests_added"] == 30
    assert result["members_added"] == 33
    assert result["verification"] == {"ok": 30, "missing-manifest": 3}
    before = counts(db_url)
    second = cli("ingest", data)
    assert second.code == 0, second.err
    assert "nothing added" in second.out
    assert counts(db_url) == before
    assert before["manifests"] == 30
    assert before["dataset_members"] == 33
    assert before["datasets"] == 1
    # trust state + key + 30 manifests + 33 members + dataset
    assert before["log_entries"] == 1 + 1 + 30 + 33 + 1
    # The same data under another name is a second dataset over the same stored records.
    third = cli("ingest", data, "--name", "copy-of-d1")
    assert third.code == 0, third.err
    after = counts(db_url)
    assert after["datasets"] == 2
    assert after["manifests"] == 30
    assert after["dataset_members"] == 33


def test_dataset_digest_is_the_audit_digest(registry_project: Path, cli: Runner) -> None:
    data = signed_file(registry_project / "data" / "d1.jsonl", "d1", 12)
    ingest = orjson.loads(cli("ingest", data, "--format", "json").out)
    intent = registry_project / "intent.yaml"
    intent.write_text(
        json.dumps(
            {
                "target": {"name": "acme-chat", "organization": "acme"},
                "activity": "fine-tune",
                "commercial": False,
                "distribution": "internal",
                "competes_with": [],
                "date": "2025-01-10",
            }
        )
    )
    result = cli(
        "audit", data, "--intent", intent, "--policies", POLICY_LIBRARY, "--format", "json"
    )
    assert orjson.loads(result.out)["dataset_digest"] == ingest["dataset_digest"]


def test_batch_mode_manifests_are_stored_self_contained(
    registry_project: Path, db_url: str, cli: Runner
) -> None:
    data = signed_file(registry_project / "b.jsonl", "b", 20, batch_size=8)
    assert cli("ingest", data).code == 0
    trust = project.load_trust(registry_project / ".provenance" / "trust.yaml")
    with Registry.open(db_url) as registry:
        rows = registry.manifests_for("b-13")
        assert len(rows) == 1
        assert rows[0].mode == "batch"
        assert rows[0].batch_root is not None
        checked = check_manifest(json.loads(rows[0].provenance), rows[0].content_digest, trust)
        assert checked.ok, checked.reason
        wrong = check_manifest(json.loads(rows[0].provenance), "0" * 64, trust)
        assert wrong.status == "content-mismatch"


def test_records_that_fail_verification_stop_the_ingest(
    registry_project: Path, db_url: str, cli: Runner
) -> None:
    data = signed_file(registry_project / "t.jsonl", "t", 5)
    lines = data.read_bytes().splitlines()
    record = orjson.loads(lines[2])
    record["score"] = 99
    lines[2] = orjson.dumps(record)
    data.write_bytes(b"\n".join(lines) + b"\n")
    refused = cli("ingest", data)
    assert refused.code == 1
    assert "content-mismatch" in refused.err
    assert "nothing was registered" in refused.err
    assert counts(db_url)["datasets"] == 0
    allowed = cli("ingest", data, "--allow-failures", "--format", "json")
    assert allowed.code == 0, allowed.err
    assert orjson.loads(allowed.out)["manifests_added"] == 4
    with Registry.open(db_url) as registry:
        snapshot = registry.snapshot()
        assert snapshot.datasets[0].statuses == {"ok": 4, "content-mismatch": 1}


def test_lineage_add_is_idempotent_and_exports(
    registry_project: Path, db_url: str, cli: Runner
) -> None:
    data = signed_file(registry_project / "d1.jsonl", "d1", 6)
    assert cli("ingest", data).code == 0
    added = cli(
        "lineage",
        "add",
        "acme/helper-7b",
        "--trained-on",
        "d1",
        "--base-model",
        "fabrikam-7b",
        "--activity",
        "fine-tune",
    )
    assert added.code == 0, added.err
    assert "2 declarations added" in added.out
    again = cli(
        "lineage", "add", "acme/helper-7b", "--trained-on", "d1", "--base-model", "fabrikam-7b"
    )
    assert "nothing added" in again.out
    assert counts(db_url)["lineage_edges"] == 2
    missing = cli("lineage", "add", "acme/other", "--trained-on", "not-ingested")
    assert missing.code == 0
    assert "not in the registry" in missing.err
    shown = cli("lineage", "show", "acme/helper-7b", "--policies", POLICY_LIBRARY)
    assert shown.code == 0, shown.err
    assert "trained on d1" in shown.out
    assert "contoso/api-terms@2024-01-01" in shown.out
    exported = cli("lineage", "export", "--format", "yaml", "--policies", POLICY_LIBRARY)
    assert exported.code == 0, exported.err
    document = yaml.safe_load(exported.out)
    helper = next(m for m in document["models"] if m["name"] == "acme/helper-7b")
    assert helper["trained_on"] == ["d1"]
    assert helper["base_model"] == "fabrikam-7b"
    d1 = next(d for d in document["datasets"] if d["name"] == "d1")
    assert d1["generators"][0]["model"] == "contoso-large-2"
    path = registry_project / "lineage.yaml"
    path.write_text(exported.out)
    assert loader.load_lineage(path).models


def test_exported_lineage_carries_terms_to_an_audit(registry_project: Path, cli: Runner) -> None:
    """Data written by a model trained on Fabrikam outputs inherits Fabrikam's licence."""
    upstream = signed_file(
        registry_project / "d1.jsonl",
        "d1",
        4,
        provider="fabrikam",
        model="fabrikam-7b",
        service="self-hosted",
    )
    assert cli("ingest", upstream).code == 0
    assert cli("lineage", "add", "acme/helper-7b", "--trained-on", "d1").code == 0
    exported = cli("lineage", "export", "--format", "yaml", "-o", registry_project / "lin.yaml")
    assert exported.code == 0, exported.err
    second = signed_file(
        registry_project / "data" / "d2.jsonl",
        "d2",
        4,
        provider="acme",
        model="acme/helper-7b",
        service="self-hosted",
    )
    competing = POLICY_LIBRARY.parent / "intents" / "competing.yaml"
    result = cli(
        "audit",
        second,
        "--intent",
        competing,
        "--policies",
        POLICY_LIBRARY,
        "--lineage",
        registry_project / "lin.yaml",
        "--format",
        "json",
        "--fail-on",
        "never",
    )
    assert result.code == 0, result.err
    report = orjson.loads(result.out)
    inherited = [d for d in report["decisions"] if d["terms"].startswith("fabrikam/")]
    assert inherited
    assert "acme/helper-7b" in inherited[0]["path"]


def test_audit_record_stores_report_and_terms(
    registry_project: Path, db_url: str, cli: Runner
) -> None:
    data = signed_file(registry_project / "data" / "d1.jsonl", "d1", 5)
    assert cli("ingest", data).code == 0
    competing = POLICY_LIBRARY.parent / "intents" / "competing.yaml"
    result = cli(
        "audit",
        data,
        "--intent",
        competing,
        "--policies",
        POLICY_LIBRARY,
        "--record",
        "--format",
        "json",
    )
    assert result.code == 1
    assert "recorded: audit run" in result.err
    stored = counts(db_url)
    assert stored["audit_runs"] == 1
    assert stored["terms_documents"] == 1
    with Registry.open(db_url) as registry:
        audit = registry.snapshot().audits[0]
    report = orjson.loads(result.out)
    assert audit.verdict == "fail"
    assert audit.dataset_digest == report["dataset_digest"]
    assert audit.policies == (("contoso/api-terms@2024-01-01", report["policies"][0]["digest"]),)
    assert {(d.terms, d.decision) for d in audit.decisions} >= {
        ("contoso/api-terms@2024-01-01", "deny")
    }
    # A second run is a second audit; the terms document it used is stored once.
    cli("audit", data, "--intent", competing, "--policies", POLICY_LIBRARY, "--record")
    again = counts(db_url)
    assert again["audit_runs"] == 2
    assert again["terms_documents"] == 1


def test_a_failure_past_the_listed_failures_still_stops_the_ingest(
    registry_project: Path, db_url: str, cli: Runner
) -> None:
    """The verifier lists the first 10,000 failures, unsigned records among them: a record that
    fails after them is counted, and the count decides."""
    data = registry_project / "plain.jsonl"
    lines = [b'{"id":"u%d"}' % i for i in range(10_001)] + [b'{"id":"bad","_provenance":{}}']
    data.write_bytes(b"\n".join(lines) + b"\n")
    refused = cli("ingest", data)
    assert refused.code == 1, refused.err
    assert "1 record(s) fail verification; nothing was registered" in refused.err
    assert counts(db_url)["datasets"] == 0


def test_data_changed_between_the_passes_stops_the_ingest_before_its_group(
    registry_project: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each group of records written is checked against the first pass first: the groups before a
    change are stored, the changed group is not, and the ingest completes once the data is back."""
    data = signed_file(registry_project / "g.jsonl", "g", 12)
    original = data.read_bytes()
    lines = original.splitlines()
    changed = orjson.loads(lines[9])
    changed["score"] = 99
    lines[9] = orjson.dumps(changed)
    trust = project.load_trust(registry_project / ".provenance" / "trust.yaml")
    with Registry.open(db_url) as registry:
        record_trust = registry.record_trust

        def change_the_file(store: TrustStore) -> str:  # runs between the two passes
            data.write_bytes(b"\n".join(lines) + b"\n")
            return record_trust(store)

        monkeypatch.setattr(registry, "record_trust", change_the_file)
        with pytest.raises(InputError) as raised:
            ingest(registry, [str(data)], trust, chunk=4)
        assert raised.value.message.startswith("the data changed during the ingest")
        assert (raised.value.source, raised.value.line) == (str(data), 9)
        assert registry.counts()["dataset_members"] == 8
        assert registry.counts()["datasets"] == 0
        data.write_bytes(original)
        monkeypatch.undo()
        done = ingest(registry, [str(data)], trust, chunk=4)
        assert (done.records, done.members_added, done.dataset_added) == (12, 4, True)


INGEST_PEAK = """
import resource, sys
from provenance import project, scan
from provenance.errors import VerificationError
from provenance.registry.ingest import ingest
from provenance.registry.store import Registry

scan.CHUNK_BYTES = 1 << 18  # what a chunk in flight holds stays small beside what grows
trust = project.load_trust(project.trust_path(None))
with Registry.open(sys.argv[2]) as registry:
    try:
        ingest(registry, [sys.argv[1]], trust, workers=1)
    except VerificationError as exc:
        print(exc.message, file=sys.stderr)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def _ingest_peak(folder: Path, records: int) -> int:
    """The peak resident memory, in bytes, of a fresh process whose ingest reads ``records``
    unsigned records and stops after its first pass (the last record fails verification)."""
    data = folder / f"plain-{records}.jsonl"
    with data.open("wb") as out:
        for i in range(records):
            out.write(b'{"id":"u%d","n":%d}\n' % (i, i))
        out.write(b'{"id":"last","_provenance":{}}\n')
    done = subprocess.run(
        [sys.executable, "-c", INGEST_PEAK, str(data), f"sqlite:///{folder / 'peak.db'}"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "1 record(s) fail verification; nothing was registered" in done.stderr
    return int(done.stdout.split()[-1])


def test_ingest_memory_does_not_grow_with_the_records(project_dir: Path) -> None:
    """The first pass keeps a Merkle compact range, a fingerprint per 500 records and status runs,
    not 33 bytes per record (then some 140 more while hashing them): 180,000 more records add
    less than 3 MB (17 bytes a record) to the peak."""
    small = _ingest_peak(project_dir, 60_000)
    large = _ingest_peak(project_dir, 240_000)
    assert large - small < 3 * 1024 * 1024, (small, large)
