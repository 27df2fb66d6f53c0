"""The typer application object that every command module registers on, and how a command
stops when asked to (SIGINT, SIGTERM)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Annotated, Any

import typer
from typer._click import Command, Context, Parameter
from typer.core import TyperArgument, TyperGroup, TyperOption

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
"""The signals that stop a command cleanly: Ctrl-C, and what CI runners, schedulers, ``timeout``
and ``kill`` send."""


class Stopped(BaseException):
    """Raised in the main thread when a stop signal arrives, so that the command unwinds: every
    ``finally`` and ``with`` on the way out removes temporary output and spool folders and stops
    worker processes. Like ``KeyboardInterrupt`` it is no ``Exception``, so nothing on the way
    takes it for an error of its own; unlike it, click does not turn it into exit 1. Its exit
    code is 128 plus the signal number (130 for SIGINT, 143 for SIGTERM), as a shell reports a
    process killed by that signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """While it runs, SIGINT and SIGTERM raise :class:`Stopped` once; a signal arriving while
    the command is already stopping is ignored, so that its clean-up is not cut short. Outside
    the main thread (where handlers cannot be set) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise Stopped(signum)

    before = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while a few steps must happen together (moving an output
    and its sidecar into place); one that arrived meanwhile is acted on after."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def command_group(**settings: Any) -> typer.Typer:
    """A typer application or sub-command group with this CLI's settings: plain help text (no
    rich panels, whose import alone costs about as much as the rest of a short command's start-up),
    no completion installer, errors handled by :func:`provenance.cli.main`."""
    return typer.Typer(
        rich_markup_mode=None, add_completion=False, pretty_exceptions_enable=False, **settings
    )


COMMAND_ORDER: tuple[str, ...] = (
    "init",
    "keys",
    "tag",
    "verify",
    "audit",
    "reaudit",
    "explain",
    "policy",
    "db",
    "ingest",
    "lineage",
    "trace",
    "query",
    "log",
    "evidence",
    "summary",
)
"""The order ``provenance --help`` lists the commands in: set up, sign, check, judge, then the
evidence registry. A command not named here comes last."""

_METAVARS: dict[str, str] = {
    "trust": "FILE",
    "intent": "FILE",
    "lineage": "FILE",
    "waivers": "FILE",
    "parts": "FILE",
    "checkpoint": "FILE",
    "output": "FILE",
    "bundle": "FILE",
    "input": "FILE",
    "files": "FILE",
    "policies": "DIR",
    "org_policies": "DIR",
    "directory": "DIR",
    "data": "PATH",
    "path": "DIR",
    "generated_at": "WHEN",
    "since": "DATE",
    "until": "DATE",
    "db": "URL",
    "signs": "KINDS",
    "generated_at_field": "FIELD",
    "id_field": "FIELD",
}
"""Placeholders by parameter name, where the name alone would not say what to give."""

_TYPE_METAVARS: dict[str, str] = {"int": "INT", "integer": "INT", "float": "NUMBER", "path": "PATH"}


def _metavar(param: Parameter) -> str:
    """What a parameter's value is called in help and usage: its own metavar, else a placeholder
    by name (:data:`_METAVARS`), the choices of a choice, ``INT`` for a number, else the name in
    capitals."""
    if param.metavar is not None:
        return param.metavar
    name = param.name or "value"
    if name in _METAVARS:
        return _METAVARS[name]
    choices = getattr(param.type, "choices", None)
    if choices:
        return "|".join(str(c) for c in choices)
    return _TYPE_METAVARS.get(param.type.name, name.upper())


class _ReadableArgument(TyperArgument):
    """A positional argument shown as ``NAME``, ``[NAME]`` (optional) or ``NAME...`` (several),
    not typer's ``{name}``."""

    def make_metavar(self, ctx: Context, *, usage: bool = False) -> str:
        var = self.metavar or (self.name or "").upper()
        if self.nargs != 1 and not var.endswith("..."):
            var += "..."
        return f"[{var}]" if usage and not self.required else var


def finish_help(command: Command) -> Command:
    """Give ``command`` and its sub-commands readable placeholders (``FILE``, ``PATH...``,
    ``INT``, never ``<str>`` or ``{input}``) and list the top-level commands in
    :data:`COMMAND_ORDER`. Typer builds the click commands anew for every run, so this runs on
    each one."""
    for param in command.params:
        if isinstance(param, TyperArgument):
            param.metavar = _metavar(param)
            param.__class__ = _ReadableArgument
        elif isinstance(param, TyperOption) and not (param.is_flag or param.count):
            param.metavar = _metavar(param)
    if isinstance(command, TyperGroup):
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        names = sorted(command.commands, key=lambda n: rank.get(n, len(rank)))
        command.commands = {name: command.commands[name] for name in names}
        for sub in command.commands.values():
            finish_help(sub)
    return command


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
