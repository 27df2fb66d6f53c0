"""A waived finding reads as waived — with who accepted it and until when — in every format.

An audit whose only denial a waiver accepts passes; a reviewer must still see, in whichever report
they read, that the allow is a waiver's and whose signature and expiry stand behind it.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from provenance.report import FORMATS, RENDERERS
from tests.report.helpers import Scenarios
from tests.report.html_dom import parse

OWNER = "jane@acme.example"
EXPIRES = "2026-01-31"


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_names_the_waiver_owner_and_expiry(scenarios: Scenarios, fmt: str) -> None:
    text = RENDERERS[fmt].render(scenarios.waived.report)
    assert "waived" in text.lower()
    assert OWNER in text
    assert EXPIRES in text


def test_text_marks_the_decision_waived_not_allowed(scenarios: Scenarios) -> None:
    text = RENDERERS["text"].render(scenarios.waived.report)
    (line,) = [line for line in text.splitlines() if "contoso/api-terms@2024-01-01  (" in line]
    assert line.split()[0] == "WAIVED"
    assert "was deny" in line
    assert OWNER in line
    assert EXPIRES in line
    assert "ALLOW" not in text.split("waivers:")[0]


def test_markdown_decision_row_names_owner_and_expiry(scenarios: Scenarios) -> None:
    text = RENDERERS["markdown"].render(scenarios.waived.report)
    (row,) = [line for line in text.splitlines() if line.startswith("| contoso/api-terms")]
    decision = row.split(" | ")[1]
    assert "waived (was deny)" in decision
    assert OWNER in decision
    assert EXPIRES in decision


def test_html_decision_heading_carries_the_waiver(scenarios: Scenarios) -> None:
    dom = parse(RENDERERS["html"].render(scenarios.waived.report))
    (note,) = dom.with_class("waived-note")
    assert note.with_class("badge-waived")
    assert "was deny" in note.text()
    assert OWNER in note.text()
    assert EXPIRES in note.text()
    assert "LR-112" in note.text()


def test_sarif_suppression_justification_names_owner_and_expiry(scenarios: Scenarios) -> None:
    log = json.loads(RENDERERS["sarif"].render(scenarios.waived.report))
    (result,) = log["runs"][0]["results"]
    (suppression,) = result["suppressions"]
    assert suppression["kind"] == "external"
    assert suppression["status"] == "accepted"
    for text in (suppression["justification"], result["message"]["text"]):
        assert OWNER in text
        assert EXPIRES in text
    assert suppression["properties"] == {"owner": OWNER, "expires": EXPIRES}


def test_junit_skips_the_case_with_owner_and_expiry(scenarios: Scenarios) -> None:
    root = ET.fromstring(RENDERERS["junit"].render(scenarios.waived.report))
    skipped = root.find(".//testcase/skipped")
    assert skipped is not None
    message = skipped.get("message") or ""
    assert message.startswith("waived (was deny)")
    assert OWNER in message
    assert EXPIRES in message


def test_json_keeps_the_waiver_on_the_finding(scenarios: Scenarios) -> None:
    document = json.loads(RENDERERS["json"].render(scenarios.waived.report))
    (finding,) = document["findings"]
    assert finding["outcome"] == "allow"
    assert finding["original_outcome"] == "deny"
    assert finding["waived_by"]["owner"] == OWNER
    assert finding["waived_by"]["expires"] == EXPIRES


def test_reports_without_waivers_say_nothing_of_waivers(scenarios: Scenarios) -> None:
    for fmt in ("text", "markdown", "junit"):
        assert "waived" not in RENDERERS[fmt].render(scenarios.passing.report).lower()
