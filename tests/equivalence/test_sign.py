"""Every signing strategy against the reference path, byte for byte.

The strategies come from :data:`provenance.sign.strategies.STRATEGIES`: a new entry there is
checked here with nothing else to add. Each strategy runs alone, every strategy runs together,
every strategy but one runs together, and none runs (``tag_jsonl`` on the reference path alone).

The reference output is written by the SDK with no strategy (:meth:`Tagger.writer`: every record
stated, signed and serialised by :mod:`provenance.sign.reference`). Every run of
:func:`tag_jsonl` on the same input, at the same signing and generation times with the same key
(Ed25519 signatures are deterministic), must write the same bytes, sidecar included, and every
record must verify. The input mixes unicode (keys from U+E000 up, astral characters, escapes),
floats, the largest safe integers, nested objects, string, integer and unusable ids and records
without one, in per-record mode, in batch mode with embedded envelopes and with a sidecar, with
several batch sizes (most with a partial last batch) and with part digests; it is cut into small
tasks and is large enough for :func:`tag_jsonl` to start its worker processes. With the native
module switched off (``PROVENANCE_NATIVE=0``) the native strategies decline and the bytes are
still the reference's.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from provenance import scan
from provenance.keys import PrivateKeySigner
from provenance.sign import Tagger, lines, parallel, sidecar_path, tag_jsonl
from provenance.sign.strategies import ALL, STRATEGIES
from provenance.trust import TrustedKey, TrustStore
from provenance.verify import Verifier

SIGNED_AT = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)
GENERATED_AT = datetime(2024, 5, 31, 18, 30, tzinfo=UTC)
SIGNER = PrivateKeySigner.generate(name="gen")
TRUST = TrustStore(keys=(TrustedKey("gen", SIGNER.verifying_key()),))
RECORDS = 600

SETS: dict[str, frozenset[str]] = {
    "none": frozenset(),
    **{f"only-{name}": frozenset({name}) for name in STRATEGIES},
    **{f"all-but-{name}": ALL - {name} for name in STRATEGIES},
    "all": ALL,
}
"""Strategy sets to run, by test id: built from the registry alone."""

MODES: dict[str, tuple[int | None, bool, bool]] = {
    "per-record": (None, False, False),
    "batch-1": (1, False, False),
    "batch-7": (7, False, False),
    "batch-7-sidecar": (7, True, False),
    "batch-64": (64, False, False),
    "batch-64-sidecar": (64, True, False),
    "batch-600-sidecar": (600, True, False),
    "batch-7-part-digests": (7, False, True),
    "per-record-part-digests": (None, False, True),
}
"""Signing modes, by test id: batch size, sidecar, part digests."""


def tagger(strategies: frozenset[str] | None, part_digests: bool) -> Tagger:
    return Tagger(
        SIGNER,
        provider="openai",
        model="gpt-4o",
        service="api",
        organization="acme",
        clock=lambda: SIGNED_AT,
        part_digests=part_digests,
        strategies=strategies,
    )


def record(i: int) -> dict[str, Any]:
    """The ``i``-th input record: every kind of value, id or lack of one, in turn."""
    out: dict[str, Any] = {
        "id": f"r{i}",
        "messages": [
            {"role": "user", "content": f"Question {i}: what is {i} + {i}?"},
            {"role": "assistant", "content": f"It is {2 * i}. ✓ — «ok» 日本語 \U0001f600"},
        ],
        "score": i % 5,
    }
    kind = i % 12
    if kind == 1:
        out["id"] = i  # an integer id
    elif kind == 2:
        del out["id"]  # no id: one is derived from the content
    elif kind == 3:
        out["floats"] = [1.5, -0.0, 0.1, 1e21, 1e-7, 5e-324, 2.5e-8, 123456.789]
    elif kind == 4:
        out["big"] = {"max": 2**53 - 1, "min": -(2**53 - 1), "sixteen": 1234567890123456}
    elif kind == 5:
        out["nested"] = {"a": {"b": {"c": [1, {"d": [True, False, None]}, "e"]}}, "z": {}}
    elif kind == 6:
        out["\ue000key"] = "private use"
        out["é"] = {"\U0001f600": "astral key", "ａ": "fullwidth", "a": "ascii"}
    elif kind == 7:
        out["id"] = 'q"uote\\ \u00e9 \U0001f600 \u2028'  # escapes in the id
        out["control"] = "tab\tnew\nline\u0001"
    elif kind == 8:
        out["id"] = True  # not a usable id: one is derived
    elif kind == 9:
        out["id"] = 1.5  # not a usable id either
        out["weights"] = [0.25, 1e300, -1e-300]
    elif kind == 10:
        out = {"meta": {"id": "nested"}, "_id": i, "text": "x" * (i % 97)}
    elif i == 11:  # the empty record (once: the same record twice is a replay)
        out = {}
    return out


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sign-input") / "in.jsonl"
    path.write_bytes(b"".join(orjson.dumps(record(i)) + b"\n" for i in range(RECORDS)))
    return path


_REFERENCE: dict[str, tuple[bytes, bytes]] = {}


def reference(mode: str, source: Path, folder: Path) -> tuple[bytes, bytes]:
    """The reference output of ``mode`` (data file and sidecar bytes), written by the SDK with
    no strategy, once per mode."""
    if mode not in _REFERENCE:
        batch_size, sidecar, part_digests = MODES[mode]
        path = folder / f"reference-{mode}" / "data.jsonl"
        path.parent.mkdir()
        with tagger(frozenset(), part_digests).writer(
            path, batch_size=batch_size, sidecar=sidecar
        ) as writer:
            for line in source.read_bytes().splitlines():
                writer.write(orjson.loads(line), generated_at=GENERATED_AT)
        side = sidecar_path(path).read_bytes() if sidecar else b""
        _REFERENCE[mode] = (path.read_bytes(), side)
        assert verified(path) == {"ok": RECORDS}
    return _REFERENCE[mode]


def verified(path: Path) -> dict[str, int]:
    """Record counts by verification status."""
    partial: scan.ScanPartial[None] = scan.scan_paths(
        [path], Verifier(TRUST, now=SIGNED_AT), workers=1
    )
    return dict(partial.counts)


def test_the_registry_names_and_describes_every_strategy() -> None:
    assert STRATEGIES and frozenset(STRATEGIES) == ALL
    for name, description in STRATEGIES.items():
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", name) and description.strip()


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("chosen", list(SETS.values()), ids=list(SETS))
def test_every_strategy_writes_the_reference_bytes(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    source: Path,
    chosen: frozenset[str],
    mode: str,
) -> None:
    batch_size, sidecar, part_digests = MODES[mode]
    expected = reference(mode, source, tmp_path_factory.getbasetemp())
    # Small tasks, and workers for any input of more than one task.
    monkeypatch.setattr(lines, "TASK_BYTES", 16 * 1024)
    monkeypatch.setattr(parallel, "INLINE_BYTES", 32 * 1024)
    assert source.stat().st_size > 4 * lines.TASK_BYTES
    path = tmp_path_factory.mktemp("signed") / "data.jsonl"
    with path.open("wb") as output, sidecar_path(path).open("wb") as side:
        count = tag_jsonl(
            tagger(chosen, part_digests),
            source,
            output,
            batch_size=batch_size,
            generated_at=GENERATED_AT,
            sidecar=(path.name, side) if sidecar else None,
        )
    assert count == RECORDS
    assert path.read_bytes() == expected[0]
    assert sidecar_path(path).read_bytes() == expected[1]
    if not sidecar:
        sidecar_path(path).unlink()
    assert verified(path) == {"ok": RECORDS}


@pytest.mark.parametrize("chosen", list(SETS.values()), ids=list(SETS))
def test_the_sdk_writes_the_reference_bytes_with_every_strategy(
    tmp_path: Path, source: Path, chosen: frozenset[str]
) -> None:
    """The SDK's own records (:meth:`Tagger.tag`, :meth:`Tagger.sign_batch`) are the same with
    any strategy."""
    records = [orjson.loads(line) for line in source.read_bytes().splitlines()[:100]]
    for part_digests in (False, True):
        fast, slow = tagger(chosen, part_digests), tagger(frozenset(), part_digests)
        for item in records:
            assert orjson.dumps(fast.tag(item, generated_at=GENERATED_AT)) == orjson.dumps(
                slow.tag(item, generated_at=GENERATED_AT)
            )
        for sidecar in (None, "data.jsonl.batches"):
            assert orjson.dumps(fast.sign_batch(records, sidecar=sidecar)) == orjson.dumps(
                slow.sign_batch(records, sidecar=sidecar)
            )


def test_an_unknown_strategy_is_refused() -> None:
    from provenance.errors import InputError

    with pytest.raises(InputError, match="unknown signing strategy: warp"):
        tagger(frozenset({"warp"}), False)
