"""Real audit reports for the report-format tests.

Each scenario signs small shards with a fresh key, writes an intent, and runs the library audit on the
fixture terms library, so every renderer is tested on what ``provenance audit`` really produces.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from provenance.auditor import AuditReport, audit
from provenance.keys import PrivateKeySigner
from provenance.manifest import Parent
from provenance.sign import Tagger
from provenance.trust import TrustedKey, TrustStore
from tests.conftest import ASSETS, CliResult, Runner, chat_records, write_jsonl

POLICY = ASSETS / "policy"
LIBRARY = POLICY / "library"
THREE_HOPS = POLICY / "lineage" / "three-hops.yaml"
WAIVERS = POLICY / "waivers" / "waivers.yaml"
COMPETING = POLICY / "intents" / "competing.yaml"
SCHEMAS = Path(__file__).parent.parent / "schemas"
REPO = Path(__file__).parent.parent.parent


def intent_file(folder: Path, name: str, **changes: Any) -> Path:
    """An intent for the target ``acme-chat``; ``changes`` replace top-level fields."""
    base: dict[str, Any] = {
        "target": {"name": "acme-chat", "organization": "acme", "kind": "chat-assistant"},
        "activity": "fine-tune",
        "commercial": False,
        "distribution": "internal",
        "competes_with": [],
        "date": "2025-01-10",
    }
    base.update(changes)
    path = folder / f"{name}.yaml"
    path.write_bytes(orjson.dumps(base))  # JSON is YAML
    return path


def signed_shard(
    path: Path,
    signer: PrivateKeySigner,
    *,
    provider: str,
    model: str,
    service: str,
    prefix: str,
    n: int,
    generated_at: str = "2024-09-01T00:00:00Z",
    parents: tuple[Parent, ...] = (),
) -> Path:
    tagger = Tagger(signer, provider=provider, model=model, service=service, organization="acme")
    when = datetime.fromisoformat(generated_at.replace("Z", "+00:00")).astimezone(UTC)
    records = [
        tagger.tag({**r, "id": f"{prefix}-{i}"}, generated_at=when, parents=parents)
        for i, r in enumerate(chat_records(n))
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_jsonl(path, records)


def contoso_shard(path: Path, *, prefix: str, n: int) -> Path:
    """``n`` records by the fixture API model, signed by the project key ``gen``."""
    from provenance.project import load_signer

    return signed_shard(
        path,
        load_signer("gen"),
        provider="contoso",
        model="contoso-large-2",
        service="api",
        prefix=prefix,
        n=n,
    )


def audit_to(cli: Runner, fmt: str, out: Path | None = None) -> CliResult:
    """``provenance audit data`` against the competing intent and fixture library, as ``fmt``,
    to ``out`` (or standard output)."""
    extra = () if out is None else ("-o", out)
    return cli(
        "audit", "data", "--intent", COMPETING, "--policies", LIBRARY, "--format", fmt, *extra
    )


def rich_dataset(data: Path, signer: PrivateKeySigner) -> Path:
    """Shards that reach several terms documents along several lineage paths.

    * ``contoso-a`` and ``contoso-b``: one record class in two shards (API terms: a contract);
    * ``northwind``: a self-hosted model whose licence imposes a name prefix and attribution;
    * ``m2``: written by ``acme/m2``, trained on data by ``acme/m1``, trained on Fabrikam outputs;
    * ``tiny``: contoso records derived from the catalogued ``tiny-instruct`` dataset (CC BY-NC);
    * ``human``: records without a manifest.
    """
    contoso: dict[str, Any] = {"provider": "contoso", "model": "contoso-large-2", "service": "api"}
    signed_shard(data / "contoso-a.jsonl", signer, prefix="ca", n=4, **contoso)
    signed_shard(data / "contoso-b.jsonl", signer, prefix="cb", n=2, **contoso)
    signed_shard(
        data / "northwind.jsonl",
        signer,
        provider="northwind",
        model="northwind/nw-8b",
        service="self-hosted",
        prefix="nw",
        n=3,
    )
    signed_shard(
        data / "m2.jsonl",
        signer,
        provider="acme",
        model="acme/m2",
        service="self-hosted",
        prefix="m2",
        n=2,
    )
    signed_shard(
        data / "tiny.jsonl",
        signer,
        prefix="tiny",
        n=2,
        parents=(Parent("dataset", "tiny-instruct"),),
        **contoso,
    )
    write_jsonl(
        data / "human.jsonl",
        [{"id": f"h-{i}", "text": f"written by a person <{i}> | *not* a model"} for i in range(2)],
    )
    return data


@dataclass(frozen=True)
class Scenario:
    name: str
    root: Path
    data: Path
    intent: Path
    report: AuditReport


@dataclass(frozen=True)
class Scenarios:
    rich: Scenario
    """Fails: denials along one, two and three hops, obligations, a threshold, untagged records."""
    waived: Scenario
    """Passes: the only denial is waived."""
    passing: Scenario
    """Passes: an internal, non-competing run on API outputs."""
    review: Scenario
    """Fails on review: whether the target competes is unknown."""

    def all(self) -> tuple[Scenario, ...]:
        return (self.rich, self.waived, self.passing, self.review)


def build_scenarios(root: Path) -> Scenarios:
    """Sign the shards under ``root``, write the intents, and run the four audits."""
    signer = PrivateKeySigner.generate()
    trust = TrustStore().add(TrustedKey("gen", signer.verifying_key()))

    rich_data = rich_dataset(root / "rich" / "data", signer)
    rich_intent = intent_file(
        root / "rich",
        "intent",
        commercial=True,
        distribution="open-weights",
        competes_with=["contoso"],
        thresholds={"max_synthetic_share": 0.5},
    )
    rich = audit(
        [rich_data], rich_intent, lineage=THREE_HOPS, policies=LIBRARY, trust=trust, workers=1
    )

    simple = root / "simple"
    signed_shard(
        simple / "data" / "contoso.jsonl",
        signer,
        provider="contoso",
        model="contoso-large-2",
        service="api",
        prefix="c",
        n=3,
    )
    competing = intent_file(simple, "competing", commercial=True, competes_with=["contoso"])
    waived = audit(
        [simple / "data"], competing, policies=LIBRARY, waivers=WAIVERS, trust=trust, workers=1
    )
    internal = intent_file(simple, "internal")
    passing = audit([simple / "data"], internal, policies=LIBRARY, trust=trust, workers=1)
    unknown = intent_file(simple, "unknown", competes_with=None)
    review = audit([simple / "data"], unknown, policies=LIBRARY, trust=trust, workers=1)

    return Scenarios(
        rich=Scenario("rich", root / "rich", rich_data, rich_intent, rich),
        waived=Scenario("waived", simple, simple / "data", competing, waived),
        passing=Scenario("passing", simple, simple / "data", internal, passing),
        review=Scenario("review", simple, simple / "data", unknown, review),
    )
