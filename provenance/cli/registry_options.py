"""What the registry commands share: their options (``--db``, ``--key``, ``--policies``,
``--trust``), opening the registry, the terms library, checking ``--format`` and writing output.

Like every command module it imports the registry (and SQL) only when a command runs."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from provenance.errors import InputError

if TYPE_CHECKING:
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


def open_registry(db: str | None) -> Registry:
    """The registry at ``db`` (see :func:`provenance.registry.db.database_url`), its schema
    brought up to date."""
    from provenance.registry.store import Registry

    return Registry.open(db)


def terms_library(policies: Path | None) -> PolicyLibrary | None:
    """The terms library, or None when no library is at hand (terms named in manifests are then
    shown as named)."""
    from provenance.policy import loader

    directory = policies or loader.default_policy_dir()
    if policies is None and not directory.is_dir():
        return None
    return loader.load_library(directory)


def terms_resolver(policies: Path | None) -> Any:
    """A :class:`~provenance.registry.model.TermsResolver` over the terms library."""
    from provenance.registry.model import TermsResolver

    return TermsResolver(terms_library(policies))


def check_format(value: str, allowed: tuple[str, ...]) -> str:
    """``value`` when it is one of ``allowed``; otherwise an input error naming them."""
    if value not in allowed:
        raise InputError(f"unknown format '{value}'", hint="use " + ", ".join(allowed))
    return value


def is_day(text: str) -> bool:
    """Whether ``text`` is a day written ``YYYY-MM-DD``."""
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10
