"""What an install tells its user about itself: ``--version``, the terms library and its digest, and
the pure-Python stand-ins that take the native module's place when it is absent."""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from provenance import __version__, _declining, native
from provenance.policy.loader import POLICIES_ENV, bundled_policy_dir, library_digest
from tests.conftest import TAG, Runner, write_jsonl
from tests.markers import needs_native
from tests.report.helpers import intent_file

ROOT = Path(__file__).resolve().parent.parent


def test_version_names_the_package_the_library_and_the_fast_path(cli: Runner) -> None:
    result = cli("--version")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == f"provenance {__version__}"
    digest = library_digest(ROOT / "policies")
    assert lines[1] == f"terms library: bundled {digest} ({(ROOT / 'policies').resolve()})"
    assert lines[2] == f"native fast path: {native.status()}"


def test_version_names_a_library_given_in_the_environment(
    cli: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = tmp_path / "lib"
    shutil.copytree(ROOT / "policies", library)
    monkeypatch.setenv(POLICIES_ENV, str(library))
    line = cli("--version").out.splitlines()[1]
    assert line.startswith(f"terms library: {library.resolve()} sha256:")
    assert line.split()[3] == library_digest(ROOT / "policies")  # same files, same digest
    monkeypatch.setenv(POLICIES_ENV, str(tmp_path / "missing"))
    assert f"not found at {tmp_path / 'missing'}" in cli("--version").out


def test_the_checkout_reads_its_own_policies_folder() -> None:
    assert bundled_policy_dir() == (ROOT / "policies").resolve()


def test_the_library_digest_is_what_sha256sum_gives(tmp_path: Path) -> None:
    """The documented shell command computes the same digest, so a reviewer can check it."""
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum is not on PATH")
    command = (
        "find . -name '*.yaml' -type f | sed 's|^./||' | LC_ALL=C sort | xargs sha256sum"
        " | sha256sum"
    )
    out = subprocess.run(
        ["sh", "-c", command], cwd=ROOT / "policies", capture_output=True, check=True, text=True
    ).stdout
    assert library_digest(ROOT / "policies") == "sha256:" + out.split()[0]


def test_any_change_to_a_library_file_changes_the_digest(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    shutil.copytree(ROOT / "policies", library)
    before = library_digest(library)
    catalog = library / "catalog" / "models.yaml"
    catalog.write_bytes(catalog.read_bytes() + b"\n")
    changed = library_digest(library)
    assert changed != before
    catalog.rename(library / "catalog" / "models2.yaml")
    assert library_digest(library) not in {before, changed}


def test_the_audit_report_records_the_library(
    cli: Runner, project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data.jsonl"
    write_jsonl(data, [{"id": "a", "text": "hello"}])
    signed = tmp_path / "signed.jsonl"
    assert cli("tag", data, "-o", signed, *TAG, "--generated-at", "2024-06-01T09:00:00Z").code == 0
    intent = intent_file(tmp_path, "intent")
    report = orjson.loads(cli("audit", signed, "--intent", intent, "--format", "json").out)
    assert report["policy_library"] == {
        "digest": library_digest(ROOT / "policies"),
        "source": "bundled",
        "version": _library_version(),
    }
    other = tmp_path / "lib"
    shutil.copytree(ROOT / "policies", other)
    monkeypatch.setenv(POLICIES_ENV, str(other))
    report = orjson.loads(cli("audit", signed, "--intent", intent, "--format", "json").out)
    assert report["policy_library"]["source"] == str(other.resolve())


def test_every_native_function_has_a_stand_in() -> None:
    names = ["b64decode", "keep_freed_memory", "line_end", "scan", "scan_batch", "tag_batch"]
    for name in names:
        assert callable(getattr(_declining, name)), name
    if native.ENABLED:
        exported = {n for n in dir(native.lib) if not n.startswith("_")}
        assert exported == set(names)


def test_the_stand_ins_decline() -> None:
    assert _declining.scan(b"{}", 128, str) is None
    assert _declining.scan_batch(b"{}", 128, str, None) is None
    assert _declining.tag_batch(b"{}\n", 128, str, "id", b"", 1, lambda b, n: b) is None
    assert _declining.b64decode("AA==") is None
    assert inspect.signature(_declining.keep_freed_memory).parameters == {}


@needs_native
@given(st.binary(max_size=200), st.integers(0, 210), st.integers(1, 5))
def test_the_line_end_stand_in_matches_the_native_one(data: bytes, start: int, count: int) -> None:
    assert _declining.line_end(data, start, count) == native.lib.line_end(data, start, count)


def test_switched_off_the_pure_path_runs(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", "from provenance import native; print(native.status())"],
        env={"PROVENANCE_NATIVE": "0", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    assert out.strip() == "off (PROVENANCE_NATIVE=0)"


def _library_version() -> str:
    """The version the shipped library states (policies/library.yaml)."""
    from provenance.policy.loader import load_metadata

    metadata = load_metadata(ROOT / "policies")
    assert metadata is not None
    return metadata.version
