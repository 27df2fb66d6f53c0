"""A command stopped by SIGTERM (CI runners, schedulers, ``timeout``) or SIGINT (Ctrl-C) cleans up.

Nothing of it is left: no temporary output next to the destination, no spool folder under
/dev/shm, no worker process; the destination is what it was before; the exit code is 128 plus the
signal number (143, 130), with one line on stderr and no traceback. The signal may reach the
command alone or its whole process group, as a CI runner or ``timeout`` sends it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson
import pytest

from provenance.sign import parallel as tagging
from tests.conftest import TAG

SPOOL = Path(tagging._spool_root() or tempfile.gettempdir())
"""Where the tagger's workers leave their output: /dev/shm where it can."""

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc for processes")


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid``."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting to be reaped does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _wait_for(what: Callable[[], bool], child: subprocess.Popen[bytes]) -> None:
    """Wait until ``what()`` holds while ``child`` runs (a guard stops a test that would hang)."""
    guard = time.monotonic() + 300
    while not what():
        assert child.poll() is None, child.communicate()[1].decode()[-2000:]
        assert time.monotonic() < guard, "the command never got that far"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def many_records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400,000 short records: a few seconds of signing, one signature each."""
    path = tmp_path_factory.mktemp("input") / "many.jsonl"
    with path.open("wb") as out:
        for start in range(0, 400_000, 10_000):
            out.write(
                b"".join(
                    orjson.dumps({"id": i, "text": f"answer {i}"}) + b"\n"
                    for i in range(start, start + 10_000)
                )
            )
    return path


def _start(args: Sequence[str | os.PathLike[str]], cwd: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "PROVENANCE_HOME"}
    return subprocess.Popen(
        [sys.executable, "-m", "provenance", *(str(a) for a in args)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, which a group signal reaches
    )


def _stop(child: subprocess.Popen[bytes], signum: int, group: bool) -> tuple[int, str]:
    if group:
        os.killpg(child.pid, signum)
    else:
        child.send_signal(signum)
    _, err = child.communicate(timeout=300)
    return child.returncode, err.decode()


SIGNALS = [
    pytest.param(signal.SIGTERM, False, id="SIGTERM"),
    pytest.param(signal.SIGTERM, True, id="SIGTERM-group"),
    pytest.param(signal.SIGINT, False, id="SIGINT"),
    pytest.param(signal.SIGINT, True, id="SIGINT-group"),
]
OUTPUTS = [
    pytest.param("out.jsonl", ("--workers", "2"), id="workers-into-file"),
    pytest.param("out.jsonl.gz", ("--workers", "2"), id="workers-spooled"),
    pytest.param("out.jsonl", ("--workers", "1"), id="one-process"),
]


@pytest.mark.parametrize(("signum", "group"), SIGNALS)
@pytest.mark.parametrize(("name", "options"), OUTPUTS)
def test_tag_stopped_by_a_signal_leaves_nothing_behind(
    project_dir: Path,
    many_records: Path,
    signum: int,
    group: bool,
    name: str,
    options: tuple[str, ...],
) -> None:
    destination = project_dir / name
    destination.write_bytes(b"the previous output\n")
    child = _start(["tag", many_records, "-o", name, *TAG, *options], project_dir)
    spool = f"provenance-tag-{child.pid}-"

    def temporary() -> list[Path]:
        return [p for p in project_dir.iterdir() if p.name.startswith(f".{name}.")]

    def signing() -> bool:
        return any(p.stat().st_size > 0 for p in temporary())

    _wait_for(signing, child)
    if options[-1] != "1":
        _wait_for(lambda: any(p.name.startswith(spool) for p in SPOOL.iterdir()), child)
    workers = _children(child.pid)
    code, err = _stop(child, signum, group)

    assert code == 128 + signum, err[-2000:]
    word = "terminated" if signum == signal.SIGTERM else "interrupted"
    assert f"provenance: {word} ({signal.Signals(signum).name})" in err
    assert "Traceback" not in err
    assert temporary() == []
    assert [p.name for p in SPOOL.iterdir() if p.name.startswith(spool)] == []
    assert [pid for pid in workers if _alive(pid)] == []
    assert destination.read_bytes() == b"the previous output\n"


INTENT = Path(__file__).parent.parent / "examples" / "intents" / "internal-classifier.yaml"
READERS = [
    pytest.param(("verify",), id="verify"),
    pytest.param(("audit", "--intent", INTENT), id="audit"),
    pytest.param(("ingest", "--db", "sqlite:///registry.db"), id="ingest"),
]


@pytest.mark.parametrize(("signum", "group"), SIGNALS[:2])
@pytest.mark.parametrize("command", READERS)
def test_commands_that_read_data_stopped_by_sigterm_stop_their_workers(
    project_dir: Path,
    many_records: Path,
    signum: int,
    group: bool,
    command: tuple[str | Path, ...],
) -> None:
    name, *options = command
    child = _start([name, many_records, *options, "--workers", "2"], project_dir)
    _wait_for(lambda: len(_children(child.pid)) >= 2, child)
    workers = _children(child.pid)
    code, err = _stop(child, signum, group)
    assert code == 128 + signum, err[-2000:]
    assert "provenance: terminated (SIGTERM)" in err
    assert "Traceback" not in err
    assert [pid for pid in workers if _alive(pid)] == []
    assert sorted(p.name for p in project_dir.iterdir() if p.name.startswith("registry")) in (
        [],
        ["registry.db"],
    )
