"""A terms library as a versioned, signed artefact: signing one, checking its signature, and
installing one into a project (``provenance policy sign``, ``provenance policy update``).

**Version.** A library states its version in ``library.yaml`` at its root
(:class:`~provenance.policy.library.LibraryMetadata`): ``YEAR.MONTH.N``, compared part by part.

**Signature.** ``library.sig`` at the library's root is a DSSE envelope (payload type
``application/vnd.in-toto+json``) over an in-toto Statement v1 whose one subject is the library —
name ``terms-library``, digest ``sha256`` the hex of :func:`~provenance.policy.loader.library_digest`
— and whose predicate (type :data:`LIBRARY_PREDICATE`) holds ``version``, ``published``, ``title``
and ``signed_at``. It is not a YAML file, so it lies outside the digest it signs. A signature is
accepted when it verifies with a key of the trust store whose entry lists ``libraries`` in
``signs``, that is not revoked and whose validity window covers ``signed_at``; when the subject's
digest is the digest of the files beside it; and when its version is the one ``library.yaml``
states.

**Installing.** The library is copied (its YAML files and its signature) into a temporary folder of
the project folder, then renamed to ``.provenance/policies/``; the library it replaces is renamed to
``.provenance/policies.previous/`` (one level: an older one kept there is removed). A rollback
swaps the two.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from provenance import canonical, dsse
from provenance.bounded import parse_json_document
from provenance.errors import ConfigError, PolicyError, ProvenanceError
from provenance.keys import Signer
from provenance.limits import DEFAULT_LIMITS, Limits
from provenance.manifest import PAYLOAD_TYPE, STATEMENT_TYPE, Statement, format_time, parse_time
from provenance.policy import loader
from provenance.policy.library import LibraryMetadata, LibraryOrigin, version_key
from provenance.trust import TrustedKey, TrustStore

LIBRARY_PREDICATE = "https://provenance.dev/terms-library/v1"
"""The predicate type of a library's signed statement."""
SIGNATURE_FILE = "library.sig"
"""The signature's file, at the library's root."""
SUBJECT_NAME = "terms-library"
LIBRARY_KIND = "libraries"
"""The kind of signature (:data:`provenance.trust.SIGNATURE_KINDS`) a library signer is trusted
for."""
PREVIOUS_DIR = "policies.previous"
"""The folder of the project folder keeping the library the last update replaced."""


class LibraryRefused(ProvenanceError):
    """A library that is not installed although it was read: its signature is bad, untrusted or
    missing when one is required, it is older than the installed one, or a policy test fails."""

    exit_code = 1


@dataclass(frozen=True)
class LibrarySignature:
    """An accepted library signature: who signed it, when, and which version."""

    key: TrustedKey
    version: str
    signed_at: datetime

    def describe(self) -> str:
        return (
            f"signed by '{self.key.name}' ({self.key.keyid[:16]}…) at {format_time(self.signed_at)}"
        )


def check_library(directory: Path, limits: Limits = DEFAULT_LIMITS) -> LibraryMetadata:
    """Read every file of a library as ``provenance policy lint`` does, and its version; the first
    problem found is raised (file and line), with the count of the others."""
    result = loader.lint(directory, limits)
    if result.problems:
        first = result.problems[0]
        more = len(result.problems) - 1
        hint = first.hint
        if more:
            also = (
                f"{more} more problem{'' if more == 1 else 's'}: 'provenance policy lint' lists all"
            )
            hint = f"{hint}; {also}" if hint else also
        raise PolicyError(first.message, source=first.source, line=first.line, hint=hint)
    metadata = loader.load_metadata(directory, limits)
    if metadata is None:
        raise PolicyError(
            f"the library has no {loader.LIBRARY_FILE} stating its version",
            source=str(directory),
            hint=f"add {loader.LIBRARY_FILE} with schema: provenance/library/v1, version: "
            f'"YEAR.MONTH.N" and published: YYYY-MM-DD',
        )
    return metadata


def failing_tests(directory: Path, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """The policy test cases of a library that fail on it, as ``terms: case``."""
    from provenance.policy.testing import run_tests

    library = loader.load_library(directory, limits)
    results = run_tests(library, loader.load_test_files(directory, limits))
    return [f"{r.terms}: {r.name}" for r in results if not r.passed]


# -- signing and checking ------------------------------------------------------------------------


def sign_library(directory: Path, signer: Signer, now: datetime | None = None) -> Path:
    """Write ``library.sig`` for the library in ``directory`` (which must read without a problem
    and state its version) and return its path."""
    metadata = check_library(directory)
    digest = loader.library_digest(directory)
    predicate: dict[str, Any] = {
        "version": metadata.version,
        "published": metadata.published.isoformat(),
        "signed_at": format_time(now or datetime.now(UTC)),
    }
    if metadata.title is not None:
        predicate["title"] = metadata.title
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": SUBJECT_NAME, "digest": {"sha256": digest.removeprefix("sha256:")}}],
        "predicateType": LIBRARY_PREDICATE,
        "predicate": predicate,
    }
    envelope = dsse.sign(PAYLOAD_TYPE, canonical.canonicalize(statement), [signer])
    path = directory / SIGNATURE_FILE
    _write(path, (json.dumps(envelope.to_dict(), indent=2) + "\n").encode("utf-8"))
    return path


def _write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"cannot write ({exc.strerror})", source=str(path)) from None


def is_signed(directory: Path) -> bool:
    return (directory / SIGNATURE_FILE).exists()


def verify_library(
    directory: Path,
    store: TrustStore,
    *,
    now: datetime | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> LibrarySignature | None:
    """The accepted signature of the library in ``directory``, None when it has none; a signature
    that is not accepted raises :class:`LibraryRefused` saying why."""
    path = directory / SIGNATURE_FILE
    if not is_signed(directory):
        return None
    envelope, statement = _read_signature(path, limits)
    predicate = statement.predicate
    signed_at = _signed_at(predicate.get("signed_at"), path)
    key = _signer(envelope, store, signed_at, now or datetime.now(UTC), path)
    digest = loader.library_digest(directory)
    signed = "sha256:" + statement.subject.sha256
    if signed != digest:
        raise LibraryRefused(
            f"the library's files are not the ones signed: they digest to {digest}, the "
            f"signature names {signed}",
            source=str(path),
            hint="a file was changed, added or removed after signing",
        )
    metadata = loader.load_metadata(directory, limits)
    version = predicate.get("version")
    stated = None if metadata is None else metadata.version
    if version != stated:
        raise LibraryRefused(
            f"the signature names version {version!r}, the library states {stated!r}",
            source=str(path),
        )
    assert isinstance(version, str)
    return LibrarySignature(key, version, signed_at)


def _read_signature(path: Path, limits: Limits) -> tuple[dsse.Envelope, Statement]:
    try:
        with path.open("rb") as handle:
            data = handle.read(limits.max_document_bytes + 1)
        envelope = dsse.Envelope.from_dict(
            parse_json_document(data, SIGNATURE_FILE, limits), max_signatures=limits.max_signatures
        )
        if envelope.payload_type != PAYLOAD_TYPE:
            raise LibraryRefused(f"payloadType is '{envelope.payload_type}', not '{PAYLOAD_TYPE}'")
        statement = Statement.from_dict(canonical.parse_json(envelope.payload))
        if statement.predicate_type != LIBRARY_PREDICATE:
            raise LibraryRefused(
                f"predicateType is '{statement.predicate_type}', not '{LIBRARY_PREDICATE}'"
            )
        if statement.subject.name != SUBJECT_NAME:
            raise LibraryRefused(f"the subject is '{statement.subject.name}', not a library")
        if not statement.subject.sha256:  # raises when the subject has no sha256 digest
            raise LibraryRefused("the subject's sha256 digest is empty")
    except OSError as exc:
        raise LibraryRefused(f"cannot read ({exc.strerror})", source=str(path)) from None
    except ProvenanceError as exc:
        raise LibraryRefused(
            f"not a signed library statement: {exc.message}", source=str(path)
        ) from None
    return envelope, statement


def _signed_at(value: object, path: Path) -> datetime:
    if not isinstance(value, str):
        raise LibraryRefused("the signed statement states no signed_at time", source=str(path))
    try:
        return parse_time(value, "signed_at")
    except ProvenanceError as exc:
        raise LibraryRefused(exc.message, source=str(path)) from None


def _signer(
    envelope: dsse.Envelope, store: TrustStore, signed_at: datetime, now: datetime, path: Path
) -> TrustedKey:
    """The trusted key whose signature is accepted for a library, or why none is."""
    message = envelope.pae()
    verified: list[TrustedKey] = []
    for signature in envelope.signatures:
        for entry in store.candidates(signature.keyid):
            known = any(v.keyid == entry.keyid for v in verified)
            if not known and entry.key.verify(signature.sig, message):
                verified.append(entry)
                break
    if not verified:
        raise LibraryRefused(
            "the signature does not verify with any key of the trust store",
            source=str(path),
            hint="trust the publisher's key with 'provenance keys trust FILE --signs libraries'",
        )
    problems = []
    for entry in verified:
        problem = entry.refuses(LIBRARY_KIND, signed_at, now)
        if problem is None:
            return entry
        problems.append(problem)
    raise LibraryRefused(problems[0], source=str(path))


# -- installing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Update:
    """What ``provenance policy update`` did: the library before and after, the signature it
    checked, and where the library it replaced is kept."""

    before: LibraryOrigin
    after: LibraryOrigin
    signature: LibrarySignature | None
    kept: Path | None
    """``.provenance/policies.previous/`` when an installed library was replaced; None when the
    project used the bundled library before."""
    changed: bool = True
    """False when the same library (version and files) was installed already."""


def current_library(home: Path) -> Path:
    """The library the project uses when no ``--policies`` or ``$PROVENANCE_POLICIES`` is given."""
    installed = home / loader.INSTALLED_DIR
    return installed if installed.is_dir() else loader.bundled_policy_dir()


def update_library(
    source: Path,
    home: Path,
    store: TrustStore | None,
    *,
    require_signature: bool = False,
    allow_downgrade: bool = False,
    run_tests: bool = True,
    limits: Limits = DEFAULT_LIMITS,
) -> Update:
    """Check the library in ``source`` and install it into the project folder ``home``.

    ``store`` is the trust store its signature is checked against (needed only when it is signed).
    Raises :class:`LibraryRefused` (exit 1) when it is not installed for a reason of trust or
    version, and a :class:`PolicyError` (exit 2) when a file of it cannot be read; nothing is
    installed then.
    """
    metadata = check_library(source, limits)
    signature = None
    if is_signed(source):
        if store is None:
            raise LibraryRefused(
                "the library is signed but there is no trust store to check it against",
                hint="pass --trust FILE or run inside a project",
            )
        signature = verify_library(source, store, limits=limits)
    elif require_signature:
        raise LibraryRefused(
            f"the library is unsigned (no {SIGNATURE_FILE}) and --require-signature was given",
            source=str(source),
        )
    before = loader.library_origin(current_library(home))
    after = loader.library_origin(source)
    if not _newer(metadata, before, after, allow_downgrade):
        return Update(before, before, signature, None, changed=False)
    if run_tests:
        failing = failing_tests(source, limits)
        if failing:
            raise LibraryRefused(
                f"{len(failing)} of the library's policy test cases fail (first: {failing[0]})",
                source=str(source),
                hint="'provenance policy test DIR' shows them",
            )
    kept = install_library(source, home)
    return Update(before, loader.library_origin(home / loader.INSTALLED_DIR), signature, kept)


def _newer(
    metadata: LibraryMetadata, before: LibraryOrigin, after: LibraryOrigin, allow_downgrade: bool
) -> bool:
    """Whether the new library is to be installed over the one in use; False when it is the same
    one; raises when it is older (or the same version with other files) and that is not allowed."""
    if before.version is None:
        return True
    old = version_key(before.version)
    if old is None or old < metadata.key:
        return True
    if old == metadata.key and before.digest == after.digest:
        return False  # the very library in use
    if allow_downgrade:
        return True
    if old == metadata.key:
        raise LibraryRefused(
            f"version {metadata.version} is the version in use, but its files differ "
            f"({after.digest}, in use {before.digest})",
            hint="a changed library takes a new version; pass --allow-downgrade to replace it",
        )
    raise LibraryRefused(
        f"version {metadata.version} is older than the version in use, {before.version}",
        hint="pass --allow-downgrade to install it anyway",
    )


def _copy(source: Path, target: Path) -> None:
    """Copy a library's YAML files and its signature, and nothing else, keeping relative paths."""
    files = loader.library_files(source)
    if is_signed(source):
        files.append(source / SIGNATURE_FILE)
    for path in files:
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)


def install_library(source: Path, home: Path) -> Path | None:
    """Install the library in ``source`` as the project's, atomically: copied into a temporary
    folder of ``home``, then renamed into place. Returns where the library it replaced is kept
    (``policies.previous``), or None when the project had none installed."""
    target = home / loader.INSTALLED_DIR
    previous = home / PREVIOUS_DIR
    try:
        staging = Path(tempfile.mkdtemp(dir=home, prefix=".policies-"))
    except OSError as exc:
        raise ConfigError(f"cannot write ({exc.strerror})", source=str(home)) from None
    try:
        new, old = staging / "new", staging / "old"
        _copy(source, new)
        kept = None
        if target.is_dir():
            if previous.exists():
                os.rename(previous, old)
            os.rename(target, previous)
            kept = previous
        try:
            os.rename(new, target)
        except OSError:
            if kept is not None:
                os.rename(previous, target)
                if old.exists():
                    os.rename(old, previous)
            raise
        return kept
    except OSError as exc:
        where = exc.filename or str(home)
        raise ConfigError(f"cannot install the library ({exc.strerror})", source=where) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@dataclass(frozen=True)
class Rollback:
    """What ``provenance policy update --rollback`` did."""

    before: LibraryOrigin | None
    after: LibraryOrigin


def rollback_library(home: Path) -> Rollback:
    """Put the library kept in ``policies.previous`` back in place; the one it replaces is kept
    there in its turn, so a second rollback undoes the first."""
    target = home / loader.INSTALLED_DIR
    previous = home / PREVIOUS_DIR
    if not previous.is_dir():
        raise ConfigError(
            "no previous library to restore",
            source=str(previous),
            hint=f"to use the bundled library again, remove {target}",
        )
    before = loader.library_origin(target) if target.is_dir() else None
    try:
        staging = Path(tempfile.mkdtemp(dir=home, prefix=".policies-"))
        try:
            current = staging / "current"
            if target.is_dir():
                os.rename(target, current)
            os.rename(previous, target)
            if current.exists():
                os.rename(current, previous)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as exc:
        where = exc.filename or str(home)
        raise ConfigError(f"cannot restore the library ({exc.strerror})", source=where) from None
    return Rollback(before, loader.library_origin(target))
