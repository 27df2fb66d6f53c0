"""Which files a list of command-line inputs names: the one walk of data folders.

Every command that reads data (``verify``, ``audit``, ``ingest``, ``explain``, the dataset files a
lineage declaration names) turns its inputs into files here, under these rules:

* every real file is read once, whatever the number of paths that lead to it: files are told
  apart by device and inode, so a hard link, a file given twice, or a file and its folder give
  one input;
* a path given on the command line (or matched by a glob there) is read as given, link or not;
* inside a folder, a link is followed only when its target lies inside that folder (the folder
  given on the command line); a link out of it is skipped unless ``follow_links`` is set;
* a folder is walked once: a link back to a folder already walked (``data/loop -> .``) is
  skipped, so a loop of links costs one visit per link, never a walk of every path through it;
* the real path of a file wins over a link to it: links are looked at after the folder's real
  files, and the files of one input come out sorted by path;
* names beginning with a dot are not data; neither is anything in a folder that is not a regular
  file (a FIFO would block the reader forever).

Nothing is printed here: :class:`DataWalk` lists what was skipped and why, and the command line
says so on stderr.
"""

from __future__ import annotations

import os
import stat
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from provenance.errors import InputError
from provenance.sources.arrow import HfDatasetSource
from provenance.sources.base import DatasetSource

NOTE_LIMIT = 10
"""Skipped paths named one per line on stderr; the rest are counted in one more line."""

FileId = tuple[int, int]
"""``(st_dev, st_ino)``: what makes two paths the same file."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A path found in the inputs and not read, and why."""

    path: str
    reason: str

    def note(self) -> str:
        return f"provenance: skipped {self.path}: {self.reason}"


@dataclass(frozen=True)
class DataWalk:
    """The files to read, in reading order, and the paths left out."""

    files: tuple[Path, ...]
    skipped: tuple[Skipped, ...] = ()

    def notes(self, limit: int = NOTE_LIMIT) -> list[str]:
        """Lines for stderr: one per skipped path, at most ``limit``, then a count of the rest."""
        lines = [s.note() for s in self.skipped[:limit]]
        rest = len(self.skipped) - limit
        if rest > 0:
            lines.append(f"provenance: skipped {rest} more path(s) for the same reasons")
        return lines


def _file_id(st: os.stat_result) -> FileId:
    return (st.st_dev, st.st_ino)


def _within(target: str, top: str) -> bool:
    return target == top or target.startswith(top.rstrip(os.sep) + os.sep)


@dataclass
class _Walker:
    sources: Sequence[type[DatasetSource]]
    follow_links: bool
    files: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    read: dict[FileId, Path] = field(default_factory=dict)
    """Every input kept (file or ``datasets`` folder) by identity, and the path it is read by."""
    walked: dict[FileId, Path] = field(default_factory=dict)
    """Every folder walked, by identity."""

    def is_data(self, path: Path) -> bool:
        return any(source.accepts(path) for source in self.sources)

    def skip(self, path: Path, reason: str) -> None:
        self.skipped.append(Skipped(str(path), reason))

    def same(self, path: Path, kept: Path, what: str = "file") -> str:
        return (
            "already read" if str(path) == str(kept) else f"the same {what} as {kept} (read once)"
        )

    # ---- inputs as given ----------------------------------------------------------------------

    def given(self, path: Path) -> None:
        """A path named on the command line: read as given, link or not."""
        try:
            st = path.stat()
        except OSError as exc:
            raise InputError("no such file or directory", source=str(path)) from exc
        if stat.S_ISDIR(st.st_mode):
            if not HfDatasetSource.accepts(path):
                self.folder(path, st)
                return
            what = "folder"
        else:
            what = "file"
        key = _file_id(st)
        kept = self.read.get(key) or self.walked.get(key)
        if kept is not None:
            self.skip(path, self.same(path, kept, what))
            return
        self.read[key] = path
        if what == "folder":
            self.walked[key] = path
        self.files.append(path)

    # ---- folders ------------------------------------------------------------------------------

    def folder(self, top: Path, st: os.stat_result) -> None:
        key = _file_id(st)
        if key in self.walked:
            self.skip(top, self.same(top, self.walked[key], "folder"))
            return
        self.walked[key] = top
        top_real = os.path.realpath(top)
        found: list[tuple[Path, FileId]] = []
        links: deque[Path] = deque()
        self.tree(top, found, links)
        kept = self.keep(found)
        while links:
            more: list[tuple[Path, FileId]] = []
            self.link(links.popleft(), top, top_real, more, links)
            kept += self.keep(more)
        self.files.extend(sorted(kept))

    def tree(self, root: Path, found: list[tuple[Path, FileId]], links: deque[Path]) -> None:
        """The real files and folders below ``root`` (already marked walked), without following
        links: those go to ``links``, sorted, for later."""
        pending = [root]
        new_links: list[Path] = []
        while pending:
            folder = pending.pop()
            try:
                with os.scandir(folder) as entries:
                    children = sorted(entries, key=lambda e: e.name)
            except OSError as exc:
                raise InputError(
                    f"cannot list this folder ({exc.strerror})", source=str(folder)
                ) from exc
            for entry in children:
                if entry.name.startswith("."):
                    continue
                path = folder / entry.name
                if entry.is_symlink():
                    new_links.append(path)
                    continue
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    key = _file_id(st)
                    if HfDatasetSource.accepts(path):
                        found.append((path, key))
                    elif key in self.walked:
                        self.skip(path, self.same(path, self.walked[key], "folder"))
                    else:
                        self.walked[key] = path
                        pending.append(path)
                elif self.is_data(path):
                    if stat.S_ISREG(st.st_mode):
                        found.append((path, _file_id(st)))
                    else:
                        self.skip(path, "not a regular file")
        links.extend(sorted(new_links))

    def keep(self, found: list[tuple[Path, FileId]]) -> list[Path]:
        """The paths of ``found`` not read already, first by path order."""
        out = []
        for path, key in sorted(found):
            kept = self.read.get(key)
            if kept is not None:
                self.skip(path, self.same(path, kept, "folder" if path.is_dir() else "file"))
                continue
            self.read[key] = path
            out.append(path)
        return out

    def link(
        self,
        link: Path,
        top: Path,
        top_real: str,
        found: list[tuple[Path, FileId]],
        links: deque[Path],
    ) -> None:
        """A link found inside ``top``: followed when it stays inside (or when asked to)."""
        try:
            st = link.stat()
        except OSError as exc:
            if self.is_data(link):
                raise InputError(
                    f"a link that leads nowhere ({exc.strerror})", source=str(link)
                ) from exc
            return
        target = os.path.realpath(link)
        inside = _within(target, top_real)
        if not inside and not self.follow_links:
            self.skip(link, f"a link out of {top} (--follow-links reads it)")
            return
        key = _file_id(st)
        is_dir = stat.S_ISDIR(st.st_mode)
        kept = self.read.get(key) or self.walked.get(key)
        if kept is not None:
            where = f"back into {top}" if inside else f"to {kept}"
            self.skip(link, f"a link {where} (read once)")
            return
        if is_dir and not HfDatasetSource.accepts(link):
            self.walked[key] = link
            self.tree(link, found, links)
        elif is_dir or (stat.S_ISREG(st.st_mode) and self.is_data(link)):
            found.append((link, key))
        elif self.is_data(link):
            self.skip(link, "a link to something that is not a regular file")


def walk_inputs(
    items: Sequence[str],
    sources: Sequence[type[DatasetSource]],
    *,
    follow_links: bool = False,
) -> DataWalk:
    """The data files ``items`` name (files, folders, globs), each real file once."""
    walker = _Walker(sources, follow_links)
    for item in items:
        path = Path(item)
        if any(ch in item for ch in "*?["):
            matches = (
                sorted(Path().glob(item))
                if not path.is_absolute()
                else sorted(Path(path.anchor).glob(str(path.relative_to(path.anchor))))
            )
            if not matches:
                raise InputError(f"no file matches '{item}'")
            for match in matches:
                if match.is_file():
                    walker.given(match)
        else:
            walker.given(path)
    return DataWalk(tuple(walker.files), tuple(walker.skipped))
