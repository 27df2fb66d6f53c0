"""Terminal output shared by the commands: plain lines, tables, JSON."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson


def echo(text: str, *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")


def write_output(text: str, output: Path | None, written: str = "written") -> None:
    """``text`` on standard output, or into the file ``output`` (its folder made first), which
    is then named on standard error: ``<written> to <output>``."""
    if output is None:
        sys.stdout.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    echo(f"{written} to {output}", err=True)


def emit_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode("utf-8") + "\n")


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None
) -> None:
    """A table on a terminal; tab-separated lines when output is piped (stable for scripts)."""
    if not sys.stdout.isatty():
        if title:
            echo(f"# {title}")
        echo("\t".join(headers))
        for row in rows:
            echo("\t".join("" if v is None else str(v) for v in row))
        return
    from rich.console import Console
    from rich.table import Table

    rich_table = Table(title=title)
    for header in headers:
        rich_table.add_column(header)
    for row in rows:
        rich_table.add_row(*("" if v is None else str(v) for v in row))
    Console().print(rich_table)
