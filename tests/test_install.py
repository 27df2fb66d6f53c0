"""The package as users install it.

An sdist and a wheel are built from this checkout (the wheel from the sdist, so the sdist is known
to carry everything), then installed non-editable into fresh virtualenvs in a temporary folder
outside the checkout:

* the wheel, with its native module built;
* the sdist, with the native build made impossible (``CC=false``): the install must still succeed.

From an empty folder each install must find the terms library it ships, sign the example corpus,
and give the same ``verify`` and ``audit`` JSON reports, byte for byte (apart from the report's
own time), as the checkout's install, bad records included.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from tests.conftest import TAG

ROOT = Path(__file__).resolve().parent.parent
CHECKOUT_BIN = Path(sys.executable).parent
GENERATED_AT = re.compile(rb'"generated_at": "[^"]+"')


@dataclass(frozen=True)
class Install:
    """One installed copy of provenance: its virtualenv's bin folder."""

    name: str
    bin: Path

    def run(self, *args: str, cwd: Path, env: dict[str, str] | None = None) -> Result:
        return _run([str(self.bin / "provenance"), *args], cwd=cwd, env=env)

    def python(self, *args: str, cwd: Path) -> Result:
        return _run([str(self.bin / "python"), *args], cwd=cwd)


@dataclass(frozen=True)
class Result:
    code: int
    out: bytes
    err: str


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PROVENANCE_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(extra or {})
    return env


def _run(
    argv: list[str], *, cwd: Path, env: dict[str, str] | None = None, check: bool = False
) -> Result:
    done = subprocess.run(argv, cwd=cwd, env=_clean_env(env), capture_output=True, timeout=600)
    result = Result(done.returncode, done.stdout, done.stderr.decode("utf-8", "replace"))
    if check and done.returncode != 0:
        raise AssertionError(f"{argv} exited {done.returncode}:\n{result.err}\n{done.stdout!r}")
    return result


def _once(
    tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], object]
) -> Path:
    """A folder made once per test session, whichever pytest-xdist worker asks first."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    folder = base / name
    with (base / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            (folder / ".done").touch()
    return folder


def _build_dists(folder: Path) -> None:
    """An sdist and a wheel built from a copy of the tracked files (so no local build/ or .so can
    leak in), the wheel from the sdist."""
    source = folder / "source"
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        path = ROOT / name.decode()
        if path.is_file():
            target = source / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    _run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "-o", str(folder), "."],
        cwd=source,
        check=True,
    )


def _venv(folder: Path, *requirements: str, env: dict[str, str] | None = None) -> Path:
    """A fresh virtualenv with ``requirements`` installed (by this interpreter's pip)."""
    _run(
        [sys.executable, "-m", "venv", "--without-pip", str(folder)], cwd=folder.parent, check=True
    )
    python = folder / "bin" / "python"
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", *requirements],
        cwd=folder.parent,
        env={"PIP_DISABLE_PIP_VERSION_CHECK": "1", **(env or {})},
        check=True,
    )
    return folder / "bin"


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _once(tmp_path_factory, "dists", _build_dists)


def _dist(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {folder}, found {found}"
    return found[0]


@pytest.fixture(scope="session")
def wheel_install(dists: Path, tmp_path_factory: pytest.TempPathFactory) -> Install:
    wheel = _dist(dists, "provenance-*.whl")
    folder = _once(
        tmp_path_factory, "wheel-install", lambda f: _venv(f / "venv", f"{wheel}[arrow]")
    )
    return Install("wheel", folder / "venv" / "bin")


@pytest.fixture(scope="session")
def pure_install(dists: Path, tmp_path_factory: pytest.TempPathFactory) -> Install:
    sdist = _dist(dists, "provenance-*.tar.gz")

    def make(folder: Path) -> None:
        # No compiler: the native build fails, the install must not. --no-cache-dir: pip must
        # not reuse a wheel it built from this sdist with a compiler.
        _venv(
            folder / "venv",
            "--no-cache-dir",
            f"provenance[arrow] @ file://{sdist}",
            env={"CC": "false", "LDSHARED": "false"},
        )

    folder = _once(tmp_path_factory, "pure-install", make)
    return Install("pure", folder / "venv" / "bin")


CHECKOUT = Install("checkout", CHECKOUT_BIN)


def test_the_sdist_and_the_wheel_carry_the_terms_library(dists: Path) -> None:
    import tarfile
    import zipfile

    library = sorted(
        p.relative_to(ROOT / "policies").as_posix() for p in (ROOT / "policies").rglob("*.yaml")
    )
    with zipfile.ZipFile(_dist(dists, "provenance-*.whl")) as wheel:
        names = wheel.namelist()
    shipped = sorted(
        n.removeprefix("provenance/_library/") for n in names if n.startswith("provenance/_lib")
    )
    assert shipped == library
    assert not any(n.endswith(".c") for n in names)
    with tarfile.open(_dist(dists, "provenance-*.tar.gz")) as sdist:
        members = [m.name for m in sdist.getmembers() if m.isfile()]
    assert sum("/policies/terms/" in m for m in members) == sum(
        1 for p in library if p.startswith("terms/")
    )
    assert any(m.endswith("provenance/_native.c") for m in members)


def test_the_wheel_needs_neither_pytest_nor_the_extras(dists: Path) -> None:
    import zipfile

    with zipfile.ZipFile(_dist(dists, "provenance-*.whl")) as wheel:
        metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        lines = wheel.read(metadata).decode().splitlines()
    required = [
        line for line in lines if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    names = {re.split(r"[<>=\[ ;]", line.split(":", 1)[1].strip())[0].lower() for line in required}
    assert {"pytest", "pyarrow", "psycopg"}.isdisjoint(names)
    assert {"typer", "cryptography", "pyyaml", "sqlmodel", "networkx"} <= names


def test_without_a_compiler_the_install_succeeds_on_the_pure_python_path(
    pure_install: Install, tmp_path: Path
) -> None:
    site = list((pure_install.bin.parent / "lib").glob("python*/site-packages/provenance"))
    assert site and not list(site[0].glob("_native*.so"))
    version = pure_install.run("--version", cwd=tmp_path)
    assert version.code == 0
    assert "native fast path: not built" in version.out.decode()


def _digest_of(install: Install, cwd: Path) -> str:
    out = install.run("--version", cwd=cwd).out.decode()
    found = re.search(r"terms library: bundled (sha256:[0-9a-f]{64}) \((.*)\)", out)
    assert found, out
    return found.group(1)


def test_an_installed_wheel_works_in_an_empty_folder(
    wheel_install: Install, tmp_path: Path
) -> None:
    """policy list, tag, verify and audit outside the checkout, with the library the wheel ships."""
    listed = wheel_install.run("policy", "list", cwd=tmp_path)
    assert listed.code == 0, listed.err
    assert "site-packages/provenance/_library (sha256:" in listed.err
    expected = CHECKOUT.run("policy", "list", cwd=tmp_path).out
    assert listed.out == expected
    assert len(listed.out.splitlines()) > 50
    assert _digest_of(wheel_install, tmp_path) == _digest_of(CHECKOUT, tmp_path)
    assert "native fast path: on" in wheel_install.run("--version", cwd=tmp_path).out.decode()

    assert wheel_install.run("init", cwd=tmp_path).code == 0
    assert wheel_install.run("keys", "generate", "gen", "--trust", cwd=tmp_path).code == 0
    (tmp_path / "generated.jsonl").write_text(
        '{"id": "a", "messages": [{"role": "user", "content": "hi"}]}\n'
        '{"id": "b", "messages": [{"role": "user", "content": "ho"}]}\n'
    )
    tagged = wheel_install.run(
        "tag",
        *("generated.jsonl", "-o", "signed.jsonl", *TAG, "--generated-at", "2024-06-01T09:00:00Z"),
        cwd=tmp_path,
    )
    assert tagged.code == 0, tagged.err
    for install in (wheel_install, CHECKOUT):
        verified = install.run("verify", "signed.jsonl", cwd=tmp_path)
        assert verified.code == 0, verified.err
        assert verified.out.decode().startswith("PASS: 2 records")
    intent = ROOT / "examples" / "intents" / "research-eval.yaml"
    audits = [
        install.run(
            "audit", "signed.jsonl", "--intent", str(intent), "--format", "json", cwd=tmp_path
        )
        for install in (wheel_install, CHECKOUT)
    ]
    assert [a.code for a in audits] == [0, 0], [a.err for a in audits]
    assert GENERATED_AT.sub(b"", audits[0].out) == GENERATED_AT.sub(b"", audits[1].out)
    report = orjson.loads(audits[0].out)
    assert report["policy_library"] == {
        "digest": _digest_of(wheel_install, tmp_path),
        "source": "bundled",
        "version": _library_version(),
    }


@pytest.fixture(scope="module")
def corpus(wheel_install: Install, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example corpus signed by the installed SDK, plus files of bad records."""
    here = tmp_path_factory.mktemp("corpus")
    wheel_install.run("init", cwd=here)
    wheel_install.run("keys", "generate", "gen", "--trust", cwd=here)
    made = wheel_install.python(
        str(ROOT / "examples" / "make_corpus.py"), "gen", str(here), cwd=here
    )
    assert made.code == 0, made.err
    lineage = (ROOT / "examples" / "lineage.yaml").read_text()
    (here / "lineage.yaml").write_text(lineage.replace("out/upstream/", "upstream/"))
    bad = here / "bad"
    bad.mkdir()
    lines = (here / "corpus" / "chat-gpt4o.jsonl").read_text().splitlines()
    tampered = json.loads(lines[1])
    tampered["messages"][-1]["content"] = "changed"
    unsigned = json.loads(lines[2])
    del unsigned["_provenance"]
    forged = json.loads(lines[3])
    forged["_provenance"]["dsse"]["signatures"][0]["sig"] = "A" * 86 + "=="
    (bad / "bad.jsonl").write_text(
        "\n".join(json.dumps(r) for r in (tampered, unsigned, forged)) + "\n"
    )
    batch = (here / "corpus" / "chat-llama31.jsonl").read_text().splitlines()
    moved = json.loads(batch[0])
    moved["_provenance"] = json.loads(batch[1])["_provenance"]
    (bad / "moved.jsonl").write_text(json.dumps(moved) + "\n" + batch[2] + "\n")
    return here


def _reports(install: Install, here: Path) -> list[tuple[int, bytes]]:
    intents = ROOT / "examples" / "intents"
    runs = [
        install.run("verify", "corpus", "bad", "--format", "json", cwd=here),
        install.run("verify", "corpus", "--format", "json", "--all", cwd=here),
        *(
            install.run(
                "audit",
                "corpus",
                "bad",
                "--intent",
                str(intents / name),
                "--lineage",
                "lineage.yaml",
                "--format",
                "json",
                cwd=here,
            )
            for name in ("research-eval.yaml", "open-weights-chat.yaml")
        ),
        install.run("verify", "corpus", "bad", cwd=here),
    ]
    return [(r.code, GENERATED_AT.sub(b"", r.out)) for r in runs]


def test_the_pure_python_install_gives_the_same_reports_as_the_native_one(
    wheel_install: Install, pure_install: Install, corpus: Path
) -> None:
    native = _reports(wheel_install, corpus)
    assert [code for code, _ in native] == [1, 0, 1, 1, 1]
    verified = orjson.loads(native[0][1])
    assert {"content-mismatch", "missing-manifest", "bad-signature", "bad-proof"} <= set(
        verified["counts"]
    )
    assert _reports(pure_install, corpus) == native
    assert _reports(CHECKOUT, corpus) == native
    # Switched off on the native install, the pure path runs there too: same bytes.
    switched = [
        (r.code, GENERATED_AT.sub(b"", r.out))
        for r in [
            wheel_install.run(
                "verify",
                "corpus",
                "bad",
                "--format",
                "json",
                cwd=corpus,
                env={"PROVENANCE_NATIVE": "0"},
            )
        ]
    ]
    assert switched == native[:1]


def test_the_pure_python_install_says_once_that_the_fast_path_is_off(
    wheel_install: Install, pure_install: Install, corpus: Path
) -> None:
    pure = pure_install.run("verify", "corpus", cwd=corpus)
    notes = [line for line in pure.err.splitlines() if "fast path" in line]
    assert len(notes) == 1
    assert "not built" in notes[0]
    assert "libssl-dev" in notes[0]
    assert "fast path" not in wheel_install.run("verify", "corpus", cwd=corpus).err
    # Not for commands that read no data.
    assert "fast path" not in pure_install.run("policy", "list", cwd=corpus).err


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path, dists: Path) -> None:
    bare = _venv(tmp_path / "venv", str(_dist(dists, "provenance-*.whl")))
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    assert Install("bare", bare).run("init", cwd=tmp_path).code == 0
    result = Install("bare", bare).run("verify", "data.parquet", cwd=tmp_path)
    assert result.code == 2
    assert "data.parquet" in result.err
    assert "pip install 'provenance[arrow]'" in result.err
    assert "Traceback" not in result.err


def test_the_github_action_installs_without_compiling(dists: Path, tmp_path: Path) -> None:
    """The action's install step, run as the runner runs it, on this checkout: nothing compiled
    (the compiler is made unusable), the command works, the library is the one shipped."""
    import yaml

    action = yaml.safe_load((ROOT / "action.yml").read_text())
    step = next(s for s in action["runs"]["steps"] if s.get("name") == "Install provenance")
    assert step["env"]["PROVENANCE_BUILD_NATIVE"] == "${{ inputs.native == 'true' && '1' || '0' }}"
    _run([sys.executable, "-m", "venv", str(tmp_path / "venv")], cwd=tmp_path, check=True)
    env = {
        "PATH": f"{tmp_path / 'venv' / 'bin'}:{os.environ['PATH']}",
        "ACTION_PATH": str(dists / "source"),
        "PROVENANCE_PACKAGE": "",
        "PROVENANCE_BUILD_NATIVE": "0",
        "CC": "false",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    installed = _run(["bash", "-c", step["run"]], cwd=tmp_path, env=env)
    assert installed.code == 0, installed.err
    out = installed.out.decode()
    assert "native fast path: not built" in out
    assert "terms library: bundled sha256:" in out
    assert not list((tmp_path / "venv").rglob("_native*.so"))


def _library_version() -> str:
    """The version the shipped library states (policies/library.yaml)."""
    from provenance.policy.loader import load_metadata

    metadata = load_metadata(Path(__file__).resolve().parents[1] / "policies")
    assert metadata is not None
    return metadata.version
