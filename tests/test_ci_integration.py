"""CI integration: the action's script run locally on real data, and the action, hook and example
files checked for structure."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.report.helpers import COMPETING, LIBRARY, contoso_shard, intent_file

REPO = Path(__file__).parent.parent
SCRIPT = REPO / "scripts" / "ci-audit.sh"
ACTION = REPO / "action.yml"
HOOKS = REPO / ".pre-commit-hooks.yaml"
EXAMPLES = REPO / "examples" / "ci"


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _provenance_command() -> str:
    beside = Path(sys.executable).parent / "provenance"
    if beside.is_file():
        return str(beside)
    found = shutil.which("provenance")
    if found is None:
        pytest.skip("the provenance command is not installed")
    return found


@pytest.fixture
def ci_env(project_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a CI job in ``project_dir``: signed data, an intent, GitHub's files."""
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    contoso_shard(project_dir / "data" / "a.jsonl", prefix="a", n=3)
    shutil.copy(COMPETING, project_dir / "intent.yaml")
    runner = tmp_path_factory.mktemp("runner")
    summary = runner / "step-summary.md"
    summary.write_text("# earlier step\n", encoding="utf-8")
    (runner / "output.txt").touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVENANCE_", "GITHUB_"))}
    env.update(
        {
            "PROVENANCE_CMD": _provenance_command(),
            "PROVENANCE_DATA": "data",
            "PROVENANCE_INTENT": "intent.yaml",
            "PROVENANCE_POLICIES": str(LIBRARY),
            "PROVENANCE_OUTPUT_DIR": str(runner / "reports"),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_OUTPUT": str(runner / "output.txt"),
        }
    )
    return env


def _run(
    project_dir: Path, env: dict[str, str], **changes: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=project_dir,
        env={**env, **changes},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _outputs(env: dict[str, str]) -> dict[str, str]:
    lines = Path(env["GITHUB_OUTPUT"]).read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


# ---- the script, run as the action runs it ----------------------------------------------------


def test_failing_audit_writes_summary_and_sarif_and_exits_1(
    project_dir: Path, ci_env: dict[str, str]
) -> None:
    (project_dir / "data" / "human.jsonl").write_text('{"id": "h1", "text": "hi"}\n')
    done = _run(project_dir, ci_env)
    assert done.returncode == 1, done.stderr
    summary = Path(ci_env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    assert summary.startswith("# earlier step\n")  # appended, not overwritten
    assert "## ❌ provenance audit: **FAIL**" in summary
    assert "| Terms | Decision | Clause | Records | Path |" in summary
    assert "no-competing-models" in summary
    outputs = _outputs(ci_env)
    assert outputs["verdict"] == "fail"
    assert outputs["exit-code"] == "1"
    sarif_path = Path(outputs["sarif-file"])
    assert sarif_path.is_file()
    assert Path(outputs["markdown-file"]).is_file()
    log = json.loads(sarif_path.read_text(encoding="utf-8"))
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    assert run["properties"]["verdict"] == "fail"
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]
    }
    assert uris == {"data/a.jsonl", "intent.yaml"}  # untagged records: located at the intent


def test_passing_audit_exits_0(project_dir: Path, ci_env: dict[str, str]) -> None:
    intent_file(project_dir, "internal")
    done = _run(project_dir, ci_env, PROVENANCE_INTENT="internal.yaml")
    assert done.returncode == 0, done.stderr
    summary = Path(ci_env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    assert "## ✅ provenance audit: **PASS**" in summary
    assert _outputs(ci_env)["verdict"] == "pass"


def test_fail_on_is_passed_through(project_dir: Path, ci_env: dict[str, str]) -> None:
    intent_file(project_dir, "unknown", competes_with=None)  # review, not deny
    done = _run(project_dir, ci_env, PROVENANCE_INTENT="unknown.yaml", PROVENANCE_FAIL_ON="deny")
    assert done.returncode == 0, done.stderr
    done = _run(project_dir, ci_env, PROVENANCE_INTENT="unknown.yaml")
    assert done.returncode == 1


def test_deferred_exit_leaves_the_code_for_the_last_step(
    project_dir: Path, ci_env: dict[str, str]
) -> None:
    done = _run(project_dir, ci_env, PROVENANCE_DEFER_EXIT="true")
    assert done.returncode == 0, done.stderr
    outputs = _outputs(ci_env)
    assert outputs["exit-code"] == "1"
    assert outputs["verdict"] == "fail"


def test_several_data_paths_separated_by_whitespace(
    project_dir: Path, ci_env: dict[str, str]
) -> None:
    contoso_shard(project_dir / "more" / "b.jsonl", prefix="b", n=2)
    done = _run(project_dir, ci_env, PROVENANCE_DATA="data/a.jsonl\n  more/*.jsonl ")
    assert done.returncode == 1, done.stderr
    log = json.loads(Path(_outputs(ci_env)["sarif-file"]).read_text(encoding="utf-8"))
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in log["runs"][0]["results"]
    }
    assert uris == {"data/a.jsonl", "more/b.jsonl"}


def test_no_verdict_exits_2_and_says_why(project_dir: Path, ci_env: dict[str, str]) -> None:
    done = _run(project_dir, ci_env, PROVENANCE_DATA="missing-folder")
    assert done.returncode == 2
    summary = Path(ci_env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    assert "NO VERDICT" in summary
    assert "missing-folder" in summary
    outputs = _outputs(ci_env)
    assert outputs["verdict"] == "no-verdict"
    assert outputs["exit-code"] == "2"
    assert "sarif-file" not in outputs
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"PROVENANCE_DATA": "  "}, "PROVENANCE_DATA is empty"),
        ({"PROVENANCE_INTENT": ""}, "PROVENANCE_INTENT is empty"),
        ({"PROVENANCE_FAIL_ON": "sometimes"}, "must be deny, review or never"),
    ],
)
def test_bad_inputs_are_no_verdict(
    project_dir: Path, ci_env: dict[str, str], changes: dict[str, str], message: str
) -> None:
    done = _run(project_dir, ci_env, **changes)
    assert done.returncode == 2
    assert message in done.stderr
    assert message in Path(ci_env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")


def test_without_github_files_the_script_still_reports(
    project_dir: Path, ci_env: dict[str, str], tmp_path: Path
) -> None:
    env = {k: v for k, v in ci_env.items() if not k.startswith("GITHUB_")}
    env["PROVENANCE_OUTPUT_DIR"] = str(tmp_path / "out")
    done = _run(project_dir, env)
    assert done.returncode == 1
    assert (tmp_path / "out" / "provenance-audit.sarif").is_file()
    assert (tmp_path / "out" / "provenance-audit.md").read_text(encoding="utf-8").startswith("## ")


# ---- the files GitHub and pre-commit read -----------------------------------------------------


def test_action_inputs_and_outputs() -> None:
    action = _load(ACTION)
    assert action["name"]
    assert action["description"]
    inputs = action["inputs"]
    for name in ("data", "intent", "lineage", "policies", "fail-on", "python-version"):
        assert name in inputs, name
        assert inputs[name]["description"]
    assert inputs["data"]["required"] is True
    assert inputs["intent"]["required"] is True
    assert inputs["fail-on"]["default"] == "review"
    assert not inputs["lineage"].get("required", False)
    for name in ("verdict", "exit-code", "sarif-file", "markdown-file"):
        assert "steps.audit.outputs" in action["outputs"][name]["value"]


def test_action_steps() -> None:
    action = _load(ACTION)
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    for step in steps:
        if "run" in step:
            assert step.get("shell") == "bash", "composite run steps must name their shell"
            assert "${{ inputs." not in step["run"], "inputs reach scripts through env only"
    setup = next(s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python@"))
    assert setup["with"]["python-version"] == "${{ inputs.python-version }}"
    install = next(s for s in steps if "pip install" in s.get("run", ""))
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    assert "$ACTION_PATH" in install["run"]
    audit = next(s for s in steps if s.get("id") == "audit")
    assert "scripts/ci-audit.sh" in audit["run"]
    assert (REPO / "scripts" / "ci-audit.sh").is_file()
    env = audit["env"]
    assert env["PROVENANCE_DATA"] == "${{ inputs.data }}"
    assert env["PROVENANCE_INTENT"] == "${{ inputs.intent }}"
    assert env["PROVENANCE_LINEAGE"] == "${{ inputs.lineage }}"
    assert env["PROVENANCE_FAIL_ON"] == "${{ inputs.fail-on }}"
    assert "inputs.policies" in env["PROVENANCE_POLICIES"]
    assert env["PROVENANCE_DEFER_EXIT"] == "true"
    upload = next(
        s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@")
    )
    assert upload["with"]["sarif_file"] == "${{ steps.audit.outputs.sarif-file }}"
    assert "!cancelled()" in upload["if"]
    last = steps[-1]
    assert "steps.audit.outputs.exit-code" in last["env"]["EXIT_CODE"]
    assert re.search(r"\bexit\b", last["run"])
    assert steps.index(upload) < steps.index(last)


def test_pre_commit_hook() -> None:
    hooks = _load(HOOKS)
    assert isinstance(hooks, list)
    hook = next(h for h in hooks if h["id"] == "provenance-audit")
    assert hook["entry"].split()[:2] == ["provenance", "audit"]
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is True
    assert "--intent" in hook["args"]
    files = re.compile(hook["files"])
    for name in ("data/a.jsonl", "x/b.jsonl.gz", "c.jsonl.zst", "d.parquet"):
        assert files.search(name), name
    for name in ("README.md", "intent.yaml", "a.jsonl.bak"):
        assert not files.search(name), name


def test_examples_use_the_action_and_the_hook() -> None:
    workflow = _load(EXAMPLES / "github-workflow.yml")
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads `on` as true
    assert "pull_request" in triggers
    assert workflow["permissions"]["security-events"] == "write"
    steps = workflow["jobs"]["audit"]["steps"]
    uses = next(s for s in steps if str(s.get("uses", "")).endswith("provenance@v0.1.0"))
    inputs = _load(ACTION)["inputs"]
    assert set(uses["with"]) <= set(inputs)
    assert {"data", "intent"} <= set(uses["with"])
    config = _load(EXAMPLES / "pre-commit-config.yaml")
    hook = config["repos"][0]["hooks"][0]
    assert hook["id"] == "provenance-audit"
    assert "--intent" in hook["args"]
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for name in ("github-workflow.yml", "pre-commit-config.yaml", "scripts/ci-audit.sh"):
        assert name in readme
