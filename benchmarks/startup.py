"""Start-up: the wall time of the short commands that pre-commit hooks and CI gates run on every
change, against a floor process, in one run.

The floor is a Python process that imports typer, orjson and cryptography's Ed25519 and exits:
what any command-line verifier built on those parts pays before reading a record. Targets:
``--help`` within 2 ×, ``verify`` of 10 records within 2.5 × and ``audit`` of 10 records within
4 × the floor (medians of ``--runs`` runs each, the runs of every command interleaved so that a
change in the machine's speed touches them all alike).

    .venv/bin/python benchmarks/startup.py --runs 15
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench

FLOOR = "import typer, orjson\nfrom cryptography.hazmat.primitives.asymmetric import ed25519\n"

TARGETS = {"--help": 2.0, "verify, 10 records": 2.5, "audit, 10 records": 4.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--workdir", type=Path, help="where data goes (default: a temp folder)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="provenance-startup-bench-"))
    project = bench.BenchProject.make(workdir)
    env, cli = project.env, project.cli
    signed = project.tag(project.generate(10), "signed.jsonl", "--batch-size", "10")

    commands = {
        "floor": [sys.executable, "-c", FLOOR],
        "--help": [*cli, "--help"],
        "--version": [*cli, "--version"],
        "import provenance (the SDK)": [sys.executable, "-c", "import provenance"],
        "verify, 10 records": [*cli, "verify", str(signed)],
        "audit, 10 records": [*cli, "audit", str(signed), "--intent", "intent.yaml"],
        "audit, 10 records, JSON report": [
            *cli,
            *("audit", str(signed), "--intent", "intent.yaml", "--format", "json"),
        ],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():  # warm the file cache once
        subprocess.run(command, cwd=workdir, env=env, capture_output=True)
    bench.settle()
    for _ in range(args.runs):
        for name, command in commands.items():
            started = time.perf_counter()
            done = subprocess.run(command, cwd=workdir, env=env, capture_output=True)
            times[name].append(time.perf_counter() - started)
            if done.returncode not in (0, 1):
                raise SystemExit(f"{name}: exit {done.returncode}\n{done.stderr.decode()}")
    floor = statistics.median(times["floor"])

    print(
        f"Machine: {bench.cpu_model()}, {bench.cores()} cores, Python "
        f"{sys.version.split()[0]}. Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M')} UTC. "
        f"Median of {args.runs} runs each.\n"
    )
    print("| command | median s | min s | max s | × floor |")
    print("|---|---|---|---|---|")
    for name, seconds in times.items():
        ratio = statistics.median(seconds) / floor
        target = TARGETS.get(name)
        shown = f"**{ratio:.2f}** (target ≤ {target:g})" if target else f"{ratio:.2f}"
        print(
            f"| {name} | {statistics.median(seconds):.3f} | {min(seconds):.3f} | "
            f"{max(seconds):.3f} | {shown} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
