"""``provenance audit``: the dataset gate for CI."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from provenance.cli.app import app
from provenance.cli.options import FollowLinksOption, OrgPoliciesOption, WaiversOption, data_paths
from provenance.cli.output import write_output
from provenance.errors import InputError
from provenance.report import RENDERERS

if TYPE_CHECKING:
    from provenance.auditor import FailOn

FORMATS = ", ".join(RENDERERS)  # the names only: no renderer is imported


FailOnOption = Annotated[
    str,
    typer.Option(
        metavar="deny|review|never",
        help="The least severe outcome that fails the run (exit 1).",
    ),
]


def fail_on_level(text: str) -> FailOn:
    """The ``--fail-on`` value, checked."""
    if text not in ("deny", "review", "never"):
        raise InputError(f"unknown --fail-on '{text}'", hint="use deny, review or never")
    return text  # type: ignore[return-value]


@app.command()
def audit(
    data: Annotated[
        list[str],
        typer.Argument(
            help="Files, globs or directories: JSONL (.gz/.zst), Parquet, datasets directories."
        ),
    ],
    intent: Annotated[Path, typer.Option(help="The planned use (intent.yaml).")],
    lineage: Annotated[
        Path | None, typer.Option(help="Models and datasets behind the data (lineage.yaml).")
    ] = None,
    policies: Annotated[
        Path | None,
        typer.Option(
            help="Terms library (default: $PROVENANCE_POLICIES, else the project's "
            ".provenance/policies/, else the library shipped)."
        ),
    ] = None,
    org_policies: OrgPoliciesOption = None,
    waivers: WaiversOption = None,
    trust: Annotated[
        Path | None, typer.Option(help="Trust store (default: the project's).")
    ] = None,
    format: Annotated[str, typer.Option(help=f"One of: {FORMATS}.")] = "text",
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the report here instead of standard output."),
    ] = None,
    fail_on: FailOnOption = "review",
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    follow_links: FollowLinksOption = False,
    record: Annotated[
        bool, typer.Option("--record", help="Store the run in the evidence registry.")
    ] = False,
    db: Annotated[
        str | None, typer.Option("--db", help="Registry database URL (with --record).")
    ] = None,
) -> None:
    """Verify every manifest, judge the planned run against the terms library, report.

    Exit 0 pass, 1 fail (an outcome at or above --fail-on), 2 no verdict.
    """
    if format not in RENDERERS:
        raise InputError(f"unknown format '{format}'", hint=f"use one of: {FORMATS}")
    level = fail_on_level(fail_on)
    from provenance import auditor as audit_lib
    from provenance import project
    from provenance.cli.progress import progress_bar

    inputs = audit_lib.load_inputs(
        intent, lineage=lineage, policies=policies, org_policies=org_policies, waivers=waivers
    )
    store = project.load_trust(trust)
    paths = data_paths(data, follow_links)
    from provenance.auditor.run import run_audit_judged

    with progress_bar(paths, "auditing") as progress:
        report, judged = run_audit_judged(
            [str(p) for p in paths],  # already expanded: the folders are walked once
            inputs,
            store,
            fail_on=level,
            workers=workers,
            progress=progress,
        )
    if record:
        from provenance.cli import registry as registry_cli

        registry_cli.record_audit(report, inputs, trust=trust, db=db, judged=judged)
    text = RENDERERS[format].render(report)
    write_output(text, output, f"{report.verdict}: report written")
    raise typer.Exit(report.exit_code())
