"""Signed test data and small helpers for the registry tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from provenance.project import load_signer
from provenance.registry.store import Registry
from provenance.sign import Tagger
from tests.conftest import chat_records

POLICY_LIBRARY = Path(__file__).parent.parent / "assets" / "policy" / "library"


def signed_file(
    path: Path,
    prefix: str,
    n: int,
    *,
    provider: str = "contoso",
    model: str = "contoso-large-2",
    service: str = "api",
    organization: str = "acme",
    generated_at: str = "2024-06-01T00:00:00Z",
    batch_size: int | None = None,
    untagged: int = 0,
    first: int = 0,
    key: str = "gen",
) -> Path:
    """Write ``n`` signed chat records (ids ``PREFIX-i``) and ``untagged`` unsigned ones."""
    when = datetime.fromisoformat(generated_at.replace("Z", "+00:00")).astimezone(UTC)
    tagger = Tagger(
        load_signer(key),
        provider=provider,
        model=model,
        service=service,
        organization=organization,
        clock=lambda: when,
    )
    records: list[dict[str, Any]] = [
        {**r, "id": f"{prefix}-{first + i}"} for i, r in enumerate(chat_records(first + n)[first:])
    ]
    if batch_size:
        signed = []
        for start in range(0, len(records), batch_size):
            signed.extend(tagger.tag_batch(records[start : start + batch_size]))
    else:
        signed = [tagger.tag(r) for r in records]
    plain = [{"id": f"{prefix}-plain-{i}", "text": f"human text {i}"} for i in range(untagged)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in [*signed, *plain]))
    return path


def counts(url: str) -> dict[str, int]:
    with Registry.open(url) as registry:
        return registry.counts()
