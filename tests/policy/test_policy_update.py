"""``provenance policy sign`` and ``provenance policy update``: a signed library from a directory,
a ``.tar.gz`` file or URL installed into the project, refused when its signature, its files or its
version are not acceptable, and rolled back."""

from __future__ import annotations

import functools
import http.server
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from provenance.policy.loader import library_digest
from tests.conftest import Runner
from tests.policy.test_library_versions import write_library


def _installed(project_dir: Path) -> Path:
    return project_dir / ".provenance" / "policies"


def _previous(project_dir: Path) -> Path:
    return project_dir / ".provenance" / "policies.previous"


def _version(library: Path) -> str:
    for line in (library / "library.yaml").read_text().splitlines():
        if line.startswith("version:"):
            return line.split('"')[1]
    raise AssertionError("no version")


@pytest.fixture
def publisher(project_dir: Path, cli: Runner) -> str:
    """A project key trusted to sign libraries (and nothing else)."""
    made = cli("keys", "generate", "publisher", "--trust", "--signs", "libraries")
    assert made.code == 0, made.err
    assert "to sign libraries" in made.out
    return "publisher"


def _signed(cli: Runner, library: Path, key: str) -> Path:
    result = cli("policy", "sign", library, "--key", key)
    assert result.code == 0, result.err
    assert f"signed {library / 'library.sig'}: version {_version(library)}" in result.out
    return library


def test_sign_update_and_roll_back(
    cli: Runner, project_dir: Path, publisher: str, tmp_path: Path
) -> None:
    first = _signed(cli, write_library(tmp_path / "first", "2027.1.0"), publisher)
    envelope = json.loads((first / "library.sig").read_text())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    result = cli("policy", "update", "--from", first)
    assert result.code == 0, result.err
    assert "library.sig: signed by 'publisher'" in result.out
    assert "version: 2026.12.0 → 2027.1.0" in result.out
    assert f"→ {library_digest(first)}" in result.out
    assert "unsigned" not in result.err
    assert library_digest(_installed(project_dir)) == library_digest(first)
    assert (_installed(project_dir) / "library.sig").exists()
    assert not _previous(project_dir).exists()  # the bundled library stays with the package

    second = _signed(cli, write_library(tmp_path / "second", "2027.2.0"), publisher)
    result = cli("policy", "update", "--from", second)
    assert result.code == 0, result.err
    assert "version: 2027.1.0 → 2027.2.0" in result.out
    assert f"kept in {_previous(project_dir)} (one level)" in result.out
    assert _version(_installed(project_dir)) == "2027.2.0"
    assert _version(_previous(project_dir)) == "2027.1.0"
    info = cli("policy", "info")
    assert "signature: signed by 'publisher'" in info.out
    assert "previous:  2027.1.0" in info.out

    again = cli("policy", "update", "--from", second)
    assert again.code == 0
    assert "is installed already" in again.out

    rolled = cli("policy", "update", "--rollback")
    assert rolled.code == 0, rolled.err
    assert "restored terms library 2027.1.0" in rolled.out
    assert _version(_installed(project_dir)) == "2027.1.0"
    assert _version(_previous(project_dir)) == "2027.2.0"
    assert cli("policy", "update", "--rollback").code == 0
    assert _version(_installed(project_dir)) == "2027.2.0"


def test_rollback_without_a_previous_library(cli: Runner, project_dir: Path) -> None:
    result = cli("policy", "update", "--rollback")
    assert result.code == 2
    assert "no previous library to restore" in result.err
    neither = cli("policy", "update")
    assert neither.code == 2
    assert "give either --from DIR|URL or --rollback" in neither.err


def test_an_untrusted_key_is_refused(cli: Runner, project_dir: Path, tmp_path: Path) -> None:
    assert cli("keys", "generate", "stranger").code == 0  # made, never trusted
    library = write_library(tmp_path / "lib", "2027.1.0")
    signed = cli("policy", "sign", library, "--key", "stranger")
    assert signed.code == 0
    assert "the key is not in the project's trust store" in signed.err
    result = cli("policy", "update", "--from", library)
    assert result.code == 1
    assert "the signature does not verify with any key of the trust store" in result.err
    assert "--signs libraries" in result.err
    assert not _installed(project_dir).exists()


def test_a_key_trusted_only_for_records_is_refused(
    cli: Runner, project_dir: Path, tmp_path: Path
) -> None:
    library = write_library(tmp_path / "lib", "2027.1.0")
    signed = cli("policy", "sign", library, "--key", "gen")
    assert "key 'gen' is not trusted to sign libraries" in signed.err  # said when signing
    result = cli("policy", "update", "--from", library)
    assert result.code == 1
    assert "key 'gen' is not trusted to sign libraries (it signs records)" in result.err
    assert not _installed(project_dir).exists()


def test_a_file_changed_after_signing_is_refused(
    cli: Runner, project_dir: Path, publisher: str, tmp_path: Path
) -> None:
    library = _signed(cli, write_library(tmp_path / "lib", "2027.1.0"), publisher)
    terms = library / "terms" / "contoso" / "api-terms@2024-01-01.yaml"
    terms.write_text(terms.read_text() + "# changed after signing\n")
    result = cli("policy", "update", "--from", library)
    assert result.code == 1
    assert "the library's files are not the ones signed" in result.err
    assert library_digest(library) in result.err
    assert not _installed(project_dir).exists()
    info = cli("policy", "info", "--policies", library)
    assert "signature: refused:" in info.out


def test_a_revoked_key_is_refused(
    cli: Runner, project_dir: Path, publisher: str, tmp_path: Path
) -> None:
    library = _signed(cli, write_library(tmp_path / "lib", "2027.1.0"), publisher)
    assert cli("keys", "revoke", publisher, "--reason", "leaked").code == 0
    result = cli("policy", "update", "--from", library)
    assert result.code == 1
    assert "key 'publisher' was revoked (leaked)" in result.err


def test_unsigned_is_installed_with_a_notice_or_refused_when_required(
    cli: Runner, project_dir: Path, tmp_path: Path
) -> None:
    library = write_library(tmp_path / "lib", "2027.1.0")
    refused = cli("policy", "update", "--from", library, "--require-signature")
    assert refused.code == 1
    assert "unsigned" in refused.err
    assert not _installed(project_dir).exists()
    installed = cli("policy", "update", "--from", library)
    assert installed.code == 0, installed.err
    assert "notice: the library is unsigned" in installed.err
    assert _version(_installed(project_dir)) == "2027.1.0"


def test_a_downgrade_is_refused_unless_allowed(
    cli: Runner, project_dir: Path, tmp_path: Path
) -> None:
    assert cli("policy", "update", "--from", write_library(tmp_path / "b", "2027.2.0")).code == 0
    older = write_library(tmp_path / "a", "2027.1.0")
    refused = cli("policy", "update", "--from", older)
    assert refused.code == 1
    assert "version 2027.1.0 is older than the version in use, 2027.2.0" in refused.err
    assert "--allow-downgrade" in refused.err
    assert _version(_installed(project_dir)) == "2027.2.0"
    older_than_bundled = write_library(tmp_path / "c", "2026.1.0")
    assert cli("policy", "update", "--from", older_than_bundled).code == 1
    same = write_library(tmp_path / "d", "2027.2.0")
    terms = same / "terms" / "contoso" / "api-terms@2024-01-01.yaml"
    terms.write_text(terms.read_text() + "# another edit\n")
    changed = cli("policy", "update", "--from", same)
    assert changed.code == 1
    assert "is the version in use, but its files differ" in changed.err
    allowed = cli("policy", "update", "--from", older, "--allow-downgrade")
    assert allowed.code == 0, allowed.err
    assert "version: 2027.2.0 → 2027.1.0" in allowed.out


def test_a_library_that_does_not_read_is_not_installed(
    cli: Runner, project_dir: Path, tmp_path: Path
) -> None:
    library = write_library(tmp_path / "lib", "2027.1.0")
    broken = library / "terms" / "contoso" / "api-terms@2024-01-01.yaml"
    broken.write_text("schema: provenance/terms/v1\nidd: contoso/api-terms@2024-01-01\n")
    result = cli("policy", "update", "--from", library)
    assert result.code == 2
    assert "api-terms@2024-01-01.yaml:2: unknown field 'idd'" in result.err
    assert "Traceback" not in result.err
    assert not _installed(project_dir).exists()
    assert cli("policy", "sign", library, "--key", "gen").code == 2
    assert not (library / "library.sig").exists()


def test_a_failing_policy_test_refuses_the_library(
    cli: Runner, project_dir: Path, tmp_path: Path
) -> None:
    library = write_library(tmp_path / "lib", "2027.1.0")
    terms = library / "terms" / "contoso" / "api-terms@2024-01-01.yaml"
    terms.write_text(terms.read_text().replace("effect: deny", "effect: allow"))
    result = cli("policy", "update", "--from", library)
    assert result.code == 1
    assert "of the library's policy test cases fail" in result.err
    assert not _installed(project_dir).exists()
    skipped = cli("policy", "update", "--from", library, "--skip-tests")
    assert skipped.code == 0, skipped.err


def test_a_library_without_a_version_is_not_installed(
    cli: Runner, project_dir: Path, tmp_path: Path
) -> None:
    library = write_library(tmp_path / "lib", "2027.1.0")
    (library / "library.yaml").unlink()
    result = cli("policy", "update", "--from", library)
    assert result.code == 2
    assert "the library has no library.yaml stating its version" in result.err


# -- archives ------------------------------------------------------------------------------------


def _tarball(library: Path, archive: Path, top: str = "terms-library") -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(library, arcname=top)
    return archive


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on loopback serving a folder: its base URL and the folder."""
    folder = tmp_path / "www"
    folder.mkdir()
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "*")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_update_from_a_tarball_over_http(
    cli: Runner, project_dir: Path, publisher: str, tmp_path: Path, served: tuple[str, Path]
) -> None:
    url, folder = served
    library = _signed(cli, write_library(tmp_path / "lib", "2027.1.0"), publisher)
    _tarball(library, folder / "terms-library-2027.1.0.tar.gz")
    result = cli("policy", "update", "--from", f"{url}/terms-library-2027.1.0.tar.gz")
    assert result.code == 0, result.err
    assert "library.sig: signed by 'publisher'" in result.out
    assert library_digest(_installed(project_dir)) == library_digest(library)
    missing = cli("policy", "update", "--from", f"{url}/missing.tar.gz")
    assert missing.code == 2
    assert "the server answered 404" in missing.err


def test_update_from_a_file_url(cli: Runner, project_dir: Path, tmp_path: Path) -> None:
    library = write_library(tmp_path / "lib", "2027.1.0")
    archive = tmp_path / "library.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:  # library.yaml at the top, no top folder
        for path in sorted(library.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(library)), recursive=False)
    result = cli("policy", "update", "--from", archive.as_uri())
    assert result.code == 0, result.err
    assert "notice: the library is unsigned" in result.err
    assert library_digest(_installed(project_dir)) == library_digest(library)
    unknown = cli("policy", "update", "--from", "ftp://example.com/library.tar.gz")
    assert unknown.code == 2
    assert "cannot fetch a library from 'ftp://example.com/library.tar.gz'" in unknown.err


def _with_member(library: Path, archive: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(library, arcname="terms-library")
        tar.addfile(member, io.BytesIO(data) if member.isreg() else None)
    return archive


def _file(name: str, data: bytes) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    return member


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.linkname = target
    return member


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (_file("terms-library/../evil.yaml", b"x: 1\n"), "points outside the archive ('..')"),
        (_file("/tmp/evil.yaml", b"x: 1\n"), "has an absolute path"),
        (
            _link("terms-library/terms/link.yaml", "/etc/passwd", tarfile.SYMTYPE),
            "is a symbolic link (to '/etc/passwd')",
        ),
        (
            _link("terms-library/terms/hard.yaml", "terms-library/library.yaml", tarfile.LNKTYPE),
            "is a hard link",
        ),
    ],
)
def test_a_malicious_tarball_installs_nothing(
    cli: Runner,
    project_dir: Path,
    tmp_path: Path,
    member: tarfile.TarInfo,
    message: str,
) -> None:
    library = write_library(tmp_path / "lib", "2027.1.0")
    archive = _with_member(library, tmp_path / "bad.tar.gz", member, b"x: 1\n")
    result = cli("policy", "update", "--from", archive)
    assert result.code == 2
    assert message in result.err
    assert f"{archive}: member '{member.name}'" in result.err
    assert "Traceback" not in result.err
    assert not _installed(project_dir).exists()
    assert not (tmp_path / "evil.yaml").exists()


def test_an_archive_that_is_not_one_is_refused(
    cli: Runner, project_dir: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "library.tar.gz"
    archive.write_bytes(b"not gzip at all")
    result = cli("policy", "update", "--from", archive)
    assert result.code == 2
    assert "not a readable .tar.gz archive" in result.err
    assert not _installed(project_dir).exists()
