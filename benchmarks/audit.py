"""Audit throughput against verify-only throughput, in one run on the same batch-signed file.

``provenance audit`` does what ``provenance verify`` does plus grouping into record classes,
statistics, the dataset digest and the policy judgement; the target is an audit within 1.3 × the
verify time, with peak memory flat in dataset size (the same measured on a tenth of the file).

    .venv/bin/python benchmarks/audit.py --records 1000000
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
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, help="where data goes (default: a temp folder)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="provenance-audit-bench-"))
    project = bench.BenchProject.make(workdir)
    env, cli, n = project.env, project.cli, bench.cores()
    raw = project.generate(args.records)
    batch = project.tag(raw, "batch.jsonl", "--batch-size", "1000")
    tenth = workdir / "tenth.jsonl"
    bench._head(batch, tenth, args.records // 10)

    rows = []
    for label, path, count in (
        ("full file", batch, args.records),
        ("first tenth", tenth, args.records // 10),
    ):
        verify = bench.run(
            f"verify ({label})", [*cli, "verify", str(path)], count, cwd=workdir, env=env, workers=n
        )
        audit = bench.run(
            f"audit ({label})",
            [
                *cli,
                "audit",
                str(path),
                "--intent",
                "intent.yaml",
                "--format",
                "json",
                "-o",
                str(workdir / "report.json"),
            ],
            count,
            cwd=workdir,
            env=env,
            workers=n,
        )
        rows.append((label, count, verify, audit))

    print(
        f"Machine: {bench.cpu_model()}, {n} cores. Date: "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M')} UTC. Batch-signed records of about "
        "1 KB (batches of 1,000).\n"
    )
    print(
        "| file | records | verify records/s | audit records/s | audit time / verify time "
        "| peak RSS MB verify (largest / all) | peak RSS MB audit (largest / all) |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, count, verify, audit in rows:
        print(
            f"| {label} | {count:,} | {verify.rate:,.0f} | {audit.rate:,.0f} | "
            f"**{audit.seconds / verify.seconds:.2f}** (target ≤ 1.3) | "
            f"{verify.max_rss / bench.MB:.0f} / {verify.tree_rss / bench.MB:.0f} | "
            f"{audit.max_rss / bench.MB:.0f} / {audit.tree_rss / bench.MB:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
