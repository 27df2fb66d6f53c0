"""Reading and verifying whole datasets on every core: the map over chunks and the merge.

Files are read as a stream in blocks of whole lines (:func:`read_chunks`). Each chunk is verified
by a worker process into a :class:`ScanPartial`; partials merge associatively, so the order in which
workers finish does not matter and memory stays flat: a partial holds counts, at most
``max_failures`` failing records and, per signed batch, a bitmap of the leaves seen.

A :class:`Collector` lets a caller (the audit) gather more per record in the same pass.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from provenance import canonical
from provenance.errors import InputError, MalformedJSONError
from provenance.limits import DEFAULT_LIMITS
from provenance.sources import open_source
from provenance.sources.base import RawRecord
from provenance.sources.jsonl import JsonlSource, open_binary
from provenance.verification import RecordResult, Status, Verifier

CHUNK_BYTES = 2 << 20
"""Bytes of whole lines handed to a worker at a time."""
INLINE_BYTES = 4 << 20
"""Inputs smaller than this are verified in this process: starting workers would cost more."""

C = TypeVar("C")


class Collector(Protocol[C]):
    """Gathers extra facts per verified record into a mergeable value (used by the audit)."""

    def new(self) -> C: ...

    def add(self, state: C, record: dict[str, Any] | None, result: RecordResult) -> None: ...

    def merge(self, a: C, b: C) -> C: ...


@dataclass
class _Batch:
    size: int
    seen: int = 0
    bits: int = 0


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

    def count(self, status: Status, n: int = 1) -> None:
        self.counts[status.value] = self.counts.get(status.value, 0) + n

    def fail(self, result: RecordResult, max_failures: int) -> None:
        if len(self.failures) < max_failures:
            self.failures.append(result)
        else:
            self.dropped_failures += 1

    def note_batch(self, result: RecordResult) -> bool:
        """Record a verified batch leaf; False when the same leaf was already seen."""
        position = result.batch
        if position is None:
            return True
        batch = self.batches.get(position.root)
        if batch is None:
            batch = self.batches[position.root] = _Batch(position.size)
        bit = 1 << position.index
        if batch.bits & bit:
            return False
        batch.bits |= bit
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
        overlap = ours.bits & theirs.bits
        if overlap:
            # The same leaf in two chunks: one copy is a duplicate. Count it as a failure here,
            # where both halves meet.
            extra = bin(overlap).count("1")
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
        ours.bits |= theirs.bits
        ours.seen = bin(ours.bits).count("1")
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


# ---- reading -------------------------------------------------------------------------------


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
                data, rest = block[:cut], block[cut + 1 :]
                yield Chunk(source, line, data)
                line += data.count(b"\n") + 1
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read past line {line} ({exc})", source=source, line=line) from exc
    except InputError:
        raise
    except Exception as exc:  # zlib and zstd raise their own error types
        if (
            "zstd" in type(exc).__module__.lower()
            or "zlib" in type(exc).__module__.lower()
            or (type(exc).__name__ in {"ZstdError", "BadGzipFile", "error"})
        ):
            raise InputError(
                f"corrupt compressed data near line {line}", source=source, line=line
            ) from exc
        raise
    if rest.strip():
        yield Chunk(source, line, rest)


def _chunks(paths: Sequence[Path], rows_per_chunk: int = 2048) -> Iterator[Chunk]:
    for path in paths:
        if JsonlSource.accepts(path):
            yield from read_chunks(path)
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


# ---- the map -------------------------------------------------------------------------------


def scan_chunk(
    chunk: Chunk, verifier: Verifier, collector: Collector[C] | None, max_failures: int
) -> ScanPartial[C]:
    """Verify every record of one chunk."""
    partial: ScanPartial[C] = ScanPartial(extra=collector.new() if collector else None)
    for raw in chunk.records():
        record: dict[str, Any] | None
        try:
            record, digest = canonical.parse_and_digest(raw.data)
        except MalformedJSONError as exc:
            record = None
            result = RecordResult(raw.source, raw.line, Status.INVALID_RECORD, exc.message)
        else:
            result = verifier.verify_parsed(raw, record, digest)
            if result.batch is not None and not partial.note_batch(result):
                result = RecordResult(
                    raw.source,
                    raw.line,
                    Status.BAD_PROOF,
                    f"leaf {result.batch.index} of this batch appears twice",
                    result.record_id,
                    result.content_digest,
                )
        partial.total += 1
        partial.count(result.status)
        if not result.ok:
            partial.fail(_slim(result), max_failures)
        if collector is not None and partial.extra is not None:
            collector.add(partial.extra, record, result)
    return partial


def _slim(result: RecordResult) -> RecordResult:
    """A failure without its parsed manifest, cheap to send between processes."""
    if result.manifest is None:
        return result
    return RecordResult(
        result.source,
        result.line,
        result.status,
        result.reason,
        result.record_id,
        result.content_digest,
        None,
        result.signer,
        result.batch,
    )


_WORKER: dict[str, Any] = {}


def _init_worker(verifier: Verifier, collector: Any, max_failures: int) -> None:
    _WORKER["verifier"] = verifier
    _WORKER["collector"] = collector
    _WORKER["max_failures"] = max_failures


def _work(chunk: Chunk) -> ScanPartial[Any]:
    return scan_chunk(chunk, _WORKER["verifier"], _WORKER["collector"], _WORKER["max_failures"])


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
    context = get_context("fork")
    window: deque[tuple[Future[ScanPartial[C]], int]] = deque()
    with ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(verifier, collector, max_failures),
    ) as pool:

        def drain_one() -> None:
            nonlocal result, done_bytes
            future, size = window.popleft()
            result = merge_partials(result, future.result(), collector, max_failures)
            done_bytes += size
            if progress:
                progress(result.total, done_bytes)

        for chunk in _chunks(paths):
            window.append((pool.submit(_work, chunk), len(chunk.data)))
            if len(window) >= 2 * workers:
                drain_one()
        while window:
            drain_one()
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
