"""Reading and verifying whole datasets on every core: the map over chunks and the merge.

Files are read as a stream in blocks of whole lines (:func:`~provenance.sources.chunks.read_chunks`,
:mod:`provenance.sources.chunks`). Each chunk is verified
by a worker process into a :class:`ScanPartial`; partials merge associatively, so the order in which
workers finish does not matter and memory stays flat: a partial holds counts, at most
``max_failures`` failing records and, per signed batch, a bitmap of the leaves seen (one bit per
record of the input).

An uncompressed file is cut into :class:`Span` s at line ends and each worker reads its own span,
so the parent process never touches the data; the workers number lines from the start of their
span and the parent shifts the numbers (and, through :meth:`Collector.shift`, a collector's) as it
merges partials in input order. Compressed files and other sources are read by the parent.

A :class:`Collector` lets a caller (the audit) gather more per record in the same pass.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar

from provenance import canonical
from provenance.errors import MalformedJSONError
from provenance.native import lib as _native
from provenance.sources import open_source
from provenance.sources.chunks import CHUNK_BYTES, Chunk, Span, read_chunks, spans
from provenance.sources.jsonl import JsonlSource
from provenance.verify import RecordResult, Status, Verified, Verifier

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = [
    "BLOCK_LINES",
    "CHUNK_BYTES",
    "INLINE_BYTES",
    "Chunk",
    "Collector",
    "ScanPartial",
    "Span",
    "VerifyReport",
    "default_workers",
    "isatty",
    "leave_signals_to_parent",
    "merge_partials",
    "report_from",
    "scan_chunk",
    "scan_paths",
    "settle_worker_gc",
    "spans",
    "verify_paths",
]

# CHUNK_BYTES, the bytes of whole lines handed to a worker at a time, is looked up in this
# module when the tasks are cut: setting provenance.scan.CHUNK_BYTES changes it for the process.
BLOCK_LINES = 64
"""Lines a worker parses and verifies together: enough to prove a batch's leaves jointly, few
enough that their parsed records stay in the processor's caches."""
INLINE_BYTES = 4 << 20
"""Inputs smaller than this are verified in this process: starting workers would cost more."""

C = TypeVar("C")


class Collector(Protocol[C]):
    """Gathers extra facts per record into a mergeable value (used by the audit and the registry).

    In a worker, for each chunk: :meth:`new`, then :meth:`add_verified` or :meth:`add` for every
    record in input order, then :meth:`seal`. The parent shifts a span's line numbers with
    :meth:`shift` and folds the chunks' values in input order with :meth:`merge`.
    """

    def new(self) -> C: ...

    def add_verified(
        self, state: C, source: str, line: int, verified: Verified, digest: str
    ) -> None:
        """A record that verified, with its content digest (hex)."""

    def add(self, state: C, record: Mapping[str, Any] | None, result: RecordResult) -> None:
        """A record that did not verify (``record`` is None when it is not valid JSON)."""

    def seal(self, state: C, source: str) -> None:
        """The chunk of ``source`` is done: make ``state`` ready to send to the parent."""

    def shift(self, state: C, lines: int) -> None:
        """Line numbers in ``state`` count from a span's start: add ``lines`` to them."""

    def merge(self, a: C, b: C) -> C: ...


@dataclass
class _Batch:
    """The leaves of one signed batch seen so far: a bitmap, one bit per leaf index."""

    size: int
    seen: int = 0
    bits: bytearray = field(default_factory=bytearray)


@dataclass
class ScanPartial(Generic[C]):
    """What a pass over some records found; merges with another partial."""

    counts: dict[str, int] = field(default_factory=dict)
    failures: list[RecordResult] = field(default_factory=list)
    dropped_failures: int = 0
    total: int = 0
    batches: dict[str, _Batch] = field(default_factory=dict)
    duplicate_leaves: list[RecordResult] = field(default_factory=list)
    extra: C | None = None
    lines: int = 0
    """Lines read (blank ones too), for numbering: set by :func:`scan_chunk`, not merged."""
    invalid_listed: bool = False
    """Whether ``failures`` holds an ``invalid-record`` (see :meth:`fail`)."""

    def count(self, status: Status, n: int = 1) -> None:
        self.counts[status.value] = self.counts.get(status.value, 0) + n

    def fail(self, result: RecordResult, max_failures: int) -> None:
        invalid = result.status is Status.INVALID_RECORD
        if len(self.failures) < max_failures or (invalid and not self.invalid_listed):
            # The first line that is not a record is always listed, past the cap too: it decides
            # that there is no verdict, and the reason must name its file and line.
            self.failures.append(result)
            self.invalid_listed = self.invalid_listed or invalid
        else:
            self.dropped_failures += 1

    def note_leaf(self, root: str, index: int, size: int) -> bool:
        """Record leaf ``index`` of the batch with root ``root``; False when already seen."""
        batch = self.batches.get(root)
        if batch is None:
            batch = self.batches[root] = _Batch(size, bits=bytearray((size + 7) >> 3))
        byte, bit = index >> 3, 1 << (index & 7)
        if batch.bits[byte] & bit:
            return False
        batch.bits[byte] |= bit
        batch.seen += 1
        return True


def merge_partials(
    a: ScanPartial[C], b: ScanPartial[C], collector: Collector[C] | None, max_failures: int
) -> ScanPartial[C]:
    """Fold ``b`` into ``a`` (associative; ``a`` is reused)."""
    for status, n in b.counts.items():
        a.counts[status] = a.counts.get(status, 0) + n
    a.total += b.total
    for failure in b.failures:
        a.fail(failure, max_failures)
    a.dropped_failures += b.dropped_failures
    for root, theirs in b.batches.items():
        ours = a.batches.get(root)
        if ours is None:
            a.batches[root] = theirs
            continue
        mine = int.from_bytes(ours.bits, "little")
        other = int.from_bytes(theirs.bits, "little")
        overlap = mine & other
        if overlap:
            # The same leaf in two chunks: one copy is a duplicate. Count it as a failure here,
            # where both halves meet.
            extra = overlap.bit_count()
            a.counts[Status.OK.value] -= extra
            a.counts[Status.BAD_PROOF.value] = a.counts.get(Status.BAD_PROOF.value, 0) + extra
            a.duplicate_leaves.append(
                RecordResult(
                    "",
                    0,
                    Status.BAD_PROOF,
                    f"{extra} leaf/leaves of batch {root[:12]}… appear twice",
                )
            )
        both = mine | other
        ours.bits = bytearray(both.to_bytes(max(len(ours.bits), len(theirs.bits)), "little"))
        ours.seen = both.bit_count()
    a.duplicate_leaves.extend(b.duplicate_leaves)
    if collector is not None and b.extra is not None:
        a.extra = b.extra if a.extra is None else collector.merge(a.extra, b.extra)
    return a


@dataclass
class VerifyReport:
    """Per-status counts, failing records (up to a bound) and incomplete batches."""

    files: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[RecordResult] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    total: int = 0
    dropped_failures: int = 0
    require_complete: bool = False
    """Whether a batch with records missing fails the run. Off by default: filtering a signed
    dataset (deduplication, quality filters) legitimately drops records."""

    @property
    def ok(self) -> int:
        return self.counts.get(Status.OK.value, 0)

    @property
    def no_verdict(self) -> bool:
        return self.counts.get(Status.INVALID_RECORD.value, 0) > 0

    @property
    def passed(self) -> bool:
        return (
            self.total > 0
            and self.ok == self.total
            and not (self.require_complete and self.incomplete)
        )

    def exit_code(self) -> int:
        """0 all verify, 1 a record fails, 2 no verdict (a record that is not strict JSON)."""
        if self.no_verdict or self.total == 0:
            return 2
        return 0 if self.passed else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "files": self.files,
            "total": self.total,
            "counts": dict(sorted(self.counts.items())),
            "incomplete_batches": self.incomplete,
            "failures": [r.to_dict() for r in self.failures],
            "failures_not_listed": self.dropped_failures,
        }


# ---- the map -------------------------------------------------------------------------------


def scan_chunk(
    chunk: Chunk, verifier: Verifier, collector: Collector[C] | None, max_failures: int
) -> ScanPartial[C]:
    """Verify every record of one chunk, a block of lines at a time (what a block holds stays in
    the processor's caches). The partial's ``lines`` is the chunk's line count."""
    partial: ScanPartial[C] = ScanPartial(extra=collector.new() if collector else None)
    lines = chunk.data.split(b"\n")
    partial.lines = len(lines)
    for start in range(0, len(lines), BLOCK_LINES):
        _scan_block(
            partial,
            chunk.source,
            chunk.first_line + start,
            lines[start : start + BLOCK_LINES],
            verifier,
            collector,
            max_failures,
        )
    if collector is not None and partial.extra is not None:
        collector.seal(partial.extra, chunk.source)
    return partial


def _scan_block(
    partial: ScanPartial[C],
    source: str,
    first_line: int,
    lines: list[bytes],
    verifier: Verifier,
    collector: Collector[C] | None,
    max_failures: int,
) -> None:
    parsed: list[tuple[int, Mapping[str, Any], str]] = []
    invalid: dict[int, RecordResult] = {}
    number = first_line - 1
    parse = canonical.view_and_digest
    prefix = verifier.statement_prefix()
    for data in lines:
        number += 1
        if not data or data.isspace():
            continue
        if data.endswith(b"\r"):
            data = data[:-1]
        try:
            record, digest = parse(data, prefix)
        except MalformedJSONError as exc:
            invalid[number] = RecordResult(source, number, Status.INVALID_RECORD, exc.message)
            parsed.append((number, {}, ""))
        else:
            parsed.append((number, record, digest))
    valid = [item for item in parsed if item[0] not in invalid] if invalid else parsed
    outcomes = iter(verifier.verify_many(source, valid, details=False))
    partial.total += len(parsed)
    extra = partial.extra if collector is not None else None
    ok = 0
    for number, record, digest in parsed:
        result = invalid.get(number) if invalid else None
        if result is None:
            outcome = next(outcomes)
            if isinstance(outcome, RecordResult):
                result = outcome
            elif outcome.root is None or partial.note_leaf(
                outcome.root, outcome.leaf, outcome.size
            ):
                ok += 1
                if collector is not None and extra is not None:
                    collector.add_verified(extra, source, number, outcome, digest)
                continue
            else:
                result = _duplicate(source, number, outcome.record_id, digest, outcome.leaf)
        partial.count(result.status)
        partial.fail(result, max_failures)
        if collector is not None and extra is not None:
            collector.add(extra, None if number in invalid else record, result)
    if ok:
        partial.count(Status.OK, ok)


def _duplicate(
    source: str, line: int, record_id: str | None, digest: str | None, index: int
) -> RecordResult:
    return RecordResult(
        source,
        line,
        Status.BAD_PROOF,
        f"leaf {index} of this batch appears twice",
        record_id,
        digest,
    )


def _shift(partial: ScanPartial[C], lines: int, collector: Collector[C] | None) -> ScanPartial[C]:
    """A span's partial with its line numbers counted from the start of the file."""
    if lines:
        partial.failures = [replace(f, line=f.line + lines) for f in partial.failures]
        if collector is not None and partial.extra is not None:
            collector.shift(partial.extra, lines)
    return partial


_WORKER: dict[str, Any] = {}


_WORKER_GC_THRESHOLD: Final = 50_000


def settle_worker_gc() -> None:
    """Tune the cycle collector and the allocator of a worker process.

    What it inherited lives as long as it does, so ``gc.freeze`` takes it out of every
    collection, and the records it reads hold no cycles, so young objects are collected less
    often (far fewer passes over short-lived parsed records; memory stays bounded, as the block
    of records in flight is). Its chunks and outputs are large buffers of about the same size
    each time, so the allocator keeps freed memory for the next one instead of returning it to
    the system and faulting fresh pages in again (:func:`provenance._native.keep_freed_memory`).
    """
    gc.freeze()
    gc.set_threshold(_WORKER_GC_THRESHOLD, *gc.get_threshold()[1:])
    _native.keep_freed_memory()


def leave_signals_to_parent() -> None:
    """Have a worker process leave SIGINT and SIGTERM to its parent while the parent lives.

    A stop signal often reaches the whole process group (Ctrl-C, ``timeout``, a CI runner, a
    scheduler). The parent then stops handing out work, waits for the tasks under way and removes
    what they wrote; a worker that died on its own in the middle could leave a lock held or a
    half-written spool file behind. A worker whose parent is gone (killed outright) exits on
    either signal."""
    parent = os.getppid()

    def handle(signum: int, frame: FrameType | None) -> None:
        if os.getppid() != parent:
            os._exit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handle)


def _init_worker(verifier: Verifier, collector: Any, max_failures: int) -> None:
    settle_worker_gc()
    leave_signals_to_parent()
    _WORKER["verifier"] = verifier
    _WORKER["collector"] = collector
    _WORKER["max_failures"] = max_failures


def _work(task: Chunk | Span) -> tuple[ScanPartial[Any], int]:
    chunk = task.chunk() if isinstance(task, Span) else task
    partial = scan_chunk(chunk, _WORKER["verifier"], _WORKER["collector"], _WORKER["max_failures"])
    return partial, partial.lines if isinstance(task, Span) else 0


def _chunks(paths: Sequence[Path], rows_per_chunk: int = 2048) -> Iterator[Chunk]:
    for path in paths:
        if JsonlSource.accepts(path):
            yield from read_chunks(path, CHUNK_BYTES)
            continue
        # Row sources (Parquet, datasets) yield records one by one; JSON from orjson never holds
        # a raw newline, so rows joined by newlines form a chunk whose line numbers are rows.
        rows: list[bytes] = []
        first = 1
        source = str(path)
        for raw in open_source(path):
            if rows and raw.source != source:
                yield Chunk(source, first, b"\n".join(rows))
                rows = []
            if not rows:
                first, source = raw.line, raw.source
            rows.append(raw.data)
            if len(rows) >= rows_per_chunk:
                yield Chunk(source, first, b"\n".join(rows))
                rows = []
        if rows:
            yield Chunk(source, first, b"\n".join(rows))


def _tasks(paths: Sequence[Path]) -> Iterator[Chunk | Span]:
    for path in paths:
        if JsonlSource.accepts(path) and not path.name.endswith((".gz", ".zst")):
            yield from spans(path, CHUNK_BYTES)
        else:
            yield from _chunks([path])


def default_workers() -> int:
    return max(
        1,
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
    )


def scan_paths(
    paths: Sequence[Path],
    verifier: Verifier,
    *,
    collector: Collector[C] | None = None,
    workers: int | None = None,
    max_failures: int = 10_000,
    progress: Callable[[int, int], None] | None = None,
) -> ScanPartial[C]:
    """Verify every record of ``paths`` on ``workers`` processes (default: every core)."""
    total_bytes = sum(p.stat().st_size for p in paths if p.is_file())
    if workers is None:
        workers = 1 if total_bytes < INLINE_BYTES else default_workers()
    result: ScanPartial[C] = ScanPartial(extra=collector.new() if collector else None)
    done_bytes = 0
    if workers <= 1:
        for chunk in _chunks(paths):
            partial = scan_chunk(chunk, verifier, collector, max_failures)
            result = merge_partials(result, partial, collector, max_failures)
            done_bytes += len(chunk.data)
            if progress:
                progress(result.total, done_bytes)
        return result
    # Imported here: a small input is read in this process and never pays for them.
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    context = get_context("fork")
    window: deque[tuple[Future[tuple[ScanPartial[C], int]], Chunk | Span]] = deque()
    lines_before: dict[str, int] = {}
    with ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(verifier, collector, max_failures),
    ) as pool:

        def drain_one() -> None:
            nonlocal result, done_bytes
            future, task = window.popleft()
            partial, lines = future.result()
            if isinstance(task, Span):
                before = lines_before.get(task.source, 0)
                partial = _shift(partial, before, collector)
                lines_before[task.source] = before + lines
                done_bytes += task.end - task.start
            else:
                done_bytes += len(task.data)
            result = merge_partials(result, partial, collector, max_failures)
            if progress:
                progress(result.total, done_bytes)

        try:
            for task in _tasks(paths):
                window.append((pool.submit(_work, task), task))
                if len(window) >= 2 * workers:
                    drain_one()
            while window:
                drain_one()
        except BaseException:
            # Stopping (an error, a stop signal): the chunks not started are not worth waiting
            # for; the pool then waits only for those under way.
            for future, _ in window:
                future.cancel()
            raise
    return result


def verify_paths(
    paths: Sequence[Path],
    verifier: Verifier,
    *,
    require_complete: bool = False,
    workers: int | None = None,
    max_failures: int = 10_000,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Verify every record of ``paths`` and summarise."""
    partial: ScanPartial[None] = scan_paths(
        paths, verifier, workers=workers, max_failures=max_failures, progress=progress
    )
    return report_from(partial, paths, require_complete)


def report_from(
    partial: ScanPartial[Any], paths: Sequence[Path], require_complete: bool
) -> VerifyReport:
    report = VerifyReport(files=[str(p) for p in paths], require_complete=require_complete)
    report.counts = {k: v for k, v in partial.counts.items() if v}
    report.total = partial.total
    report.failures = sorted(
        [*partial.failures, *partial.duplicate_leaves], key=lambda r: (r.source, r.line)
    )
    report.dropped_failures = partial.dropped_failures
    report.incomplete = [
        f"batch {root[:12]}…: {b.size - b.seen} of {b.size} records missing"
        for root, b in sorted(partial.batches.items())
        if b.seen != b.size
    ]
    return report


def isatty() -> bool:
    return sys.stderr.isatty()
