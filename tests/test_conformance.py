"""Conformance: every case under ``tests/conformance/cases/`` gets the verdict its ``expect.json``
names from ``provenance verify``, and the generator reproduces the committed cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from provenance import canonical, dsse
from provenance.errors import MalformedJSONError
from provenance.manifest import Statement
from tests.conformance import generate
from tests.conftest import Runner

CASES_DIR = generate.CASES_DIR
CASE_NAMES = sorted(p.name for p in CASES_DIR.iterdir() if (p / "expect.json").is_file())


def _params() -> list[Any]:
    return list(CASE_NAMES)


def _expect(folder: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((folder / "expect.json").read_text(encoding="utf-8"))
    return value


def _args(folder: Path) -> list[str]:
    path = folder / "args.txt"
    return path.read_text(encoding="utf-8").split() if path.exists() else []


def _own_id(line: bytes) -> str | None:
    """The id a strict reader finds in a line, or None when the line is not a strict JSON object
    with an ``id``."""
    try:
        record = canonical.parse_record(line)
    except MalformedJSONError:
        return None
    value = record.get("id")
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


@pytest.mark.parametrize("name", _params())
def test_case(name: str, cli: Runner) -> None:
    folder = CASES_DIR / name
    expect = _expect(folder)
    records, trust, args = folder / "records.jsonl", folder / "trust.yaml", _args(folder)
    lines = records.read_bytes().split(b"\n")

    result = cli("verify", records, "--trust", trust, "--format", "json", *args)
    assert "Traceback" not in result.out + result.err
    assert result.code == expect["exit"], result.out + result.err
    report = orjson.loads(result.out)
    assert report["counts"] == expect["statuses"]
    assert report["total"] == sum(expect["statuses"].values())
    assert report["total"] == sum(1 for line in lines if line.strip())
    assert len(report["incomplete_batches"]) == expect["incomplete_batches"]
    assert report["failures_not_listed"] == 0

    wanted = {f["line"]: f for f in expect["failures"]}
    reported = {f["line"]: f for f in report["failures"]}
    assert len(reported) == len(report["failures"]), "a line is reported twice"
    assert sorted((n, f["status"]) for n, f in reported.items()) == sorted(
        (n, f["status"]) for n, f in wanted.items()
    )
    for number, failure in reported.items():
        assert failure["source"] == str(records)
        assert failure.get("record_id") == wanted[number]["record_id"]
        assert wanted[number]["reason_contains"] in failure.get("reason", "")
        if _own_id(lines[number - 1]) is not None:
            assert failure.get("record_id"), f"line {number} has an id but is not named by it"
    if expect["exit"] == 2:
        assert report["counts"].get("ok", 0) == report["total"] - len(wanted) > 0

    text = cli("verify", records, "--trust", trust, *args)
    assert "Traceback" not in text.out + text.err
    assert text.code == expect["exit"]
    for number, failure in wanted.items():
        ident = f" record {failure['record_id']}" if failure["record_id"] else ""
        assert f"{records}:{number}:{ident} {failure['status']}" in text.out


def test_suite_covers_both_verdicts() -> None:
    exits = [_expect(CASES_DIR / name)["exit"] for name in CASE_NAMES]
    assert exits.count(0) >= 10
    assert len(exits) - exits.count(0) >= 25
    assert exits.count(2) >= 5


def test_case_folders_are_complete() -> None:
    for name in CASE_NAMES:
        folder = CASES_DIR / name
        assert name.startswith(("pass-", "fail-")), name
        assert (_expect(folder)["exit"] == 0) == name.startswith("pass-"), name
        assert {p.name for p in folder.iterdir()} - {"args.txt"} == {
            "records.jsonl",
            "trust.yaml",
            "README.md",
            "expect.json",
        }
        readme = (folder / "README.md").read_text(encoding="utf-8")
        assert readme.endswith("\n") and readme.count("\n") == 1 and readme.strip(), name


def test_generator_reproduces_committed_cases(tmp_path: Path) -> None:
    generate.write_all(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == CASE_NAMES
    for spec in generate.CASES:
        committed, fresh = CASES_DIR / spec.name, tmp_path / spec.name
        assert sorted(p.name for p in fresh.iterdir()) == sorted(
            p.name for p in committed.iterdir()
        )
        for path in sorted(committed.iterdir()):
            if spec.randomized and path.name == "records.jsonl":
                continue
            assert (fresh / path.name).read_bytes() == path.read_bytes(), (
                f"{spec.name}/{path.name} differs from the generator's output; regenerate with "
                "'python -m tests.conformance.generate'"
            )


def test_readme_lists_every_case() -> None:
    readme = generate.README.read_text(encoding="utf-8")
    assert generate.readme_table() in readme
    for name in CASE_NAMES:
        assert f"| `{name}` |" in readme


def test_unknown_manifest_fields_survive_a_round_trip() -> None:
    records = (CASES_DIR / "pass-unknown-fields-kept" / "records.jsonl").read_bytes().splitlines()
    assert records
    for raw in records:
        envelope = canonical.parse_record(raw)["_provenance"]["dsse"]
        statement = canonical.parse_json(dsse.b64decode(envelope["payload"], "payload"))
        parsed = Statement.from_dict(statement)
        again = {**parsed.to_dict(), "predicate": parsed.record_predicate().to_dict()}
        assert again == statement
        assert "x_future" in again["predicate"]
        assert again["predicate"]["contributions"][0]["generator"]["x_region"] == "eu-west"
