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
