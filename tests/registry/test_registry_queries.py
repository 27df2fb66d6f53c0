"""trace, query, lineage export (PROV-JSON) and the EU summary over a multi-hop lineage."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser
from pathlib import Path

import orjson
import pytest

from provenance.registry.prov import check_prov
from tests.conftest import Runner
from tests.registry.registry_data import POLICY_LIBRARY, signed_file

LIB = str(POLICY_LIBRARY)


@pytest.fixture
def lineage(registry_project: Path, cli: Runner) -> Path:
    """d1 by Fabrikam → acme/helper trained on d1 → d2 by acme/helper (+2 human records);
    acme/chat trained on d2 and d0 (by Contoso), built on zephyrus-7b; acme/other on d0."""
    p = registry_project
    files = [
        signed_file(
            p / "d1.jsonl",
            "d1",
            6,
            provider="fabrikam",
            model="fabrikam-7b",
            service="self-hosted",
            generated_at="2024-08-01T10:00:00Z",
        ),
        signed_file(p / "d0.jsonl", "d0", 4, generated_at="2024-06-01T10:00:00Z"),
    ]
    for data in files:
        assert cli("ingest", data).code == 0
    assert cli("lineage", "add", "acme/helper", "--trained-on", "d1").code == 0
    d2 = signed_file(
        p / "d2.jsonl",
        "d2",
        5,
        provider="acme",
        model="acme/helper",
        service="self-hosted",
        generated_at="2024-09-01T10:00:00Z",
        untagged=2,
    )
    assert cli("ingest", d2).code == 0
    assert (
        cli(
            "lineage",
            "add",
            "acme/chat",
            "--trained-on",
            "d2",
            "--trained-on",
            "d0",
            "--base-model",
            "zephyrus-7b",
            "--organization",
            "acme",
        ).code
        == 0
    )
    assert cli("lineage", "add", "acme/other", "--trained-on", "d0").code == 0
    return p


def _rows(cli: Runner, *args: str) -> list[dict[str, object]]:
    result = cli("query", *args, "--policies", LIB, "--format", "json")
    assert result.code == 0, result.err
    rows = orjson.loads(result.out)["rows"]
    assert isinstance(rows, list)
    return rows


def _names(rows: list[dict[str, object]], key: str) -> set[str]:
    return {str(r[key]) for r in rows}


def test_models_depending_at_any_distance(lineage: Path, cli: Runner) -> None:
    direct = _rows(cli, "--provider", "fabrikam")
    assert _names(direct, "model") == {"acme/helper"}
    deep = _rows(cli, "--provider", "fabrikam", "--depends-on")
    assert _names(deep, "model") == {"acme/helper", "acme/chat"}
    chat = next(r for r in deep if r["model"] == "acme/chat")
    assert "trained on d2" in str(chat["via"])
    assert "fabrikam/open-model-licence@2024-04-01" in str(chat["via"])
    by_family = _rows(cli, "--terms", "fabrikam/open-model-licence", "--depends-on")
    assert _names(by_family, "model") == {"acme/helper", "acme/chat"}
    by_version = _rows(cli, "--terms", "fabrikam/open-model-licence@2024-04-01", "--depends-on")
    assert _names(by_version, "model") == {"acme/helper", "acme/chat"}
    assert _rows(cli, "--terms", "fabrikam/open-model-licence@1999-01-01", "--depends-on") == []
    base = _rows(cli, "--model", "zephyrus-7b", "--depends-on")
    assert _names(base, "model") == {"acme/chat"}
    on_d0 = _rows(cli, "--dataset", "d0")
    assert _names(on_d0, "model") == {"acme/chat", "acme/other"}


def test_datasets_and_records(lineage: Path, cli: Runner) -> None:
    datasets = _rows(cli, "--what", "datasets", "--provider", "fabrikam", "--depends-on")
    assert _names(datasets, "dataset") == {"d1", "d2"}
    dated = _rows(cli, "--what", "datasets", "--since", "2024-07-01", "--until", "2024-08-31")
    assert _names(dated, "dataset") == {"d1"}
    records = _rows(cli, "--what", "records", "--provider", "fabrikam")
    assert _names(records, "record_id") == {f"d1-{i}" for i in range(6)}
    scoped = _rows(
        cli,
        "--what",
        "records",
        "--trained-model",
        "acme/chat",
        "--depends-on",
        "--provider",
        "contoso",
    )
    assert _names(scoped, "record_id") == {f"d0-{i}" for i in range(4)}
    inherited = _rows(cli, "--what", "records", "--provider", "fabrikam", "--depends-on")
    assert {f"d2-{i}" for i in range(5)} <= _names(inherited, "record_id")
    result = cli("query", "--what", "records", "--provider", "fabrikam", "--format", "csv")
    assert result.code == 0, result.err
    table = list(csv.DictReader(io.StringIO(result.out)))
    assert len(table) == 6
    assert table[0]["provider"] == "fabrikam"
    text = cli("query", "--provider", "fabrikam", "--depends-on")
    assert "acme/chat" in text.out
    bad = cli("query", "--since", "June")
    assert bad.code == 2


def test_trace_follows_the_chain(lineage: Path, cli: Runner) -> None:
    result = cli("trace", "d2-1", "--policies", LIB)
    assert result.code == 0, result.err
    assert "acme/helper" in result.out
    assert "trained on d1" in result.out
    assert "fabrikam/open-model-licence@2024-04-01" in result.out
    assert "in dataset d2" in result.out
    as_json = orjson.loads(cli("trace", "d2-1", "--policies", LIB, "--format", "json").out)
    record = as_json["records"][0]
    writer = record["contributions"][0]["model"]
    assert writer["model"] == "acme/helper"
    assert writer["trained_on"][0]["dataset"] == "d1"
    assert writer["trained_on"][0]["generators"][0]["terms_in_force"] == [
        "fabrikam/open-model-licence@2024-04-01"
    ]
    by_digest = cli("trace", record["content_digest"], "--policies", LIB)
    assert by_digest.code == 0
    assert cli("trace", "no-such-record").code == 2


def test_trace_shows_recorded_audits(lineage: Path, cli: Runner) -> None:
    competing = POLICY_LIBRARY.parent / "intents" / "competing.yaml"
    cli("audit", lineage / "d0.jsonl", "--intent", competing, "--policies", LIB, "--record")
    result = cli("trace", "d0-2", "--policies", LIB)
    assert "audit" in result.out
    assert "FAIL" in result.out
    assert "contoso/api-terms@2024-01-01" in result.out


def test_prov_json_structure(lineage: Path, cli: Runner) -> None:
    result = cli("lineage", "export", "--format", "prov")
    assert result.code == 0, result.err
    document = orjson.loads(result.out)
    assert check_prov(document) == []
    assert document["prefix"]["prov"] == "http://www.w3.org/ns/prov#"
    for section in (
        "entity",
        "activity",
        "agent",
        "wasGeneratedBy",
        "used",
        "wasDerivedFrom",
        "wasAttributedTo",
        "hadMember",
    ):
        assert document[section], section
    labels = {e.get("prov:label") for e in document["entity"].values()}
    assert {"d0", "d1", "d2", "acme/chat", "acme/helper", "zephyrus-7b"} <= labels
    derived = [
        (r["prov:generatedEntity"], r["prov:usedEntity"])
        for r in document["wasDerivedFrom"].values()
    ]
    chat = next(k for k, e in document["entity"].items() if e.get("prov:label") == "acme/chat")
    assert sum(1 for g, _ in derived if g == chat) == 3  # d2, d0 and the base model
    agents = {a["prov:label"] for a in document["agent"].values()}
    assert {"fabrikam", "contoso", "acme"} <= agents
    one = orjson.loads(cli("lineage", "export", "--format", "prov", "--model", "acme/helper").out)
    labels = {e.get("prov:label") for e in one["entity"].values()}
    assert "d0" not in labels and "d1" in labels


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.seen: set[str] = set()

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.seen.add(tag)
        if tag not in ("meta",):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, (self.open, tag)
        self.open.pop()


def test_eu_summary(lineage: Path, cli: Runner) -> None:
    result = cli("summary", "acme/chat", "--policies", LIB)
    assert result.code == 0, result.err
    text = result.out
    for heading in (
        "## 1. General information",
        "### 2.5 Synthetic data",
        "### 2.1 Publicly available datasets",
        "## 3. Data processing aspects",
    ):
        assert heading in text
    assert "Dependencies (base models): zephyrus-7b" in text
    assert "9 of 11 registered training records" in text
    assert (
        "| contoso | contoso-large-2 | api | contoso/api-terms@2024-01-01 | the provider | 4 |"
        in text
    )
    assert "acme/helper (provider's own model)" in text
    assert "2 records without a provenance manifest" in text
    page = cli(
        "summary",
        "acme/chat",
        "--format",
        "html",
        "--policies",
        LIB,
        "-o",
        lineage / "summary.html",
    )
    assert page.code == 0, page.err
    html = (lineage / "summary.html").read_text()
    parser = _Tags()
    parser.feed(html)
    assert parser.open == []
    assert {"html", "table", "h2", "li"} <= parser.seen
    assert cli("summary", "no-such-model").code == 2
