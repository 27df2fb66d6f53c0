"""The terms library in memory: documents indexed by id and by family, versions picked by date.

Documents of one family (``provider/document``) are versions of one text. The version that governs a
part is the one in force on the day the part was generated (docs/policy-format.md, "Time"): the latest
``effective_from`` on or before that day, provided the day is before its ``effective_until``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from provenance.errors import PolicyError
from provenance.policy.catalog import Catalog
from provenance.policy.fields import Fields, Where, closest
from provenance.policy.terms import TermsDocument
from provenance.policy.vocabulary import check_schema, split_ref

LIBRARY_SCHEMA = "provenance/library/v1"
"""The ``schema`` of a library's ``library.yaml``."""

_VERSION = re.compile(r"(\d{4})\.([1-9]|1[0-2])\.(0|[1-9]\d*)")


def version_key(version: str) -> tuple[int, int, int] | None:
    """The parts of a library version ``YEAR.MONTH.N`` as numbers, to compare versions by; None
    for text that is not such a version.

    >>> version_key("2026.12.0") < version_key("2027.1.0") < version_key("2027.1.10")
    True
    """
    match = _VERSION.fullmatch(version)
    if match is None:
        return None
    year, month, number = match.groups()
    return int(year), int(month), int(number)


@dataclass(frozen=True)
class LibraryMetadata:
    """What a library says of itself in ``library.yaml`` at its root: its version, the day it was
    published and its title (docs/terms-library.md, "Versions, signatures and updates")."""

    version: str
    """``YEAR.MONTH.N``: year and month of publication, and a release number within the month
    counted from 0; versions compare part by part as numbers (:func:`version_key`)."""
    published: date
    title: str | None = None

    @property
    def key(self) -> tuple[int, int, int]:
        key = version_key(self.version)
        assert key is not None  # checked when read
        return key

    @classmethod
    def from_dict(cls, data: object, where: Where) -> LibraryMetadata:
        f = Fields(data, where, {"schema", "version", "published", "title"})
        check_schema(f, LIBRARY_SCHEMA)
        version = f.text("version")
        if version_key(version) is None:
            raise f.at("version").error(
                f"version '{version}' is not YEAR.MONTH.N",
                'for example version: "2026.12.0" (quoted)',
            )
        return cls(version=version, published=f.day("published"), title=f.opt_text("title"))


@dataclass(frozen=True)
class LibraryOrigin:
    """Where a terms library was read from, and what it was: the digest names the whole library
    (:func:`provenance.policy.loader.library_digest`), so two audits that used the same library
    show the same digest wherever it was installed."""

    digest: str
    """``sha256:`` and the hex digest over every YAML file of the library (``library.yaml``
    included), by relative path."""
    path: str
    """The directory read."""
    bundled: bool
    """Whether it is the library shipped with this package (not ``--policies``,
    ``$PROVENANCE_POLICIES`` or a library installed in the project)."""
    version: str | None = None
    """The version its ``library.yaml`` states; None for a library without one."""

    @property
    def source(self) -> str:
        """``bundled``, or the directory read."""
        return "bundled" if self.bundled else self.path

    def to_dict(self) -> dict[str, str | None]:
        return {"digest": self.digest, "source": self.source, "version": self.version}


@dataclass(frozen=True)
class Resolution:
    """The documents a terms reference names on a day, or why it names none."""

    ref: str
    documents: tuple[TermsDocument, ...]
    problem: str | None = None
    """Why no document applies (not in the library, no version in force)."""
    every_version: bool = False
    """The day was unknown, so every version of the family is judged."""


class PolicyLibrary:
    """Terms documents and the model catalog, with lookups by id, family and date."""

    def __init__(
        self,
        documents: Iterable[TermsDocument] = (),
        catalog: Catalog = Catalog(),
        *,
        origin: LibraryOrigin | None = None,
        unread: Mapping[str, Callable[[], Iterable[TermsDocument]]] | None = None,
    ):
        self.origin = origin
        """Where the library was read from (None when it was built in memory)."""
        self._catalog = catalog
        self._by_id: dict[str, TermsDocument] = {}
        self._families: dict[str, tuple[TermsDocument, ...]] = {}
        self._unread = dict(unread or {})
        """Families not read yet: family → what reads its documents (the loader reads a family's
        files when a run first asks for it, so an audit reads only the terms it reaches)."""
        self._add(documents)

    def _add(self, documents: Iterable[TermsDocument]) -> None:
        families: dict[str, list[TermsDocument]] = {}
        for doc in documents:
            if doc.id in self._by_id:
                raise doc.where.error(f"terms document '{doc.id}' is defined twice")
            self._by_id[doc.id] = doc
            families.setdefault(doc.family, []).append(doc)
        for family, versions in families.items():
            every = [*self._families.get(family, ()), *versions]
            ordered = tuple(sorted(every, key=lambda d: d.effective_from))
            _check_versions(ordered)
            self._families[family] = ordered

    def _read(self, family: str) -> None:
        read = self._unread.pop(family, None)
        if read is not None:
            self._add(read())

    def _read_all(self) -> None:
        for family in sorted(self._unread):
            self._read(family)

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    @property
    def documents(self) -> tuple[TermsDocument, ...]:
        """Every document, sorted by id."""
        self._read_all()
        return tuple(self._by_id[k] for k in sorted(self._by_id))

    def __len__(self) -> int:
        self._read_all()
        return len(self._by_id)

    def get(self, doc_id: str) -> TermsDocument | None:
        self._read(split_ref(doc_id)[0])
        return self._by_id.get(doc_id)

    def require(self, doc_id: str) -> TermsDocument:
        """The document with this id; a family name gives its latest version."""
        self._read(split_ref(doc_id)[0])
        doc = self._by_id.get(doc_id)
        if doc is None and doc_id in self._families:
            doc = self._families[doc_id][-1]
        if doc is None:
            self._read_all()
            raise PolicyError(
                f"no terms document '{doc_id}' in the library",
                hint=closest(
                    doc_id,
                    set(self._by_id) | set(self._families),
                    "'provenance policy list' shows every document",
                ),
            )
        return doc

    def versions(self, family: str) -> tuple[TermsDocument, ...]:
        """Every version of a family, oldest first."""
        self._read(family)
        return self._families.get(family, ())

    def in_force(self, family: str, day: date) -> TermsDocument | None:
        self._read(family)
        latest = None
        for doc in self._families.get(family, ()):
            if doc.effective_from <= day:
                latest = doc
        return latest if latest is not None and latest.in_force(day) else None

    def resolve(self, ref: str, day: date | None) -> Resolution:
        """The document(s) a reference names for a part generated on ``day``.

        An exact id names that document. A family names the version in force on ``day``; when the day
        is not known every version is judged (the engine never guesses the permissive one).
        """
        family, version = split_ref(ref)
        self._read(family)
        if version is not None:
            doc = self._by_id.get(ref)
            if doc is None:
                return Resolution(ref, (), f"'{ref}' is not in the policy library")
            return Resolution(ref, (doc,))
        versions = self._families.get(family, ())
        if not versions:
            return Resolution(ref, (), f"no version of '{family}' is in the policy library")
        if day is None:
            return Resolution(ref, versions, every_version=True)
        doc = self.in_force(family, day)
        if doc is None:
            return Resolution(
                ref, (), f"no version of '{family}' was in force on {day.isoformat()}"
            )
        return Resolution(ref, (doc,))

    def knows(self, ref: str) -> bool:
        family, version = split_ref(ref)
        self._read(family)
        return ref in self._by_id if version is not None else family in self._families

    def problems(self) -> list[PolicyError]:
        """References from the catalog to documents the library does not hold (for lint)."""
        self._read_all()
        out: list[PolicyError] = []
        for ref, where in self._catalog.refs():
            if not self.knows(ref):
                known = set(self._by_id) | set(self._families)
                out.append(
                    where.error(
                        f"catalog names '{ref}', which is not in the library", closest(ref, known)
                    )
                )
        return out


def _check_versions(ordered: tuple[TermsDocument, ...]) -> None:
    for earlier, later in itertools.pairwise(ordered):
        if earlier.effective_from == later.effective_from:
            raise later.where.error(f"'{later.id}' and '{earlier.id}' take effect on the same day")
        if earlier.effective_until is not None and earlier.effective_until > later.effective_from:
            raise earlier.where.error(
                f"'{earlier.id}' is in force until {earlier.effective_until}, after "
                f"'{later.id}' takes effect on {later.effective_from}",
                "set effective_until to the day the next version takes effect",
            )
