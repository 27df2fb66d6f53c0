"""``provenance policy diff``: what changed between two versions of the terms library, or between
two documents, through the real CLI on real library directories and git repositories."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from provenance.policy.loader import bundled_policy_dir, library_digest
from tests.conftest import Runner
from tests.policy.builders import LIBRARY_DIR

CONTOSO = "terms/contoso/api-terms@2024-01-01.yaml"
TAILSPIN = "terms/tailspin/model-licence@2024-06-01.yaml"
ZEPHYRUS = "terms/zephyrus/open-licence@2023-01-01.yaml"
ZEPHYRUS_URL = "https://example.com/zephyrus/licence#7"

NARROWED = (
    "      intent.competes_with: {contains: contoso}\n    effect: deny",
    "      intent.competes_with: {contains: contoso}\n"
    "      intent.commercial: {eq: true}\n    effect: deny",
)
"""Contoso's competing-models ban, narrowed to commercial runs."""
TIGHTENED = ("    effect: allow", "    effect: deny")
"""Zephyrus's express permission turned into a ban."""
OBLIGATION = (
    "      - {kind: attribution, text: Improved using Tailspin}\n",
    "      - {kind: attribution, text: Improved using Tailspin}\n"
    "      - {kind: licence-copy, text: Include a copy of this licence}\n",
)
"""Tailspin's attribution clause gains a licence copy."""

EXPECTED_TEXT = [
    "",
    "CHANGED  contoso/api-terms@2024-01-01 — Contoso API Terms (test fixture)",
    "  clause no-competing-models (§2(c)) — changed",
    "    citation: https://example.com/contoso/api-terms#2c",
    "    condition:",
    "      old: intent.competes_with contains contoso",
    "      new: intent.competes_with contains contoso and intent.commercial is true",
    "",
    "CHANGED  tailspin/model-licence@2024-06-01 — Tailspin Model Licence, second version "
    "(test fixture)",
    "  clause attribution (§1.b.i) — changed",
    "    citation: https://example.com/tailspin/licence-2024-06#1.b.i",
    '    obligation added: licence-copy "Include a copy of this licence"',
    "",
    "CHANGED  zephyrus/open-licence@2023-01-01 — Zephyrus Open Licence (test fixture)",
    "  clause outputs-free (§7) — changed",
    "    citation: https://example.com/zephyrus/licence#7",
    "    effect: allow → deny (stricter)",
    "",
    "3 documents changed, 3 clauses changed",
]


def edit(library: Path, relative: str, old: str, new: str) -> None:
    path = library / relative
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, (relative, old)
    path.write_text(text.replace(old, new), encoding="utf-8")


def copy_library(target: Path, source: Path = LIBRARY_DIR) -> Path:
    shutil.copytree(source, target)
    return target


@pytest.fixture
def old_lib(tmp_path: Path) -> Path:
    return copy_library(tmp_path / "old")


@pytest.fixture
def new_lib(tmp_path: Path) -> Path:
    """The fixture library with three changes: an effect tightened, a condition narrowed, an
    obligation added, each in a clause of its own document."""
    library = copy_library(tmp_path / "new")
    edit(library, ZEPHYRUS, *TIGHTENED)
    edit(library, CONTOSO, *NARROWED)
    edit(library, TAILSPIN, *OBLIGATION)
    return library


def no_traceback(err: str) -> None:
    assert "Traceback" not in err


# -- the three changes, in each format ----------------------------------------------------------


def test_text_names_exactly_the_changes(cli: Runner, old_lib: Path, new_lib: Path) -> None:
    result = cli("policy", "diff", old_lib, new_lib)
    assert result.code == 1, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"old: {old_lib.resolve()} ({library_digest(old_lib)})"
    assert lines[1] == f"new: {new_lib.resolve()} ({library_digest(new_lib)})"
    assert lines[2:] == EXPECTED_TEXT


def test_markdown_names_exactly_the_changes(cli: Runner, old_lib: Path, new_lib: Path) -> None:
    result = cli("policy", "diff", old_lib, new_lib, "--format", "markdown")
    assert result.code == 1, result.err
    out = result.out
    assert out.startswith("# Changes to the terms\n")
    assert "**3 documents changed, 3 clauses changed**" in out
    headings = [line for line in out.splitlines() if line.startswith("#")]
    assert headings == [
        "# Changes to the terms",
        "## Changed: contoso/api-terms@2024-01-01 — Contoso API Terms (test fixture)",
        "### Clause no-competing-models (§2(c)): changed",
        "## Changed: tailspin/model-licence@2024-06-01 — Tailspin Model Licence, second version "
        "(test fixture)",
        "### Clause attribution (§1.b.i): changed",
        "## Changed: zephyrus/open-licence@2023-01-01 — Zephyrus Open Licence (test fixture)",
        "### Clause outputs-free (§7): changed",
    ]
    rows = [line for line in out.splitlines() if line.startswith("| ") and "field" not in line]
    assert rows == [
        r"| condition | intent.competes\_with contains contoso | intent.competes\_with contains "
        r"contoso and intent.commercial is true |",
        '| obligation added | — | licence-copy "Include a copy of this licence" |',
        "| effect | allow | deny (stricter) |",
    ]
    assert "Citation: <https://example.com/zephyrus/licence#7>" in out


def test_json_names_exactly_the_changes(cli: Runner, old_lib: Path, new_lib: Path) -> None:
    result = cli("policy", "diff", old_lib, new_lib, "--format", "json")
    assert result.code == 1, result.err
    data = json.loads(result.out)
    # Stable: keys sorted at every level, indented by two.
    assert result.out == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert data["schema"] == "provenance/policy-diff/v1"
    assert data["old"] == {
        "digest": library_digest(old_lib),
        "kind": "library",
        "library": None,
        "source": str(old_lib.resolve()),
    }
    assert data["summary"] == {
        "catalog_datasets_added": 0,
        "catalog_datasets_changed": 0,
        "catalog_datasets_removed": 0,
        "catalog_models_added": 0,
        "catalog_models_changed": 0,
        "catalog_models_removed": 0,
        "clauses_added": 0,
        "clauses_changed": 3,
        "clauses_removed": 0,
        "documents_added": 0,
        "documents_changed": 3,
        "documents_removed": 0,
        "identical": False,
    }
    assert data["catalog"] == {"compared": True, "datasets": [], "models": []}
    found = {
        (doc["id"], doc["status"]): [
            (c["id"], c["status"], c["changes"], c["obligations"]) for c in doc["clauses"]
        ]
        for doc in data["documents"]
    }
    assert all(doc["changes"] == [] for doc in data["documents"])
    assert found == {
        ("contoso/api-terms@2024-01-01", "changed"): [
            (
                "no-competing-models",
                "changed",
                [
                    {
                        "field": "when",
                        "old": {"intent.competes_with": {"contains": "contoso"}},
                        "new": {
                            "all": [
                                {"intent.competes_with": {"contains": "contoso"}},
                                {"intent.commercial": {"eq": True}},
                            ]
                        },
                    }
                ],
                [],
            )
        ],
        ("tailspin/model-licence@2024-06-01", "changed"): [
            (
                "attribution",
                "changed",
                [],
                [
                    {
                        "status": "added",
                        "old": None,
                        "new": {"kind": "licence-copy", "text": "Include a copy of this licence"},
                    }
                ],
            )
        ],
        ("zephyrus/open-licence@2023-01-01", "changed"): [
            (
                "outputs-free",
                "changed",
                [{"field": "effect", "old": "allow", "new": "deny", "direction": "stricter"}],
                [],
            )
        ],
    }
    zephyrus = next(d for d in data["documents"] if d["id"].startswith("zephyrus/"))
    clause = zephyrus["clauses"][0]
    assert clause["citation"] == "https://example.com/zephyrus/licence#7"
    assert clause["section"] == "§7"
    assert (clause["old"]["effect"], clause["new"]["effect"]) == ("allow", "deny")


def test_output_file(cli: Runner, old_lib: Path, new_lib: Path, tmp_path: Path) -> None:
    report = tmp_path / "out" / "changes.md"
    result = cli("policy", "diff", old_lib, new_lib, "--format", "markdown", "-o", report)
    assert result.code == 1
    assert result.out == ""
    assert f"differences written to {report}" in result.err
    assert report.read_text(encoding="utf-8").startswith("# Changes to the terms\n")


def test_a_removed_obligation_and_a_changed_one(cli: Runner, old_lib: Path) -> None:
    new = copy_library(old_lib.parent / "other")
    edit(
        new,
        "terms/northwind/community-licence@2024-07-23.yaml",
        "      - {kind: model-name-prefix, text: Northwind}\n"
        "      - {kind: attribution, text: Built with Northwind}\n",
        "      - {kind: model-name-prefix, text: Northwind-}\n",
    )
    result = cli("policy", "diff", old_lib, new)
    assert result.code == 1
    assert result.out.splitlines()[4:] == [
        "  clause name-prefix (§1.b.i) — changed",
        "    citation: https://example.com/northwind/licence#1.b.i",
        '    obligation changed: model-name-prefix "Northwind" → model-name-prefix "Northwind-"',
        '    obligation removed: attribution "Built with Northwind"',
        "",
        "1 document changed, 1 clause changed",
    ]


# -- no difference -------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["text", "markdown", "json"])
def test_identical_libraries(cli: Runner, old_lib: Path, tmp_path: Path, form: str) -> None:
    same = copy_library(tmp_path / "same")
    result = cli("policy", "diff", old_lib, same, "--format", form)
    assert result.code == 0, result.err
    if form == "json":
        data = json.loads(result.out)
        assert data["summary"]["identical"] is True
        assert data["documents"] == []
    else:
        assert "no differences" in result.out
        assert "CHANGED" not in result.out and "## " not in result.out


def _reformat(path: Path, rewrite: Any = None) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if rewrite is not None:
        rewrite(data)
    path.write_text(
        yaml.safe_dump(data, default_flow_style=True, sort_keys=True, width=60, allow_unicode=True),
        encoding="utf-8",
    )


def test_a_reformatted_library_holds_the_same_terms(
    cli: Runner, old_lib: Path, tmp_path: Path
) -> None:
    new = copy_library(tmp_path / "reformatted")

    def condition_as_a_list(data: dict[str, Any]) -> None:
        # Two facts in one mapping are the same condition as an all: of both, in any order.
        clause = data["clauses"][1]
        when = clause["when"]
        clause["when"] = {"all": [{k: v} for k, v in reversed(list(when.items()))]}

    for path in sorted((new / "terms").rglob("*.yaml")) + sorted((new / "catalog").glob("*.yaml")):
        _reformat(path, condition_as_a_list if path.name.startswith("api-terms@") else None)
    assert library_digest(new) != library_digest(old_lib)
    result = cli("policy", "diff", old_lib, new)
    assert result.code == 0, result.out + result.err
    assert result.out.splitlines()[-1] == "no differences"


# -- documents and catalog entries added and removed ----------------------------------------------

NEW_DOCUMENT = """\
schema: provenance/terms/v1
id: acme/model-terms@2025-01-01
title: Acme Model Terms
provider: acme
document: model-terms
version: "2025-01-01"
binds: contract
source: https://example.com/acme/terms
effective_from: 2025-01-01
effective_until: null
confidence: medium
clauses:
  - id: no-distilling
    section: "§4"
    paraphrase: Outputs may not be used to distil models.
    citation: https://example.com/acme/terms#4
    when: {intent.activity: {eq: distill}}
    effect: deny
"""


def test_documents_added_and_removed(cli: Runner, old_lib: Path, tmp_path: Path) -> None:
    new = copy_library(tmp_path / "changed")
    (new / "terms" / "acme").mkdir()
    (new / "terms" / "acme" / "model-terms@2025-01-01.yaml").write_text(NEW_DOCUMENT)
    (new / ZEPHYRUS).unlink()
    result = cli("policy", "diff", old_lib, new)
    assert result.code == 1, result.err
    assert result.out.splitlines()[2:] == [
        "",
        "ADDED  acme/model-terms@2025-01-01 — Acme Model Terms",
        "  effective: 2025-01-01 → in force",
        "  binds: contract",
        "  confidence: medium",
        "  source: https://example.com/acme/terms",
        "  clause: no-distilling (§4): deny",
        "",
        "REMOVED  zephyrus/open-licence@2023-01-01 — Zephyrus Open Licence (test fixture)",
        "  effective: 2023-01-01 → in force",
        "  binds: licence",
        "  confidence: high",
        "  source: https://example.com/zephyrus/licence",
        "  clause: outputs-free (§7): allow",
        "",
        "1 document added, 1 document removed",
    ]
    data = json.loads(cli("policy", "diff", old_lib, new, "--format", "json").out)
    assert [(d["id"], d["status"], d["old_id"], d["new_id"]) for d in data["documents"]] == [
        ("acme/model-terms@2025-01-01", "added", None, "acme/model-terms@2025-01-01"),
        ("zephyrus/open-licence@2023-01-01", "removed", "zephyrus/open-licence@2023-01-01", None),
    ]
    assert data["documents"][0]["document"]["clauses"][0]["id"] == "no-distilling"


def test_clauses_added_and_removed(cli: Runner, old_lib: Path, tmp_path: Path) -> None:
    new = copy_library(tmp_path / "changed")
    edit(new, ZEPHYRUS, "  - id: outputs-free", "  - id: outputs-unrestricted")
    result = cli("policy", "diff", old_lib, new)
    assert result.code == 1
    body = result.out.splitlines()[4:]
    assert body[:2] == ["  clause outputs-free (§7) — removed", "    citation: " + ZEPHYRUS_URL]
    assert "  clause outputs-unrestricted (§7) — added" in body
    assert "    effect: allow" in body
    assert body[-1] == "1 document changed, 1 clause added, 1 clause removed"


def test_catalog_changes(cli: Runner, old_lib: Path, tmp_path: Path) -> None:
    new = copy_library(tmp_path / "changed")
    edit(new, "catalog/models.yaml", "family: fabrikam\n", "family: fabrikam-open\n")
    edit(new, "catalog/models.yaml", '["rumour-*"]', '["rumour-*", "gossip-*"]')
    result = cli("policy", "diff", old_lib, new)
    assert result.code == 1, result.err
    out = result.out.splitlines()
    start = out.index("CATALOG")
    assert out[start + 1 : start + 3] == [
        "  model pattern 'fabrikam-*' — changed",
        "    family: fabrikam → fabrikam-open",
    ]
    assert out[start + 3].startswith("  model pattern 'gossip-*' — added")
    assert out[-1] == "1 catalog model pattern added, 1 catalog model pattern changed"


# -- git revisions -------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=Reviewer",
            "-c",
            "user.email=reviewer@example.com",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose policies/ folder is committed twice: the fixture library, then the
    same with Zephyrus's permission turned into a ban."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    copy_library(repo / "policies")
    git(repo, "add", "policies")
    git(repo, "commit", "-q", "-m", "terms as first published")
    edit(repo / "policies", ZEPHYRUS, *TIGHTENED)
    git(repo, "commit", "-q", "-a", "-m", "Zephyrus withdraws the permission")
    return repo


def test_two_git_revisions(cli: Runner, repo: Path) -> None:
    result = cli("policy", "diff", "git:HEAD~1", "git:HEAD", "--repo", repo)
    assert result.code == 1, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith(f"old: git:HEAD~1:policies of {repo.resolve()} (sha256:")
    assert lines[1] == (
        f"new: git:HEAD:policies of {repo.resolve()} ({library_digest(repo / 'policies')})"
    )
    assert lines[2:] == [
        "",
        "CHANGED  zephyrus/open-licence@2023-01-01 — Zephyrus Open Licence (test fixture)",
        "  clause outputs-free (§7) — changed",
        "    citation: https://example.com/zephyrus/licence#7",
        "    effect: allow → deny (stricter)",
        "",
        "1 document changed, 1 clause changed",
    ]


def test_a_revision_against_the_working_tree(
    cli: Runner, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    assert cli("policy", "diff", "git:HEAD", "policies").code == 0
    edit(repo / "policies", CONTOSO, *NARROWED)
    result = cli("policy", "diff", "git:HEAD", "policies")
    assert result.code == 1
    assert "CHANGED  contoso/api-terms@2024-01-01" in result.out
    assert "zephyrus" not in result.out.split("\n", 2)[2]
    before = cli("policy", "diff", "git:HEAD~1", "policies").out
    assert "CHANGED  zephyrus/open-licence@2023-01-01" in before
    assert "CHANGED  contoso/api-terms@2024-01-01" in before


def test_a_library_in_another_folder_of_the_repository(cli: Runner, repo: Path) -> None:
    (repo / "legal").mkdir()
    git(repo, "mv", "policies", "legal/terms-library")
    git(repo, "commit", "-q", "-m", "move the library")
    result = cli(
        "policy", "diff", "git:HEAD~2", "git:HEAD", "--repo", repo, "--path", "legal/terms-library"
    )
    assert result.code == 2
    assert "no folder 'legal/terms-library' in revision 'HEAD~2'" in result.err
    result = cli(
        "policy", "diff", "git:HEAD", "git:HEAD", "--repo", repo, "--path", "legal/terms-library/"
    )
    assert (result.code, result.out.splitlines()[-1]) == (0, "no differences")


def test_a_broken_file_in_a_revision_is_named_as_in_git(cli: Runner, repo: Path) -> None:
    edit(repo / "policies", ZEPHYRUS, "    effect: deny", "    efect: deny")
    git(repo, "commit", "-q", "-a", "-m", "typo")
    result = cli("policy", "diff", "git:HEAD~1", "git:HEAD", "--repo", repo)
    assert result.code == 2
    no_traceback(result.err)
    assert f"git:HEAD:policies/{ZEPHYRUS}:18: unknown field 'efect'" in result.err
    assert "provenance-diff-" not in result.err  # not the temporary directory it was read into


# -- two documents of one library ----------------------------------------------------------------


def test_two_versions_of_a_shipped_document(cli: Runner) -> None:
    shipped = str(bundled_policy_dir())
    old, new = "xai/terms-of-service@2024-12-20", "xai/terms-of-service@2025-01-02"
    result = cli("policy", "diff", old, new, "--policies", shipped)
    assert result.code == 1, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith(f"old: {old} in {Path(shipped).resolve()} (sha256:")
    assert lines[3].startswith(f"CHANGED  {old} → {new} — ")
    assert "  version: 2024-12-20 → 2025-01-02" in lines
    assert "  effective from: 2024-12-20 → 2025-01-02" in lines
    # The ban on any training became a ban on competing models only.
    removed = lines.index(
        "  clause no-training-on-output (Terms of Service, Output clause) — removed"
    )
    assert lines[removed + 2 : removed + 4] == [
        "    effect: deny",
        "    condition: intent.activity in [pretrain, fine-tune, distill, rlhf]",
    ]
    added = lines.index("  clause no-competing-models (Terms of Service, restrictions) — added")
    assert lines[added + 2 : added + 4] == [
        "    effect: deny",
        "    condition: intent.competes_with contains xai",
    ]
    assert lines[-1] == "1 document changed, 1 clause added, 1 clause removed"
    data = json.loads(
        cli("policy", "diff", old, new, "--policies", shipped, "--format", "json").out
    )
    assert data["catalog"]["compared"] is False
    assert (data["old"]["kind"], data["old"]["source"]) == ("document", old)
    [document] = data["documents"]
    assert (document["old_id"], document["new_id"]) == (old, new)


def test_a_document_against_itself(cli: Runner) -> None:
    doc = "tailspin/model-licence@2024-06-01"
    result = cli("policy", "diff", doc, doc, "--policies", LIBRARY_DIR)
    assert (result.code, result.out.splitlines()[-1]) == (0, "no differences")


# -- bad input -----------------------------------------------------------------------------------


def test_help_names_the_forms(cli: Runner) -> None:
    result = cli("policy", "diff", "--help")
    assert result.code == 0
    for form in ("git:REV", "provider/document@version", "DIR", "--repo", "--path"):
        assert form in result.out
    assert "diff" in cli("policy", "--help").out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}/missing", "{old}"], "no library directory '{tmp}/missing'"),
        (["{tmp}", "{old}"], "'{tmp}' is not a terms library: it has no terms/ or catalog/ folder"),
        (
            ["tailspin/model-licence@2024-06-01", "{old}"],
            "'tailspin/model-licence@2024-06-01' is a document id but '{old}' is not",
        ),
        (
            ["tailspin/model-licence", "tailspin/model-licence@2024-06-01"],
            "'tailspin/model-licence@2024-06-01' is a document id but 'tailspin/model-licence' "
            "is not",
        ),
        (
            ["tailspin/model-licence", "{old}"],
            "no library directory 'tailspin/model-licence' (hint: to compare two versions",
        ),
        (
            [
                "tailspin/model-licence@2024-06-01",
                "tailspin/model-licence@2024-07-01",
                "--policies",
                "{old}",
            ],
            "{old}: no terms document 'tailspin/model-licence@2024-07-01' in the library",
        ),
        (["{old}", "{old}", "--format", "html"], "unknown format 'html'"),
        (["{old}", "{old}", "--repo", "{tmp}"], "--repo and --path apply only to a git:REV"),
        (["{old}", "{old}", "--policies", "{old}"], "--policies applies only to document ids"),
        (["git:HEAD", "{old}", "--repo", "{tmp}"], "not a git repository: {tmp}"),
        (["git:", "{old}"], "'git:' names no revision"),
    ],
)
def test_bad_input_is_exit_2_with_a_clear_message(
    cli: Runner, old_lib: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    values = {"tmp": str(tmp_path), "old": str(old_lib)}
    result = cli("policy", "diff", *(a.format(**values) for a in args))
    assert result.code == 2
    no_traceback(result.err)
    assert message.format(**values) in result.err
    assert result.out == ""


def test_an_unknown_revision_is_exit_2(cli: Runner, repo: Path) -> None:
    result = cli("policy", "diff", "git:v9", "git:HEAD", "--repo", repo)
    assert result.code == 2
    assert f"no revision 'v9' in the git repository {repo.resolve()}" in result.err


def test_a_broken_library_names_file_and_line(cli: Runner, old_lib: Path, new_lib: Path) -> None:
    edit(
        new_lib,
        CONTOSO,
        "    effect: deny\n  - id: no-reward",
        "    efect: deny\n  - id: no-reward",
    )
    result = cli("policy", "diff", old_lib, new_lib)
    assert result.code == 2
    no_traceback(result.err)
    assert f"{new_lib / CONTOSO}:23: unknown field 'efect'" in result.err


def test_an_output_that_cannot_be_written(cli: Runner, old_lib: Path, new_lib: Path) -> None:
    result = cli("policy", "diff", old_lib, new_lib, "-o", old_lib)
    assert result.code == 2
    no_traceback(result.err)
    assert f"{old_lib}: cannot write" in result.err
