"""``provenance ingest``, ``trace``, ``query``, ``evidence``, ``summary``, ``log``, ``db`` and
``lineage``: the evidence registry."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from provenance.cli.app import app, command_group
from provenance.cli.options import FollowLinksOption, InsecureKeyOption, data_paths
from provenance.cli.output import echo, emit_json, table
from provenance.errors import ConfigError, InputError, ProvenanceError
from provenance.text import count

if TYPE_CHECKING:
    from provenance.auditor import AuditInputs, AuditReport
    from provenance.policy.library import PolicyLibrary
    from provenance.registry.store import Registry

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Registry database URL (default: $PROVENANCE_DATABASE_URL, else "
        ".provenance/registry.db).",
    ),
]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        help="Project key (or PEM file) that signs (default: $PROVENANCE_REGISTRY_KEY, else the "
        "only key in .provenance/keys/, else the only one trusted to sign evidence and "
        "checkpoints).",
    ),
]
PoliciesOption = Annotated[
    Path | None,
    typer.Option("--policies", help="Terms library used to name the terms in force."),
]
TrustOption = Annotated[
    Path | None, typer.Option("--trust", help="Trust store file (default: the project's).")
]


def _open(db: str | None) -> Registry:
    from provenance.registry.store import Registry

    return Registry.open(db)


def _library(policies: Path | None) -> PolicyLibrary | None:
    """The terms library, or None when no library is at hand (terms named in manifests are then
    shown as named)."""
    from provenance.policy import loader

    directory = policies or loader.default_policy_dir()
    if policies is None and not directory.is_dir():
        return None
    return loader.load_library(directory)


def _resolver(policies: Path | None) -> Any:
    from provenance.registry.model import TermsResolver

    return TermsResolver(_library(policies))


def _format(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InputError(f"unknown format '{value}'", hint="use " + ", ".join(allowed))
    return value


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    echo(f"written to {output}", err=True)


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

    _format(format, ("text", "json"))
    store = project.load_trust(trust)
    dataset = name or default_name(data)
    paths = data_paths(data, follow_links)
    with _open(db) as registry, progress_bar(paths, "verifying") as progress:
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
    report: AuditReport, inputs: AuditInputs, *, trust: Path | None = None, db: str | None = None
) -> None:
    """Store an audit run (``provenance audit --record``): the report, the terms files it used
    and the trust store state."""
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
    with _open(db) as registry:
        recorded = registry.record_audit(report.to_dict(), files, store)
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

    _format(format, ("text", "json"))
    resolver = _resolver(policies)
    with _open(db) as registry:
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

    _format(format, ("text", "json", "csv"))
    if limit < 1:
        raise InputError(f"--limit {limit}: give a whole number of at least 1")
    for value, label in ((since, "--since"), (until, "--until")):
        if value is not None and not _is_day(value):
            raise InputError(f"{label} '{value}' is not a date (YYYY-MM-DD)")
    filters = Filters(provider, model, terms, since, until)
    with _open(db) as registry:
        result = run_query(
            registry,
            _resolver(policies),
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


def _is_day(text: str) -> bool:
    from datetime import date

    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


# ---- evidence --------------------------------------------------------------------------------


class _DefaultBuild(TyperGroup):
    """``evidence SUBJECT …`` runs ``evidence build SUBJECT …``; ``evidence verify FILE`` verifies."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["build", *args]
        return super().parse_args(ctx, args)


evidence_app = command_group(
    cls=_DefaultBuild,
    help="Evidence bundles: 'evidence DATASET|MODEL -o bundle.zip', 'evidence verify bundle.zip'.",
    no_args_is_help=True,
)
app.add_typer(evidence_app, name="evidence")


@evidence_app.command("build")
def evidence_build(
    subject: Annotated[str, typer.Argument(help="Dataset (name or digest) or model name.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The bundle (.zip) to write.")],
    kind: Annotated[str | None, typer.Option(help="model or dataset, when a name is both.")] = None,
    max_manifests: Annotated[
        int,
        typer.Option(help="Datasets larger than this carry a sample with inclusion proofs."),
    ] = 100_000,
    key: KeyOption = None,
    insecure_key: InsecureKeyOption = False,
    policies: PoliciesOption = None,
    db: DbOption = None,
) -> None:
    """Write a signed evidence bundle about a dataset or a model (verifiable offline)."""
    from provenance.registry.evidence import build_bundle
    from provenance.registry.signing import REGISTRY_KINDS, registry_signer, signing_warning

    signer = registry_signer(key, insecure=insecure_key)
    warning = signing_warning(signer, REGISTRY_KINDS)
    if warning:
        echo(f"warning: {warning}", err=True)
    library = _library(policies)
    with _open(db) as registry:
        data, info = build_bundle(
            registry,
            subject,
            signer,
            kind=kind,
            max_manifests=max_manifests,
            catalog=None if library is None else library.catalog,
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    echo(
        f"{output}: {info.kind} {info.name}, {count(info.datasets, 'dataset')}, "
        f"{count(info.manifests, 'manifest')}, {count(info.reports, 'audit report')}, "
        f"checkpoint {info.checkpoint_size} "
        f"{info.checkpoint_root[:16]}… ({info.bytes:,} bytes)"
    )


@evidence_app.command("verify")
def evidence_verify(
    bundle: Annotated[Path, typer.Argument(help="The bundle (.zip).")],
    trust: Annotated[
        Path | None,
        typer.Option(
            "--trust",
            help="Your trust store: every signature must be by its keys (default: the bundle's "
            "own, which shows integrity, not origin).",
        ),
    ] = None,
    format: Annotated[str, typer.Option(help="text or json.")] = "text",
) -> None:
    """Check a bundle offline. Exit 0 it verifies, 1 it does not, 2 no verdict."""
    from provenance import project
    from provenance.registry.bundle import BundleRefused, verify_bundle

    _format(format, ("text", "json"))
    store = None if trust is None else project.load_trust(trust)
    try:
        with bundle.open("rb") as handle:
            report = verify_bundle(handle, store)
    except OSError as exc:
        raise InputError(f"cannot read the bundle ({exc.strerror})", source=str(bundle)) from exc
    except BundleRefused as exc:
        exc.hint = exc.hint or "no verdict: the bundle is beyond a limit of what is read"
        raise exc.at(str(bundle)) from None
    if format == "json":
        emit_json(report.to_dict())
    else:
        for line in report.lines():
            echo(line)
    raise typer.Exit(report.exit_code())


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

    _format(format, ("markdown", "html"))
    resolver = _resolver(policies)
    with _open(db) as registry:
        snapshot = registry.snapshot()
        origin, size, root = registry.tree_head()
    blocks = summary_blocks(
        snapshot,
        model,
        resolver,
        None if resolver.library is None else resolver.library.catalog,
        {"origin": origin, "size": size, "root": root},
    )
    _write(markdown(blocks) if format == "markdown" else html_page(blocks), output)


# ---- log -------------------------------------------------------------------------------------

log_app = command_group(help="The registry's tamper-evident log.", no_args_is_help=True)
app.add_typer(log_app, name="log")


@log_app.command("verify")
def log_verify(
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="A checkpoint kept elsewhere.")
    ] = None,
    trust: Annotated[
        Path | None,
        typer.Option(
            "--trust",
            help="Trust store whose keys may sign checkpoints (default: the project's trust "
            "store and public keys).",
        ),
    ] = None,
    format: Annotated[str, typer.Option(help="text or json.")] = "text",
    db: DbOption = None,
) -> None:
    """Prove the store matches its log (and a saved checkpoint); name any row altered, deleted,
    reordered or rolled back. Exit 0 consistent, 1 not, 2 no verdict."""
    from provenance.registry.integrity import load_checkpoint_file, verify_log
    from provenance.registry.signing import RegistryTrust, verification_keys

    _format(format, ("text", "json"))
    saved = None if checkpoint is None else load_checkpoint_file(str(checkpoint))
    keys: RegistryTrust | None
    try:
        keys = verification_keys(trust)
    except ConfigError:
        if saved is not None:
            raise
        keys = None
    with _open(db) as registry:
        report = verify_log(
            registry,
            checkpoint=saved,
            keys=keys,
            checkpoint_source=str(checkpoint) if checkpoint else "file",
        )
    if format == "json":
        emit_json(report.to_dict())
    else:
        for line in report.lines():
            echo(line)
    raise typer.Exit(report.exit_code())


@log_app.command("checkpoint")
def log_checkpoint(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the checkpoint here.")
    ] = None,
    key: KeyOption = None,
    insecure_key: InsecureKeyOption = False,
    db: DbOption = None,
) -> None:
    """Sign a checkpoint (tree size and root) of the log, after checking the store against it.
    Keep the file elsewhere (a CI artefact, a git repository)."""
    from provenance.registry.integrity import verify_log
    from provenance.registry.logtree import make_checkpoint
    from provenance.registry.signing import registry_signer, signing_warning

    signer = registry_signer(key, insecure=insecure_key)
    warning = signing_warning(signer, ("checkpoints",))
    if warning:
        echo(f"warning: {warning}", err=True)
    with _open(db) as registry:
        report = verify_log(registry)
        if not report.ok or report.frontier is None:
            for line in report.lines():
                echo(line, err=True)
            raise ProvenanceError(
                "the store does not match its log: no checkpoint is signed",
                hint="run 'provenance log verify'",
            )
        cp = make_checkpoint(signer, report.origin, report.frontier)
        registry.add_checkpoint(
            cp.size, cp.root, signer.keyid, cp.created_at, json.dumps(dict(cp.envelope))
        )
    if output is None:
        sys.stdout.write(cp.to_json())
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(cp.to_json(), encoding="utf-8")
        echo(f"checkpoint: {cp.size} entries, root {cp.root} → {output}")


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


# ---- lineage ---------------------------------------------------------------------------------

lineage_app = command_group(help="Models and what they were trained on.", no_args_is_help=True)
app.add_typer(lineage_app, name="lineage")


@lineage_app.command("add")
def lineage_add(
    model: Annotated[str, typer.Argument(help="The trained model, as manifests name it.")],
    trained_on: Annotated[
        list[str] | None,
        typer.Option("--trained-on", help="Dataset (name or digest) it was trained on; repeat."),
    ] = None,
    base_model: Annotated[
        str | None, typer.Option("--base-model", help="Weights it was built on.")
    ] = None,
    activity: Annotated[
        str | None, typer.Option(help="pretrain, fine-tune, distill, evaluate or rlhf.")
    ] = None,
    organization: Annotated[str | None, typer.Option(help="Organisation that trained it.")] = None,
    db: DbOption = None,
) -> None:
    """Declare that a model was trained on datasets (and built on a base model)."""
    if not trained_on and not base_model:
        raise InputError("say what the model was made from: --trained-on and/or --base-model")
    if activity is not None and activity not in (
        "pretrain",
        "fine-tune",
        "distill",
        "evaluate",
        "rlhf",
    ):
        raise InputError(f"unknown activity '{activity}'")
    with _open(db) as registry:
        result = registry.declare_lineage(
            model,
            trained_on or [],
            base_model=base_model,
            activity=activity,
            organization=organization,
        )
    for name in result.undeclared:
        echo(f"warning: dataset '{name}' is not in the registry; recorded by name only", err=True)
    if result.model_added or result.edges_added:
        echo(f"model {model}: {count(result.edges_added, 'declaration')} added")
    else:
        echo(f"model {model}: already declared, nothing added")


@lineage_app.command("show")
def lineage_show(
    model: Annotated[str | None, typer.Argument(help="A model (default: every model).")] = None,
    policies: PoliciesOption = None,
    format: Annotated[str, typer.Option(help="text or json.")] = "text",
    db: DbOption = None,
) -> None:
    """Show models, their training data (with audits) and what wrote that data, recursively."""
    from provenance.registry.queries import model_tree, tree_lines

    _format(format, ("text", "json"))
    resolver = _resolver(policies)
    with _open(db) as registry:
        snapshot = registry.snapshot()
    if model is not None:
        found = snapshot.model(model)
        if found is None:
            raise InputError(f"the registry holds no model '{model}'")
        models = [found]
    else:
        trained = {e.model.casefold() for e in snapshot.edges}
        models = [m for m in snapshot.models.values() if m.name.casefold() in trained]
    trees = [model_tree(snapshot, resolver, m, set(), 0) for m in models]
    if format == "json":
        emit_json(trees)
        return
    if not trees:
        echo("no lineage declared")
    for tree in trees:
        for line in tree_lines(tree, ""):
            echo(line)


@lineage_app.command("export")
def lineage_export(
    format: Annotated[
        str, typer.Option(help="prov (W3C PROV-JSON) or yaml (lineage.yaml).")
    ] = "prov",
    model: Annotated[
        str | None, typer.Option(help="Only this model and what it depends on.")
    ] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write.")] = None,
    policies: PoliciesOption = None,
    db: DbOption = None,
) -> None:
    """Export the lineage as W3C PROV-JSON, or as a lineage.yaml that audits read."""
    from provenance.registry.prov import lineage_declaration, prov_document

    _format(format, ("prov", "yaml"))
    with _open(db) as registry:
        snapshot = registry.snapshot()
    closure = None
    if model is not None:
        if snapshot.model(model) is None:
            raise InputError(f"the registry holds no model '{model}'")
        closure = snapshot.closure(model=model)
    if format == "prov":
        text = json.dumps(prov_document(snapshot, closure), indent=2, ensure_ascii=False) + "\n"
    else:
        import yaml

        library = _library(policies)
        declaration = lineage_declaration(
            snapshot, closure, None if library is None else library.catalog
        )
        text = "# Exported from the provenance evidence registry.\n" + yaml.safe_dump(
            declaration.to_dict(), sort_keys=False, allow_unicode=True
        )
    _write(text, output)
