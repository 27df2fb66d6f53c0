"""Data folders: every real file is read once, links out of a folder are left unless asked for,
and what was skipped is named on stderr.

The records are batch-signed, so a record read twice shows: its leaf appears twice in its batch
(``bad-proof``). Commands that could walk without end run in a child process under a CPU-time
limit (``tests/bounds.py``), never under a timed assertion.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from provenance.sources import walk_data
from tests.bounds import GiB, run_bounded
from tests.conftest import TAG, Runner, chat_records, write_jsonl
from tests.report.helpers import intent_file

RECORDS = 10


def _signed(project_dir: Path, cli: Runner, path: Path, prefix: str) -> Path:
    raw = write_jsonl(
        project_dir / f"raw-{prefix}.jsonl",
        [{**r, "id": f"{prefix}-{i}"} for i, r in enumerate(chat_records(RECORDS))],
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    made = cli("tag", raw, "-o", path, *TAG, "--batch-size", "5")
    assert made.code == 0, made.err
    return path


@pytest.fixture
def data(project_dir: Path, cli: Runner) -> Path:
    """``data/a.jsonl``: ten batch-signed records."""
    _signed(project_dir, cli, project_dir / "data" / "a.jsonl", "a")
    return project_dir / "data"


@pytest.fixture
def looped(data: Path) -> Path:
    """``data`` with two links to itself: 2^40 paths for a walk that follows links blindly."""
    (data / "loop1").symlink_to(".")
    (data / "loop2").symlink_to(".")
    return data


LOOP_NOTES = (
    "provenance: skipped data/loop1: a link back into data (read once)",
    "provenance: skipped data/loop2: a link back into data (read once)",
)


def _bounded(project_dir: Path, *args: str | Path) -> tuple[int, str, str]:
    done = run_bounded(args, cwd=project_dir, memory=2 * GiB, cpu_seconds=60)
    assert done.killed_by is None, (done.killed_by, done.err[-2000:])
    return done.code, done.out, done.err


# ---- loops -------------------------------------------------------------------------------------


def test_verify_reads_a_folder_with_two_links_to_itself_once(
    project_dir: Path, looped: Path
) -> None:
    code, out, err = _bounded(project_dir, "verify", "data")
    assert code == 0, out + err
    assert f"PASS: {RECORDS} records in 1 file: {RECORDS} ok" in out
    assert "bad-proof" not in out
    for note in LOOP_NOTES:
        assert note in err


def test_audit_reads_a_folder_with_two_links_to_itself_once(
    project_dir: Path, looped: Path
) -> None:
    intent = intent_file(project_dir, "intent")
    code, out, err = _bounded(
        project_dir, "audit", "data", "--intent", intent, "--format", "json", "--fail-on", "never"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["files"] == ["data/a.jsonl"]
    assert report["summary"]["records"] == RECORDS
    assert report["summary"]["verification"] == {"ok": RECORDS}
    for note in LOOP_NOTES:
        assert note in err


def test_ingest_reads_a_folder_with_two_links_to_itself_once(
    project_dir: Path, looped: Path
) -> None:
    db = f"sqlite:///{project_dir / 'registry.db'}"
    code, out, err = _bounded(project_dir, "ingest", "data", "--db", db, "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    assert result["dataset"] == "data"
    assert result["records"] == RECORDS
    assert result["verification"] == {"ok": RECORDS}
    assert result["manifests_added"] == RECORDS
    for note in LOOP_NOTES:
        assert note in err


# ---- links out of the folder -------------------------------------------------------------------


@pytest.fixture
def linked_out(project_dir: Path, cli: Runner, data: Path) -> Path:
    """``data`` with a link to a folder outside it and one to a file outside it."""
    _signed(project_dir, cli, project_dir / "elsewhere" / "b.jsonl", "b")
    _signed(project_dir, cli, project_dir / "other.jsonl", "c")
    (data / "more").symlink_to("../elsewhere")
    (data / "c.jsonl").symlink_to("../other.jsonl")
    return data


def test_links_out_of_a_folder_are_skipped_with_a_note(linked_out: Path, cli: Runner) -> None:
    result = cli("verify", "data")
    assert result.code == 0, result.out + result.err
    assert f"{RECORDS} records in 1 file" in result.out
    assert "provenance: skipped data/c.jsonl: a link out of data (--follow-links reads it)" in (
        result.err
    )
    assert "provenance: skipped data/more: a link out of data (--follow-links reads it)" in (
        result.err
    )


def test_follow_links_reads_links_out_of_a_folder(linked_out: Path, cli: Runner) -> None:
    result = cli("verify", "data", "--follow-links", "--format", "json")
    assert result.code == 0, result.out + result.err
    report = json.loads(result.out)
    assert report["files"] == ["data/a.jsonl", "data/c.jsonl", "data/more/b.jsonl"]
    assert report["total"] == 3 * RECORDS
    assert "skipped" not in result.err


def test_a_link_given_on_the_command_line_is_followed(
    project_dir: Path, linked_out: Path, cli: Runner
) -> None:
    result = cli("verify", "data/more", "data/c.jsonl")
    assert result.code == 0, result.out + result.err
    assert f"{2 * RECORDS} records in 2 files" in result.out
    assert "skipped" not in result.err


def test_a_link_inside_the_folder_is_followed(project_dir: Path, cli: Runner, data: Path) -> None:
    _signed(project_dir, cli, data / ".cache" / "h.jsonl", "h")  # hidden: not walked itself
    (data / "h.jsonl").symlink_to(".cache/h.jsonl")
    result = cli("verify", "data", "--format", "json")
    assert result.code == 0, result.out + result.err
    assert json.loads(result.out)["files"] == ["data/a.jsonl", "data/h.jsonl"]
    assert "skipped" not in result.err


# ---- one file by several paths -----------------------------------------------------------------


def test_a_hard_link_is_read_once(project_dir: Path, cli: Runner, data: Path) -> None:
    os.link(data / "a.jsonl", data / "b.jsonl")
    result = cli("verify", "data")
    assert result.code == 0, result.out + result.err
    assert f"PASS: {RECORDS} records in 1 file" in result.out
    assert "provenance: skipped data/b.jsonl: the same file as data/a.jsonl (read once)" in (
        result.err
    )


def test_a_link_to_a_file_of_the_folder_is_read_once(cli: Runner, data: Path) -> None:
    (data / "0-first.jsonl").symlink_to("a.jsonl")  # sorts first; the real path still wins
    result = cli("verify", "data", "--format", "json")
    assert result.code == 0, result.out + result.err
    assert json.loads(result.out)["files"] == ["data/a.jsonl"]
    assert "provenance: skipped data/0-first.jsonl: a link back into data (read once)" in (
        result.err
    )


@pytest.mark.parametrize(
    "args",
    [
        ("data/a.jsonl", "data/a.jsonl"),
        ("data", "data/a.jsonl"),
        ("data/a.jsonl", "./data/a.jsonl"),
        ("data", "data"),
        ("data/*.jsonl", "data"),
    ],
)
def test_the_same_file_given_twice_is_read_once(
    cli: Runner, data: Path, args: tuple[str, ...]
) -> None:
    result = cli("verify", *args)
    assert result.code == 0, result.out + result.err
    assert f"PASS: {RECORDS} records in 1 file" in result.out
    assert "bad-proof" not in result.out
    assert "provenance: skipped " in result.err


def test_ingest_counts_a_hard_linked_file_once(project_dir: Path, cli: Runner, data: Path) -> None:
    os.link(data / "a.jsonl", data / "b.jsonl")
    result = cli("ingest", "data", "--db", f"sqlite:///{project_dir / 'r.db'}", "--format", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["records"] == RECORDS


# ---- the walk itself ---------------------------------------------------------------------------


def test_files_come_out_sorted_by_path_and_the_same_every_time(workdir: Path) -> None:
    for name in ("b/z.jsonl", "b.jsonl", "a/c/d.jsonl", "c.jsonl", "a.jsonl", "a/b.jsonl"):
        (workdir / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / "data" / name).write_text("{}\n")
    walk = walk_data(["data"])
    names = [p.relative_to("data").as_posix() for p in walk.files]
    assert names == ["a/b.jsonl", "a/c/d.jsonl", "a.jsonl", "b/z.jsonl", "b.jsonl", "c.jsonl"]
    assert walk.skipped == ()


def test_a_pipe_in_a_folder_is_never_opened(workdir: Path) -> None:
    folder = workdir / "data"
    folder.mkdir()
    (folder / "a.jsonl").write_text("{}\n")
    os.mkfifo(folder / "pipe.jsonl")
    walk = walk_data(["data"])
    assert walk.files == (Path("data/a.jsonl"),)
    assert [s.note() for s in walk.skipped] == [
        "provenance: skipped data/pipe.jsonl: not a regular file"
    ]


def test_a_broken_link_with_a_data_name_is_an_error(workdir: Path, cli: Runner) -> None:
    folder = workdir / "data"
    folder.mkdir()
    (folder / "a.jsonl").write_text("{}\n")
    (folder / "gone.jsonl").symlink_to("missing.jsonl")
    result = cli("verify", "data")
    assert result.code == 2
    assert "data/gone.jsonl: a link that leads nowhere" in result.err


def test_many_skipped_paths_are_summed_up_in_one_line(workdir: Path) -> None:
    folder = workdir / "data"
    folder.mkdir()
    (folder / "a.jsonl").write_text("{}\n")
    for i in range(25):
        os.link(folder / "a.jsonl", folder / f"copy-{i:02d}.jsonl")
    lines = walk_data(["data"]).notes()
    assert len(lines) == 11
    assert lines[-1] == "provenance: skipped 15 more path(s) for the same reasons"
