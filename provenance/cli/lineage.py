"""``provenance lineage``: declare what models were trained on, show it, and export it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from provenance.cli.app import app, command_group
from provenance.cli.output import echo, emit_json, write_output
from provenance.cli.registry_options import (
    DbOption,
    PoliciesOption,
    check_format,
    open_registry,
    terms_library,
    terms_resolver,
)
from provenance.errors import InputError
from provenance.text import count

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
    with open_registry(db) as registry:
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

    check_format(format, ("text", "json"))
    resolver = terms_resolver(policies)
    with open_registry(db) as registry:
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

    check_format(format, ("prov", "yaml"))
    with open_registry(db) as registry:
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

        library = terms_library(policies)
        declaration = lineage_declaration(
            snapshot, closure, None if library is None else library.catalog
        )
        text = "# Exported from the provenance evidence registry.\n" + yaml.safe_dump(
            declaration.to_dict(), sort_keys=False, allow_unicode=True
        )
    write_output(text, output)
