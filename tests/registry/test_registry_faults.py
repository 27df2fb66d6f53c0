"""Faults and concurrency: ingests killed at random points, eight writers at once."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import orjson

from provenance.registry.integrity import verify_log
from provenance.registry.store import Registry
from tests.registry.registry_data import counts, signed_file

CLI = [
    sys.executable,
    "-c",
    "import sys; from provenance.cli import run; sys.argv[0] = 'provenance'; run()",
]
KILLS = 20
MOST_ATTEMPTS = 120
RECORDS = 1500
UNTAGGED = 40


def _env(db_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PROVENANCE_DATABASE_URL"] = db_url
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent.parent)
    return env


def _consistent(db_url: str) -> None:
    with Registry.open(db_url) as registry:
        report = verify_log(registry)
    assert report.ok, "\n".join(report.lines())


def _ingest(data: Path, project: Path, db_url: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*CLI, "ingest", str(data), "--format", "json"],
        cwd=project,
        env=_env(db_url),
        capture_output=True,
        check=False,
        timeout=300,
    )


def test_killed_ingest_leaves_a_consistent_store_and_a_rerun_completes_it(
    registry_project: Path, db_url: str, tmp_path: Path
) -> None:
    """Kill ingests at random points; when one completes, go on with a new file, so every kill
    lands in work still to do. After each kill the store verifies; at the end, rerunning every
    ingest completes it with exact counts."""
    files = [signed_file(registry_project / "f0.jsonl", "f0", RECORDS, untagged=UNTAGGED)]
    started = time.monotonic()
    timed = _ingest(files[0], registry_project, f"sqlite:///{tmp_path / 'timing.db'}")
    assert timed.returncode == 0, timed.stderr
    budget = time.monotonic() - started
    # Kills aimed before the process has even started its work teach nothing: start the window at
    # the time the CLI takes to start and stop with nothing to do.
    started = time.monotonic()
    idle = subprocess.run([*CLI, "--help"], env=_env(db_url), capture_output=True, check=False)
    assert idle.returncode == 0, idle.stderr
    earliest = min(time.monotonic() - started, budget / 2)
    rng = random.Random(1234)
    attempts = kills = mid_write = 0
    # At least KILLS attempts, and more (up to a bound) until three kills have landed while
    # records were being written: how many do depends on the machine's speed and load.
    while attempts < KILLS or (mid_write < 3 and attempts < MOST_ATTEMPTS):
        attempts += 1
        process = subprocess.Popen(
            [*CLI, "ingest", str(files[-1])],
            cwd=registry_project,
            env=_env(db_url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _, err = process.communicate(timeout=rng.uniform(earliest, budget))
            assert process.returncode == 0, err
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            kills += 1
        _consistent(db_url)
        stored = counts(db_url)
        done = stored["datasets"] == len(files)
        members = stored["dataset_members"] - (len(files) - 1) * (RECORDS + UNTAGGED)
        if not done and 0 < members < RECORDS + UNTAGGED:
            mid_write += 1
        if done:
            n = len(files)
            files.append(
                signed_file(registry_project / f"f{n}.jsonl", f"f{n}", RECORDS, untagged=UNTAGGED)
            )
    assert kills >= KILLS // 2
    assert mid_write >= 3, "too few kills landed while records were being written"
    for data in files:
        final = _ingest(data, registry_project, db_url)
        assert final.returncode == 0, final.stderr
    _consistent(db_url)
    n = len(files)
    total = RECORDS + UNTAGGED
    stored = counts(db_url)
    assert stored["manifests"] == n * RECORDS
    assert stored["contributions"] == n * RECORDS
    assert stored["dataset_members"] == n * total
    assert stored["datasets"] == n
    assert stored["log_entries"] == 2 + n * (RECORDS + total + 1)
    again = _ingest(files[0], registry_project, db_url)
    assert orjson.loads(again.stdout)["members_added"] == 0
    assert counts(db_url) == stored


def test_eight_concurrent_writers_lose_and_duplicate_nothing(
    registry_project: Path, db_url: str
) -> None:
    files = [signed_file(registry_project / f"w{i}.jsonl", f"w{i}", 300) for i in range(6)]
    jobs = [*files, files[0], files[1]]  # two datasets ingested twice at the same time
    processes = [
        subprocess.Popen(
            [*CLI, "ingest", str(path), "--format", "json"],
            cwd=registry_project,
            env=_env(db_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for path in jobs
    ]
    results = [p.communicate(timeout=300) for p in processes]
    for process, (out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err.decode()
        assert b"locked" not in err.lower(), err.decode()
        assert orjson.loads(out)["records"] == 300
    stored = counts(db_url)
    assert stored["datasets"] == 6
    assert stored["manifests"] == 1800
    assert stored["dataset_members"] == 1800
    assert stored["trust_states"] == 1
    assert stored["keys"] == 1
    assert stored["log_entries"] == 2 + 1800 + 1800 + 6
    _consistent(db_url)
    with Registry.open(db_url) as registry:
        snapshot = registry.snapshot()
    assert sorted(d.name for d in snapshot.datasets) == [f"w{i}" for i in range(6)]
    assert all(d.records == 300 and d.synthetic == 300 for d in snapshot.datasets)
