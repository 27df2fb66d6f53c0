"""Reading and verifying whole datasets: the edge that feeds files through the verifier.

``verify_paths`` streams every record of every file through one :class:`Verifier`, keeps per-status
counts and the failing records (bounded), and notices incomplete batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance import canonical
from provenance.errors import MalformedJSONError
from provenance.sources import iter_records
from provenance.verification import BatchTracker, RecordResult, Status, Verifier


@dataclass
class VerifyReport:
    """Per-status counts, every failing record (up to ``max_failures``) and incomplete batches."""

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


def verify_paths(
    paths: Sequence[Path],
    verifier: Verifier,
    *,
    max_failures: int = 10_000,
    require_complete: bool = False,
    on_result: Callable[[RecordResult], None] | None = None,
) -> VerifyReport:
    """Verify every record of ``paths``, in order, streaming."""
    report = VerifyReport(files=[str(p) for p in paths], require_complete=require_complete)
    tracker = BatchTracker()
    for raw in iter_records(paths):
        try:
            record, digest = canonical.parse_and_digest(raw.data)
        except MalformedJSONError as exc:
            result = RecordResult(raw.source, raw.line, Status.INVALID_RECORD, exc.message)
        else:
            result = tracker.add(record, verifier.verify_parsed(raw, record, digest))
        report.total += 1
        report.counts[result.status.value] = report.counts.get(result.status.value, 0) + 1
        if not result.ok:
            if len(report.failures) < max_failures:
                report.failures.append(result)
            else:
                report.dropped_failures += 1
        if on_result is not None:
            on_result(result)
    report.incomplete = tracker.incomplete()
    return report
