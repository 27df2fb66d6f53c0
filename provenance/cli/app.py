"""The typer application object that every command module registers on."""

from __future__ import annotations

from typing import Annotated, Any

import typer


def command_group(**settings: Any) -> typer.Typer:
    """A typer application or sub-command group with this CLI's settings: plain help text (no
    rich panels, whose import alone costs about as much as the rest of a short command's start-up),
    no completion installer, errors handled by :func:`provenance.cli.main`."""
    return typer.Typer(
        rich_markup_mode=None, add_completion=False, pretty_exceptions_enable=False, **settings
    )


app = command_group(
    name="provenance",
    help="Signed provenance for synthetic training data, and a policy gate over provider terms.",
    no_args_is_help=True,
)


def version_text() -> str:
    """What ``provenance --version`` prints: the package version, the terms library in use (its
    directory and digest) and whether the native fast path is on."""
    from provenance import __version__, native
    from provenance.errors import ProvenanceError
    from provenance.policy import loader

    directory = loader.default_policy_dir()
    if not directory.is_dir():
        library = f"not found at {directory}"
    else:
        try:
            origin = loader.library_origin(directory)
            library = f"{origin.source} {origin.digest} ({origin.path})"
        except ProvenanceError as exc:
            library = f"unreadable: {exc.diagnostics()}"
    return (
        f"provenance {__version__}\nterms library: {library}\nnative fast path: {native.status()}"
    )


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Show the version, the terms library in use and whether the fast path is on.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Signed provenance for synthetic training data, and a policy gate over provider terms."""
