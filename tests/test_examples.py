"""The bundled examples: the corpus the SDK signs, and the documented verdicts of its three audits."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.conftest import Runner

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("examples")
    env = {"PATH": str(Path(sys.executable).parent), "PROVENANCE_HOME": str(home / ".provenance")}
    from provenance.project import TRUST_FILE, generate_key, init_project, save_trust
    from provenance.trust import TrustedKey, TrustStore

    project, _ = init_project(home)
    signer, _ = generate_key(project, "demo", "ed25519")
    save_trust(TrustStore().add(TrustedKey("demo", signer.verifying_key())), project / TRUST_FILE)
    subprocess.run(
        [sys.executable, str(EXAMPLES / "make_corpus.py"), "demo", str(home / "out")],
        check=True,
        env=env,
        capture_output=True,
    )
    shutil.copy(EXAMPLES / "lineage.yaml", home / "lineage.yaml")
    return home


@pytest.mark.parametrize(
    ("intent", "code", "outcome"),
    [
        ("research-eval", 0, "allow"),
        ("internal-classifier", 1, "review"),
        ("open-weights-chat", 1, "deny"),
    ],
)
def test_example_audits_give_the_documented_verdicts(
    corpus: Path,
    cli: Runner,
    monkeypatch: pytest.MonkeyPatch,
    intent: str,
    code: int,
    outcome: str,
) -> None:
    monkeypatch.setenv("PROVENANCE_HOME", str(corpus / ".provenance"))
    result = cli(
        "audit",
        corpus / "out" / "corpus",
        "--intent",
        EXAMPLES / "intents" / f"{intent}.yaml",
        "--lineage",
        corpus / "lineage.yaml",
        "--format",
        "json",
    )
    assert result.code == code, result.err
    report = orjson.loads(result.out)
    assert report["outcome"] == outcome
    assert report["summary"]["records"] == 50
    assert report["summary"]["generation_depth"]["max"] == 2


def test_open_weights_chat_fails_on_the_clauses_a_reviewer_would_cite(
    corpus: Path, cli: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVENANCE_HOME", str(corpus / ".provenance"))
    result = cli(
        "audit",
        corpus / "out" / "corpus",
        "--intent",
        EXAMPLES / "intents" / "open-weights-chat.yaml",
        "--lineage",
        corpus / "lineage.yaml",
        "--format",
        "json",
    )
    report = orjson.loads(result.out)
    denied = {
        (d["terms"].split("@")[0], d["clause"])
        for d in report["decisions"]
        if d["decision"] == "deny"
    }
    assert ("meta/llama-3.1-community-license", "name-prefix") in denied
    assert ("openai/services-agreement", "no-competing-models") in denied
    judge = next(d for d in report["decisions"] if d["terms"].startswith("anthropic/usage-policy"))
    assert judge["path"].startswith("/score")
    gemma = next(d for d in report["decisions"] if d["terms"].startswith("google/gemma"))
    assert any("helper-2b" in f["path"] and "gemma-seed" in f["path"] for f in gemma["findings"])
    violated = [o for o in report["obligations"] if o["status"] == "violated"]
    assert [(o["kind"], o["text"]) for o in violated] == [("model-name-prefix", "Llama")]
    assert report["summary"]["contributions"]["anthropic"] == {"judgement": 8}
