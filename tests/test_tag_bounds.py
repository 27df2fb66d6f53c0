"""Hostile input to ``provenance tag``: every line it writes is one ``provenance verify`` reads.

A line too long (as it stands or once signed), too deep or otherwise refused by the reader is
refused by the tagger with its file and line, exit 2, before anything is signed and on every path
(one process or workers, per-record or batch mode, plain, compressed, piped or standard input,
file or stream output); the whole run is refused, as for a line that is not JSON, and nothing is
left behind. An overlong line is found while it is read, without holding it.
"""

from __future__ import annotations

import gzip
import io
import os
import resource
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from provenance.errors import InputError
from provenance.keys import PrivateKeySigner
from provenance.limits import DEFAULT_LIMITS
from provenance.sign import Tagger
from provenance.sign import lines as tagging
from tests.bounds import MiB, run_bounded
from tests.conftest import TAG, Runner, chat_records, read_jsonl

MAX = DEFAULT_LIMITS.max_record_bytes
DEPTH = DEFAULT_LIMITS.max_json_depth


def _record(text_bytes: int, id_: object = 3) -> bytes:
    """A record line of ``text_bytes`` bytes in all."""
    head = b'{"id":' + orjson.dumps(id_) + b',"text":"'
    return head + b"x" * (text_bytes - len(head) - 2) + b'"}'


def _lines(*middle: bytes) -> bytes:
    """Two plain records, a blank line, ``middle``, and a last record."""
    return b'{"id":1}\n\n{"id":2}\n' + b"\n".join(middle) + b'\n{"id":9}\n'


def _nested(depth: int) -> bytes:
    """A record nested ``depth`` levels deep (the record itself is level 1)."""
    return b'{"id":3,"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".out"))


PATHS = [
    pytest.param(("--workers", "1"), id="one-process"),
    pytest.param(("--workers", "2"), id="workers"),
    pytest.param(("--workers", "1", "--batch-size", "3"), id="batch"),
    pytest.param(("--workers", "2", "--batch-size", "3"), id="batch-workers"),
]


@pytest.mark.parametrize("options", PATHS)
@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_a_line_longer_than_verify_reads_is_refused_with_file_and_line(
    project_dir: Path, cli: Runner, options: tuple[str, ...], suffix: str
) -> None:
    data = _lines(_record(MAX + 1))
    source = project_dir / f"in{suffix}"
    source.write_bytes(gzip.compress(data, 1) if suffix.endswith(".gz") else data)
    result = cli("tag", source.name, "-o", "out.jsonl", *TAG, *options)
    assert result.code == 2
    assert f"{source.name}:4: line longer than {MAX} bytes" in result.err
    assert "Traceback" not in result.err
    assert not (project_dir / "out.jsonl").exists()
    assert _leftovers(project_dir) == []


@pytest.mark.parametrize("options", PATHS)
def test_a_line_that_fits_only_without_its_manifest_is_refused(
    project_dir: Path, cli: Runner, options: tuple[str, ...]
) -> None:
    (project_dir / "in.jsonl").write_bytes(_lines(_record(MAX)))
    result = cli("tag", "in.jsonl", "-o", "out.jsonl", *TAG, *options)
    assert result.code == 2
    assert f"in.jsonl:4: line longer than {MAX} bytes once signed (" in result.err
    assert not (project_dir / "out.jsonl").exists()
    assert _leftovers(project_dir) == []
    # An id is written into the statement too: a long one can push the record over.
    (project_dir / "in.jsonl").write_bytes(_lines(_record(MAX - 4000, id_="i" * 4000)))
    pushed = cli("tag", "in.jsonl", "-o", "out.jsonl", *TAG, *options)
    assert pushed.code == 2 and "in.jsonl:4: line longer than" in pushed.err


@pytest.mark.parametrize("options", PATHS)
def test_the_longest_line_that_fits_once_signed_is_signed_and_verifies(
    project_dir: Path, cli: Runner, options: tuple[str, ...]
) -> None:
    (project_dir / "in.jsonl").write_bytes(_lines(_record(MAX - 2500)))
    result = cli("tag", "in.jsonl", "-o", "out.jsonl", *TAG, *options)
    assert result.code == 0, result.err
    lines = (project_dir / "out.jsonl").read_bytes().splitlines()
    assert max(len(line) for line in lines) <= MAX
    checked = cli("verify", "out.jsonl")
    assert checked.code == 0, checked.out + checked.err
    assert "PASS: 4 records" in checked.out


# Each case: the input lines, the tag options, and the input line tag refuses (None: it signs).
LIMIT_CASES = [
    pytest.param([_nested(DEPTH)], (), None, id="depth-at-limit"),
    pytest.param([_nested(DEPTH + 1)], (), 4, id="depth-over-limit"),
    pytest.param([b'{"id":3,"n":9007199254740991}'], (), None, id="largest-safe-integer"),
    pytest.param([b'{"id":3,"n":9007199254740992}'], (), 4, id="unsafe-integer"),
    pytest.param([b'{"id":3,"id":4}'], (), 4, id="duplicate-key"),
    pytest.param([b'{"id":3,"s":"\\ud800"}'], (), 4, id="lone-surrogate"),
    pytest.param([b'{"id":3,"s":"\xff"}'], (), 4, id="invalid-utf-8"),
    pytest.param([b'{"id":3,"n":NaN}'], (), 4, id="nan"),
    pytest.param([b"[1,2]"], (), 4, id="not-an-object"),
    pytest.param([_record(MAX - 2500)], (), None, id="long-line-that-fits"),
    pytest.param([_record(MAX)], (), 4, id="long-line-once-signed"),
    pytest.param([_record(MAX + 1)], (), 4, id="long-line"),
    pytest.param([_record(MAX // 2)] * 2, ("--batch-size", "2"), None, id="two-long-lines-batch"),
    pytest.param(
        [b'{"id":3}'], ("--batch-size", str(DEFAULT_LIMITS.max_batch_size)), None, id="batch-max"
    ),
]


@pytest.mark.parametrize(("middle", "options", "refused"), LIMIT_CASES)
@pytest.mark.parametrize("workers", ["1", "2"])
def test_every_line_tag_writes_verify_reads(
    project_dir: Path,
    cli: Runner,
    middle: list[bytes],
    options: tuple[str, ...],
    refused: int | None,
    workers: str,
) -> None:
    (project_dir / "in.jsonl").write_bytes(_lines(*middle))
    result = cli("tag", "in.jsonl", "-o", "out.jsonl", *TAG, *options, "--workers", workers)
    if refused is not None:
        assert result.code == 2
        assert f"in.jsonl:{refused}:" in result.err
        assert "Traceback" not in result.err
        assert not (project_dir / "out.jsonl").exists()
        assert _leftovers(project_dir) == []
        return
    assert result.code == 0, result.err
    checked = cli("verify", "out.jsonl")
    assert checked.code == 0, checked.out + checked.err
    assert f"PASS: {3 + len(middle)} records" in checked.out


def test_batch_sizes_and_parts_beyond_the_limits_are_refused_before_signing(
    project_dir: Path, cli: Runner
) -> None:
    (project_dir / "in.jsonl").write_bytes(_lines(b'{"id":3}'))
    most = DEFAULT_LIMITS.max_batch_size
    over = cli("tag", "in.jsonl", "-o", "out.jsonl", *TAG, "--batch-size", str(most + 1))
    assert over.code == 2 and f"batch size must be between 1 and {most}" in over.err
    most_parts = DEFAULT_LIMITS.max_contributions
    record = {"id": 3} | {f"p{i}": i for i in range(most_parts + 1)}
    (project_dir / "in.jsonl").write_bytes(orjson.dumps(record) + b"\n")
    for count, code in ((most_parts, 0), (most_parts + 1, 2)):
        parts = "".join(f"/p{i}: {{provider: openai, model: gpt-4o}}\n" for i in range(count))
        (project_dir / "parts.yaml").write_text(parts)
        result = cli(
            "tag",
            "in.jsonl",
            "-o",
            "out.jsonl",
            "--key",
            "gen",
            "--parts",
            "parts.yaml",
            "--generated-at",
            "2024-06-01",
        )
        assert result.code == code, result.err
        if code:
            assert f"{count} contributions, more than the {most_parts}" in result.err
        else:
            assert cli("verify", "out.jsonl").code == 0
        (project_dir / "out.jsonl").unlink(missing_ok=True)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_first_bad_line_in_input_order_is_named(
    project_dir: Path, cli: Runner, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Today's rule for a line that is not JSON holds for a line too long: the first bad line is
    named, whatever kind, and the run signs nothing."""
    monkeypatch.setattr(tagging, "TASK_BYTES", 4096)
    records = [orjson.dumps(r) for r in chat_records(400)]
    long = _record(MAX + 1)
    for bad, later in ((b'{"id": nope}', long), (long, b'{"id": nope}')):
        lines = [*records[:150], bad, *records[150:300], later, *records[300:]]
        (project_dir / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
        result = cli("tag", "in.jsonl", "-o", "out.jsonl", *TAG, "--workers", str(workers))
        assert result.code == 2
        assert "in.jsonl:151:" in result.err, result.err
        assert not (project_dir / "out.jsonl").exists()
        assert _leftovers(project_dir) == []


def _write_in_chunks(path: Path, before: bytes, size: int, after: bytes) -> None:
    """``before``, a JSON string member of ``size`` bytes, ``after``: written a MiB at a time."""
    chunk = b"x" * MiB
    with path.open("wb") as out:
        out.write(before + b'"big":"')
        for _ in range(size // MiB):
            out.write(chunk)
        out.write(b'"}' + after)


@pytest.fixture
def huge_line(project_dir: Path) -> Iterator[Path]:
    """``huge.jsonl``: line 3 is 700 MB; deleted afterwards."""
    path = project_dir / "huge.jsonl"
    _write_in_chunks(path, b'{"id":1}\n{"id":2}\n{"id":3,', 700 * MiB, b'\n{"id":4}\n')
    yield path
    path.unlink(missing_ok=True)


@pytest.mark.parametrize("options", [(), ("--workers", "2", "--batch-size", "100")])
def test_a_700_mb_line_is_refused_within_600_mb_of_memory(
    project_dir: Path, huge_line: Path, options: tuple[str, ...]
) -> None:
    result = run_bounded(
        ["tag", huge_line.name, "-o", "out.jsonl", *TAG, *options],
        cwd=project_dir,
        memory=600 * MiB,
        cpu_seconds=60,
    )
    assert result.code == 2, (result.killed_by, result.err[-2000:])
    assert f"huge.jsonl:3: line longer than {MAX} bytes" in result.err
    assert "Traceback" not in result.err and "MemoryError" not in result.err
    assert not (project_dir / "out.jsonl").exists()
    assert _leftovers(project_dir) == []


def test_a_700_mb_line_compressed_is_refused_within_600_mb_of_memory(project_dir: Path) -> None:
    plain = project_dir / "huge.raw"
    _write_in_chunks(plain, b'{"id":1}\n{"id":2,', 700 * MiB, b"\n")
    source = project_dir / "huge.jsonl.gz"
    with plain.open("rb") as raw, gzip.open(source, "wb", compresslevel=1) as packed:
        while block := raw.read(8 * MiB):
            packed.write(block)
    plain.unlink()
    result = run_bounded(
        ["tag", source.name, "-o", "out.jsonl.gz", *TAG, "--workers", "2"],
        cwd=project_dir,
        memory=600 * MiB,
        cpu_seconds=60,
    )
    assert result.code == 2, (result.killed_by, result.err[-2000:])
    assert f"huge.jsonl.gz:2: line longer than {MAX} bytes" in result.err
    assert "Traceback" not in result.err
    assert not (project_dir / "out.jsonl.gz").exists()
    assert _leftovers(project_dir) == []


def test_a_700_mb_line_on_standard_input_is_refused_within_600_mb_of_memory(
    project_dir: Path, huge_line: Path
) -> None:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (600 * MiB, 600 * MiB))
        resource.setrlimit(resource.RLIMIT_CPU, (60, 65))

    env = {k: v for k, v in os.environ.items() if k != "PROVENANCE_HOME"}
    with huge_line.open("rb") as stdin:
        done = subprocess.run(
            [sys.executable, "-m", "provenance", "tag", "-", "-o", "-", *TAG],
            cwd=project_dir,
            env=env,
            stdin=stdin,
            capture_output=True,
            preexec_fn=limit,
            check=False,
        )
    err = done.stderr.decode()
    assert done.returncode == 2, err[-2000:]
    assert f"<stdin>:3: line longer than {MAX} bytes" in err
    assert "Traceback" not in err
    # Written as signed: the two records before the long line, then the exit code says stop.
    assert [orjson.loads(line)["id"] for line in done.stdout.splitlines()] == [1, 2]


def test_standard_input_and_output(
    project_dir: Path, cli: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = b"".join(orjson.dumps(r) + b"\n" for r in chat_records(5))
    stdout = io.BytesIO()
    with monkeypatch.context() as streams:
        streams.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
        streams.setattr(sys, "stdout", io.TextIOWrapper(stdout))
        result = cli("tag", "-", "-o", "-", *TAG)
        sys.stdout.flush()
        signed = stdout.getvalue()
    assert result.code == 0
    assert "signed 5 records → -" in result.err  # the summary keeps out of the data
    (project_dir / "out.jsonl").write_bytes(signed)
    assert len(read_jsonl(project_dir / "out.jsonl")) == 5
    assert cli("verify", "out.jsonl").code == 0
    sidecar = cli("tag", "-", "-o", "-", *TAG, "--batch-size", "2", "--batch-sidecar")
    assert sidecar.code == 2 and "give -o FILE" in sidecar.err


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def test_a_named_pipe_is_read_and_written_as_a_stream(project_dir: Path, cli: Runner) -> None:
    """A pipe is read by the process that reads it (a worker cannot seek in it) and written in
    place (never replaced by a file)."""
    raw = b"".join(orjson.dumps(r) + b"\n" for r in chat_records(7))
    source, target = _fifo(project_dir / "in.jsonl"), _fifo(project_dir / "out.jsonl")
    received = bytearray()

    def feed() -> None:
        with source.open("wb") as out:
            out.write(raw)

    def drain() -> None:
        with target.open("rb") as inp:
            received.extend(inp.read())

    threads = [threading.Thread(target=feed), threading.Thread(target=drain)]
    for thread in threads:
        thread.start()
    result = cli("tag", "in.jsonl", "-o", "out.jsonl", *TAG, "--workers", "2")
    for thread in threads:
        thread.join()
    assert result.code == 0, result.err
    assert target.is_fifo()
    (project_dir / "signed.jsonl").write_bytes(bytes(received))
    checked = cli("verify", "signed.jsonl")
    assert checked.code == 0 and "PASS: 7 records" in checked.out


def test_the_sdk_writer_refuses_a_record_too_long_once_signed(tmp_path: Path) -> None:
    tagger = Tagger(PrivateKeySigner.generate(), provider="openai", model="gpt-4o")
    with tagger.writer(tmp_path / "out.jsonl") as writer:
        writer.write({"id": 1})
        too_long = f"record 2 is [0-9]+ bytes once signed, longer than the {MAX} bytes"
        with pytest.raises(InputError, match=too_long):
            writer.write({"id": 2, "text": "x" * (MAX - 100)})
    assert [r["id"] for r in read_jsonl(tmp_path / "out.jsonl")] == [1]


@pytest.mark.skipif(
    os.geteuid() == 0, reason="as root, a regression would replace /dev/stdout for the machine"
)
def test_dev_stdout_is_written_in_place(project_dir: Path) -> None:
    (project_dir / "in.jsonl").write_bytes(
        b"".join(orjson.dumps(r) + b"\n" for r in chat_records(3))
    )
    env = {k: v for k, v in os.environ.items() if k != "PROVENANCE_HOME"}
    with (project_dir / "redirected.jsonl").open("wb") as stdout:
        done = subprocess.run(
            [sys.executable, "-m", "provenance", "tag", "in.jsonl", "-o", "/dev/stdout", *TAG],
            cwd=project_dir,
            env=env,
            stdout=stdout,
            stderr=subprocess.PIPE,
            check=False,
        )
    assert done.returncode == 0, done.stderr.decode()
    assert len(read_jsonl(project_dir / "redirected.jsonl")) == 3
    assert Path("/dev/stdout").is_symlink()
