"""What a new user meets first: changing a trusted key from the command line, the answer to a
date that is not one, the exit codes of ``explain``, counts in summaries, and the advice given
outside a project."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from provenance.text import count
from tests.conftest import ASSETS, TAG, Runner, chat_records, write_jsonl
from tests.report.helpers import intent_file

LIBRARY = ASSETS / "policy" / "library"

ACCEPTED = "an RFC 3339 time like 2024-05-01T12:00:00Z, or a date like 2024-05-01"


def _trust_store(root: Path) -> dict[str, Any]:
    data = yaml.safe_load((root / ".provenance" / "trust.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


# -- keys trust --update ---------------------------------------------------------------------------


def test_trusting_a_trusted_key_again_says_how_to_change_it(project_dir: Path, cli: Runner) -> None:
    result = cli("keys", "trust", "gen", "--provider", "openai")
    assert result.code == 2
    assert "already in the trust store" in result.err
    assert "keys trust KEY --update" in result.err


def test_keys_trust_update_changes_scope_and_window_and_keeps_the_rest(
    project_dir: Path, cli: Runner
) -> None:
    before = _trust_store(project_dir)
    result = cli(
        "keys",
        "trust",
        "gen",
        "--update",
        "--provider",
        "openai",
        "--provider",
        "meta",
        "--valid-from",
        "2024-01-01",
        "--valid-until",
        "2030-06-01T12:00:00Z",
        "--signs",
        "records,evidence",
    )
    assert result.code == 0, result.err
    assert "trust store version" in result.out
    after = _trust_store(project_dir)
    assert after["version"] == before["version"] + 1
    (entry,) = after["keys"]
    assert entry["providers"] == ["openai", "meta"]
    assert entry["organizations"] == ["*"]  # not given: kept
    assert entry["valid_from"] == "2024-01-01T00:00:00Z"
    assert entry["valid_until"] == "2030-06-01T12:00:00Z"
    assert entry["signs"] == ["records", "evidence"]

    listing = cli("keys", "list").out
    assert "signs records,evidence for openai,meta" in listing
    assert "from 2024-01-01T00:00:00Z until 2030-06-01T12:00:00Z" in listing
    assert f"trust store version {after['version']}" in listing

    # Only what is given changes; 'none' removes a bound.
    assert cli("keys", "trust", "gen", "--update", "--organization", "acme").code == 0
    assert cli("keys", "trust", "gen", "--update", "--valid-until", "none").code == 0
    (entry,) = _trust_store(project_dir)["keys"]
    assert entry["organizations"] == ["acme"]
    assert entry["providers"] == ["openai", "meta"]
    assert "valid_until" not in entry
    assert "(organisations acme) from 2024-01-01T00:00:00Z" in cli("keys", "list").out


def test_keys_trust_update_of_an_unknown_key_or_with_nothing_to_change(
    project_dir: Path, cli: Runner
) -> None:
    unknown = cli("keys", "trust", "nobody", "--update", "--provider", "openai")
    assert unknown.code == 2
    assert "'nobody' is not in the trust store" in unknown.err
    nothing = cli("keys", "trust", "gen", "--update")
    assert nothing.code == 2
    assert "nothing to change for 'gen'" in nothing.err


# -- dates -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "given"),
    [
        (("tag", "in.jsonl", "-o", "out.jsonl", *TAG, "--generated-at", "yesterday"), "yesterday"),
        (
            ("tag", "in.jsonl", "-o", "out.jsonl", *TAG, "--generated-at", "2024-13-01"),
            "2024-13-01",
        ),
        (("keys", "trust", "gen", "--update", "--valid-until", "tomorrow"), "tomorrow"),
        (("keys", "trust", "gen", "--update", "--valid-from", "2024-02-30"), "2024-02-30"),
    ],
)
def test_a_bad_date_names_the_value_and_the_accepted_forms(
    project_dir: Path, cli: Runner, args: tuple[str, ...], given: str
) -> None:
    write_jsonl(project_dir / "in.jsonl", chat_records(1))
    result = cli(*args)
    assert result.code == 2
    option = next(a for a in args if a.startswith("--valid") or a == "--generated-at")
    assert f"{option}: '{given}' is not a date or time" in result.err
    assert ACCEPTED in result.err
    assert "T00:00:00Z" not in result.err  # the value as given, not as rewritten
    assert not (project_dir / "out.jsonl").exists()


def test_a_time_without_a_zone_asks_for_one(project_dir: Path, cli: Runner) -> None:
    write_jsonl(project_dir / "in.jsonl", chat_records(1))
    result = cli("tag", "in.jsonl", "-o", "out.jsonl", *TAG, "--generated-at", "2024-05-01T12:00")
    assert result.code == 2
    assert "'2024-05-01T12:00' has no time zone" in result.err
    assert "add Z for UTC" in result.err


def test_a_date_and_a_time_are_both_accepted(project_dir: Path, cli: Runner) -> None:
    write_jsonl(project_dir / "in.jsonl", chat_records(1))
    for when in ("2024-05-01", "2024-05-01T12:00:00+02:00"):
        result = cli("tag", "in.jsonl", "-o", "out.jsonl", *TAG, "--generated-at", when)
        assert result.code == 0, result.err


def test_a_bad_date_in_the_trust_store_names_the_file_entry_and_forms(
    project_dir: Path, cli: Runner
) -> None:
    path = project_dir / ".provenance" / "trust.yaml"
    data = _trust_store(project_dir)
    data["keys"][0]["valid_until"] = "next week"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = cli("keys", "list")
    assert result.code == 2
    assert "keys[0]: valid_until: 'next week' is not a date or time" in result.err
    assert ACCEPTED in result.err


# -- counts ----------------------------------------------------------------------------------------


def test_count_says_one_and_many() -> None:
    assert count(1, "record") == "1 record"
    assert count(0, "record") == "0 records"
    assert count(300000, "record") == "300,000 records"
    assert count(2, "batch", "batches") == "2 batches"


def test_verify_counts_in_words(project_dir: Path, cli: Runner) -> None:
    write_jsonl(project_dir / "in.jsonl", chat_records(1))
    tagged = cli("tag", "in.jsonl", "-o", "one.jsonl", *TAG, "--generated-at", "2024-06-01")
    assert tagged.code == 0
    assert "signed 1 record → one.jsonl" in tagged.out
    result = cli("verify", "one.jsonl")
    assert result.code == 0
    assert "PASS: 1 record in 1 file: 1 ok" in result.out


def test_the_text_report_counts_in_words(project_dir: Path, cli: Runner) -> None:
    (project_dir / "data").mkdir()
    # Over a thousand records: the number gets a separator.
    write_jsonl(project_dir / "raw.jsonl", [{"id": f"c{i}", "text": f"{i}"} for i in range(1001)])
    tagged = cli(
        "tag",
        "raw.jsonl",
        "-o",
        "data/in.jsonl",
        "--key",
        "gen",
        "--model",
        "contoso-large-2",
        "--provider",
        "contoso",
        "--service",
        "api",
        "--generated-at",
        "2024-06-01",
    )
    assert tagged.code == 0, tagged.err
    result = cli(
        "audit", "data", "--intent", intent_file(project_dir, "intent"), "--policies", LIBRARY
    )
    assert result.code == 0, result.err
    assert "records: 1,001 in 1 file; 1,001 signed and verified" in result.out
    assert "(1,001 records)" in result.out
    assert "by provider: contoso 1,001" in result.out
    assert "(s)" not in result.out


# -- advice ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["verify", "audit"])
def test_outside_a_project_the_advice_is_the_signers_trust_store(
    workdir: Path, cli: Runner, command: str
) -> None:
    write_jsonl(workdir / "data.jsonl", chat_records(1))
    extra = ("--intent", str(intent_file(workdir, "intent"))) if command == "audit" else ()
    result = cli(command, "data.jsonl", *extra)
    assert result.code == 2
    assert "no --trust given and no .provenance folder" in result.err
    assert (
        "pass --trust FILE (the trust store of whoever signed the data), or run 'provenance init'"
        in result.err
    )
    assert "run 'provenance init' first" not in result.err


def test_a_missing_trust_store_file_gets_the_same_advice(workdir: Path, cli: Runner) -> None:
    write_jsonl(workdir / "data.jsonl", chat_records(1))
    result = cli("verify", "data.jsonl", "--trust", "theirs.yaml")
    assert result.code == 2
    assert "theirs.yaml: trust store not found" in result.err
    assert "the trust store of whoever signed the data" in result.err


def test_an_unreachable_registry_database_is_one_line(project_dir: Path, cli: Runner) -> None:
    result = cli("db", "upgrade", "--db", "postgresql://provenance@host.invalid/registry")
    assert result.code == 2
    (line,) = result.err.strip().splitlines()
    assert line.startswith("provenance: error: the registry database cannot be used: ")
    assert "--db or PROVENANCE_DATABASE_URL" in line
    assert "Traceback" not in result.err


def test_query_counts_its_rows_in_words(project_dir: Path, cli: Runner) -> None:
    db = f"sqlite:///{project_dir / 'registry.db'}"
    write_jsonl(project_dir / "in.jsonl", chat_records(1))
    assert cli("tag", "in.jsonl", "-o", "one.jsonl", *TAG, "--generated-at", "2024-06-01").code == 0
    ingested = cli("ingest", "one.jsonl", "--db", db)
    assert ingested.code == 0, ingested.err
    assert ": 1 record (1 ok)" in ingested.out
    assert "added 1 manifest, 1 record, the dataset" in ingested.out
    result = cli("query", "--what", "datasets", "--db", db)
    assert result.code == 0, result.err
    assert "# 1 dataset\n" in result.out
    assert "# 0 models\n" in cli("query", "--what", "models", "--db", db).out
    limited = cli("query", "--what", "models", "--limit", "0", "--db", db)
    assert limited.code == 2
    assert "--limit 0: give a whole number of at least 1" in limited.err
