"""Running the command line in a child process under a memory and CPU-time limit.

Hostile-input tests check bounds this way rather than with timed assertions: the kernel stops a
child that takes more address space than ``memory`` bytes (its allocations fail) or more CPU time
than ``cpu_seconds`` (SIGXCPU, then SIGKILL), whatever else the machine is doing.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

GiB = 1024**3
MiB = 1024**2


@dataclass
class Bounded:
    code: int
    out: str
    err: str

    @property
    def killed_by(self) -> str | None:
        """The signal that ended the child, if one did (``SIGXCPU``, ``SIGKILL`` …)."""
        return signal.Signals(-self.code).name if self.code < 0 else None


def run_bounded(
    args: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path,
    memory: int = 2 * GiB,
    cpu_seconds: int = 120,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> Bounded:
    """``python -m provenance ARGS…`` in ``cwd`` with at most ``memory`` bytes of address space
    and ``cpu_seconds`` of CPU time (each worker process it starts gets the same limits)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))

    child_env = {**os.environ, **(env or {})}
    child_env.pop("PROVENANCE_HOME", None)
    done = subprocess.run(
        [sys.executable, "-m", "provenance", *(str(a) for a in args)],
        cwd=cwd,
        env=child_env,
        input=stdin,
        capture_output=True,
        preexec_fn=limit,
        check=False,
    )
    return Bounded(
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )
