"""The ``provenance`` command line: thin typer commands over the library.

Each command parses its arguments, calls one library function and picks a renderer. Every deliberate
error is a :class:`~provenance.errors.ProvenanceError`; :func:`main` turns it into one line on stderr and
the error's exit code (2 = no verdict), never a traceback. SIGINT and SIGTERM stop a command the
same way (:func:`~provenance.cli.app.stop_on_signals`): temporary files, spool folders and worker
processes are removed, and the exit code is 128 plus the signal number (130, 143).
"""

from __future__ import annotations

import signal
import sys

import typer

from provenance.cli import audit, commands, keys, policy, reaudit, registry
from provenance.cli.app import Stopped, app, finish_help, stop_on_signals
from provenance.errors import ProvenanceError

__all__ = ["app", "main", "run"]

# Sub-command modules register themselves on import; the names keep the imports used.
_REGISTERED = (audit, commands, keys, policy, reaudit, registry)

_READS_DATA = frozenset({"tag", "verify", "audit", "explain", "ingest"})
"""Commands whose speed the native fast path sets: they say when it is not built."""


def _note_fast_path(argv: list[str]) -> None:
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in _READS_DATA:
        from provenance import native

        note = native.notice()
        if note is not None:
            sys.stderr.write(note + "\n")


def _database_problem(exc: Exception) -> ProvenanceError | None:
    """The registry database refusing a connection or a statement (a host that does not
    resolve, a server that is down, a file that cannot be opened) as one line naming the
    database's own reason, instead of the driver's traceback; None for any other error.
    SQLAlchemy is looked up only when a registry command has already imported it."""
    from provenance.errors import InputError

    errors = sys.modules.get("sqlalchemy.exc")
    if errors is None or not isinstance(exc, errors.DBAPIError):
        return None
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return InputError(
        f"the registry database cannot be used: {reason[0] if reason else type(exc).__name__}",
        hint="check the URL given with --db or PROVENANCE_DATABASE_URL, and that its server "
        "is running",
    )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (the console script exits with it)."""
    with stop_on_signals():
        try:
            _note_fast_path(sys.argv[1:] if argv is None else argv)
            command = finish_help(typer.main.get_command(app))
            command.main(args=argv, prog_name="provenance", standalone_mode=True)
        except SystemExit as exc:
            code = exc.code
            if code is None:
                return 0
            return code if isinstance(code, int) else 2
        except ProvenanceError as exc:
            sys.stderr.write(f"provenance: error: {exc.diagnostics()}\n")
            return exc.exit_code
        except Exception as exc:
            problem = _database_problem(exc)
            if problem is None:
                raise
            sys.stderr.write(f"provenance: error: {problem.diagnostics()}\n")
            return problem.exit_code
        except (Stopped, KeyboardInterrupt) as exc:
            stopped = exc if isinstance(exc, Stopped) else Stopped(signal.SIGINT)
            what = "interrupted" if stopped.signum == signal.SIGINT else "terminated"
            sys.stderr.write(f"provenance: {what} ({signal.Signals(stopped.signum).name})\n")
            return stopped.exit_code
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
