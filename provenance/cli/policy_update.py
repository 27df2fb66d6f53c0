"""``provenance policy info``, ``provenance policy sign`` and ``provenance policy update``: the terms
library as a versioned, signed artefact installed into the project.

Thin commands over :mod:`provenance.policy.updates` (signing, checking, installing) and
:mod:`provenance.policy.fetch` (reading a directory or a ``.tar.gz`` from a path or URL).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from provenance.cli.app import signals_held
from provenance.cli.options import InsecureKeyOption
from provenance.cli.output import echo, emit_json
from provenance.cli.policy import PoliciesOption, policy_app
from provenance.errors import InputError, ProvenanceError

if TYPE_CHECKING:
    from provenance.keys import PrivateKeySigner
    from provenance.policy.library import LibraryOrigin
    from provenance.policy.updates import Update
    from provenance.trust import TrustStore

TrustOption = Annotated[
    Path | None,
    typer.Option(
        "--trust", help="Trust store whose keys may sign libraries (default: the project's)."
    ),
]


def _trust_store(trust: Path | None) -> TrustStore | None:
    """The trust store given, else the project's; None when there is neither."""
    from provenance import project

    if trust is not None:
        return project.load_trust(trust)
    home = project.find_project()
    if home is None or not (home / project.TRUST_FILE).exists():
        return None
    return project.load_trust(home / project.TRUST_FILE)


_KINDS = {
    "bundled": "bundled with the package",
    "installed": "installed in the project",
    "given": "given",
}


def _kind(origin: LibraryOrigin) -> str:
    """Which library it is, in the terms of the resolution order: ``bundled``, ``installed`` (in
    the project) or ``given`` (with --policies or $PROVENANCE_POLICIES)."""
    from provenance.policy import loader

    if origin.bundled:
        return "bundled"
    installed = loader.installed_policy_dir()
    if installed is not None and Path(origin.path) == installed.resolve():
        return "installed"
    return "given"


def _version(origin: LibraryOrigin | None) -> str:
    if origin is None:
        return "none"
    return origin.version or "(no version)"


@policy_app.command("info")
def library_info(
    policies: PoliciesOption = None,
    trust: TrustOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the facts as JSON.")] = False,
) -> None:
    """Show the terms library in use: where it is, its version, its digest and its signature.

    Without --policies the library is $PROVENANCE_POLICIES, else the one 'provenance policy
    update' installed in the project (.provenance/policies/), else the one bundled with the
    package.
    """
    from provenance.policy import loader, updates

    directory = policies or loader.default_policy_dir()
    if not directory.is_dir():
        raise InputError("policy directory not found", source=str(directory))
    origin = loader.library_origin(directory)
    metadata = loader.load_metadata(directory)
    signature = "unsigned"
    if updates.is_signed(directory):
        store = _trust_store(trust)
        if store is None:
            signature = "signed; not checked (no trust store: pass --trust FILE)"
        else:
            try:
                accepted = updates.verify_library(directory, store)
                assert accepted is not None
                signature = accepted.describe()
            except updates.LibraryRefused as exc:
                signature = f"refused: {exc.diagnostics()}"
    facts: dict[str, Any] = {
        "path": origin.path,
        "kind": _kind(origin),
        "version": origin.version,
        "published": None if metadata is None else metadata.published.isoformat(),
        "title": None if metadata is None else metadata.title,
        "digest": origin.digest,
        "signature": signature,
    }
    previous = _previous()
    if previous is not None:
        facts["previous"] = {"path": previous.path, "version": previous.version}
    if as_json:
        emit_json(facts)
        return
    echo(f"terms library: {origin.path} ({_KINDS[facts['kind']]})")
    echo(f"version:   {_version(origin)}")
    if metadata is not None:
        echo(f"published: {facts['published']}")
        if metadata.title:
            echo(f"title:     {metadata.title}")
    echo(f"digest:    {origin.digest}")
    echo(f"signature: {signature}")
    if previous is not None:
        echo(f"previous:  {_version(previous)} in {previous.path} ('policy update --rollback')")


def _previous() -> LibraryOrigin | None:
    from provenance import project
    from provenance.policy import loader, updates

    home = project.find_project()
    if home is None or not (home / updates.PREVIOUS_DIR).is_dir():
        return None
    try:
        return loader.library_origin(home / updates.PREVIOUS_DIR)
    except ProvenanceError:
        return None


@policy_app.command("sign")
def sign_library(
    directory: Annotated[Path, typer.Argument(help="The library to sign.")],
    key: Annotated[str, typer.Option(help="Project key name or PEM private key file.")],
    insecure_key: InsecureKeyOption = False,
) -> None:
    """Sign a terms library: write DIR/library.sig, a DSSE envelope over its digest and version.

    The library must read without a problem (as 'provenance policy lint' checks) and state its
    version in library.yaml. Whoever installs it trusts the key with 'provenance keys trust FILE
    --signs libraries'.
    """
    from provenance import project
    from provenance.policy import loader, updates

    if not directory.is_dir():
        raise InputError("policy directory not found", source=str(directory))
    signer = project.load_signer(key, insecure=insecure_key)
    path = updates.sign_library(directory, signer)
    origin = loader.library_origin(directory)
    echo(
        f"signed {path}: version {origin.version}, {origin.digest}, key '{signer.name}' "
        f"({signer.keyid[:16]}…)"
    )
    warning = _signing_warning(signer)
    if warning:
        echo(f"warning: {warning}", err=True)


def _signing_warning(signer: PrivateKeySigner) -> str | None:
    """Why the project's own trust store would refuse what this key signs, if it would."""
    from provenance.policy import updates

    try:
        store = _trust_store(None)
    except ProvenanceError:
        return None
    if store is None:
        return None
    entry = store.by_keyid(signer.keyid)
    if entry is None:
        return (
            "the key is not in the project's trust store: installers must trust it with "
            "'provenance keys trust FILE --signs libraries'"
        )
    problem = entry.refuses(updates.LIBRARY_KIND, None, datetime.now(UTC))
    if problem:
        return f"{problem}: the project's trust store will refuse this signature"
    return None


@policy_app.command("update")
def update_library(
    source: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="DIR|URL",
            help="The new library: a directory, a .tar.gz file, or a file://, http:// or "
            "https:// URL of a .tar.gz.",
        ),
    ] = None,
    rollback: Annotated[
        bool,
        typer.Option("--rollback", help="Put back the library the last update replaced."),
    ] = False,
    require_signature: Annotated[
        bool,
        typer.Option("--require-signature", help="Refuse a library without library.sig."),
    ] = False,
    allow_downgrade: Annotated[
        bool,
        typer.Option(
            "--allow-downgrade",
            help="Install a version older than the one in use (or the same version with other "
            "files).",
        ),
    ] = False,
    skip_tests: Annotated[
        bool, typer.Option("--skip-tests", help="Do not run the library's policy tests first.")
    ] = False,
    trust: TrustOption = None,
) -> None:
    """Install a new terms library into the project (.provenance/policies/), or roll back.

    The new library is read whole (every file must parse, as 'provenance policy lint' checks),
    its signature is checked when it has one (a key trusted to sign libraries; the digest of its
    files), its version must not be older than the one in use, and its policy tests must pass.
    It is then installed atomically; the library it replaces is kept in
    .provenance/policies.previous/ (one level: an older one kept there is removed), and
    --rollback swaps the two back.

    Exit 0 installed (or already installed), 1 refused (signature, version or a failing test),
    2 a file or archive that cannot be read.
    """
    from provenance import project
    from provenance.policy import fetch, updates

    if rollback == (source is not None):
        raise InputError(
            "give either --from DIR|URL or --rollback",
            hint="'provenance policy update --from URL' installs a library",
        )
    home = project.require_project()
    if rollback:
        with signals_held():
            restored = updates.rollback_library(home)
        echo(f"restored terms library {_version(restored.after)} ({restored.after.digest})")
        if restored.before is not None:
            echo(
                f"the library it replaced, {_version(restored.before)}, is kept in "
                f"{home / updates.PREVIOUS_DIR}; --rollback again puts it back"
            )
        _note_environment()
        return
    assert source is not None
    with fetch.fetched_library(source) as directory:
        store = _trust_store(trust) if updates.is_signed(directory) else None
        with signals_held():
            done = updates.update_library(
                directory,
                home,
                store,
                require_signature=require_signature,
                allow_downgrade=allow_downgrade,
                run_tests=not skip_tests,
            )
    _report(done, home)


def _report(done: Update, home: Path) -> None:
    from provenance.policy import loader, updates

    if done.signature is not None:
        echo(f"library.sig: {done.signature.describe()}")
    elif done.changed:
        echo(
            "notice: the library is unsigned: installed without a signature check "
            "(--require-signature refuses unsigned libraries)",
            err=True,
        )
    if not done.changed:
        echo(f"terms library {_version(done.after)} ({done.after.digest}) is installed already")
        return
    echo(f"installed terms library {_version(done.after)} into {home / loader.INSTALLED_DIR}")
    echo(f"  version: {_version(done.before)} → {_version(done.after)}")
    echo(f"  digest:  {done.before.digest} → {done.after.digest}")
    if done.kept is not None:
        echo(
            f"the library it replaces is kept in {home / updates.PREVIOUS_DIR} (one level); "
            "'provenance policy update --rollback' puts it back"
        )
    else:
        echo(
            "the project used the bundled library before; remove "
            f"{home / loader.INSTALLED_DIR} to use it again"
        )
    _note_environment()


def _note_environment() -> None:
    import os

    from provenance.policy import loader

    configured = os.environ.get(loader.POLICIES_ENV)
    if configured:
        echo(
            f"note: ${loader.POLICIES_ENV} is set, so commands read {configured}, not the "
            "library installed in the project",
            err=True,
        )
