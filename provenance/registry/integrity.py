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

This module runs the pass and compares checkpoints; :mod:`~provenance.registry.integrity_rows`
matches entries with rows, :mod:`~provenance.registry.integrity_derived` checks derived rows and
datasets, and :mod:`~provenance.registry.integrity_report` holds what is found.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import col, select

from provenance.bounded import parse_json_document
from provenance.errors import InputError, MalformedJSONError
from provenance.limits import DEFAULT_LIMITS, Limits
from provenance.registry import db
from provenance.registry.integrity_derived import check_contributions, check_datasets
from provenance.registry.integrity_report import CheckpointResult, LogReport, Problem
from provenance.registry.integrity_rows import walk_log
from provenance.registry.logtree import Checkpoint, Frontier, LogError, parse_checkpoint
from provenance.registry.signing import Accepted, RegistryTrust, claimed_time
from provenance.registry.store import Registry
from provenance.registry.tables import CheckpointRow, LogHead

__all__ = ["CheckpointResult", "LogReport", "Problem", "load_checkpoint_file", "verify_log"]


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
        frontiers = walk_log(session, report, {cp.size for _, cp, _ in parsed})
        for source, cp, keyid in parsed:
            report.checkpoints.append(_compare_checkpoint(report, source, cp, keyid, frontiers))
        head_root = Frontier.from_json(head.size, head.frontier).root().hex()
        if head.size != report.size or head_root != report.root:
            report.add(
                Problem(
                    "head",
                    f"the log head says {head.size} entries; the log holds {report.size} "
                    "with another root",
                )
            )
        check_contributions(session, report)
        check_datasets(session, report)
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


def _compare_checkpoint(
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
