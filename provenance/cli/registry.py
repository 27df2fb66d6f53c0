"""``provenance ingest``, ``trace``, ``query``, ``summary`` and ``db``, and recording an audit
run: the evidence registry's commands. ``evidence``, ``log`` and ``lineage`` have modules of their
own, registered from here."""

from __future__ import annotations

import csv
import hashlib
import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from provenance.cli import evidence, lineage, log
from provenance.cli.app import app, command_group
from provenance.cli.options import FollowLinksOption, data_paths
from provenance.cli.output import echo, emit_json, table, write_output
from provenance.cli.registry_options import (
    DbOption,
    PoliciesOption,
    TrustOption,
    check_format,
    is_day,
    open_registry,
    terms_resolver,
)
from provenance.errors import InputError
from provenance.text import count

if TYPE_CHECKING:
    from provenance.auditor import AuditInputs, AuditReport
    from provenance.auditor.judged import JudgementInputs

# Sub-command modules register themselves on import; the names keep the imports used.
_REGISTERED = (evidence, lineage, log)

# ---- ingest ----------------------------------------------------------------------------------


@app.command()
def ingest(
    data: Annotated[list[str], typer.Argument(help="Files, globs or directories of signed data.")],
    name: Annotated[
        str | None, typer.Option("--name", help="Dataset name (default: the input's file name).")
    ] = None,
    trust: TrustOption = None,
    allow_failures: Annotated[
        bool,
        typer.Option(
            "--allow-failures",
            help="Register records that fail verification, with their status and no manifest.",
        ),
    ] = False,
    workers: Annotated[int | None, typer.Option(help="Worker processes for verification.")] = None,
    follow_links: FollowLinksOption = False,
    format: Annotated[str, typer.Option(help="text or json.")] = "text",
    db: DbOption = None,
) -> None:
    """Verify data and register its manifests and the dataset in the registry.

    Ingesting the same data again adds nothing; an interrupted ingest completes when run again.
    """
    from provenance import project
    from provenance.cli.progress import progress_bar
    from provenance.registry.ingest import default_name
    from provenance.registry.ingest import ingest as run_ingest

    check_format(format, ("text", "json"))
    store = project.load_trust(trust)
    dataset = name or default_name(data)
    paths = data_paths(data, follow_links)
    with open_registry(db) as registry, progress_bar(paths, "verifying") as progress:
        result = run_ingest(
            registry,
            [str(p) for p in paths],  # walked once: the notes are said once
            store,
            name=dataset,
            allow_failures=allow_failures,
            workers=workers,
            progress=progress,
        )
    if format == "json":
        emit_json(result.to_dict())
        return
    counts = ", ".join(f"{v:,} {k}" for k, v in sorted(result.counts.items()))
    echo(
        f"dataset {result.name} {result.dataset_digest}: {count(result.records, 'record')} ({counts})"
    )
    if result.changed:
        echo(
            f"added {count(result.manifests_added, 'manifest')}, "
            f"{count(result.members_added, 'record')}"
            + (", the dataset" if result.dataset_added else "")
        )
    else:
        echo("already registered: nothing added")


# ---- audit --record --------------------------------------------------------------------------


def record_audit(
    report: AuditReport,
    inputs: AuditInputs,
    *,
    trust: Path | None = None,
    db: str | None = None,
    judged: JudgementInputs | None = None,
) -> None:
    """Store an audit run (``provenance audit --record``): the report, the terms files it used,
    the trust store state and what the terms engine judged (``judged``, for ``reaudit``)."""
    documents = {d.id: d for d in inputs.library.documents}
    documents.update({d.id: d for d in inputs.org_policies})
    files = []
    for ref in report.policies:
        doc = documents.get(ref.id)
        source = None if doc is None or doc.where is None else doc.where.source
        if not source or not ref.digest:
            continue
        try:
            data = Path(source).read_bytes()
        except OSError:
            continue
        if "sha256:" + hashlib.sha256(data).hexdigest() != ref.digest:
            continue
        files.append((ref.id, ref.digest, ref.title, data.decode("utf-8", "replace")))
    from provenance import project

    store = project.load_trust(trust)
    with open_registry(db) as registry:
        recorded = registry.record_audit(
            report.to_dict(), files, store, None if judged is None else judged.to_dict()
        )
    state = "recorded" if recorded.added else "already recorded"
    echo(
        f"{state}: audit run {recorded.report_digest[:16]} (log entry #{recorded.log_seq})",
        err=True,
    )


# ---- trace and query -------------------------------------------------------------------------


@app.command()
def trace(
    record: Annotated[str, typer.Argument(help="Record id or content digest (sha256:…).")],
    policies: PoliciesOption = None,
    format: Annotated[str, typer.Option(help="text or json.")] = "text",
    db: DbOption = None,
) -> None:
    """Follow a record: generator, terms in force, every upstream model and dataset, audits."""
    from provenance.registry.queries import trace as run_trace
    from provenance.registry.queries import trace_lines

    check_format(format, ("text", "json"))
    resolver = terms_resolver(policies)
    with open_registry(db) as registry:
        result = run_trace(registry, record, resolver)
    if format == "json":
        emit_json(result)
    else:
        for line in trace_lines(result):
            echo(line)


@app.command()
def query(
    what: Annotated[str, typer.Option(help="models, datasets or records.")] = "models",
    provider: Annotated[str | None, typer.Option(help="Generator provider.")] = None,
    model: Annotated[
        str | None, typer.Option(help="Generator model (glob), or a base model name.")
    ] = None,
    terms: Annotated[
        str | None,
        typer.Option(help="Terms document in force: an exact id, or a family for every version."),
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset name or digest.")] = None,
    trained_model: Annotated[
        str | None, typer.Option(help="Only what this registered model was trained on.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Generated on or after (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Generated on or before (YYYY-MM-DD).")] = None,
    depends_on: Annotated[
        bool, typer.Option("--depends-on", help="At any distance, through lineage.")
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 1000,
    policies: PoliciesOption = None,
    format: Annotated[str, typer.Option(help="text, json or csv.")] = "text",
    db: DbOption = None,
) -> None:
    """Which models, datasets or records hold — or depend on — outputs matching the filters.

    Example: models that depend at any distance on outputs under OpenAI's terms of 2023-03-14:
    provenance query --terms openai/terms-of-use@2023-03-14 --depends-on
    """
    from provenance.registry.model import Filters
    from provenance.registry.queries import query as run_query

    check_format(format, ("text", "json", "csv"))
    if limit < 1:
        raise InputError(f"--limit {limit}: give a whole number of at least 1")
    for value, label in ((since, "--since"), (until, "--until")):
        if value is not None and not is_day(value):
            raise InputError(f"{label} '{value}' is not a date (YYYY-MM-DD)")
    filters = Filters(provider, model, terms, since, until)
    with open_registry(db) as registry:
        result = run_query(
            registry,
            terms_resolver(policies),
            filters,
            what=what,
            dataset=dataset,
            trained_model=trained_model,
            depends_on=depends_on,
            limit=limit,
        )
    if format == "json":
        emit_json({"what": result.what, "rows": result.rows, "truncated": result.truncated})
        return
    rows = [[_cell(r.get(c)) for c in result.columns] for r in result.rows]
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
        return
    table(list(result.columns), rows, title=count(len(rows), result.what.removesuffix("s")))
    if result.truncated:
        echo(f"(first {count(limit, 'row')}; raise --limit for more)", err=True)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


# ---- summary ---------------------------------------------------------------------------------


@app.command()
def summary(
    model: Annotated[str, typer.Argument(help="A registered model.")],
    format: Annotated[str, typer.Option(help="markdown or html.")] = "markdown",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write.")] = None,
    policies: PoliciesOption = None,
    db: DbOption = None,
) -> None:
    """Draft the synthetic-data and data-sources parts of the EU AI Act public summary of
    training content (template of July 2025) for a model, from the registry."""
    from provenance.registry.summary import html_page, markdown, summary_blocks

    check_format(format, ("markdown", "html"))
    resolver = terms_resolver(policies)
    with open_registry(db) as registry:
        snapshot = registry.snapshot()
        origin, size, root = registry.tree_head()
    blocks = summary_blocks(
        snapshot,
        model,
        resolver,
        None if resolver.library is None else resolver.library.catalog,
        {"origin": origin, "size": size, "root": root},
    )
    write_output(markdown(blocks) if format == "markdown" else html_page(blocks), output)


# ---- db --------------------------------------------------------------------------------------

db_app = command_group(help="The registry database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create the registry schema, or bring it to this version's revision."""
    from provenance.registry import db as database
    from provenance.registry.store import Registry

    with Registry.open(db, migrate=False) as registry:
        before, after = database.upgrade(registry.engine)
        where = database.describe(registry.url)
    if before == after:
        echo(f"{where}: schema at revision {after}, nothing to do")
    else:
        echo(f"{where}: schema upgraded from {before or 'empty'} to {after}")
