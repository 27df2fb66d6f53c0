"""The README's examples run as written.

Every ```python block runs, in the README's order and in one namespace, in a temporary project
whose key ``team-gen`` is trusted, with stand-ins for what the reader brings to them: ``prompts``
and an OpenAI-style ``client`` for the generation loop, ``chosen`` and ``rejected`` answers for
the preference record. A ``print(...)  # text`` line must print that text.

The ```sh blocks of "Set up" and "Five minutes" run as written, through bash, in a temporary
folder, with this package already installed (its ``provenance`` first on ``PATH``). Lines that
install or build it (``pip install``, ``git clone``, ``make``) are left out here:
tests/test_install.py installs the package from a wheel and from source and runs it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from tests.conftest import Runner, chat_records, read_jsonl, write_jsonl

README = Path(__file__).parent.parent / "README.md"
SKIPPED = ("pip install", "git clone", "make ")
"""Commands that install or build the package: tests/test_install.py runs those."""
SHELL_SECTIONS = ("Set up", "Five minutes")


def _blocks(text: str, language: str) -> Iterator[tuple[str, str]]:
    """(section title, code) of every fenced block in ``language``, the section being the
    level-2 heading above it."""
    section = ""
    for match in re.finditer(rf"^## ([^\n]+)$|^```{language}\n(.*?)^```$", text, re.M | re.S):
        if match.group(1) is not None:
            section = match.group(1)
        else:
            yield section, match.group(2)


def _shell_lines(code: str) -> str:
    """The block as written, without the lines that install or build the package."""
    lines = []
    for line in code.splitlines():
        if line.lstrip().startswith(SKIPPED):
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_the_readme_has_the_examples_this_file_runs() -> None:
    text = README.read_text(encoding="utf-8")
    sections = [s for s, _ in _blocks(text, "sh")]
    assert any(s.startswith("Set up") for s in sections)
    assert any(s.startswith("Five minutes") for s in sections)
    assert len(list(_blocks(text, "python"))) >= 3


def test_the_set_up_and_five_minute_commands_run_as_written(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "generated.jsonl", chat_records(5))
    text = README.read_text(encoding="utf-8")
    script = "set -eu\n" + "".join(
        _shell_lines(code)
        for section, code in _blocks(text, "sh")
        if section.startswith(SHELL_SECTIONS)
    )
    assert "provenance verify signed.jsonl" in script
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS: 5 records in 1 file" in done.stdout
    assert len(read_jsonl(tmp_path / "signed.jsonl")) == 5

    # "Edit one answer in signed.jsonl and run verify again": named, content-mismatch, exit 1.
    records = read_jsonl(tmp_path / "signed.jsonl")
    records[2]["messages"][1]["content"] = "It is 5."  # type: ignore[index]
    write_jsonl(tmp_path / "signed.jsonl", records)
    again = subprocess.run(
        ["bash", "-c", "provenance verify signed.jsonl"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 1
    assert "signed.jsonl:3: record r2 content-mismatch" in again.stdout


class _Client:
    """What the generation loop calls: ``client.chat.completions.create(model=, messages=)``."""

    def __init__(self) -> None:
        self.chat = SimpleNamespace(completions=self)
        self.calls = 0

    def create(self, model: str, messages: list[dict[str, str]]) -> Any:
        self.calls += 1
        message = {"role": "assistant", "content": f"answer {self.calls}"}
        return SimpleNamespace(
            model=f"{model}-2024-08-06",
            id=f"chatcmpl-{self.calls}",
            choices=[SimpleNamespace(message=SimpleNamespace(model_dump=lambda: dict(message)))],
        )


def test_the_python_examples_run_as_written(
    project_dir: Path, cli: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("keys", "generate", "team-gen", "--trust").code == 0
    monkeypatch.syspath_prepend(str(Path(__file__).parent.parent))
    client = _Client()
    namespace: dict[str, Any] = {
        "prompts": [[{"role": "user", "content": f"What is {i} + {i}?"}] for i in range(3)],
        "client": client,
        "chosen": "Paris.",
        "rejected": "Lyon.",
    }
    text = README.read_text(encoding="utf-8")
    for section, code in _blocks(text, "python"):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, f"README.md ({section})", "exec"), namespace)
        for expected in re.findall(r"^print\(.*\)\s+# (.+)$", code, re.M):
            assert expected in printed.getvalue(), (section, expected, printed.getvalue())

    assert client.calls == 3
    signed = read_jsonl(project_dir / "signed.jsonl")
    assert [r["messages"][-1]["content"] for r in signed] == [  # type: ignore[index]
        "answer 1",
        "answer 2",
        "answer 3",
    ]
    verified = cli("verify", "signed.jsonl")
    assert verified.code == 0, verified.out + verified.err
    record = namespace["record"]
    assert orjson.loads(orjson.dumps(record))["id"] == "pref-1"
