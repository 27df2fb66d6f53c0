"""Shared fixtures: a project folder in a temporary directory, and a CLI runner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from provenance.cli import main

ASSETS = Path(__file__).parent / "assets"

GENERATOR = (
    "--key",
    "gen",
    "--model",
    "gpt-4o",
    "--provider",
    "openai",
    "--service",
    "api",
    "--organization",
    "acme",
)
"""``provenance tag`` options for the project key ``gen``: gpt-4o through OpenAI's API, for acme;
without the generation time, which ``tag`` requires."""

GENERATED_AT = "2024-06-01T09:00:00Z"

TAG = (*GENERATOR, "--generated-at", GENERATED_AT)
"""``GENERATOR`` with the generation time (a later ``--generated-at`` replaces it)."""


@dataclass
class CliResult:
    code: int
    out: str
    err: str


Runner = Callable[..., CliResult]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Runner:
    """Run ``provenance ARGS…`` in-process; returns the exit code and captured output."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory with no project above it and no passphrase set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROVENANCE_HOME", raising=False)
    monkeypatch.delenv("PROVENANCE_KEY_PASSPHRASE", raising=False)
    return tmp_path


@pytest.fixture
def project_dir(workdir: Path, cli: Runner) -> Path:
    """A project with a trusted Ed25519 key named ``gen``."""
    assert cli("init").code == 0
    assert cli("keys", "generate", "gen", "--trust").code == 0
    return workdir


def write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def chat_records(n: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"r{i}",
            "messages": [
                {"role": "user", "content": f"Question {i}: what is {i} + {i}?"},
                {"role": "assistant", "content": f"It is {2 * i}. ✓"},
            ],
            "score": i % 5,
        }
        for i in range(n)
    ]
