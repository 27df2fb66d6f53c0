"""The typer application object that every command module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="provenance",
    help="Signed provenance for synthetic training data, and a policy gate over provider terms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
