"""Every command answers --help in plain, readable text, the commands are listed in the order a
user meets them, and the README documents every command."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from provenance.cli import app
from provenance.cli.app import COMMAND_ORDER
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


def test_the_command_list_follows_a_users_path(cli: Runner) -> None:
    result = cli("--help")
    assert result.code == 0
    listed = result.out.split("Commands:", 1)[1].split()
    shown = [word for word in listed if word in COMMAND_ORDER]
    assert shown[: len(COMMAND_ORDER)] == list(COMMAND_ORDER)
    top = [c[0] for c in COMMANDS if len(c) == 1]
    assert sorted(top) == sorted(COMMAND_ORDER), "a new command needs its place in COMMAND_ORDER"


def test_placeholders_are_words_not_types(cli: Runner) -> None:
    """``FILE``, ``PATH...``, ``INT``, ``[DIR]``: never typer's ``<str>``, ``{input}`` or
    ``<list[str]>``."""
    for command in [(), *COMMANDS]:
        out = cli(*command, "--help").out
        assert "<" not in out and "{" not in out, (command, out)
    assert "Usage: provenance verify [OPTIONS] FILE..." in cli("verify", "--help").out
    assert "Usage: provenance audit [OPTIONS] PATH..." in cli("audit", "--help").out
    assert "Usage: provenance init [OPTIONS] [DIR]" in cli("init", "--help").out
    audit = cli("audit", "--help").out
    assert "--intent FILE" in audit and "--workers INT" in audit and "--policies DIR" in audit
    assert "--format text|json" in cli("verify", "--help").out


@pytest.mark.parametrize("columns", [60, 200])
def test_help_is_wrapped_to_the_terminal(
    cli: Runner, monkeypatch: pytest.MonkeyPatch, columns: int
) -> None:
    """Help text is written one paragraph at a time and wrapped by the terminal's width (at most
    80 columns), so a narrow terminal gets no broken lines."""
    monkeypatch.setenv("COLUMNS", str(columns))
    width = min(columns, 80)
    for command in [(), *COMMANDS]:
        for line in cli(*command, "--help").out.splitlines():
            assert len(line) <= width or " " not in line.strip(), (command, line)


def test_version_answers(cli: Runner) -> None:
    result = cli("--version")
    assert result.code == 0
    assert result.out.startswith("provenance ")


def test_the_readme_names_every_command() -> None:
    missing = [" ".join(c) for c in COMMANDS if f"provenance {' '.join(c)}" not in README]
    assert missing == []
