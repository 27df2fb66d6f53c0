"""Getting a terms library to install: a directory, or a ``.tar.gz`` of one given as a file or as a
``file://``, ``http://`` or ``https://`` URL (``provenance policy update --from``).

An archive is hostile input until unpacked: it is read member by member and refused whole, naming
the member, when one has an absolute path or a ``..`` part, is a symbolic or hard link, a device or
a pipe, appears twice, or goes past a bound of :class:`ArchiveLimits` (the archive's own size, the
size of one file, all files together, the number of members). Nothing is written outside the
temporary folder it is unpacked into, and that folder is removed when the update ends.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from provenance.errors import InputError, shown
from provenance.limits import DEFAULT_LIMITS


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on a library archive, so that a hostile one cannot fill the disk or memory."""

    max_archive_bytes: int = 64 * 1024 * 1024
    """Largest archive read or downloaded (compressed)."""
    max_file_bytes: int = DEFAULT_LIMITS.max_yaml_bytes
    """Largest file inside it: a library holds YAML files, none larger than the YAML bound."""
    max_total_bytes: int = 256 * 1024 * 1024
    """Most bytes, all files together, that it may unpack to."""
    max_members: int = 20_000
    """Most members (files and folders) it may hold."""
    timeout_seconds: float = 60.0
    """How long a download may wait for the server at each step."""


ARCHIVE_LIMITS = ArchiveLimits()


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


_CHUNK = 1024 * 1024
_METADATA = "library.yaml"


@contextmanager
def fetched_library(source: str, limits: ArchiveLimits = ARCHIVE_LIMITS) -> Iterator[Path]:
    """The library ``source`` names, as a directory for as long as the ``with`` lasts: the directory
    itself, or the archive unpacked into a temporary folder (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="provenance-library-") as tmp:
        yield _fetch(source, Path(tmp), limits)


def _fetch(source: str, tmp: Path, limits: ArchiveLimits) -> Path:
    parsed = urllib.parse.urlsplit(source)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        archive = tmp / "library.tar.gz"
        _download(source, archive, limits)
        return _unpack(archive, tmp / "library", source, limits)
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise InputError(
                f"{source}: a file:// URL names a file on this machine",
                hint="write file:///path/to/library.tar.gz",
            )
        path = Path(urllib.request.url2pathname(parsed.path))
    elif "://" in source:
        raise InputError(
            f"cannot fetch a library from '{shown(source)}'",
            hint="give a directory, a .tar.gz file, or a file://, http:// or https:// URL",
        )
    else:
        path = Path(source)
    if path.is_dir():
        return path
    if not path.is_file():
        raise InputError("no library directory or archive here", source=str(path))
    return _unpack(path, tmp / "library", str(path), limits)


def _download(url: str, archive: Path, limits: ArchiveLimits) -> None:
    try:
        # The scheme is http or https (checked by the caller); redirects stay on those.
        with urllib.request.urlopen(url, timeout=limits.timeout_seconds) as response:  # noqa: S310
            _copy_bounded(response, archive, limits.max_archive_bytes, url, "max_archive_bytes")
    except urllib.error.HTTPError as exc:
        raise InputError(f"{url}: the server answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise InputError(f"{url}: cannot download the library ({exc.reason})") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{url}: cannot download the library ({exc})") from None


def _copy_bounded(source: _Readable, target: Path, bound: int, where: str, limit: str) -> int:
    """Copy ``source`` into a new file ``target``, refusing more than ``bound`` bytes."""
    written = 0
    with target.open("xb") as out:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > bound:
                raise InputError(
                    f"larger than the limit of {bound} bytes", source=where, limit=limit
                )
            out.write(chunk)
    return written


def _unpack(archive: Path, root: Path, where: str, limits: ArchiveLimits) -> Path:
    """Unpack a ``.tar.gz`` library into ``root`` and return the library's top folder: ``root``
    when ``library.yaml`` is there, else the archive's one top folder."""
    size = archive.stat().st_size
    if size > limits.max_archive_bytes:
        raise InputError(
            f"archive larger than the limit of {limits.max_archive_bytes} bytes",
            source=where,
            limit="max_archive_bytes",
        )
    root.mkdir()
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            _unpack_members(tar, root, where, limits)
    except InputError:
        shutil.rmtree(root, ignore_errors=True)
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise InputError(f"not a readable .tar.gz archive ({exc})", source=where) from None
    if (root / _METADATA).is_file():
        return root
    tops = list(root.iterdir())
    if len(tops) == 1 and tops[0].is_dir():
        return tops[0]
    return root


def _unpack_members(tar: tarfile.TarFile, root: Path, where: str, limits: ArchiveLimits) -> None:
    members = 0
    total = 0
    seen: set[PurePosixPath] = set()
    for member in tar:
        members += 1
        if members > limits.max_members:
            raise InputError(
                f"the archive holds more than {limits.max_members} members",
                source=where,
                limit="max_members",
            )
        relative = _member_path(member.name, where)
        if relative is None:
            continue  # the archive's own top folder, "./"
        if not (member.isdir() or member.isreg()):
            raise InputError(
                f"member '{shown(member.name)}' is {_kind(member)}; a library archive holds only "
                "files and folders",
                source=where,
            )
        if relative in seen:
            raise InputError(f"member '{shown(member.name)}' appears twice", source=where)
        seen.add(relative)
        target = root.joinpath(*relative.parts)
        _check_parents(root, target, member.name, where, is_dir=member.isdir())
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        if member.size > limits.max_file_bytes:
            raise InputError(
                f"member '{shown(member.name)}' is larger than the limit of "
                f"{limits.max_file_bytes} bytes",
                source=where,
                limit="max_file_bytes",
            )
        total += member.size
        if total > limits.max_total_bytes:
            raise InputError(
                f"the archive unpacks to more than {limits.max_total_bytes} bytes",
                source=where,
                limit="max_total_bytes",
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        data = tar.extractfile(member)
        if data is None:  # pragma: no cover - a regular member always has data
            raise InputError(f"member '{shown(member.name)}' cannot be read", source=where)
        with data:
            _copy_bounded(
                data, target, limits.max_file_bytes, f"{where}: {member.name}", "max_file_bytes"
            )


def _member_path(name: str, where: str) -> PurePosixPath | None:
    """A member's path inside the archive, relative and without ``..``; None for the top folder."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or "\\" in name:
        raise InputError(
            f"member '{shown(name)}' has an absolute path; a library archive holds relative paths",
            source=where,
        )
    parts = [part for part in PurePosixPath(name).parts if part != "."]
    if ".." in parts:
        raise InputError(f"member '{shown(name)}' points outside the archive ('..')", source=where)
    return PurePosixPath(*parts) if parts else None


def _check_parents(root: Path, target: Path, name: str, where: str, *, is_dir: bool) -> None:
    """Refuse a member below something that is not a folder (a file written earlier), or where
    something is already."""
    parent = target.parent
    while parent != root:
        if parent.exists() and not parent.is_dir():
            raise InputError(
                f"member '{shown(name)}' is inside '{parent.relative_to(root)}', which is a file",
                source=where,
            )
        parent = parent.parent
    if target.exists() and not (is_dir and target.is_dir()):
        raise InputError(f"member '{shown(name)}' appears twice", source=where)


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"a symbolic link (to '{shown(member.linkname)}')"
    if member.islnk():
        return f"a hard link (to '{shown(member.linkname)}')"
    if member.isdev():
        return "a device"
    if member.isfifo():
        return "a pipe"
    return "not a regular file"
