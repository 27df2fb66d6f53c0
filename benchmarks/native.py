"""``verify`` and ``audit`` with the native module and on the pure-Python path, in one run.

The pure-Python path is what a plain ``pip install`` without a compiler gives (and what
``PROVENANCE_NATIVE=0`` selects on a native install): the same verdicts and reports, more slowly.
Each pair runs back to back on the same files, so the ratio is of one machine state.

    .venv/bin/python benchmarks/native.py --records 200000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, help="where data goes (default: a temp folder)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="provenance-native-bench-"))
    project = bench.BenchProject.make(workdir)
    project.env.pop("PROVENANCE_NATIVE", None)
    env, cli, n = project.env, project.cli, bench.cores()
    pure = {**env, "PROVENANCE_NATIVE": "0"}
    raw = project.generate(args.records)
    batch = project.tag(raw, "batch.jsonl", "--batch-size", "1000")
    single = project.tag(raw, "single.jsonl")
    audit_args = ["--intent", "intent.yaml", "--format", "json", "-o", str(workdir / "r.json")]

    rows = []
    for label, command in (
        ("verify, batch mode", [*cli, "verify", str(batch)]),
        ("verify, per-record mode", [*cli, "verify", str(single)]),
        ("audit, batch mode", [*cli, "audit", str(batch), *audit_args]),
        (
            "tag, batch mode",
            [
                *cli,
                "tag",
                str(raw),
                "-o",
                str(workdir / "t.jsonl"),
                *bench.TAG_OPTIONS,
                "--batch-size",
                "1000",
            ],
        ),
    ):
        fast = bench.run(label, command, args.records, cwd=workdir, env=env, workers=n)
        slow = bench.run(label, command, args.records, cwd=workdir, env=pure, workers=n)
        rows.append((label, fast, slow))

    print(
        f"Machine: {bench.cpu_model()}, {n} cores. Date: "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M')} UTC. {args.records:,} records of about "
        "1 KB.\n"
    )
    print(
        "| command | native records/s | pure-Python records/s | pure / native "
        "| peak RSS MB native / pure (all processes) |"
    )
    print("|---|---|---|---|---|")
    for label, fast, slow in rows:
        print(
            f"| {label} | {fast.rate:,.0f} | {slow.rate:,.0f} | {slow.rate / fast.rate:.2f} | "
            f"{fast.tree_rss / bench.MB:.0f} / {slow.tree_rss / bench.MB:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
