"""Every YAML file and JSON document the tool reads is bounded: a file made to exhaust the stack,
memory or a terminal is refused with its name and line, exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance.bounded import parse_json_document, parse_yaml
from provenance.errors import MalformedJSONError, PolicyError, shown
from provenance.limits import Limits
from tests.conftest import TAG, Runner, chat_records, write_jsonl

DEEP_FLOW = "keys: " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_BLOCK = "keys:\n" + "".join(" " * (2 * i + 2) + f"k{i}:\n" for i in range(200))
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8)
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (DEEP_FLOW, "nested deeper than the limit of 64 levels"),
        (DEEP_BLOCK, "nested deeper than the limit of 64 levels"),
        (LAUGHS, "expands to too many values"),
        ("keys: !!python/object/apply:os.system ['true']\n", "cannot read a value tagged"),
        ("version: .inf\nkeys: []\n", "version must be a whole number of at least 1"),
        ("keys:\n  - public_key: 'clé'\n", "keys[0]: public_key must be a PEM block"),
    ],
    ids=["deep-flow", "deep-block", "billion-laughs", "python-tag", "version", "not-pem"],
)
def test_a_hostile_trust_store_is_refused_with_its_name(
    project_dir: Path, cli: Runner, text: str, message: str
) -> None:
    write_jsonl(project_dir / "data.jsonl", chat_records(2))
    assert cli("tag", "data.jsonl", "-o", "tagged.jsonl", *TAG).code == 0
    (project_dir / "hostile.yaml").write_text(text)
    result = cli("verify", "--trust", "hostile.yaml", "tagged.jsonl")
    assert result.code == 2
    assert "hostile.yaml" in result.err
    assert message in result.err
    assert "Traceback" not in result.err


def test_a_trust_store_past_the_size_limit_is_not_read(project_dir: Path, cli: Runner) -> None:
    write_jsonl(project_dir / "data.jsonl", chat_records(1))
    (project_dir / "big.yaml").write_bytes(b"# " + b"x" * (4 * 1024 * 1024) + b"\nkeys: []\n")
    result = cli("verify", "--trust", "big.yaml", "data.jsonl")
    assert result.code == 2
    assert "big.yaml: file is more than the limit of 4194304 bytes" in result.err


def test_an_empty_trust_store_trusts_nobody(project_dir: Path, cli: Runner) -> None:
    write_jsonl(project_dir / "data.jsonl", chat_records(1))
    assert cli("tag", "data.jsonl", "-o", "tagged.jsonl", *TAG).code == 0
    (project_dir / "empty.yaml").write_text("# nobody\n")
    result = cli("verify", "--trust", "empty.yaml", "tagged.jsonl")
    assert result.code == 1
    assert "untrusted" in result.out


def test_a_hostile_parts_file_is_refused_with_its_name(project_dir: Path, cli: Runner) -> None:
    write_jsonl(project_dir / "data.jsonl", chat_records(1))
    (project_dir / "parts.yaml").write_text(DEEP_BLOCK.replace("keys:", "/messages:"))
    result = cli("tag", "data.jsonl", "-o", "out.jsonl", "--key", "gen", "--parts", "parts.yaml")
    assert result.code == 2
    assert "parts.yaml" in result.err
    assert "nested deeper than the limit" in result.err
    assert not (project_dir / "out.jsonl").exists()


def test_a_megabyte_value_is_quoted_by_its_start_and_length(project_dir: Path, cli: Runner) -> None:
    write_jsonl(project_dir / "data.jsonl", chat_records(1))
    intent = "target: {name: m, organization: acme, kind: classifier}\nactivity: fine-tune\n"
    intent += "commercial: true\ndate: 2025-10-01\ndistribution: " + "x" * 3_000_000 + "\n"
    (project_dir / "intent.yaml").write_text(intent)
    result = cli("audit", "data.jsonl", "--intent", "intent.yaml")
    assert result.code == 2
    assert "intent.yaml:5: field 'distribution' is 'xxxx" in result.err
    assert "… (3,000,000 characters)" in result.err
    assert len(result.err) < 400


def test_the_yaml_depth_limit_is_a_setting() -> None:
    text = "a:\n" + "".join(" " * (2 * i + 2) + f"b{i}:\n" for i in range(10))
    parse_yaml(text + " " * 22 + "c: 1\n", "ok.yaml", Limits(max_yaml_depth=12))
    with pytest.raises(PolicyError, match="deeper than the limit of 8 levels") as caught:
        parse_yaml(text, "deep.yaml", Limits(max_yaml_depth=8))
    assert caught.value.source == "deep.yaml"
    assert caught.value.line == 9


def test_json_documents_are_bounded_in_size_and_depth() -> None:
    assert parse_json_document(b'{"a": [1, 2]}', "the seal") == {"a": [1, 2]}
    with pytest.raises(MalformedJSONError, match="the seal is larger than the limit of 8 bytes"):
        parse_json_document(b'{"a": [1, 2]}', "the seal", Limits(max_document_bytes=8))
    with pytest.raises(MalformedJSONError, match="the index: nesting deeper than 128 levels"):
        parse_json_document(b"[" * 100_000 + b"]" * 100_000, "the index")
    with pytest.raises(MalformedJSONError, match="the checkpoint"):
        parse_json_document(b'{"a": 1, "a": 2}', "the checkpoint")


def test_shown_keeps_short_values_whole() -> None:
    assert shown("internal") == "internal"
    assert shown("y" * 61) == "y" * 60 + "… (61 characters)"


def test_a_value_its_tag_cannot_build_is_refused_by_line() -> None:
    with pytest.raises(PolicyError, match="cannot read the value 'abc'") as caught:
        parse_yaml("a: 1\nb: !!int abc\n", "odd.yaml")
    assert caught.value.line == 2
    # A date that is not one stays text, for the field reader to name the field.
    assert parse_yaml("a: !!timestamp false\n", "odd.yaml") == {"a": "false"}


@pytest.mark.parametrize(("contributions", "parents"), [(257, 0), (1, 4097)])
def test_a_manifest_past_the_contribution_or_parent_limit_is_malformed(
    tmp_path: Path, cli: Runner, contributions: int, parents: int
) -> None:
    from provenance import canonical, dsse
    from provenance.manifest import PAYLOAD_TYPE, Parent, RecordPredicate, build_statement
    from tests.policy.builders import TEST_SIGNER, part, write_trust

    content = {"id": "r1", "text": "hello"}
    predicate = RecordPredicate(
        contributions=tuple(
            part("openai", "gpt-4o", pointer=f"/p{i}") for i in range(contributions)
        ),
        parents=tuple(Parent(kind="dataset", name=f"d{i}") for i in range(parents)),
    )
    statement = build_statement("r1", canonical.content_digest(content), predicate)
    envelope = dsse.sign(PAYLOAD_TYPE, canonical.canonicalize(statement), [TEST_SIGNER])
    write_jsonl(tmp_path / "big.jsonl", [{**content, "_provenance": {"dsse": envelope.to_dict()}}])
    result = cli("verify", tmp_path / "big.jsonl", "--trust", write_trust(tmp_path / "t.yaml"))
    assert result.code == 1
    assert "malformed" in result.out
    what = "257 contributions" if contributions > 1 else "4097 parents"
    limit = 256 if contributions > 1 else 4096
    assert f"names {what}, more than the limit of {limit}" in result.out


def test_security_md_lists_every_limit_with_its_default() -> None:
    import dataclasses
    import re

    from provenance.limits import DEFAULT_LIMITS

    text = (Path(__file__).parents[1] / "SECURITY.md").read_text(encoding="utf-8")
    table = text.split("<!-- limits-table", 1)[1].split("\n\n", 1)[0]
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]+) \|", table, re.MULTILINE))
    units = {"KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}

    def value(cell: str) -> int:
        number, _, unit = cell.strip().partition(" ")
        return int(number.replace(",", "")) * units.get(unit, 1)

    fields = {f.name: getattr(DEFAULT_LIMITS, f.name) for f in dataclasses.fields(DEFAULT_LIMITS)}
    assert {name: value(cell) for name, cell in rows.items()} == fields


def _line_of(size: int, record_id: str) -> bytes:
    head = b'{"id": "' + record_id.encode() + b'", "t": "'
    return head + b"x" * (size - len(head) - 2) + b'"}'


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_verify_reads_a_line_of_the_limit_and_names_one_byte_more(
    tmp_path: Path, cli: Runner, workers: str, suffix: str
) -> None:
    import gzip

    limit = 16 * 1024 * 1024
    short = b'{"id": "a"}\n' * 300_000  # several chunks before the long lines
    at_limit = short + _line_of(limit, "c") + b"\n" + b'{"id": "d"}\n'
    past = short + _line_of(limit + 1, "c") + b"\n" + b'{"id": "d"}\n'
    opener = gzip.compress if suffix.endswith(".gz") else bytes
    (tmp_path / f"ok{suffix}").write_bytes(opener(at_limit))
    (tmp_path / f"long{suffix}").write_bytes(opener(past))
    ok = cli("verify", "--trust", "/dev/null", "--workers", workers, tmp_path / f"ok{suffix}")
    assert ok.code == 1, ok.err
    assert "300,002 records" in ok.out or "300002 records" in ok.out
    long = cli("verify", "--trust", "/dev/null", "--workers", workers, tmp_path / f"long{suffix}")
    assert long.code == 2
    assert f"long{suffix}:300001: line longer than {limit} bytes" in long.err


def test_a_bad_line_past_the_listed_failures_still_means_no_verdict(
    project_dir: Path, cli: Runner
) -> None:
    """verify lists at most 10,000 failing records; the line that is not a record is named even
    after them, and the audit gives no verdict either, rather than judging it a failed record."""
    lines = b"".join(b'{"id": "r%d"}\n' % i for i in range(10_005)) + b"{bad\n"
    (project_dir / "d.jsonl").write_bytes(lines)
    verified = cli("verify", "d.jsonl")
    assert verified.code == 2
    assert "d.jsonl:10006: invalid JSON" in verified.err
    intent = Path(__file__).parents[1] / "examples" / "intents" / "research-eval.yaml"
    audited = cli("audit", "d.jsonl", "--intent", intent)
    assert audited.code == 2
    assert "d.jsonl:10006: invalid JSON" in audited.err
