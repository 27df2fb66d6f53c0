"""Matching every log entry with the evidence row it records, for ``provenance log verify``.

Each entry's hash is recomputed from its fields and the Merkle tree rebuilt from the recomputed
hashes; each row is matched with the entry its ``log_seq`` names, and a row that does not match is
named *altered*, *deleted*, *reordered* or *inserted*.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from provenance.registry.integrity_report import LogReport, Problem
from provenance.registry.logtree import Frontier, body_hash, entry_hash, leaf
from provenance.registry.tables import LOGGED, LogEntry, body_columns

YIELD_ROWS = 5000
"""Rows fetched from the database at a time."""


@dataclass(frozen=True)
class _Row:
    seq: int
    kind: str
    table: str
    body: str
    describe: str


@dataclass(frozen=True)
class _Entry:
    seq: int
    kind: str
    label: str
    body: str


def _entries(session: Session) -> Iterator[tuple[_Entry, str]]:
    query = sa_select(
        col(LogEntry.seq),
        col(LogEntry.kind),
        col(LogEntry.label),
        col(LogEntry.body_hash),
        col(LogEntry.entry_hash),
    ).order_by(col(LogEntry.seq))
    for seq, kind, label, body, stored_hash in session.execute(
        query.execution_options(yield_per=YIELD_ROWS)
    ):
        yield _Entry(int(seq), kind, label, body), stored_hash


def _rows(session: Session, kind: str) -> Iterator[_Row]:
    model = LOGGED[kind]
    table: Table = model.__table__  # type: ignore[attr-defined]
    columns = body_columns(model)
    query = sa_select(table.c.log_seq, *(table.c[c] for c in columns)).order_by(table.c.log_seq)
    for row in session.execute(query.execution_options(yield_per=YIELD_ROWS)):
        body = dict(zip(columns, row[1:], strict=True))
        yield _Row(int(row[0]), kind, table.name, body_hash(kind, body), _describe(kind, body))


def _describe(kind: str, body: dict[str, Any]) -> str:
    if kind == "manifest":
        return f"manifest of record {body['record_id']} (sha256:{body['content_digest'][:12]}…)"
    if kind == "member":
        return f"member {body['position']} of dataset {body['dataset_digest'][:19]}…"
    if kind == "dataset":
        return f"dataset {body['name']} ({body['dataset_digest'][:19]}…)"
    if kind == "audit":
        return f"audit run of {body['target']} (report {body['report_digest'][:12]}…)"
    if kind == "edge":
        return f"lineage {body['model']} {body['kind']} {body['target']}"
    if kind == "model":
        return f"model {body['name']}"
    if kind == "key":
        return f"key {body['name']} ({body['keyid'][:16]})"
    if kind == "trust":
        return f"trust store version {body['version']}"
    if kind == "audit-inputs":
        return f"judgement inputs of audit #{body['audit_seq']}"
    if kind == "reaudit":
        return (
            f"re-audit of audit #{body['audit_seq']} "
            f"({body['outcome_before']} → {body['outcome_after']})"
        )
    return f"terms document {body['doc_id']}"


def walk_log(session: Session, report: LogReport, sizes: set[int]) -> dict[int, Frontier]:
    """Match entries with rows; returns the tree's frontier at each size in ``sizes``."""
    frontier = Frontier()
    snapshots: dict[int, Frontier] = {0: Frontier()} if 0 in sizes else {}
    rows = heapq.merge(*(_rows(session, kind) for kind in LOGGED), key=lambda r: r.seq)
    current = next(rows, None)
    expected = 0
    mismatched: list[tuple[_Entry, _Row]] = []
    orphans: list[_Entry] = []
    strays: list[_Row] = []
    for entry, stored_hash in _entries(session):
        if entry.seq != expected:
            if entry.seq > expected:
                last = entry.seq - 1
                span = f"#{expected}" if last == expected else f"#{expected}–#{last}"
                report.add(
                    Problem("log-gap", f"log entries {span} are missing (deleted from the log)")
                )
            else:
                report.add(Problem("log-gap", "the log repeats an entry number", entry.seq))
        expected = entry.seq + 1
        recomputed = entry_hash(entry.seq, entry.kind, entry.label, entry.body)
        if recomputed != stored_hash:
            report.add(
                Problem(
                    "log-edited",
                    f"log entry ({entry.label}) does not hash to its stored value: the log was "
                    "edited or reordered",
                    entry.seq,
                )
            )
        frontier.push(leaf(recomputed))
        if frontier.size in sizes:
            snapshots[frontier.size] = frontier.copy()
        while current is not None and current.seq < entry.seq:
            strays.append(current)
            current = next(rows, None)
        if current is not None and current.seq == entry.seq:
            report.rows += 1
            if current.kind != entry.kind or current.body != entry.body:
                mismatched.append((entry, current))
            current = next(rows, None)
            while current is not None and current.seq == entry.seq:
                report.rows += 1
                report.add(
                    Problem(
                        "inserted",
                        f"{current.describe} claims entry #{entry.seq}, which records another row",
                        entry.seq,
                        current.table,
                    )
                )
                current = next(rows, None)
        elif entry.kind in LOGGED:
            orphans.append(entry)
        else:
            report.add(
                Problem("log-edited", f"log entry of unknown kind '{entry.kind}'", entry.seq)
            )
    while current is not None:
        strays.append(current)
        current = next(rows, None)
    report.rows += len(strays)
    report.size = frontier.size
    report.root = frontier.root().hex()
    report.frontier = frontier
    _explain(report, mismatched, orphans, strays)
    return snapshots


def _explain(
    report: LogReport,
    mismatched: list[tuple[_Entry, _Row]],
    orphans: list[_Entry],
    strays: list[_Row],
) -> None:
    """Name each row that does not match its entry: moved rows first, then the rest."""
    entries_by_body: dict[tuple[str, str], int] = {}
    for entry, _ in mismatched:
        entries_by_body.setdefault((entry.kind, entry.body), entry.seq)
    for entry in orphans:
        entries_by_body.setdefault((entry.kind, entry.body), entry.seq)
    moved_entries: set[int] = set()
    for entry, row in mismatched:
        home = entries_by_body.get((row.kind, row.body))
        if home is not None and home != entry.seq:
            moved_entries.add(home)
            report.add(
                Problem(
                    "reordered",
                    f"{row.describe}, recorded at entry #{home}, now claims entry #{entry.seq}",
                    entry.seq,
                    row.table,
                )
            )
        elif row.kind != entry.kind:
            report.add(
                Problem(
                    "inserted",
                    f"{row.describe} claims entry #{entry.seq}, which records a {entry.kind} "
                    f"({entry.label})",
                    entry.seq,
                    row.table,
                )
            )
        else:
            report.add(
                Problem(
                    "altered",
                    f"{row.describe} was changed after it was recorded (entry: {entry.label})",
                    entry.seq,
                    row.table,
                )
            )
    for row in strays:
        home = entries_by_body.get((row.kind, row.body))
        if home is not None:
            moved_entries.add(home)
            report.add(
                Problem(
                    "reordered",
                    f"{row.describe}, recorded at entry #{home}, now claims entry #{row.seq}, "
                    "which the log does not hold",
                    home,
                    row.table,
                )
            )
        else:
            report.add(
                Problem(
                    "inserted",
                    f"{row.describe} claims entry #{row.seq}, which the log does not hold "
                    "(written outside the log)",
                    row.seq,
                    row.table,
                )
            )
    for entry in orphans:
        if entry.seq in moved_entries:
            continue
        report.add(
            Problem(
                "deleted",
                f"the row recorded by entry #{entry.seq} ({entry.label}) is gone",
                entry.seq,
                LOGGED[entry.kind].__tablename__,  # type: ignore[arg-type]
            )
        )
