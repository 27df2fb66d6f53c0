"""``provenance policy`` (list, show, lint, test) and ``provenance explain``.

Thin commands over :mod:`provenance.policy`: each loads what it needs through the policy loader, calls
one library function and prints the result. Errors are :class:`~provenance.errors.ProvenanceError`
subclasses, which :func:`provenance.cli.main` turns into one line and exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from provenance.cli.app import app, command_group
from provenance.cli.audit import FailOnOption, fail_on_level
from provenance.cli.output import echo, emit_json, table
from provenance.errors import InputError, MalformedJSONError

if TYPE_CHECKING:
    from provenance.policy.classes import RecordClass
    from provenance.policy.report import Decision, Finding, PolicyReport
    from provenance.policy.terms import TermsDocument
    from provenance.verify import RecordResult, Verifier

policy_app = command_group(
    name="policy",
    help="The terms library: list, show, lint, test, compare, sign and update it.",
    no_args_is_help=True,
)
app.add_typer(policy_app, name="policy")

PoliciesOption = Annotated[
    Path | None,
    typer.Option(
        "--policies",
        help="Policy directory (default: $PROVENANCE_POLICIES, else the project's "
        ".provenance/policies/, else the library shipped).",
    ),
]
PoliciesArgument = Annotated[
    Path | None,
    typer.Argument(
        help="Policy directory (default: $PROVENANCE_POLICIES, else the project's "
        ".provenance/policies/, else the library shipped)."
    ),
]


def _effective(doc: TermsDocument) -> str:
    until = doc.effective_until.isoformat() if doc.effective_until else "in force"
    return f"{doc.effective_from.isoformat()} → {until}"


@policy_app.command("list")
def list_documents(policies: PoliciesOption = None) -> None:
    """List the terms documents: id, provider, version, effective dates, confidence."""
    from provenance.policy.loader import default_policy_dir, load_library

    library = load_library(policies)
    if library.origin is not None:
        # On stderr, so that the table on stdout stays one header line and rows for scripts.
        echo(f"terms library: {library.origin.path} ({library.origin.digest})", err=True)
    if not len(library):
        echo(f"no terms documents in {policies or default_policy_dir()}")
        return
    rows = [
        (doc.id, doc.provider, doc.version, _effective(doc), doc.confidence)
        for doc in library.documents
    ]
    table(("id", "provider", "version", "effective", "confidence"), rows)


@policy_app.command("show")
def show_document(
    terms_id: Annotated[
        str,
        typer.Argument(metavar="ID", help="Document id; a family name shows its latest version."),
    ],
    policies: PoliciesOption = None,
) -> None:
    """Show one terms document: its clauses with section, paraphrase and citation."""
    from provenance.policy.loader import load_library

    doc = load_library(policies).require(terms_id)
    echo(f"{doc.id} — {doc.title}")
    echo(
        f"provider: {doc.provider}   binds: {doc.binds}   effective: {_effective(doc)}   "
        f"confidence: {doc.confidence}"
    )
    echo(f"source: {doc.source}")
    if doc.summary:
        echo(doc.summary)
    for clause in doc.clauses:
        echo("")
        passes = "   passes to derivatives" if clause.passes_to_derivatives else ""
        confidence = f"   confidence: {clause.confidence}" if clause.confidence else ""
        echo(f"{clause.section}  {clause.id}   effect: {clause.effect}{passes}{confidence}")
        echo(f"  {clause.paraphrase}")
        echo(f"  when: {clause.when.describe()}")
        for obligation in clause.obligations:
            echo(f"  obligation: {obligation.describe()}")
        if clause.settles:
            echo(f"  settles: {clause.settles}")
        echo(f"  citation: {clause.citation}")


@policy_app.command("lint")
def lint_directory(directory: PoliciesArgument = None) -> None:
    """Validate every terms document, catalog and policy test file (exit 0, or 2 on a problem)."""
    from provenance.policy.loader import lint

    result = lint(directory)
    for problem in result.problems:
        echo(problem.diagnostics(), err=True)
    summary = ", ".join(
        f"{count} {name}{'' if count == 1 else 's'}"
        for count, name in (
            (result.documents, "terms document"),
            (result.catalogs, "catalog file"),
            (result.tests, "test file"),
        )
    )
    if result.problems:
        echo(f"{len(result.problems)} problems in {summary}", err=True)
        raise typer.Exit(2)
    echo(f"ok: {summary}")


@policy_app.command("test")
def run_policy_tests(directory: PoliciesArgument = None) -> None:
    """Run the shipped policy test cases (exit 0 all pass, 1 a case fails, 2 invalid files)."""
    from provenance.policy.loader import load_library, load_test_files
    from provenance.policy.testing import run_tests

    library = load_library(directory)
    results = run_tests(library, load_test_files(directory))
    failed = [r for r in results if not r.passed]
    for result in results:
        mark = "PASS" if result.passed else "FAIL"
        echo(f"{mark}  {result.terms}: {result.name}")
        for problem in result.problems:
            echo(f"      {problem}")
    echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)


# -- explain -------------------------------------------------------------------------------------


def _find_record(paths: list[Path], record_id: str, verifier: Verifier) -> RecordResult:
    """The verified result of the record whose manifest subject (or ``id`` field) is
    ``record_id``; an error naming the files when there is none."""
    from provenance import canonical
    from provenance.sources.chunks import read_chunks
    from provenance.sources.jsonl import JsonlSource

    for path in paths:
        for chunk in read_chunks(path) if JsonlSource.accepts(path) else ():
            for raw in chunk.records():
                try:
                    record, digest = canonical.parse_and_digest(raw.data)
                except MalformedJSONError as exc:
                    raise exc.at(raw.source, raw.line) from None
                result = verifier.verify_parsed(raw, record, digest)
                found = result.record_id or record.get("id")
                if found is not None and str(found) == record_id:
                    return result
    raise InputError(f"no record with id '{record_id}'", source=", ".join(map(str, paths)))


def _print_finding(finding: Finding) -> None:
    clause = finding.clause
    head = f"{clause.section} {clause.clause}" if clause else (finding.rule or "document")
    waived = ""
    if finding.waived_by is not None:
        waived = f"   (waived {finding.original_outcome}: {finding.waived_by.owner})"
    echo(f"  {finding.outcome:<7} {head}{waived}")
    echo(f"          path:     {finding.path}")
    echo(f"          why:      {finding.reason}")
    if finding.settles:
        echo(f"          settles:  {', '.join(finding.settles)}")
    for obligation in finding.obligations:
        note = f" — {obligation.note}" if obligation.note else ""
        echo(f"          owes:     {obligation.describe()}{note}")
    if clause is not None:
        echo(f"          citation: {clause.citation}")
    if finding.waived_by is not None:
        echo(f"          waiver:   {finding.waived_by.reason} (until {finding.waived_by.expires})")


def _print_decision(decision: Decision) -> None:
    title = f"  {decision.title}" if decision.title else ""
    echo(f"{decision.outcome:<7} {decision.terms}{title}")
    for finding in decision.findings:
        _print_finding(finding)


def _print_explanation(
    record_id: str, record_class: RecordClass | None, result: RecordResult, report: PolicyReport
) -> None:
    if record_class is None:
        reason = f": {result.reason}" if result.reason else ""
        echo(f"record {record_id}: no verified manifest ({result.status.value}{reason})")
    else:
        echo(f"record {record_id}  (class {record_class.id}; signed by '{result.signer}')")
        for part in record_class.contributions:
            echo(f"  {part.pointer or 'record':<10} {part.describe()}")
        if record_class.parents:
            echo(f"  made from: {', '.join(record_class.parents)}")
    intent = report.intent
    echo(
        f"intent: {intent.target.name}, {intent.activity}, {intent.distribution}, "
        f"{'commercial' if intent.commercial else 'non-commercial'}, on {intent.date}"
    )
    echo(f"decision: {report.outcome}")
    for decision in report.decisions:
        echo("")
        _print_decision(decision)
    for status_item in report.waivers:
        if status_item.state != "applied":
            waiver = status_item.waiver
            echo(
                f"\nwaiver {status_item.state}: {waiver.terms} {waiver.clause or ''} "
                f"({waiver.owner}, expires {waiver.expires})"
            )


@app.command("explain")
def explain(
    record_id: Annotated[str, typer.Argument(help="Id of the record (its manifest subject).")],
    intent: Annotated[Path, typer.Option("--intent", help="The planned run (intent.yaml).")],
    data: Annotated[Path, typer.Option("--data", help="JSONL file or folder holding the record.")],
    lineage: Annotated[
        Path | None, typer.Option("--lineage", help="Lineage declarations (lineage.yaml).")
    ] = None,
    policies: PoliciesOption = None,
    org_policies: Annotated[
        Path | None, typer.Option("--org-policies", help="Directory of organisation policies.")
    ] = None,
    waivers: Annotated[Path | None, typer.Option("--waivers", help="Waivers file.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the decision model as JSON.")
    ] = False,
    trust: Annotated[
        Path | None, typer.Option(help="Trust store (default: the project's).")
    ] = None,
    fail_on: FailOnOption = "review",
) -> None:
    """Show how every terms document reaching one record judges it, with paths and clauses.

    The record's manifest is verified first (signature, trusted signer, content digest); a record
    that does not verify is judged as missing provenance.

    Exit 0 pass, 1 fail (the decision at or above --fail-on, as for audit), 2 no verdict.
    """
    from provenance import project
    from provenance.auditor import dataset_classes, load_inputs, verdict_of
    from provenance.policy.classes import RecordClass
    from provenance.policy.engine import evaluate
    from provenance.policy.report import MissingProvenance
    from provenance.sources import expand_paths
    from provenance.verify import Status, Verifier

    level = fail_on_level(fail_on)
    inputs = load_inputs(
        intent, lineage=lineage, policies=policies, org_policies=org_policies, waivers=waivers
    )
    verifier = Verifier(project.load_trust(trust))
    result = _find_record(expand_paths([str(data)]), record_id, verifier)
    record_class = RecordClass.of(result.manifest) if result.manifest is not None else None
    status = "missing" if result.status is Status.MISSING_MANIFEST else result.status.value
    report = evaluate(
        () if record_class is None else (record_class,),
        inputs.library,
        inputs.intent,
        inputs.lineage,
        inputs.waivers,
        inputs.org_policies,
        missing=() if record_class is not None else (MissingProvenance(status, 1, (record_id,)),),
        dataset_classes=dataset_classes(inputs, verifier),
    )
    if as_json:
        emit_json(report.to_dict())
    else:
        _print_explanation(record_id, record_class, result, report)
    raise typer.Exit(0 if verdict_of(report.outcome, level) == "pass" else 1)


from provenance.cli import policy_diff  # noqa: E402, F401  (registers "policy diff")

from provenance.cli import policy_update  # noqa: E402, F401  # isort: skip (registers "policy info", "sign", "update")
