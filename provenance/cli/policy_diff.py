"""``provenance policy diff OLD NEW``: what changed between two versions of the terms library, or
between two terms documents.

OLD and NEW are told apart by their form (docs/terms-library.md, "Comparing two versions"):
``git:REV`` is a revision of a git repository, whose library folder is read from git into a
temporary directory; ``<provider>/<document>@<version>`` is a document id of the library given
by ``--policies`` (OLD and NEW are then both ids); anything else is a library directory. The
comparison itself is :mod:`provenance.policy.diff`, the output :mod:`provenance.policy.diff_render`.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from provenance.cli.output import echo
from provenance.cli.policy import PoliciesOption, policy_app
from provenance.errors import InputError, ProvenanceError
from provenance.policy.git_source import GIT_PREFIX, git_library

if TYPE_CHECKING:
    from provenance.policy.diff import PolicyDiff, Side
    from provenance.policy.library import PolicyLibrary

DEFAULT_GIT_FOLDER = "policies"
FORMS_HINT = (
    "give a library directory, git:REV (a revision of the git repository here, or of --repo), "
    "or two document ids such as openai/terms-of-use@2024-01-31"
)


def is_document_id(value: str) -> bool:
    """Whether ``value`` has the form of a terms document id, ``provider/document@version``."""
    from provenance.policy.fields import Where
    from provenance.policy.vocabulary import check_ref

    try:
        check_ref(value, Where(), exact=True)
    except ProvenanceError:
        return False
    return True


def _is_family(value: str) -> bool:
    from provenance.policy.fields import Where
    from provenance.policy.vocabulary import check_ref

    try:
        check_ref(value, Where())
    except ProvenanceError:
        return False
    return "@" not in value


# -- reading each side ---------------------------------------------------------------------------


def _renamed(exc: ProvenanceError, directory: Path, label: str) -> ProvenanceError:
    """An error about a file read from git, naming it as in git rather than by the temporary
    directory it was written to."""
    prefix = str(directory)
    if exc.source is not None and exc.source.startswith(prefix):
        exc.source = label + exc.source[len(prefix) :]
    exc.message = exc.message.replace(prefix, label)
    if exc.hint is not None:
        exc.hint = exc.hint.replace(prefix, label)
    return exc


def _check_library_dir(directory: Path, spec: str) -> None:
    if not directory.is_dir():
        if _is_family(spec):
            raise InputError(
                f"no library directory '{spec}'",
                hint="to compare two versions of a document give both ids with their version, "
                "e.g. openai/terms-of-use@2024-01-31 ('provenance policy list' shows them)",
            )
        raise InputError(f"no library directory '{spec}'", hint=FORMS_HINT)
    if not (directory / "terms").is_dir() and not (directory / "catalog").is_dir():
        raise InputError(
            f"'{spec}' is not a terms library: it has no terms/ or catalog/ folder",
            hint="give the library's folder, e.g. policies",
        )


def read_library(
    spec: str, stack: ExitStack, repo: Path | None, folder: str | None
) -> tuple[PolicyLibrary, Side]:
    """The library ``spec`` names (a directory, or ``git:REV``) and how to name it in the diff.
    A temporary directory for a git revision is removed when ``stack`` closes."""
    import tempfile

    from provenance.policy.diff import Side
    from provenance.policy.loader import load_library

    label: str | None = None
    if spec.startswith(GIT_PREFIX):
        directory = Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="provenance-diff-"))
        )
        where = (repo or Path.cwd()).resolve()
        label = git_library(spec[len(GIT_PREFIX) :], where, folder or DEFAULT_GIT_FOLDER, directory)
        _check_library_dir(directory, label)
    else:
        directory = Path(spec)
        _check_library_dir(directory, spec)
    try:
        library = load_library(directory)
        library.documents  # noqa: B018 - every document is read now, so errors come here
    except ProvenanceError as exc:
        raise (exc if label is None else _renamed(exc, directory, label)) from None
    digest = library.origin.digest if library.origin is not None else None
    if label is None:
        return library, Side("library", str(directory.resolve()), digest=digest)
    source = f"{label} of {(repo or Path.cwd()).resolve()}"
    return library, Side("git", source, digest=digest)


def diff_documents(old_id: str, new_id: str, policies: Path | None) -> PolicyDiff:
    """Two documents of one library compared."""
    from provenance.policy.diff import Side, diff_two_documents
    from provenance.policy.loader import default_policy_dir, load_library

    directory = policies or default_policy_dir()
    if not directory.is_dir():
        raise InputError("policy directory not found", source=str(directory))
    library = load_library(directory, on_demand=True)
    documents = []
    for doc_id in (old_id, new_id):
        try:
            documents.append(library.require(doc_id))
        except ProvenanceError as exc:
            raise exc.at(str(directory)) from None
    old, new = documents
    origin = library.origin
    digest = origin.digest if origin is not None else None
    path = origin.path if origin is not None else str(directory)
    return diff_two_documents(
        old,
        new,
        Side("document", old.id, digest=digest, library=path),
        Side("document", new.id, digest=digest, library=path),
    )


@policy_app.command("diff")
def diff_command(
    old: Annotated[str, typer.Argument(metavar="OLD", help="The earlier library or document.")],
    new: Annotated[str, typer.Argument(metavar="NEW", help="The later library or document.")],
    format: Annotated[str, typer.Option(help="text, markdown or json.")] = "text",
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Write the differences here instead of standard output."
        ),
    ] = None,
    repo: Annotated[
        Path | None,
        typer.Option(
            "--repo", metavar="DIR", help="Git repository of git:REV (default: the current one)."
        ),
    ] = None,
    path: Annotated[
        str | None,
        typer.Option("--path", help="The library's folder in that repository (default: policies)."),
    ] = None,
    policies: PoliciesOption = None,
) -> None:
    """Show what changed between two versions of the terms library, or of one document.

    \b
    OLD and NEW are each one of:
      DIR      a library directory (terms/, catalog/)
      git:REV  the library folder (--path, default
               policies) at revision REV of the git
               repository here or at --repo: git:HEAD~1
      ID       a terms document id,
               provider/document@version, of the
               library --policies; OLD and NEW are
               then both ids
    A directory named like an id or starting with git:
    is written ./NAME.

    Per document: added, removed or changed; per changed clause the fields that
    changed (effect, condition, obligations, confidence, section, citation ...)
    with old → new; then the catalog's model patterns and datasets. Files are
    compared as parsed terms, so rewriting a file without changing it is no
    change. Policy test files are not compared.

    Exit 0 no differences, 1 differences, 2 bad input.
    """
    from provenance.policy.diff import diff_libraries
    from provenance.policy.diff_render import RENDERERS

    if format not in RENDERERS:
        raise InputError(f"unknown format '{format}'", hint="use one of: " + ", ".join(RENDERERS))
    ids = (is_document_id(old), is_document_id(new))
    if ids[0] != ids[1]:
        named, other = (old, new) if ids[0] else (new, old)
        raise InputError(
            f"'{named}' is a document id but '{other}' is not",
            hint="compare two document ids, or two libraries (directories or git:REV)",
        )
    uses_git = old.startswith(GIT_PREFIX) or new.startswith(GIT_PREFIX)
    if (repo is not None or path is not None) and not uses_git:
        raise InputError("--repo and --path apply only to a git:REV library")
    if all(ids):
        result = diff_documents(old, new, policies)
    else:
        if policies is not None:
            raise InputError(
                "--policies applies only to document ids",
                hint="compare libraries by giving their directories as OLD and NEW",
            )
        with ExitStack() as stack:
            before, old_side = read_library(old, stack, repo, path)
            after, new_side = read_library(new, stack, repo, path)
            result = diff_libraries(
                before.documents,
                after.documents,
                before.catalog,
                after.catalog,
                old_side,
                new_side,
            )
    _write(RENDERERS[format](result), output)
    raise typer.Exit(0 if result.identical else 1)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write ({exc.strerror})", source=str(output)) from None
    echo(f"differences written to {output}", err=True)
