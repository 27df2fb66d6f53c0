"""Data files cut into pieces of whole lines, for verifying on many processes.

A :class:`Chunk` holds whole lines of one file in memory, read as a stream (:func:`read_chunks`:
plain, .gz or .zst). A :class:`Span` names whole lines of an uncompressed file by byte offsets
(:func:`spans`), so that the process that verifies it reads it and the one that cuts the file
never does. Both refuse a line longer than the record limit, naming its file and line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from provenance.errors import InputError
from provenance.limits import DEFAULT_LIMITS
from provenance.sources.base import RawRecord
from provenance.sources.jsonl import open_binary, read_error

CHUNK_BYTES = 2 << 20
"""Bytes of whole lines in a chunk or span unless the caller says otherwise."""


@dataclass(frozen=True)
class Chunk:
    """Whole lines of one file: ``data`` starts at line ``first_line`` (1-based)."""

    source: str
    first_line: int
    data: bytes

    def records(self) -> Iterator[RawRecord]:
        line = self.first_line
        for raw in self.data.split(b"\n"):
            if raw.strip():
                yield RawRecord(self.source, line, raw.rstrip(b"\r"))
            line += 1


def read_chunks(
    path: Path, chunk_bytes: int = CHUNK_BYTES, max_line: int = DEFAULT_LIMITS.max_record_bytes
) -> Iterator[Chunk]:
    """Blocks of whole lines of a JSONL file (plain, .gz or .zst), streamed."""
    source = str(path)
    line = 1
    rest = b""
    try:
        with open_binary(path) as handle:
            while True:
                block = handle.read(chunk_bytes)
                if not block:
                    break
                block = rest + block
                cut = block.rfind(b"\n")
                if cut < 0:
                    if len(block) > max_line:
                        raise InputError(
                            f"line longer than {max_line} bytes", source=source, line=line
                        )
                    rest = block
                    continue
                if rest and block.find(b"\n") > max_line:
                    # The line carried over ended in this block; a line wholly inside one block
                    # (chunk_bytes at most max_line) cannot be too long.
                    raise InputError(f"line longer than {max_line} bytes", source=source, line=line)
                data, rest = block[:cut], block[cut + 1 :]
                yield Chunk(source, line, data)
                line += data.count(b"\n") + 1
    except InputError:
        raise
    except Exception as exc:
        error = read_error(exc, source, line)
        if error is None:
            raise
        raise error from exc
    if rest.strip():
        yield Chunk(source, line, rest)


@dataclass(frozen=True)
class Span:
    """Bytes ``start`` to ``end`` of an uncompressed JSONL file, whole lines. The worker that
    verifies it reads it and numbers its lines from 1; the numbers are shifted when its partial is
    merged in order, so the parent never reads the data."""

    source: str
    start: int
    end: int

    def chunk(self) -> Chunk:
        return Chunk(self.source, 1, self.read())

    def read(self) -> bytes:
        with open(self.source, "rb") as handle:
            handle.seek(self.start)
            return handle.read(self.end - self.start)


def spans(
    path: Path, chunk_bytes: int = CHUNK_BYTES, max_line: int = DEFAULT_LIMITS.max_record_bytes
) -> Iterator[Span]:
    """An uncompressed JSONL file cut into spans of about ``chunk_bytes`` at line ends."""
    source = str(path)
    try:
        handle = path.open("rb")
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot open ({exc.strerror})", source=source) from exc
    with handle:
        start = 0
        while start < size:
            end = start + chunk_bytes
            if end >= size:
                yield Span(source, start, size)
                return
            boundary = end
            line_start: int | None = None
            handle.seek(end)
            while True:
                block = handle.read(1 << 16)
                cut = block.find(b"\n")
                end += cut if cut >= 0 else len(block)
                if end - start > max_line:
                    # Only here can the line across the boundary be too long: find where it starts.
                    if line_start is None:
                        line_start = _line_start(handle, start, boundary)
                    if end - line_start > max_line:
                        raise InputError(
                            f"line longer than {max_line} bytes",
                            source=source,
                            line=_line_number(handle, line_start),
                        )
                if cut >= 0 or not block:
                    break
                handle.seek(end)
            yield Span(source, start, end)
            start = end + 1


def _line_start(handle: BinaryIO, start: int, boundary: int) -> int:
    """Where the line running across ``boundary`` starts (at ``start`` or after a line end)."""
    handle.seek(start)
    cut = handle.read(boundary - start).rfind(b"\n")
    return start if cut < 0 else start + cut + 1


def _line_number(handle: BinaryIO, position: int) -> int:
    """The line number at ``position`` (the line ends before it, plus one), read in blocks."""
    handle.seek(0)
    lines, left = 1, position
    while left > 0:
        block = handle.read(min(left, 1 << 20))
        if not block:
            break
        lines += block.count(b"\n")
        left -= len(block)
    return lines
