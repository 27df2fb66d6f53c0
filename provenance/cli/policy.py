"""``provenance policy`` (list, show, lint, test) and ``provenance explain``.

Thin commands over :mod:`provenance.policy`: each loads what it needs through the policy loader, calls
one library function and prints the result. Errors are :class:`~provenance.errors.ProvenanceError`
subclasses, which :func:`provenance.cli.main` turns into one line and exit code 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from provenance import dsse
from provenance.cli.app import app
from provenance.cli.output import echo, emit_json, table
from provenance.errors import InputError, ProvenanceError
from provenance.manifest import Manifest, Statement
from provenance.policy.classes import ClassTally, RecordClass
from provenance.policy.engine import evaluate
from provenance.policy.loader import (
    default_policy_dir,
    lint,
    load_intent,
    load_library,
    load_lineage,
    load_org_policies,
    load_test_files,
    load_waivers,
)
from provenance.policy.model import LineageDeclaration, TermsDocument
from provenance.policy.report import Decision, Finding, MissingProvenance, PolicyReport
from provenance.policy.testing import run_tests
from provenance.sources import open_source

policy_app = typer.Typer(
    name="policy",
    help="The terms library: list, show, lint and test terms documents.",
    no_args_is_help=True,
)
app.add_typer(policy_app, name="policy")

PoliciesOption = Annotated[
    Path | None,
    typer.Option(
        "--policies",
        help="Policy directory (default: $PROVENANCE_POLICIES, else the policies/ shipped).",
    ),
]
PoliciesArgument = Annotated[
    Path | None,
    typer.Argument(help="Policy directory (default: $PROVENANCE_POLICIES, else policies/)."),
]


def _effective(doc: TermsDocument) -> str:
    until = doc.effective_until.isoformat() if doc.effective_until else "in force"
    return f"{doc.effective_from.isoformat()} → {until}"


@policy_app.command("list")
def list_documents(policies: PoliciesOption = None) -> None:
    """List the terms documents: id, provider, version, effective dates, confidence."""
    library = load_library(policies)
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


def read_manifest(record: Mapping[str, Any]) -> tuple[Manifest | None, str]:
    """The manifest a record carries, read WITHOUT checking its signature, and a status.

    Status is ``ok``, ``missing`` (no ``_provenance``) or ``malformed``. Explaining is about reading
    the decision path; ``provenance audit`` is where manifests are verified.
    """
    provenance = record.get("_provenance")
    if provenance is None:
        return None, "missing"
    try:
        if not isinstance(provenance, Mapping):
            raise InputError("_provenance is not an object")
        if "dsse" in provenance:
            envelope = provenance["dsse"]
            if not isinstance(envelope, Mapping):
                raise InputError("_provenance.dsse is not an object")
            payload = dsse.b64decode(envelope.get("payload"), "envelope payload")
        else:
            payload = dsse.b64decode(provenance.get("statement"), "batch record statement")
        statement = Statement.from_dict(json.loads(payload))
        return Manifest.from_statement(statement), "ok"
    except (ProvenanceError, ValueError):
        return None, "malformed"


def _records(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    for raw in open_source(path):
        try:
            record = json.loads(raw.data)
        except ValueError as exc:
            raise InputError(f"not valid JSON: {exc}", source=raw.source, line=raw.line) from None
        if not isinstance(record, Mapping):
            raise InputError("record is not a JSON object", source=raw.source, line=raw.line)
        yield raw.line, record


def _find_record(path: Path, record_id: str) -> tuple[Manifest | None, str]:
    for _line, record in _records(path):
        manifest, status = read_manifest(record)
        found = manifest.record_id if manifest is not None else record.get("id")
        if found == record_id:
            return manifest, status
    raise InputError(f"no record with id '{record_id}'", source=str(path))


def _dataset_classes(lineage: LineageDeclaration, base: Path) -> dict[str, tuple[RecordClass, ...]]:
    """The record classes of each declared dataset's ``files`` (relative to the lineage file)."""
    out: dict[str, tuple[RecordClass, ...]] = {}
    for dataset in lineage.datasets:
        if not dataset.files:
            continue
        tally = ClassTally()
        unsigned: list[str] = []
        for name in dataset.files:
            path = Path(name) if Path(name).is_absolute() else base / name
            for line, record in _records(path):
                manifest, _status = read_manifest(record)
                if manifest is not None:
                    tally.add(manifest)
                else:
                    unsigned.append(str(record.get("id", f"{path}:{line}")))
        classes = tally.classes()
        if unsigned:
            # Records nobody signed are part of the dataset too: their origin is unknown.
            classes += (RecordClass.unattributed(len(unsigned), unsigned),)
        out[dataset.name] = classes
    return out


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
    record_id: str, record_class: RecordClass | None, status: str, report: PolicyReport
) -> None:
    if record_class is None:
        echo(f"record {record_id}: no readable manifest ({status})")
    else:
        echo(f"record {record_id}  (class {record_class.id}; manifest read, signature not checked)")
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
    data: Annotated[Path, typer.Option("--data", help="JSONL file holding the record.")],
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
) -> None:
    """Show how every terms document reaching one record judges it, with paths and clauses."""
    planned = load_intent(intent)
    library = load_library(policies)
    declaration = load_lineage(lineage) if lineage is not None else None
    dataset_classes = (
        _dataset_classes(declaration, lineage.parent)
        if declaration is not None and lineage is not None
        else None
    )
    manifest, status = _find_record(data, record_id)
    record_class = RecordClass.of(manifest) if manifest is not None else None
    report = evaluate(
        () if record_class is None else (record_class,),
        library,
        planned,
        declaration,
        load_waivers(waivers) if waivers is not None else (),
        load_org_policies(org_policies) if org_policies is not None else (),
        missing=() if manifest is not None else (MissingProvenance(status, 1, (record_id,)),),
        dataset_classes=dataset_classes,
    )
    if as_json:
        emit_json(report.to_dict())
        return
    _print_explanation(record_id, record_class, status, report)
