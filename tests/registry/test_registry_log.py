"""Tamper evidence: ``log verify`` against a saved checkpoint names every kind of change."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Connection, create_engine, text

from provenance.registry.logtree import body_hash, entry_hash
from provenance.registry.tables import ManifestRow, body_columns, metadata_registry
from tests.conftest import Runner
from tests.registry.registry_data import signed_file


def _sql(url: str, work: Callable[[Connection], object]) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            work(connection)
    finally:
        engine.dispose()


def _seq(connection: Connection, record_id: str) -> int:
    return int(
        connection.execute(
            text("SELECT log_seq FROM manifests WHERE record_id = :r"), {"r": record_id}
        ).scalar_one()
    )


def _setup(project: Path, cli: Runner) -> Path:
    data = signed_file(project / "d1.jsonl", "d1", 20, untagged=2)
    assert cli("ingest", data).code == 0
    assert cli("lineage", "add", "acme/m1", "--trained-on", "d1").code == 0
    saved = project / "saved" / "checkpoint.json"
    made = cli("log", "checkpoint", "-o", saved)
    assert made.code == 0, made.err
    return saved


def _verify(cli: Runner, saved: Path) -> tuple[int, dict[str, object]]:
    result = cli("log", "verify", "--checkpoint", saved, "--format", "json")
    return result.code, orjson.loads(result.out)


def _kinds(report: dict[str, object]) -> set[str]:
    problems = report["problems"]
    assert isinstance(problems, list)
    return {str(p["kind"]) for p in problems}


def test_untouched_store_verifies(registry_keyed: Path, cli: Runner) -> None:
    saved = _setup(registry_keyed, cli)
    code, report = _verify(cli, saved)
    assert code == 0, report
    assert report["ok"] is True
    checkpoints = report["checkpoints"]
    assert isinstance(checkpoints, list)
    assert checkpoints[0]["consistent"] is True
    text_out = cli("log", "verify", "--checkpoint", saved)
    assert "ok: the store matches its log" in text_out.out
    # More writes after the checkpoint are fine: the log only grows.
    more = signed_file(registry_keyed / "d2.jsonl", "d2", 5)
    assert cli("ingest", more).code == 0
    assert _verify(cli, saved)[0] == 0


def test_edited_row_is_named(registry_keyed: Path, db_url: str, cli: Runner) -> None:
    saved = _setup(registry_keyed, cli)
    _sql(
        db_url,
        lambda c: c.execute(
            text("UPDATE manifests SET organization = 'evil' WHERE record_id = 'd1-3'")
        ),
    )
    code, report = _verify(cli, saved)
    assert code == 1
    assert "altered" in _kinds(report)
    assert "d1-3" in orjson.dumps(report).decode()


def test_deleted_row_is_named(registry_keyed: Path, db_url: str, cli: Runner) -> None:
    saved = _setup(registry_keyed, cli)
    _sql(db_url, lambda c: c.execute(text("DELETE FROM dataset_members WHERE position = 5")))
    code, report = _verify(cli, saved)
    assert code == 1
    assert {"deleted", "dataset"} <= _kinds(report)
    assert "member 5" in orjson.dumps(report).decode()


def test_reordered_rows_are_named(registry_keyed: Path, db_url: str, cli: Runner) -> None:
    saved = _setup(registry_keyed, cli)

    def swap(connection: Connection) -> None:
        a, b = _seq(connection, "d1-1"), _seq(connection, "d1-2")
        for old, new in ((a, -1), (b, a), (-1, b)):
            connection.execute(
                text("UPDATE manifests SET log_seq = :new WHERE log_seq = :old"),
                {"new": new, "old": old},
            )

    _sql(db_url, swap)
    code, report = _verify(cli, saved)
    assert code == 1
    reordered = [p for p in report["problems"] if p["kind"] == "reordered"]  # type: ignore[attr-defined]
    assert len(reordered) == 2
    assert "d1-1" in str(reordered) and "d1-2" in str(reordered)


def test_reordered_log_entries_are_named(registry_keyed: Path, db_url: str, cli: Runner) -> None:
    saved = _setup(registry_keyed, cli)

    def swap(connection: Connection) -> None:
        for old, new in ((3, -1), (4, 3), (-1, 4)):
            connection.execute(
                text("UPDATE log_entries SET seq = :new WHERE seq = :old"), {"new": new, "old": old}
            )

    _sql(db_url, swap)
    code, report = _verify(cli, saved)
    assert code == 1
    assert {"log-edited", "diverged"} <= _kinds(report)


def test_restored_older_copy_is_detected(registry_keyed: Path, db_url: str, cli: Runner) -> None:
    first = signed_file(registry_keyed / "d1.jsonl", "d1", 10)
    assert cli("ingest", first).code == 0
    tables = [*metadata_registry.metadata.tables, "alembic_version"]

    def snapshot(connection: Connection) -> None:
        for table in tables:
            connection.execute(text(f"CREATE TABLE snap_{table} AS SELECT * FROM {table}"))

    _sql(db_url, snapshot)
    second = signed_file(registry_keyed / "d2.jsonl", "d2", 10)
    assert cli("ingest", second).code == 0
    saved = registry_keyed / "checkpoint.json"
    assert cli("log", "checkpoint", "-o", saved).code == 0

    def restore(connection: Connection) -> None:
        for table in tables:
            connection.execute(text(f"DELETE FROM {table}"))
            connection.execute(text(f"INSERT INTO {table} SELECT * FROM snap_{table}"))
            connection.execute(text(f"DROP TABLE snap_{table}"))

    _sql(db_url, restore)
    assert cli("log", "verify").code == 0  # consistent in itself …
    code, report = _verify(cli, saved)  # … but older than the checkpoint
    assert code == 1
    assert "rolled-back" in _kinds(report)
    text_out = cli("log", "verify", "--checkpoint", saved).out
    assert "an older copy of the database was restored" in text_out


def test_rows_and_log_rewritten_together_diverge(
    registry_keyed: Path, db_url: str, cli: Runner
) -> None:
    saved = _setup(registry_keyed, cli)

    def forge(connection: Connection) -> None:
        seq = _seq(connection, "d1-7")
        connection.execute(
            text("UPDATE manifests SET organization = 'evil' WHERE log_seq = :s"), {"s": seq}
        )
        columns = body_columns(ManifestRow)
        row = connection.execute(
            text(f"SELECT {', '.join(columns)} FROM manifests WHERE log_seq = :s"), {"s": seq}
        ).one()
        body = body_hash("manifest", dict(zip(columns, row, strict=True)))
        label = connection.execute(
            text("SELECT label FROM log_entries WHERE seq = :s"), {"s": seq}
        ).scalar_one()
        connection.execute(
            text("UPDATE log_entries SET body_hash = :b, entry_hash = :e WHERE seq = :s"),
            {"b": body, "e": entry_hash(seq, "manifest", label, body), "s": seq},
        )

    _sql(db_url, forge)
    code, report = _verify(cli, saved)
    assert code == 1
    diverged = [p for p in report["problems"] if p["kind"] == "diverged"]  # type: ignore[attr-defined]
    assert diverged
    assert "within entries #" in str(diverged[0]["message"])


def test_row_written_outside_the_log_is_named(
    registry_keyed: Path, db_url: str, cli: Runner
) -> None:
    saved = _setup(registry_keyed, cli)
    _sql(
        db_url,
        lambda c: c.execute(
            text(
                "INSERT INTO models (log_seq, name, organization, registered_at) "
                "VALUES (99999, 'acme/ghost', NULL, '2025-01-01T00:00:00Z')"
            )
        ),
    )
    code, report = _verify(cli, saved)
    assert code == 1
    assert "inserted" in _kinds(report)


def test_checkpoint_must_be_signed_by_a_trusted_key(
    registry_keyed: Path, cli: Runner, tmp_path: Path
) -> None:
    saved = _setup(registry_keyed, cli)
    data = orjson.loads(saved.read_bytes())
    sig = data["signatures"][0]["sig"]
    data["signatures"][0]["sig"] = ("B" if sig[0] != "B" else "C") + sig[1:]
    forged = tmp_path / "forged.json"
    forged.write_bytes(orjson.dumps(data))
    code, report = _verify(cli, forged)
    assert code == 1
    assert "checkpoint" in _kinds(report)
    empty_trust = tmp_path / "trust.yaml"
    empty_trust.write_text("version: 1\nkeys: []\n")
    result = cli("log", "verify", "--checkpoint", saved, "--trust", empty_trust)
    assert result.code == 1
    assert "not by a trusted key" in result.out


@pytest.mark.parametrize("bad", ["not json", '{"payloadType": "x"}'])
def test_unreadable_checkpoint_is_no_verdict(
    registry_keyed: Path, cli: Runner, tmp_path: Path, bad: str
) -> None:
    path = tmp_path / "cp.json"
    path.write_text(bad)
    result = cli("log", "verify", "--checkpoint", path)
    assert result.code != 0
    assert "provenance: error:" in result.err
