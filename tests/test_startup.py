"""Start-up: the short commands import only what they use (so they stay quick), the terms library
is read only as far as an audit reaches and is never stale, and the messages a first run meets
name what was given."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.conftest import Runner, write_jsonl
from tests.report.helpers import COMPETING, LIBRARY, contoso_shard

HEAVY = (
    "networkx",
    "jinja2",
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "psycopg",
    "pyarrow",
    "rich",
    "pydantic",
)
"""Libraries no light command needs: each costs tens of milliseconds to import."""

JUDGING = ("provenance.auditor", "provenance.policy.engine", "provenance.policy.lineage")
REGISTRY = ("provenance.registry.store", "provenance.registry.db")
RENDERERS = ("provenance.report.html", "provenance.report.sarif", "provenance.report.markdown")

PROBE = """
import json, sys
{setup}
print(json.dumps(sorted(sys.modules)))
"""


def _modules(setup: str, cwd: Path) -> set[str]:
    """The modules a fresh interpreter holds after running ``setup``."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _cli_modules(args: list[str], cwd: Path) -> set[str]:
    setup = (
        "from provenance.cli import main\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main({args!r})"
    )
    return _modules(setup, cwd)


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n in modules or any(m.startswith(n + ".") for m in modules))


@pytest.fixture
def signed(project_dir: Path) -> Path:
    return contoso_shard(project_dir / "data" / "shard.jsonl", prefix="s", n=10)


def test_the_sdk_import_loads_nothing_heavy(tmp_path: Path) -> None:
    modules = _modules("import provenance", tmp_path)
    assert _loaded(modules, HEAVY + JUDGING + REGISTRY + RENDERERS) == []
    # The SDK names still resolve, on first use.
    modules = _modules("import provenance\nprovenance.Tagger\nprovenance.Generator", tmp_path)
    assert "provenance.sign" in modules
    assert _loaded(modules, HEAVY + JUDGING) == []


def test_help_and_version_load_nothing_heavy(tmp_path: Path) -> None:
    for args in (["--help"], ["verify", "--help"], ["--version"]):
        modules = _cli_modules(args, tmp_path)
        assert _loaded(modules, HEAVY + JUDGING + REGISTRY + RENDERERS) == [], args


def test_verify_loads_no_judge_no_registry_no_renderer(signed: Path, project_dir: Path) -> None:
    modules = _cli_modules(["verify", str(signed)], project_dir)
    assert "provenance.verify" in modules  # it did verify
    assert _loaded(modules, HEAVY + JUDGING + REGISTRY + RENDERERS) == []


def test_audit_loads_the_judge_but_only_the_renderer_asked_for(
    signed: Path, project_dir: Path
) -> None:
    base = ["audit", str(signed), "--intent", str(COMPETING), "--policies", str(LIBRARY)]
    modules = _cli_modules([*base, "--format", "json"], project_dir)
    assert "provenance.policy.engine" in modules
    assert _loaded(modules, HEAVY + REGISTRY + RENDERERS) == []
    html = _cli_modules([*base, "--format", "html", "-o", "r.html"], project_dir)
    assert "provenance.report.html" in html and "jinja2" in html  # the probe sees imports


def test_an_audit_reads_only_the_terms_it_reaches(
    cli: Runner, signed: Path, project_dir: Path
) -> None:
    library = project_dir / "lib"
    shutil.copytree(LIBRARY, library)
    # A document no record reaches, broken: the audit does not read it, lint does.
    unrelated = library / "terms" / "tailspin" / "model-licence@2024-01-01.yaml"
    unrelated.write_text("not: [valid\n")
    result = cli("audit", signed, "--intent", COMPETING, "--policies", library)
    assert result.code == 1, result.err  # contoso's terms deny the competing run, as before
    lint = cli("policy", "lint", library)
    assert lint.code == 2
    assert "model-licence@2024-01-01.yaml" in lint.err


def test_a_changed_terms_file_is_seen_by_the_next_audit(
    cli: Runner, signed: Path, project_dir: Path
) -> None:
    library = project_dir / "lib"
    shutil.copytree(LIBRARY, library)
    args = ("audit", signed, "--intent", COMPETING, "--policies", library, "--format", "json")
    before = orjson.loads(cli(*args).out)
    terms = library / "terms" / "contoso" / "api-terms@2024-01-01.yaml"
    terms.write_text(terms.read_text().replace("effect: deny", "effect: allow"))
    after = orjson.loads(cli(*args).out)
    assert before["outcome"] == "deny"
    assert after["outcome"] != "deny"
    assert before["policy_library"]["digest"] != after["policy_library"]["digest"]


def test_audit_of_an_empty_folder_names_it(cli: Runner, project_dir: Path) -> None:
    (project_dir / "nothing-here").mkdir()
    result = cli("audit", "nothing-here", "--intent", COMPETING)
    assert result.code == 2
    assert "no data files found in nothing-here" in result.err
    assert ".jsonl" in result.err  # says what would count


def test_verify_of_an_empty_file_says_so_on_stderr(cli: Runner, project_dir: Path) -> None:
    (project_dir / "empty.jsonl").write_bytes(b"")
    result = cli("verify", "empty.jsonl")
    assert result.code == 2
    assert result.out.startswith("NO VERDICT: 0 records")
    assert "provenance: error: empty.jsonl: no records to verify" in result.err


def test_bad_json_is_placed_by_file_line_and_column_of_the_record(
    cli: Runner, project_dir: Path
) -> None:
    path = write_jsonl(project_dir / "data.jsonl", [{"id": str(i)} for i in range(4)])
    with path.open("ab") as handle:
        handle.write(b'{"id": "4", "text": "abc" "def"}\n')
    result = cli("verify", "data.jsonl")
    assert result.code == 2
    assert "data.jsonl:5: invalid JSON" in result.err
    assert "(column 27 of the record)" in result.err
    assert "line 1" not in result.err + result.out


def test_an_unknown_base_model_is_not_suggested_itself(cli: Runner, project_dir: Path) -> None:
    lineage = project_dir / "lineage.yaml"
    lineage.write_text(
        "schema: provenance/lineage/v1\n"
        "models:\n"
        "  - name: acme/tuned\n"
        "    base_model: acme/nonexistent\n"
    )
    write_jsonl(project_dir / "data.jsonl", [{"id": "a"}])
    result = cli("audit", "data.jsonl", "--intent", COMPETING, "--lineage", lineage)
    assert result.code == 2
    assert "base model 'acme/nonexistent'" in result.err
    assert "acme/tuned" not in result.err.split("hint:")[1]
    assert "declare it under models:" in result.err
