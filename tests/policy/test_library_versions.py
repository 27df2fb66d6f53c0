"""A terms library's version and digest: stated in ``library.yaml``, shown by ``provenance policy
info`` and named in the audit report, and which library a command uses when none is given."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from provenance.policy.loader import (
    POLICIES_ENV,
    bundled_policy_dir,
    default_policy_dir,
    library_digest,
    load_metadata,
)
from tests.conftest import Runner
from tests.policy.builders import LIBRARY_DIR
from tests.report.helpers import COMPETING, contoso_shard

BUNDLED = Path(__file__).resolve().parents[2] / "policies"


def write_library(path: Path, version: str, *, published: str = "2027-01-05") -> Path:
    """The fixture terms library at ``path``, stating ``version``."""
    shutil.copytree(LIBRARY_DIR, path)
    (path / "library.yaml").write_text(
        "schema: provenance/library/v1\n"
        "title: Fixture terms library\n"
        f'version: "{version}"\n'
        f"published: {published}\n"
    )
    return path


def test_the_bundled_library_states_its_version(cli: Runner, workdir: Path) -> None:
    metadata = load_metadata(BUNDLED)
    assert metadata is not None
    assert metadata.version == "2026.12.0"
    result = cli("policy", "info")
    assert result.code == 0, result.err
    assert f"terms library: {BUNDLED.resolve()} (bundled with the package)" in result.out
    assert "version:   2026.12.0" in result.out
    assert "published: 2026-12-07" in result.out
    assert f"digest:    {library_digest(BUNDLED)}" in result.out
    assert "signature: unsigned" in result.out


def test_library_yaml_is_in_the_digest_but_is_not_a_terms_document(
    cli: Runner, workdir: Path
) -> None:
    lib = write_library(workdir / "lib", "2027.1.0")
    listed = cli("policy", "list", "--policies", lib)
    assert listed.code == 0, listed.err
    assert len(listed.out.splitlines()) == 9  # the header and the fixture's eight documents
    assert cli("policy", "lint", lib).code == 0
    before = library_digest(lib)
    (lib / "library.yaml").write_text((lib / "library.yaml").read_text().replace("1.0", "1.1"))
    assert library_digest(lib) != before
    info = cli("policy", "info", "--policies", lib, "--json")
    facts = orjson.loads(info.out)
    assert facts["version"] == "2027.1.1"
    assert facts["digest"] == library_digest(lib)
    assert facts["path"] == str(lib.resolve())
    assert facts["kind"] == "given"
    assert facts["title"] == "Fixture terms library"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('version: "1.0"', "library.yaml:3: version '1.0' is not YEAR.MONTH.N"),
        ('version: "2026.13.0"', "library.yaml:3: version '2026.13.0' is not YEAR.MONTH.N"),
        ("versoin: 2026.12.0", "library.yaml:3: unknown field 'versoin'"),
    ],
)
def test_a_wrong_library_yaml_is_named_with_its_line(
    cli: Runner, workdir: Path, line: str, message: str
) -> None:
    lib = write_library(workdir / "lib", "2027.1.0")
    text = (lib / "library.yaml").read_text().replace('version: "2027.1.0"', line)
    (lib / "library.yaml").write_text(text)
    for args in (("policy", "lint", lib), ("policy", "info", "--policies", lib)):
        result = cli(*args)
        assert result.code == 2, args
        assert message in result.err, (args, result.err)
        assert "Traceback" not in result.err


def test_a_library_without_library_yaml_has_no_version(cli: Runner, workdir: Path) -> None:
    result = cli("policy", "info", "--policies", LIBRARY_DIR)
    assert result.code == 0, result.err
    assert "version:   (no version)" in result.out


def test_which_library_is_used(
    cli: Runner,
    project_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--policies, else $PROVENANCE_POLICIES, else the project's installed library, else the
    bundled one."""
    monkeypatch.delenv(POLICIES_ENV, raising=False)
    assert default_policy_dir() == bundled_policy_dir()
    new = write_library(project_dir / "new", "2027.1.0")
    installed = cli("policy", "update", "--from", new)
    assert installed.code == 0, installed.err
    home = project_dir / ".provenance" / "policies"
    assert default_policy_dir() == home
    info = cli("policy", "info")
    assert f"terms library: {home.resolve()} (installed in the project)" in info.out
    assert "version:   2027.1.0" in info.out
    assert cli("--version").out.splitlines()[1].startswith(f"terms library: {home.resolve()} ")
    other = write_library(project_dir / "other", "2027.3.0")
    monkeypatch.setenv(POLICIES_ENV, str(other))
    assert default_policy_dir() == other
    assert "version:   2027.3.0" in cli("policy", "info").out
    given = write_library(project_dir / "given", "2027.4.0")
    assert "version:   2027.4.0" in cli("policy", "info", "--policies", given).out
    monkeypatch.delenv(POLICIES_ENV)
    # Outside the project the bundled library is used again.
    monkeypatch.chdir(tmp_path_factory.mktemp("outside"))
    assert default_policy_dir() == bundled_policy_dir()


def test_the_audit_report_names_the_library_version(
    cli: Runner, project_dir: Path, tmp_path: Path
) -> None:
    shard = contoso_shard(project_dir / "data" / "shard.jsonl", prefix="s", n=3)
    lib = write_library(tmp_path / "lib", "2027.1.0")
    args = ("audit", shard, "--intent", COMPETING, "--format", "json")
    given = orjson.loads(cli(*args, "--policies", lib).out)
    assert given["policy_library"] == {
        "digest": library_digest(lib),
        "source": str(lib.resolve()),
        "version": "2027.1.0",
    }
    assert cli("policy", "update", "--from", lib).code == 0
    installed = orjson.loads(cli(*args).out)
    home = project_dir / ".provenance" / "policies"
    assert installed["policy_library"] == {
        "digest": library_digest(lib),  # the same files, so the same digest
        "source": str(home.resolve()),
        "version": "2027.1.0",
    }
    unversioned = orjson.loads(cli(*args, "--policies", LIBRARY_DIR).out)
    assert unversioned["policy_library"]["version"] is None
    assert installed["outcome"] == given["outcome"] == "deny"
