"""Every command answers --help, and the README documents every command."""

from __future__ import annotations

from pathlib import Path

import typer

from provenance.cli import app
from tests.conftest import Runner

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def _commands(group: typer.Typer, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for info in group.registered_commands:
        name = info.name or (info.callback.__name__.replace("_", "-") if info.callback else "")
        out.append((*prefix, name))
    for sub in group.registered_groups:
        assert sub.typer_instance is not None
        name = sub.name or ""
        out.append((*prefix, name))
        out.extend(_commands(sub.typer_instance, (*prefix, name)))
    return out


COMMANDS = _commands(app)


def test_the_command_tree_is_complete() -> None:
    top = {c[0] for c in COMMANDS}
    assert {
        "init",
        "keys",
        "tag",
        "verify",
        "audit",
        "explain",
        "policy",
        "ingest",
        "trace",
        "query",
        "evidence",
        "summary",
        "log",
        "db",
        "lineage",
    } <= top


def test_every_command_answers_help(cli: Runner) -> None:
    for command in COMMANDS:
        result = cli(*command, "--help")
        assert result.code == 0, command
        assert "Usage" in result.out, command


def test_the_readme_names_every_command() -> None:
    missing = [" ".join(c) for c in COMMANDS if f"provenance {' '.join(c)}" not in README]
    assert missing == []
