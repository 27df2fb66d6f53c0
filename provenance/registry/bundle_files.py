"""Reading a zip bundle under bounds, for verification.

:class:`BundleFiles` opens a possibly hostile zip and gives back its files: each is streamed
through SHA-256 and counted, and reading stops at the size the signed index states (the zip's own
sizes are never trusted), at ``Limits.max_bundle_entry_bytes`` and, over all files, at
``Limits.max_bundle_bytes``. A file the index does not name is never read, and files are parsed
only once their digest matched, each with a bounded reader. What the files *mean* is judged by
:mod:`provenance.registry.bundle_verify` and :mod:`provenance.registry.bundle_contents`.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from provenance import canonical
from provenance.bounded import parse_json_document
from provenance.errors import InputError, MalformedJSONError, ProvenanceError
from provenance.limits import Limits
from provenance.registry.bundle import EOCD_SIGNATURE, EOCD_SIZE, INDEX

_CHUNK = 1 << 20
_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
"""The compression methods a bundle may use (the writer uses deflate)."""


class BundleRefused(InputError):
    """A bundle beyond one of the bounds of :class:`~provenance.limits.Limits`: no verdict."""


def is_bound(error: ProvenanceError) -> bool:
    """Whether a reader's error is a bound of :class:`Limits` (nesting, expansion), not damage."""
    return error.limit is not None


def refuse_if_bound(error: ProvenanceError, message: str) -> None:
    """Raise :class:`BundleRefused` with ``message`` when ``error`` is a bound of :class:`Limits`
    (the bundle gets no verdict); return when it is damage, which the caller reports."""
    if is_bound(error):
        raise BundleRefused(message) from None


class TooLong(Exception):
    """A file holds more bytes than its bound."""

    def __init__(self, bound: int) -> None:
        super().__init__(f"more than {bound} bytes")
        self.bound = bound


class Unreadable(Exception):
    """A file the zip cannot give back (damaged, encrypted, an unknown compression)."""


@dataclass(frozen=True)
class ZipLayout:
    """Where a zip's central directory and its end record are, and the zip's comment."""

    eocd: int
    """Offset of the end-of-central-directory record."""
    directory_size: int
    entries: int
    comment: bytes


def _find_layout(handle: IO[bytes], size: int) -> ZipLayout | str:
    """Where the end-of-central-directory record is, or why there is none."""
    start = max(0, size - EOCD_SIZE - 0xFFFF)
    handle.seek(start)
    data = handle.read(size - start)
    position = data.rfind(EOCD_SIGNATURE)
    while position >= 0:
        length = int.from_bytes(data[position + 20 : position + 22], "little")
        if position + EOCD_SIZE + length == len(data):
            break
        position = data.rfind(EOCD_SIGNATURE, 0, position)
    if position < 0:
        return "not a zip file, or its end-of-central-directory record was changed"
    fields = [
        int.from_bytes(data[position + i : position + i + 2], "little") for i in (4, 6, 8, 10)
    ]
    cd_size = int.from_bytes(data[position + 12 : position + 16], "little")
    cd_offset = int.from_bytes(data[position + 16 : position + 20], "little")
    if fields[0] or fields[1] or fields[2] != fields[3] or cd_offset + cd_size != start + position:
        return "the zip's end-of-central-directory record does not match its central directory"
    return ZipLayout(start + position, cd_size, fields[3], data[position + EOCD_SIZE :])


class BundleFiles:
    """The files of one bundle as its signed index lists them, each read bounded. Problems met
    while reading (a changed, missing or unreadable file) go to ``problems``; a bound exceeded
    raises :class:`BundleRefused`."""

    def __init__(self, handle: IO[bytes], limits: Limits, problems: list[str]) -> None:
        self.handle = handle
        self.limits = limits
        self.problems = problems
        self.archive: zipfile.ZipFile | None = None
        self.members: dict[str, zipfile.ZipInfo] = {}
        self.listed: dict[str, str] = {}
        """Files the index names, with their SHA-256."""
        self.sizes: dict[str, int] | None = None
        """Their sizes as the index states them (None: a bundle made before sizes were signed)."""
        self.verified: set[str] = set()
        """Files whose bytes match the signed index."""
        self.streamed = 0

    def open(self) -> ZipLayout | None:
        """Open the zip and list its files; None (with a problem) when it is not a readable zip."""
        problems = self.problems
        size = self.handle.seek(0, io.SEEK_END)
        if size > self.limits.max_bundle_bytes:
            raise BundleRefused(
                f"the bundle is {size:,} bytes, more than the limit of "
                f"{self.limits.max_bundle_bytes:,}"
            )
        layout = _find_layout(self.handle, size)
        if isinstance(layout, str):
            problems.append(layout)
            return None
        if layout.directory_size > self.limits.max_document_bytes:
            raise BundleRefused(
                f"the zip's central directory is {layout.directory_size:,} bytes, more than the "
                f"limit of {self.limits.max_document_bytes:,}"
            )
        try:
            self.archive = zipfile.ZipFile(self.handle)
            infos = self.archive.infolist()
        except Exception as exc:  # a damaged zip raises many kinds of error
            problems.append(f"not a readable zip: {exc}")
            return None
        if layout.entries != len(infos):
            problems.append("the zip's entry count does not match its central directory")
        for info in infos:
            name = info.filename
            if name in self.members or name.startswith("/") or ".." in name:
                problems.append(f"unexpected or repeated file name {name!r}")
                continue
            self.members[name] = info
        return layout

    def sealed_digest(self, layout: ZipLayout) -> str | None:
        """SHA-256 (hex) of every byte before the end-of-central-directory record, which the seal
        covers; None when the file ends before it."""
        digest = hashlib.sha256()
        self.handle.seek(0)
        left = layout.eocd
        while left:
            chunk = self.handle.read(min(_CHUNK, left))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
        return None if left else digest.hexdigest()

    def parse_document(self, raw: bytes, what: str) -> Any:
        """A JSON document, bounded; None (with a problem) when it is not strict JSON. A document
        beyond the bounds gets no verdict."""
        try:
            return parse_json_document(raw, what, self.limits)
        except MalformedJSONError as exc:
            if is_bound(exc) or len(raw) > self.limits.max_document_bytes:
                raise BundleRefused(exc.message) from None
            self.problems.append(f"{what} is not valid JSON ({exc.message})")
            return None

    def chunks(self, info: zipfile.ZipInfo, bound: int) -> Iterator[bytes]:
        """A file's bytes, counted while read: raises :class:`TooLong` past ``bound`` bytes
        (whatever the zip states) and :class:`BundleRefused` past ``max_bundle_bytes`` in all."""
        if info.compress_type not in _COMPRESSION:
            raise Unreadable(f"compressed with method {info.compress_type} (bundles use deflate)")
        assert self.archive is not None
        read = 0
        try:
            with self.archive.open(info) as stream:
                while True:
                    chunk = stream.read(min(_CHUNK, bound + 1 - read))
                    if not chunk:
                        return
                    read += len(chunk)
                    self.streamed += len(chunk)
                    if self.streamed > self.limits.max_bundle_bytes:
                        raise BundleRefused(
                            f"the bundle unpacks to more than the limit of "
                            f"{self.limits.max_bundle_bytes:,} bytes"
                        )
                    if read > bound:
                        raise TooLong(bound)
                    yield chunk
        except (TooLong, BundleRefused):
            raise
        except Exception as exc:  # a damaged member raises many kinds of error
            raise Unreadable(f"corrupt in the zip ({exc})") from None

    def bound_of(self, name: str) -> int:
        """How many bytes of ``name`` are read at most: its stated size, within the limit."""
        stated = None if self.sizes is None else self.sizes.get(name)
        most = self.limits.max_bundle_entry_bytes
        return most if stated is None else min(stated, most)

    def read_whole(self, info: zipfile.ZipInfo, bound: int) -> bytes:
        """A small file read whole (the index, a key) before the index is checked."""
        try:
            return b"".join(self.chunks(info, bound))
        except TooLong:
            raise BundleRefused(
                f"{info.filename} is more than the limit of {bound:,} bytes"
            ) from None

    def stream_all(self) -> None:
        """Check every file against the signed index, reading none whole: a file the index does
        not name is not read at all."""
        problems = self.problems
        for name, info in self.members.items():
            if name == INDEX:
                continue
            expected = self.listed.get(name)
            if expected is None:
                problems.append(f"{name} is not listed in the signed index (added)")
                continue
            bound = self.bound_of(name)
            digest = hashlib.sha256()
            read = 0
            try:
                for chunk in self.chunks(info, bound):
                    digest.update(chunk)
                    read += len(chunk)
            except TooLong:
                if not self.stated(name):
                    raise BundleRefused(
                        f"{name} unpacks to more than the limit of {bound:,} bytes per file"
                    ) from None
                problems.append(
                    f"{name} was changed: it holds more than the {bound:,} bytes the signed "
                    "index states (reading stopped there)"
                )
                continue
            except Unreadable as exc:
                problems.append(f"{name}: {exc}")
                continue
            if digest.hexdigest() != expected or (self.stated(name) and read != bound):
                problems.append(f"{name} was changed (its SHA-256 differs from the signed index)")
                continue
            self.verified.add(name)
        problems.extend(
            f"{name} is listed in the signed index but missing"
            for name in sorted(self.listed)
            if name not in self.members
        )

    def stated(self, name: str) -> bool:
        """Whether the signed index states the size of ``name``."""
        return self.sizes is not None and name in self.sizes

    def verified_bytes(self, name: str, bound: int, *, missing_ok: bool = False) -> bytes | None:
        """A file whose digest matched, read whole again (and checked again) for parsing; None
        when it is missing (a problem unless ``missing_ok``) or did not match (already said)."""
        if name not in self.verified:
            if name not in self.listed and name not in self.members and not missing_ok:
                self.problems.append(f"{name} is missing")
            return None
        stated = self.bound_of(name)
        if stated > bound:
            raise BundleRefused(
                f"{name} is {stated:,} bytes, more than the limit of {bound:,} for a file read whole"
            )
        try:
            data = b"".join(self.chunks(self.members[name], stated))
        except (TooLong, Unreadable):
            data = b""
        if hashlib.sha256(data).hexdigest() != self.listed[name]:
            self.problems.append(f"{name} changed while it was being read")
            return None
        return data

    def document(self, name: str) -> Any:
        """A JSON file of the bundle whose digest matched, parsed (bounded); None otherwise."""
        raw = self.verified_bytes(name, self.limits.max_document_bytes)
        return None if raw is None else self.parse_document(raw, name)

    def jsonl(self, name: str) -> Iterator[Any]:
        """The values of a JSONL file whose digest matched, line by line (each line bounded)."""
        if name not in self.verified:
            return
        digest = hashlib.sha256()
        pending = b""
        number = 0
        most = self.limits.max_record_bytes
        try:
            for chunk in self.chunks(self.members[name], self.bound_of(name)):
                digest.update(chunk)
                pending += chunk
                *lines, pending = pending.split(b"\n")
                if len(pending) > most:
                    raise BundleRefused(
                        f"{name}: a line is longer than the limit of {most:,} bytes"
                    )
                for line in lines:
                    number += 1
                    if len(line) > most:
                        raise BundleRefused(
                            f"{name} line {number} is longer than the limit of {most:,} bytes"
                        )
                    value = self._line(name, number, line)
                    if value is not None:
                        yield value
        except (TooLong, Unreadable):
            pass
        number += 1
        value = self._line(name, number, pending)
        if value is not None:
            yield value
        if digest.hexdigest() != self.listed[name]:
            self.problems.append(f"{name} changed while it was being read")

    def _line(self, name: str, number: int, line: bytes) -> Any:
        if not line.strip():
            return None
        try:
            return canonical.parse_json(line, max_depth=self.limits.max_json_depth)
        except MalformedJSONError as exc:
            refuse_if_bound(exc, f"{name} line {number}: {exc.message}")
            self.problems.append(f"{name} line {number} is not valid JSON")
            return None

    def names(self, prefix: str, suffix: str = "") -> list[str]:
        """The verified files under ``prefix`` (ending in ``suffix``), sorted."""
        return sorted(n for n in self.verified if n.startswith(prefix) and n.endswith(suffix))
