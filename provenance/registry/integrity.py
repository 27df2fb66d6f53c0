"""``provenance log verify``: is the store what its log, and a saved checkpoint, say it is?

One pass over a consistent snapshot of the database:

* every log entry's hash is recomputed from its fields (an entry edited in place is named), the
  entries must be numbered without a gap (entries deleted from the log are named by number), and
  the Merkle tree is rebuilt from the recomputed hashes;
* every evidence row is matched with the entry its ``log_seq`` names and its body hash recomputed:
  a row whose content changed is *altered*, an entry whose row is gone is *deleted*, a row that
  now claims another row's entry is *reordered*, a row no entry recorded was *inserted*;
* derived rows (contributions) are recomputed from their signed manifests, and each dataset's
  members must rebuild its ``dataset_digest``;
* against a checkpoint (signed, of this registry): a log shorter than the checkpoint was *rolled
  back*; a log whose first ``size`` entries no longer hash to the checkpoint's root was rewritten,
  and the checkpoint's subtree roots place the change in a range of entries. Checkpoints stored in
  the database are checked the same way (a signed one cannot be forged without the key);
* on SQLite, ``PRAGMA integrity_check``.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, func, text
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from provenance import merkle
from provenance.bounded import parse_json_document
from provenance.errors import InputError, MalformedJSONError, ProvenanceError
from provenance.limits import DEFAULT_LIMITS, Limits
from provenance.registry import db
from provenance.registry import manifests as stored
from provenance.registry.logtree import (
    Checkpoint,
    Frontier,
    LogError,
    body_hash,
    entry_hash,
    leaf,
    parse_checkpoint,
)
from provenance.registry.signing import Accepted, RegistryTrust, claimed_time
from provenance.registry.store import Registry
from provenance.registry.tables import (
    LOGGED,
    CheckpointRow,
    ContributionRow,
    DatasetRow,
    LogEntry,
    LogHead,
    ManifestRow,
    MemberRow,
    body_columns,
)

MAX_LISTED = 200
"""Problems listed in full; the rest are counted."""
_YIELD = 5000


@dataclass(frozen=True)
class Problem:
    kind: str
    """``altered``, ``deleted``, ``reordered``, ``inserted``, ``log-edited``, ``log-gap``,
    ``rolled-back``, ``diverged``, ``derived``, ``dataset``, ``checkpoint``, ``head``,
    ``integrity``."""
    message: str
    seq: int | None = None
    table: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "seq": self.seq, "table": self.table, "message": self.message}


@dataclass(frozen=True)
class CheckpointResult:
    source: str
    size: int
    root: str
    signer: str | None
    consistent: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "tree_size": self.size,
            "root": self.root,
            "signer": self.signer,
            "consistent": self.consistent,
        }


@dataclass
class LogReport:
    origin: str
    size: int = 0
    root: str = ""
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0
    checkpoints: list[CheckpointResult] = field(default_factory=list)
    rows: int = 0
    frontier: Frontier | None = None
    """The tree rebuilt from the recomputed entry hashes (what a new checkpoint signs)."""
    trust_source: str = ""
    """Which keys checkpoint signatures were accepted from, and by which rule."""

    @property
    def ok(self) -> bool:
        return not self.problems and not self.more_problems

    def add(self, problem: Problem) -> None:
        if len(self.problems) < MAX_LISTED:
            self.problems.append(problem)
        else:
            self.more_problems += 1

    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "origin": self.origin,
            "tree_size": self.size,
            "root": self.root,
            "rows": self.rows,
            "checkpoints": [c.to_dict() for c in self.checkpoints],
            "trust": self.trust_source,
            "problems": [p.to_dict() for p in self.problems],
            "problems_not_listed": self.more_problems,
        }

    def lines(self) -> list[str]:
        out = [
            f"log: {self.size} entries, root {self.root}, {self.rows} evidence rows "
            f"(registry {self.origin})"
        ]
        if self.checkpoints and self.trust_source:
            out.append(f"checkpoint signatures checked against {self.trust_source}")
        for c in self.checkpoints:
            state = "consistent" if c.consistent else "NOT consistent"
            signer = f"signed by {c.signer}" if c.signer else "signature not verified"
            out.append(
                f"checkpoint {c.source}: size {c.size}, root {c.root[:16]}…, {signer}: {state}"
            )
        for p in self.problems:
            where = f"#{p.seq} " if p.seq is not None else ""
            out.append(f"{p.kind}: {where}{p.message}")
        if self.more_problems:
            out.append(f"… and {self.more_problems} more problems")
        out.append("ok: the store matches its log" if self.ok else "FAILED: the store was changed")
        return out


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


def verify_log(
    registry: Registry,
    *,
    checkpoint: Checkpoint | None = None,
    keys: RegistryTrust | None = None,
    checkpoint_source: str = "file",
) -> LogReport:
    """Check the whole store against its log and, when given, a checkpoint. Checkpoint signatures
    are accepted from ``keys`` (see :class:`RegistryTrust`); without, they are not checked."""
    with db.read_session(registry.engine) as session:
        head = session.exec(select(LogHead).where(col(LogHead.id) == 1)).one()
        report = LogReport(head.origin)
        if keys is not None:
            report.trust_source = keys.rule
        stored_cps = list(session.exec(select(CheckpointRow).order_by(col(CheckpointRow.id))).all())
        parsed: list[tuple[str, Checkpoint, str | None]] = []
        if checkpoint is not None:
            accepted = _accepted(checkpoint, keys)
            signer = None if accepted is None else accepted.key
            parsed.append((checkpoint_source, checkpoint, None if signer is None else signer.keyid))
            if accepted is not None and signer is None:
                report.add(Problem("checkpoint", _refused("the checkpoint", accepted.problem)))
            if checkpoint.origin != head.origin:
                report.add(
                    Problem(
                        "checkpoint",
                        f"the checkpoint is of registry {checkpoint.origin}, this is {head.origin}",
                    )
                )
        for row in stored_cps:
            try:
                cp = parse_checkpoint(
                    parse_json_document(row.envelope, f"stored checkpoint {row.id}"),
                    f"stored checkpoint {row.id}",
                )
            except (LogError, MalformedJSONError) as exc:
                report.add(
                    Problem(
                        "checkpoint", f"stored checkpoint {row.id} is unreadable: {exc.message}"
                    )
                )
                continue
            accepted = _accepted(cp, keys)
            signer = None if accepted is None else accepted.key
            if accepted is not None and signer is None:
                report.add(
                    Problem("checkpoint", _refused(f"stored checkpoint {row.id}", accepted.problem))
                )
                continue
            if cp.origin == head.origin:
                parsed.append((f"stored #{row.id}", cp, None if signer is None else signer.keyid))
        frontiers = _walk(session, report, {cp.size for _, cp, _ in parsed})
        for source, cp, keyid in parsed:
            report.checkpoints.append(_against(report, source, cp, keyid, frontiers))
        head_root = Frontier.from_json(head.size, head.frontier).root().hex()
        if head.size != report.size or head_root != report.root:
            report.add(
                Problem(
                    "head",
                    f"the log head says {head.size} entries; the log holds {report.size} "
                    "with another root",
                )
            )
        _check_contributions(session, report)
        _check_datasets(session, report)
        if registry.is_sqlite:
            result = [r[0] for r in session.execute(text("PRAGMA integrity_check"))]
            if result != ["ok"]:
                report.add(Problem("integrity", "SQLite integrity_check: " + "; ".join(result[:5])))
    return report


def _accepted(checkpoint: Checkpoint, keys: RegistryTrust | None) -> Accepted | None:
    """Whether ``keys`` accept the checkpoint's signature, judged at the time it claims; None when
    no keys are given (signatures not checked)."""
    if keys is None:
        return None
    return keys.check(checkpoint.envelope, "checkpoints", claimed_time(checkpoint.created_at))


def _refused(what: str, problem: str | None) -> str:
    if problem == "no valid signature by a trusted key" or problem is None:
        return f"{what}'s signature is not by a trusted key"
    return f"{what}'s signature is not accepted: {problem}"


# ---- entries and rows ----------------------------------------------------------------------


def _entries(session: Session) -> Iterator[tuple[_Entry, str]]:
    query = sa_select(
        col(LogEntry.seq),
        col(LogEntry.kind),
        col(LogEntry.label),
        col(LogEntry.body_hash),
        col(LogEntry.entry_hash),
    ).order_by(col(LogEntry.seq))
    for seq, kind, label, body, stored_hash in session.execute(
        query.execution_options(yield_per=_YIELD)
    ):
        yield _Entry(int(seq), kind, label, body), stored_hash


def _rows(session: Session, kind: str) -> Iterator[_Row]:
    model = LOGGED[kind]
    table: Table = model.__table__  # type: ignore[attr-defined]
    columns = body_columns(model)
    query = sa_select(table.c.log_seq, *(table.c[c] for c in columns)).order_by(table.c.log_seq)
    for row in session.execute(query.execution_options(yield_per=_YIELD)):
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
    return f"terms document {body['doc_id']}"


def _walk(session: Session, report: LogReport, sizes: set[int]) -> dict[int, Frontier]:
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


def _against(
    report: LogReport,
    source: str,
    checkpoint: Checkpoint,
    signer: str | None,
    frontiers: dict[int, Frontier],
) -> CheckpointResult:
    if checkpoint.size > report.size:
        report.add(
            Problem(
                "rolled-back",
                f"checkpoint {source} covers {checkpoint.size} entries but the log holds "
                f"{report.size}: entries #{report.size}–#{checkpoint.size - 1} are gone "
                "(an older copy of the database was restored, or the log was cut)",
            )
        )
        return CheckpointResult(source, checkpoint.size, checkpoint.root, signer, False)
    ours = frontiers.get(checkpoint.size)
    if ours is None:
        return CheckpointResult(source, checkpoint.size, checkpoint.root, signer, False)
    if ours.root().hex() == checkpoint.root:
        return CheckpointResult(source, checkpoint.size, checkpoint.root, signer, True)
    where = ""
    mine = {(s, w): h.hex() for s, w, h in ours.subtrees()}
    for start, width, value in checkpoint.subtrees:
        if mine.get((start, width)) != value:
            where = f" within entries #{start}–#{start + width - 1}"
            break
    report.add(
        Problem(
            "diverged",
            f"the first {checkpoint.size} log entries no longer hash to checkpoint {source}'s "
            f"root{where}: rows and log were rewritten together, or a different copy of the "
            "registry was restored",
        )
    )
    return CheckpointResult(source, checkpoint.size, checkpoint.root, signer, False)


# ---- derived rows and datasets -------------------------------------------------------------


_CONTRIBUTION_FIELDS = (
    "position",
    "record_id",
    "content_digest",
    "pointer",
    "role",
    "provider",
    "model",
    "model_returned",
    "service",
    "terms_id",
    "terms_digest",
    "generated_at",
    "generated_day",
    "organization",
)


def _check_contributions(session: Session, report: LogReport) -> None:
    batch: list[tuple[str, str]] = []

    def flush() -> None:
        digests = [d for d, _ in batch]
        found: dict[str, list[tuple[Any, ...]]] = {}
        for row in session.exec(
            select(ContributionRow).where(col(ContributionRow.envelope_digest).in_(digests))
        ).all():
            found.setdefault(row.envelope_digest, []).append(
                tuple(getattr(row, f) for f in _CONTRIBUTION_FIELDS)
            )
        for digest, prov_text in batch:
            try:
                manifest = stored.manifest_of(json.loads(prov_text))
                expected = sorted(
                    tuple(r[f] for f in _CONTRIBUTION_FIELDS)
                    for r in stored.contribution_rows(manifest, digest)
                )
            except (ProvenanceError, ValueError):
                report.add(
                    Problem(
                        "derived", f"manifest {digest[:16]}… no longer parses", table="manifests"
                    )
                )
                continue
            if sorted(found.get(digest, [])) != expected:
                report.add(
                    Problem(
                        "derived",
                        f"the contributions of manifest {digest[:16]}… differ from what it signs",
                        table="contributions",
                    )
                )
        batch.clear()

    query = sa_select(col(ManifestRow.envelope_digest), col(ManifestRow.provenance)).order_by(
        col(ManifestRow.id)
    )
    for digest, prov_text in session.execute(query.execution_options(yield_per=1000)):
        batch.append((digest, prov_text))
        if len(batch) >= 500:
            flush()
    if batch:
        flush()
    orphans = session.execute(
        sa_select(func.count()).where(
            col(ContributionRow.envelope_digest).not_in(sa_select(col(ManifestRow.envelope_digest)))
        )
    ).scalar_one()
    if orphans:
        report.add(
            Problem(
                "derived",
                f"{orphans} contribution row(s) belong to no stored manifest",
                table="contributions",
            )
        )


def _check_datasets(session: Session, report: LogReport) -> None:
    datasets = session.exec(select(DatasetRow).order_by(col(DatasetRow.log_seq))).all()
    checked: dict[str, tuple[int, str]] = {}
    for dataset in datasets:
        digest = dataset.dataset_digest
        if digest not in checked:
            frontier = Frontier()
            problem = ""
            query = (
                sa_select(col(MemberRow.position), col(MemberRow.content_digest))
                .where(col(MemberRow.dataset_digest) == digest)
                .order_by(col(MemberRow.position))
            )
            for position, content in session.execute(query.execution_options(yield_per=_YIELD)):
                if position != frontier.size and not problem:
                    problem = f"member {frontier.size} is missing"
                try:
                    frontier.push(merkle.leaf_hash(bytes.fromhex(content)))
                except ValueError:
                    problem = problem or f"member {position} has no valid content digest"
            checked[digest] = (
                frontier.size,
                problem
                or (
                    ""
                    if "sha256:" + frontier.root().hex() == digest
                    else "its members do not rebuild its digest"
                ),
            )
        size, problem = checked[digest]
        if not problem and size != dataset.records:
            problem = f"it has {size} members, registered with {dataset.records}"
        if problem:
            report.add(
                Problem(
                    "dataset",
                    f"dataset {dataset.name} ({digest[:19]}…): {problem}",
                    dataset.log_seq,
                    "datasets",
                )
            )


def load_checkpoint_file(path: str, limits: Limits = DEFAULT_LIMITS) -> Checkpoint:
    """Read a checkpoint file written by ``provenance log checkpoint``, bounded like every JSON
    document (:func:`provenance.bounded.parse_json_document`). A file that cannot be read as a
    checkpoint gives no verdict (:class:`InputError`, exit 2)."""
    try:
        with open(path, "rb") as handle:
            # One byte past the bound: a file growing while read (or a FIFO) stays bounded.
            raw = handle.read(limits.max_document_bytes + 1)
    except OSError as exc:
        raise InputError(f"cannot read the checkpoint ({exc.strerror})", source=path) from exc
    try:
        data = parse_json_document(raw, "the checkpoint", limits)
    except MalformedJSONError as exc:
        raise InputError(f"not a checkpoint: {exc.message}", source=path) from None
    try:
        return parse_checkpoint(data, "the checkpoint")
    except LogError as exc:
        raise InputError(exc.message, source=path) from None
