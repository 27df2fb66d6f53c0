"""``provenance reaudit``: judge the audits recorded in the registry again, against the terms
library of today (or ``--library DIR``), from what each recorded audit judged — no data is read.

It says, per recorded audit, whether the outcome changed and, per terms document whose decision
changed, the clause responsible; ``--record`` stores each re-judgement in the registry's log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from provenance.cli.app import app
from provenance.cli.audit import FailOnOption, fail_on_level
from provenance.cli.options import OrgPoliciesOption, WaiversOption
from provenance.cli.output import write_output
from provenance.cli.registry_options import DbOption, check_format, is_day, open_registry
from provenance.errors import InputError, ProvenanceError
from provenance.text import count

if TYPE_CHECKING:
    from provenance.auditor.reaudit import Rejudgement
    from provenance.auditor.run import AuditInputs
    from provenance.registry.tables import AuditInputsRow, AuditRunRow

SCHEMA = "provenance/reaudit/v1"
NO_CLASSES = "recorded without its record classes"


@app.command()
def reaudit(
    since: Annotated[
        str | None,
        typer.Option(help="Only audits recorded on or after this day (YYYY-MM-DD)."),
    ] = None,
    library: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Terms library to judge with (default: the library every command uses).",
        ),
    ] = None,
    org_policies: OrgPoliciesOption = None,
    waivers: WaiversOption = None,
    record: Annotated[
        bool,
        typer.Option("--record", help="Store each re-judgement in the registry's log."),
    ] = False,
    format: Annotated[
        str, typer.Option(metavar="text|json|markdown", help="How to write the result.")
    ] = "text",
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the result here instead of standard output."),
    ] = None,
    fail_on: FailOnOption = "review",
    db: DbOption = None,
) -> None:
    """Judge recorded audits again against the terms library of today, from what was
    recorded: which outcomes change, and by which clause.

    Exit 0 when no recorded outcome got more severe, 1 when one did and reaches --fail-on
    (allow became review or deny, review became deny), 2 no verdict.
    """
    check_format(format, ("text", "json", "markdown"))
    level = fail_on_level(fail_on)
    if since is not None and not is_day(since):
        raise InputError(f"--since '{since}' is not a date (YYYY-MM-DD)")
    from provenance.auditor.reaudit import load_judging

    judging = load_judging(policies=library, org_policies=org_policies, waivers=waivers)
    with open_registry(db) as registry:
        runs = registry.recorded_audits(since)
        entries = [_entry(run, inputs, judging) for run, inputs in runs]
        result = _result(judging, since, [e for e, _ in entries])
        if record:
            rows = [_row(e, judging) for e, judged in entries if judged is not None]
            result["recorded"] = registry.record_reaudits(rows) if rows else []
    fails = any(j is not None and j.fails(level) for _, j in entries)
    result["verdict"] = "fail" if fails else "pass"
    text = {"text": _text, "markdown": _markdown}.get(format)
    rendered = (
        json.dumps(result, indent=2, ensure_ascii=False) + "\n" if text is None else text(result)
    )
    write_output(rendered, output, f"{result['verdict']}: re-audit written")
    raise typer.Exit(1 if fails else 0)


def _entry(
    run: AuditRunRow, inputs: AuditInputsRow | None, judging: AuditInputs
) -> tuple[dict[str, Any], Rejudgement | None]:
    from provenance.auditor.judged import JudgementInputs
    from provenance.auditor.reaudit import rejudge

    entry: dict[str, Any] = {
        "log_seq": run.log_seq,
        "recorded_at": run.recorded_at,
        "target": run.target,
        "dataset_digest": run.dataset_digest,
        "report_digest": run.report_digest,
        "before": run.outcome,
    }
    if inputs is None:
        return {**entry, "status": "cannot-rejudge", "reason": NO_CLASSES}, None
    try:
        recorded = JudgementInputs.from_dict(json.loads(inputs.inputs))
        judged = rejudge(json.loads(run.report), recorded, judging)
    except (ProvenanceError, ValueError) as exc:
        reason = exc.message if isinstance(exc, ProvenanceError) else str(exc)
        return {**entry, "status": "cannot-rejudge", "reason": reason}, None
    entry.update(
        {
            "status": "changed" if judged.changed else "unchanged",
            "before": judged.before,
            "after": judged.after,
            "tightened": judged.tightened,
            "classes": len(recorded.classes),
            "changes": [c.to_dict() for c in judged.changes],
            "stale_waivers": list(judged.stale_waivers),
        }
    )
    return entry, judged


def _result(
    judging: AuditInputs, since: str | None, entries: list[dict[str, Any]]
) -> dict[str, Any]:
    origin = judging.library.origin
    from provenance.auditor.reaudit import waiver_name

    judged = [e for e in entries if e["status"] != "cannot-rejudge"]
    stale = [
        name
        for name in (waiver_name(w.to_dict()) for w in judging.waivers)
        if all(name in e["stale_waivers"] for e in judged)
    ]
    return {
        "schema": SCHEMA,
        "library": None if origin is None else origin.to_dict(),
        "org_policies": [d.id for d in judging.org_policies],
        "waivers": [w.to_dict() for w in judging.waivers],
        "since": since,
        "counts": {
            "audits": len(entries),
            "changed": sum(e["status"] == "changed" for e in entries),
            "unchanged": sum(e["status"] == "unchanged" for e in entries),
            "cannot_rejudge": sum(e["status"] == "cannot-rejudge" for e in entries),
            "tightened": sum(bool(e.get("tightened")) for e in entries),
        },
        "audits": entries,
        "stale_waivers": stale,
    }


def _row(entry: dict[str, Any], judging: AuditInputs) -> dict[str, Any]:
    from provenance import __version__, canonical

    origin = judging.library.origin
    changes = {
        "changes": entry["changes"],
        "stale_waivers": entry["stale_waivers"],
        "org_policies": [d.id for d in judging.org_policies],
        "waivers": [w.to_dict() for w in judging.waivers],
        "target": entry["target"],
        "dataset_digest": entry["dataset_digest"],
    }
    return {
        "audit_seq": entry["log_seq"],
        "report_digest": entry["report_digest"],
        "tool_version": __version__,
        "library_digest": None if origin is None else origin.digest,
        "library": canonical.canonicalize(None if origin is None else origin.to_dict()).decode(),
        "outcome_before": entry["before"],
        "outcome_after": entry["after"],
        "changes": canonical.canonicalize(changes).decode("utf-8"),
    }


def _audit_name(entry: dict[str, Any]) -> str:
    return f"audit #{entry['log_seq']} of {entry['target']}, dataset {entry['dataset_digest']}"


def _clause_text(change: dict[str, Any]) -> str:
    clause = change["clause"]
    parts = [f"clause {clause.get('clause') or '(the document as a whole)'}"]
    cited = ", ".join(str(clause[k]) for k in ("section", "citation") if clause.get(k))
    if cited:
        parts.append(f"({cited})")
    if change["generators"]:
        parts.append("for " + "; ".join(change["generators"]))
    return " ".join(parts)


def _text(result: dict[str, Any]) -> str:
    library = result["library"] or {}
    counts = result["counts"]
    lines = [
        f"re-audited {count(counts['audits'], 'recorded audit')} against the terms library "
        f"{library.get('digest', '(unknown)')} ({library.get('source', 'unknown')})"
    ]
    for entry in result["audits"]:
        if entry["status"] == "changed":
            lines.append(f"changed: {_audit_name(entry)}: {entry['before']} → {entry['after']}")
            for change in entry["changes"]:
                lines.append(
                    f"  {change['terms']}: {change['before'] or 'not reached'} → "
                    f"{change['after'] or 'not reached'}, {_clause_text(change)}"
                )
        elif entry["status"] == "cannot-rejudge":
            lines.append(f"cannot be re-judged: {_audit_name(entry)}: {entry['reason']}")
    lines.append(f"unchanged: {count(counts['unchanged'], 'audit')}")
    for name in result["stale_waivers"]:
        lines.append(f"waiver {name} matches nothing now")
    recorded = result.get("recorded")
    if recorded:
        lines.append(
            f"recorded {count(len(recorded), 're-audit')} (log entries #{recorded[0]}–"
            f"#{recorded[-1]})"
        )
    return "\n".join(lines) + "\n"


def _markdown(result: dict[str, Any]) -> str:
    library = result["library"] or {}
    counts = result["counts"]
    lines = [
        "# Re-audit",
        "",
        f"Terms library `{library.get('digest', '(unknown)')}` "
        f"({library.get('source', 'unknown')}): {count(counts['audits'], 'recorded audit')}, "
        f"{counts['changed']} changed, {counts['unchanged']} unchanged, "
        f"{counts['cannot_rejudge']} cannot be re-judged.",
        "",
        "| audit | target | dataset | before | after | terms | clause |",
        "|---|---|---|---|---|---|---|",
    ]
    for entry in result["audits"]:
        head = f"| #{entry['log_seq']} | {entry['target']} | `{entry['dataset_digest']}` "
        if entry["status"] == "cannot-rejudge":
            lines.append(
                head + f"| {entry['before']} | — | cannot be re-judged: {entry['reason']} | |"
            )
            continue
        changes = entry["changes"] or [None]
        for change in changes:
            terms = (
                "unchanged"
                if change is None
                else (f"{change['terms']}: {change['before'] or '—'} → {change['after'] or '—'}")
            )
            clause = "" if change is None else _clause_text(change)
            lines.append(head + f"| {entry['before']} | {entry['after']} | {terms} | {clause} |")
    for name in result["stale_waivers"]:
        lines += ["", f"Waiver {name} matches nothing now."]
    recorded = result.get("recorded")
    if recorded:
        lines += ["", f"Recorded {count(len(recorded), 're-audit')} in the registry's log."]
    return "\n".join(lines) + "\n"
