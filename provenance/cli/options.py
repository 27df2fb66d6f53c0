"""Options and input handling shared by several command modules."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from provenance.cli.output import echo

FollowLinksOption = Annotated[
    bool,
    typer.Option(
        "--follow-links", help="Read links in a folder that lead out of it (default: skip)."
    ),
]
InsecureKeyOption = Annotated[
    bool,
    typer.Option(
        "--insecure-key",
        help="Use the private key file even if group or others may access it (default: "
        "refuse; or set PROVENANCE_INSECURE_KEY=1).",
    ),
]

OrgPoliciesOption = Annotated[
    Path | None,
    typer.Option(help="Your organisation's own rules (terms documents with provider: org)."),
]
WaiversOption = Annotated[Path | None, typer.Option(help="Accepted findings (waivers.yaml).")]


def data_paths(items: Sequence[str | Path], follow_links: bool) -> list[Path]:
    """The data files ``items`` name (:func:`provenance.sources.walk_data`: each real file once),
    after saying on stderr which paths were skipped and why."""
    from provenance.sources import walk_data

    walk = walk_data(items, follow_links=follow_links)
    for note in walk.notes():
        echo(note, err=True)
    return list(walk.files)
