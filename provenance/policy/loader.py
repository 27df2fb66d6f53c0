"""Reading the policy files from disk.

YAML is parsed by :mod:`provenance.bounded` (safe tags only, bounded in size, depth and aliases)
into :class:`~provenance.bounded.Located` mappings that keep the line of every key, so that the
model classes can name file, line and field in every error.

Layout of a policy directory (``docs/policy-format.md``): ``terms/<provider>/<document>@<version>.yaml``,
``catalog/*.yaml``, ``tests/<provider>/<document>@<version>.test.yaml``, and ``library.yaml`` at the
root naming the library's version (docs/terms-library.md, "Versions, signatures and updates").
Organisation policies are terms documents with ``provider: org`` in a directory of their own.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from provenance.bounded import read_yaml
from provenance.errors import ConfigError, PolicyError, ProvenanceError
from provenance.limits import DEFAULT_LIMITS, Limits
from provenance.policy.catalog import Catalog
from provenance.policy.declaration import LineageDeclaration
from provenance.policy.fields import Where
from provenance.policy.intent import Intent
from provenance.policy.library import LibraryMetadata, LibraryOrigin, PolicyLibrary
from provenance.policy.terms import TermsDocument
from provenance.policy.vocabulary import ORG_PROVIDER
from provenance.policy.waivers import Waiver, waivers_from_dict

if TYPE_CHECKING:
    from provenance.policy.testing import PolicyTestFile

POLICIES_ENV = "PROVENANCE_POLICIES"
"""Environment variable naming the policy directory to use instead of the shipped one."""
LIBRARY_FILE = "library.yaml"
"""The file at a library's root stating its version (:class:`LibraryMetadata`)."""
INSTALLED_DIR = "policies"
"""The folder of the project folder (``.provenance/``) holding the library ``provenance policy
update`` installed."""

T = TypeVar("T")


def bundled_policy_dir() -> Path:
    """The terms library shipped with the package.

    An installed package (wheel or sdist) carries it as ``provenance/_library/``, found through
    ``importlib.resources``; an editable install or a checkout reads the repository's
    ``policies/`` beside the package, so an edit there is seen at once.
    """
    from importlib.resources import files

    packaged = files("provenance").joinpath("_library")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent.parent / "policies"


def installed_policy_dir() -> Path | None:
    """The library installed in the project (``.provenance/policies/``, written by ``provenance
    policy update``), or None when the project has none or there is no project."""
    from provenance.project import find_project

    try:
        home = find_project()
    except OSError:  # the working directory is gone
        return None
    if home is None:
        return None
    installed = home / INSTALLED_DIR
    return installed if installed.is_dir() else None


def default_policy_dir() -> Path:
    """The policy directory when none is given with ``--policies``: ``$PROVENANCE_POLICIES``,
    else the library installed in the project (:func:`installed_policy_dir`), else the library
    shipped with the package (:func:`bundled_policy_dir`). Every command resolves it here."""
    configured = os.environ.get(POLICIES_ENV)
    if configured:
        return Path(configured)
    return installed_policy_dir() or bundled_policy_dir()


def library_files(directory: Path) -> list[Path]:
    """Every YAML file of a library (terms, catalog, tests), sorted by relative path."""
    return sorted(
        (p for p in directory.rglob("*.yaml") if p.is_file()),
        key=lambda p: p.relative_to(directory).as_posix(),
    )


def library_digest(directory: Path) -> str:
    """``sha256:`` over the library's YAML files: SHA-256 of the lines ``<sha256 hex>  <relative
    path>`` sorted by path, which is what ``find . -name '*.yaml' -type f | sed 's|^./||' | LC_ALL=C
    sort | xargs sha256sum | sha256sum`` prints inside the directory."""
    whole = hashlib.sha256()
    for path in library_files(directory):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read ({exc.strerror})", source=str(path)) from exc
        relative = path.relative_to(directory).as_posix()
        whole.update(f"{hashlib.sha256(data).hexdigest()}  {relative}\n".encode())
    return "sha256:" + whole.hexdigest()


def load_metadata(directory: Path, limits: Limits = DEFAULT_LIMITS) -> LibraryMetadata | None:
    """The library's ``library.yaml`` (its version), or None when it has none."""
    path = directory / LIBRARY_FILE
    if not path.exists() and not path.is_symlink():
        return None
    return _load(path, LibraryMetadata.from_dict, limits)


def library_origin(directory: Path) -> LibraryOrigin:
    """Where a library is, its version and its digest; ``bundled`` when it is the shipped one."""
    resolved = directory.resolve()
    metadata = load_metadata(directory)
    return LibraryOrigin(
        digest=library_digest(directory),
        path=str(resolved),
        bundled=resolved == bundled_policy_dir().resolve(),
        version=None if metadata is None else metadata.version,
    )


def _load(path: Path, build: Callable[[object, Where], T], limits: Limits) -> T:
    return build(read_yaml(path, limits), Where(source=str(path)))


def _as_config(load: Callable[[], T]) -> T:
    """Run a loader of a project file (intent, lineage, waivers): its errors are ConfigErrors."""
    try:
        return load()
    except PolicyError as exc:
        raise ConfigError(exc.message, source=exc.source, line=exc.line, hint=exc.hint) from None


def load_terms(path: Path, limits: Limits = DEFAULT_LIMITS) -> TermsDocument:
    """One terms document; its file name must be ``<document>@<version>.yaml``."""
    doc = _load(path, TermsDocument.from_dict, limits)
    expected = f"{doc.document}@{doc.version}.yaml"
    if path.name != expected:
        raise doc.where.error(
            f"terms document '{doc.id}' is in a file named '{path.name}'",
            f"name the file '{expected}'",
        )
    return doc


def _load_library_terms(path: Path, terms_dir: Path, limits: Limits) -> TermsDocument:
    doc = load_terms(path, limits)
    if path.parent.resolve() != (terms_dir / doc.provider).resolve():
        raise doc.where.error(
            f"terms document '{doc.id}' is not in the folder of its provider",
            f"move it to {terms_dir / doc.provider / path.name}",
        )
    if doc.provider == ORG_PROVIDER:
        raise doc.where.error(
            "organisation policies (provider: org) belong in their own directory",
            "pass them with --org-policies",
        )
    return doc


def load_catalog(path: Path, limits: Limits = DEFAULT_LIMITS) -> Catalog:
    return _load(path, Catalog.from_dict, limits)


def load_intent(path: Path, limits: Limits = DEFAULT_LIMITS) -> Intent:
    return _as_config(lambda: _load(path, Intent.from_dict, limits))


def load_lineage(path: Path, limits: Limits = DEFAULT_LIMITS) -> LineageDeclaration:
    return _as_config(lambda: _load(path, LineageDeclaration.from_dict, limits))


def load_waivers(path: Path, limits: Limits = DEFAULT_LIMITS) -> tuple[Waiver, ...]:
    return _as_config(lambda: _load(path, waivers_from_dict, limits))


def load_policy_tests(path: Path, limits: Limits = DEFAULT_LIMITS) -> PolicyTestFile:
    from provenance.policy.testing import PolicyTestFile

    return _load(path, PolicyTestFile.from_dict, limits)


def _files(directory: Path, pattern: str) -> list[Path]:
    return sorted(p for p in directory.glob(pattern) if p.is_file())


def _require_dir(directory: Path) -> None:
    if not directory.is_dir():
        raise ConfigError("policy directory not found", source=str(directory))


def terms_files(directory: Path) -> list[Path]:
    return _files(directory / "terms", "**/*.yaml")


def catalog_files(directory: Path) -> list[Path]:
    return _files(directory / "catalog", "*.yaml")


def policy_test_files(directory: Path) -> list[Path]:
    return _files(directory / "tests", "**/*.test.yaml")


def load_library(
    directory: Path | None = None, limits: Limits = DEFAULT_LIMITS, *, on_demand: bool = False
) -> PolicyLibrary:
    """Every terms document and catalog file of a policy directory (default: the shipped one).

    ``on_demand`` (what an audit uses) reads the catalog now and each family of terms documents
    when it is first asked for, so a run reads only the terms its data reaches; a file the run
    never reaches is then not checked (``provenance policy lint`` checks every file).
    """
    directory = directory or default_policy_dir()
    _require_dir(directory)
    terms = directory / "terms"
    # A file at terms/<provider>/<document>@<version>.yaml holds that document (load_terms and
    # _load_library_terms refuse it otherwise), so a family's files are known by their names and
    # read when a run first asks for the family. Any other file is read now, to be refused.
    by_family: dict[str, list[Path]] = {}
    documents = []
    for path in terms_files(directory):
        relative = path.relative_to(terms).parts
        if len(relative) == 2 and "@" in relative[1]:
            family = f"{relative[0]}/{relative[1].partition('@')[0]}"
            by_family.setdefault(family, []).append(path)
        else:
            documents.append(_load_library_terms(path, terms, limits))
    unread = {
        family: functools.partial(_read_family, paths, terms, limits)
        for family, paths in by_family.items()
    }
    if not on_demand:
        for read in unread.values():
            documents.extend(read())
        unread = {}
    catalog = Catalog()
    for path in catalog_files(directory):
        catalog = catalog.merge(load_catalog(path, limits))
    return PolicyLibrary(documents, catalog, origin=library_origin(directory), unread=unread)


def _read_family(paths: list[Path], terms: Path, limits: Limits) -> list[TermsDocument]:
    return [_load_library_terms(p, terms, limits) for p in paths]


def load_test_files(
    directory: Path | None = None, limits: Limits = DEFAULT_LIMITS
) -> list[PolicyTestFile]:
    directory = directory or default_policy_dir()
    _require_dir(directory)
    return [load_policy_tests(p, limits) for p in policy_test_files(directory)]


def load_org_policies(
    directory: Path, limits: Limits = DEFAULT_LIMITS
) -> tuple[TermsDocument, ...]:
    """Organisation policies: every ``*.yaml`` below ``directory``, each with ``provider: org``."""
    _require_dir(directory)
    out = []
    for path in _files(directory, "**/*.yaml"):
        doc = load_terms(path, limits)
        if doc.provider != ORG_PROVIDER:
            raise doc.where.error(
                f"'{doc.id}' is in the organisation policies but its provider is '{doc.provider}'",
                f"organisation policies use provider: {ORG_PROVIDER}",
            )
        out.append(doc)
    return tuple(out)


@dataclass(frozen=True)
class LintResult:
    """What ``provenance policy lint`` found in a policy directory."""

    documents: int
    catalogs: int
    tests: int
    problems: tuple[ProvenanceError, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def lint(directory: Path | None = None, limits: Limits = DEFAULT_LIMITS) -> LintResult:
    """Validate every terms document, catalog and test file, collecting every problem found."""
    directory = directory or default_policy_dir()
    _require_dir(directory)
    problems: list[ProvenanceError] = []
    try:
        load_metadata(directory, limits)
    except ProvenanceError as exc:
        problems.append(exc)
    documents: list[TermsDocument] = []
    for path in terms_files(directory):
        try:
            documents.append(_load_library_terms(path, directory / "terms", limits))
        except ProvenanceError as exc:
            problems.append(exc)
    catalog = Catalog()
    catalogs = catalog_files(directory)
    for path in catalogs:
        try:
            catalog = catalog.merge(load_catalog(path, limits))
        except ProvenanceError as exc:
            problems.append(exc)
    tests: list[PolicyTestFile] = []
    paths = policy_test_files(directory)
    for path in paths:
        try:
            tests.append(load_policy_tests(path, limits))
        except ProvenanceError as exc:
            problems.append(exc)
    library = PolicyLibrary((), catalog)
    try:
        library = PolicyLibrary(documents, catalog)
    except ProvenanceError as exc:
        problems.append(exc)
    problems.extend(library.problems())
    for test_file in tests:
        problems.extend(_test_file_problems(library, test_file))
    return LintResult(len(terms_files(directory)), len(catalogs), len(paths), tuple(problems))


def _test_file_problems(library: PolicyLibrary, test_file: PolicyTestFile) -> list[PolicyError]:
    doc = library.get(test_file.terms)
    if doc is None:
        return [
            test_file.where.field("terms").error(
                f"the test names '{test_file.terms}', which is not in the library"
            )
        ]
    out = []
    for case in test_file.cases:
        for clause_id in case.expect.clauses:
            if doc.clause(clause_id) is None:
                out.append(
                    case.where.error(
                        f"case '{case.name}' expects clause '{clause_id}', which '{doc.id}' "
                        "does not have"
                    )
                )
    return out
