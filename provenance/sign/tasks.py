"""The input of :func:`provenance.sign.tag_jsonl` cut into tasks of whole lines, in order.

A task is what one worker (or the signing process itself) signs at a time: in batch mode whole
batches, so that a batch is never split. Lines longer than a reader takes are found here, while
the input is read a block at a time, without holding them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from provenance.errors import InputError
from provenance.native import lib as _native


@dataclass
class Task:
    """Whole lines of the input, starting at line ``first_line`` (1-based): bytes ``start`` to
    ``end`` of the (uncompressed) source file, or ``data`` itself."""

    number: int
    first_line: int
    start: int = 0
    end: int = 0
    data: bytes | None = None
    error: InputError | None = None
    """Set on the task that ends the input early: why (a line too long, unreadable data)."""

    def read(self, source: str) -> bytes:
        from provenance.scan import Span

        return self.data if self.data is not None else Span(source, self.start, self.end).read()


_SCAN_BYTES: Final = 1 << 20
"""Bytes read at a time while cutting the input into tasks."""


def tasks(
    source: Path | IO[bytes], per_task: int, unit: int, max_line: int, task_bytes: int
) -> Iterator[Task]:
    """The input as tasks of whole lines, in order: ``per_task`` lines, or fewer once a task
    holds ``task_bytes`` (cut after a multiple of ``unit`` lines, so a batch is never split).

    A plain regular file is only scanned for line ends here (workers read their own lines); a
    compressed file, a pipe or a stream is read here and its lines handed over. Either way the
    input is read a block at a time and a line longer than ``max_line`` bytes is found without
    holding it: the tasks before it are yielded and then a task carrying the error, which ends
    the input.
    """
    from provenance.sources.jsonl import open_binary

    name = source_name(source)
    if not isinstance(source, Path):
        yield from _cut(source, name, per_task, unit, max_line, task_bytes, keep=True)
        return
    plain = not source.name.endswith((".gz", ".zst"))
    if plain:
        try:
            handle: IO[bytes] = source.open("rb")
            regular = stat.S_ISREG(os.fstat(handle.fileno()).st_mode)
        except OSError as exc:
            raise InputError(f"cannot open ({exc.strerror})", source=name) from exc
    else:
        handle, regular = open_binary(source), False
    with handle:
        yield from _cut(
            handle, name, per_task, unit, max_line, task_bytes, keep=not (plain and regular)
        )


def source_name(source: Path | IO[bytes]) -> str:
    """How messages name the input: its path, or a stream's name (``<stdin>``)."""
    if isinstance(source, Path):
        return str(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<stream>"


def _cut(
    handle: IO[bytes],
    source: str,
    per_task: int,
    unit: int,
    max_line: int,
    task_bytes: int,
    *,
    keep: bool,
) -> Iterator[Task]:
    """:func:`tasks` on an open input: byte ranges of it, or (``keep``) the bytes themselves.

    Offsets count from where the input starts. Every line is checked while it is read: a line
    within one block is shorter than the block, which is at most ``max_line + 1`` bytes; a line
    running over blocks is measured at each block it reaches.
    """
    size = max(1, min(_SCAN_BYTES, max_line + 1))
    number = 0
    first = 1  # the current task's first line
    taken = 0  # line ends found in the current task
    start = 0  # where the current task starts
    line_start = 0  # where the line under way starts
    position = 0  # where the block starts
    need: int | None = None  # line ends left to the current task's end, once that is fixed
    pieces: list[bytes] = []  # with ``keep``: the current task's bytes before this block
    while True:
        try:
            block = handle.read(size)
        except InputError:
            raise
        except Exception as exc:  # OSError, EOFError, zlib's and zstd's own errors
            yield Task(number, first + taken, error=_read_error(exc, source, first + taken))
            return
        if not block:
            break
        first_end = block.find(b"\n")
        reach = position + (first_end if first_end >= 0 else len(block))
        if reach - line_start > max_line:
            # The tasks before the line go first, so that an error in them is named first.
            if line_start > start:
                data = b"".join(pieces)[: line_start - 1 - start] if keep else None
                yield Task(number, first, start, line_start - 1, data)
                number += 1
            line = first + taken
            yield Task(number, line, error=too_long(source, line, max_line))
            return
        at = -1  # where in the block the last task ended
        while True:
            if need is None:
                # Once the task holds task_bytes, it ends at the next line end closing a unit.
                full = start + task_bytes - 1 - position
                if full < len(block):
                    end = block.find(b"\n", max(at + 1, full))
                    if end >= 0:
                        ends = block.count(b"\n", at + 1, end) + 1
                        need = min(per_task - taken, ends + (-(taken + ends)) % unit)
            count = need if need is not None else per_task - taken
            cut, left = _native.line_end(block, at + 1, count)
            if cut < 0:
                taken += count - left
                if need is not None:
                    need = left
                break
            data = None
            if keep:
                pieces.append(block[at + 1 : cut])
                data = b"".join(pieces)
                pieces = []
            yield Task(number, first, start, position + cut, data)
            number += 1
            first += taken + count
            taken, need = 0, None
            start = position + cut + 1
            at = cut
        if keep:
            pieces.append(block[at + 1 :])
        last_end = block.rfind(b"\n")
        if last_end >= 0:
            line_start = position + last_end + 1
        position += len(block)
    if position > start:
        yield Task(number, first, start, position, b"".join(pieces) if keep else None)


def too_long(
    source: str, line: int, max_line: int, signed: int | None = None, what: str = "line"
) -> InputError:
    """The error for a line (or a Parquet or datasets record, ``what``) that no reader takes:
    longer than ``max_line`` bytes as it stands, or once ``signed`` (its length with the
    manifest)."""
    what = f"{what} longer than {max_line} bytes"
    if signed is not None:
        what += f" once signed ({signed} bytes with its manifest)"
    return InputError(
        what,
        source=source,
        line=line,
        hint=f"'provenance verify' reads lines of at most {max_line} bytes, a record's "
        "manifest included (Limits.max_record_bytes)",
    )


def _read_error(exc: Exception, source: str, line: int) -> InputError:
    """An input that stops being readable at ``line`` (:func:`~provenance.sources.jsonl.read_error`);
    any other exception goes on."""
    from provenance.sources.jsonl import read_error

    error = read_error(exc, source, line)
    if error is None:
        raise exc
    return error


def task_size(task: Task) -> int:
    """The input bytes of ``task``."""
    return len(task.data) if task.data is not None else task.end - task.start
