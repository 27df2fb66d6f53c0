"""Every verification strategy against the reference path, on every case at hand.

The strategies come from :data:`provenance.verify.strategies.STRATEGIES`: a new entry there is
checked here with nothing else to add. Each runs alone (with the strategies it builds on), every
strategy runs together, and every strategy but one runs together, on:

- the conformance cases (``tests/conformance/cases``: every status, per-record and batch mode,
  sidecars, broken base64, unknown fields, …);
- the tamperings of batch-signed records of ``tests/test_batch_fast.py``;
- generated data under trust stores that make the same records untrusted, revoked or expired;
- the fuzz corpus of ``tests/fuzz/fuzz_native_reader.py``, mutated with a fixed seed.

Each input is read the ways the commands read it: record by record (:meth:`Verifier.verify`),
and in chunks through :meth:`Verifier.verify_many`, with records parsed, with the views the scan
reads (``canonical.view_and_digest`` with the verifier's statement prefix), with and without
details. Every outcome must be the reference path's: status, reason, record id, content digest,
signer, batch position and manifest (a short :class:`Verified` is compared with the reference's
result in the same short form).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from provenance import canonical
from provenance.errors import MalformedJSONError
from provenance.project import load_trust
from provenance.sources.base import RawRecord
from provenance.trust import TrustedKey, TrustStore
from provenance.verify import RecordResult, Verified, Verifier
from provenance.verify.strategies import ALL, STRATEGIES, with_needs
from tests.conformance import generate
from tests.fuzz import fuzz_native_reader as fuzz
from tests.test_batch_fast import OTHER, SIGNED_AT, TAMPERINGS, TRUST, batched, tagger

NOW = SIGNED_AT
CHUNK = 7
"""Records per ``verify_many`` call: small, so chunks split batches and a verifier carries what it
learnt from one chunk (the statement prefix, remembered envelopes) into the next."""


def _configurations() -> dict[str, frozenset[str]]:
    out = {"all": ALL}
    for name in sorted(STRATEGIES):
        out[f"only {name}"] = with_needs(frozenset({name}))
        out[f"all but {name}"] = frozenset(
            other for other in ALL if other != name and name not in STRATEGIES[other].needs
        )
    return out


CONFIGURATIONS = _configurations()


# ---- inputs: (name, lines, trust, the file the lines are in) --------------------------------


class Case:
    def __init__(self, name: str, lines: list[bytes], trust: TrustStore, path: Path) -> None:
        self.name, self.lines, self.trust, self.path = name, lines, trust, path


def _conformance() -> Iterator[Case]:
    for folder in sorted(generate.CASES_DIR.iterdir()):
        records = folder / "records.jsonl"
        if not records.is_file():
            continue
        lines = [line for line in records.read_bytes().split(b"\n") if line.strip()]
        yield Case(f"conformance {folder.name}", lines, load_trust(folder / "trust.yaml"), records)


def _write(folder: Path, name: str, records: list[dict[str, Any]]) -> Case:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "data.jsonl"
    lines = [orjson.dumps(record) for record in records]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return Case(name, lines, TRUST, path)


def _generated(folder: Path) -> Iterator[Case]:
    for name, tamper in sorted(TAMPERINGS.items()):
        records = batched(11, 8)
        tamper(records)
        yield _write(folder / name, f"batch tampering {name}", records)
    plain = _write(folder / "per-record", "per-record", [tagger().tag(r) for r in _texts(9)])
    yield plain
    batch = batched(20, 6)
    yield _write(folder / "batches", "batches of 6", batch)
    signed, envelopes = [], []
    for start in range(0, 10, 4):
        part, entry = tagger().sign_batch(
            _texts(10)[start : start + 4], sidecar="data.jsonl.batches"
        )
        signed += part
        envelopes.append(orjson.dumps(entry) + b"\n")
    side = _write(folder / "sidecar", "sidecar", signed)
    (folder / "sidecar" / "data.jsonl.batches").write_bytes(b"".join(envelopes))
    yield side
    trusted = TRUST.keys[0]
    stores = {
        "revoked": replace(trusted, revoked_at=SIGNED_AT - timedelta(days=1)),
        "expired": replace(trusted, valid_until=SIGNED_AT - timedelta(days=1)),
        "for another provider": replace(trusted, providers=("anthropic",)),
        "for evidence only": replace(trusted, signs=("evidence",)),
    }
    for label, changed in stores.items():
        trust = TrustStore(keys=(changed,))
        for case in (plain, side):
            yield Case(f"{case.name}, key {label}", case.lines, trust, case.path)
    other = TrustStore(keys=(TrustedKey("other", OTHER.verifying_key()),))
    yield Case("batches, untrusted signer", [orjson.dumps(r) for r in batch], other, plain.path)


def _texts(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"t{k}", "text": "caf\u00e9 " * k, "n": k * 1.5, "big": 2**53 - 1 - k}
        for k in range(n)
    ]


def _fuzzed(folder: Path) -> Iterator[Case]:
    """The fuzzer's corpus with its records signed by the trusted key (batches of seven, one
    record per envelope), each line mutated as the fuzzer mutates it; the unmutated lines too."""
    rnd = random.Random(20261207)
    words = fuzz.WORDS
    records = [{"id": f"r{k}", "text": words[k % len(words)], "n": k} for k in range(21)]
    signed = [orjson.dumps(r) for r in tagger().tag_batch(records[:14])]
    signed += [orjson.dumps(tagger().tag(r)) for r in records[14:]]
    corpus = fuzz._corpus(rnd)[:200] + signed
    mutated = [fuzz._mutate(rnd.choice(corpus), rnd) for _ in range(600)]
    lines = [line.replace(b"\n", b" ") for line in [*mutated, *signed] if line.strip()]
    path = folder / "fuzz" / "data.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\n".join(lines) + b"\n")
    yield Case("fuzz corpus", lines, TRUST, path)


# ---- reading and comparing -----------------------------------------------------------------


Reader = Callable[[Verifier, bytes], tuple[Any, str]]


def _outcomes(
    verifier: Verifier, case: Case, read: Reader | None, details: bool
) -> list[tuple[Any, ...]]:
    """What ``verifier`` says of each line of ``case``: record by record when ``read`` is None,
    else in chunks through ``verify_many`` with records read by ``read``."""
    source = str(case.path)
    if read is None:
        results = [
            verifier.verify(RawRecord(source, n, line)) for n, line in enumerate(case.lines, 1)
        ]
        return [_full(r) for r in results]
    out: list[tuple[Any, ...]] = []
    for start in range(0, len(case.lines), CHUNK):
        items = []
        for n, line in enumerate(case.lines[start : start + CHUNK], start + 1):
            try:
                record, digest = read(verifier, line)
            except MalformedJSONError as exc:
                out.append((n, "invalid-record", exc.message))
                continue
            items.append((n, record, digest))
        for (n, _record, _digest), outcome in zip(
            items, verifier.verify_many(source, items, details=details), strict=True
        ):
            out.append(_short(n, outcome) if not details else _full(outcome))
    return sorted(out, key=lambda o: o[0])


def _full(result: Any) -> tuple[Any, ...]:
    assert isinstance(result, RecordResult)
    if result.status.value == "invalid-record":
        return (result.line, "invalid-record", result.reason)
    return (
        result.line,
        result.status.value,
        result.reason,
        result.record_id,
        result.content_digest,
        result.signer,
        result.batch,
        result.manifest,
    )


def _short(line: int, outcome: Any) -> tuple[Any, ...]:
    """A short outcome; a predicate is compared without its signing time (records that share a
    predicate up to that time may share one object)."""
    if isinstance(outcome, Verified):
        predicate = (
            None if outcome.predicate is None else replace(outcome.predicate, signed_at=None)
        )
        return (line, "ok", outcome.record_id, outcome.root, outcome.leaf, outcome.size,
                outcome.signer, predicate)  # fmt: skip
    return _full(outcome)


def _as_short(full: tuple[Any, ...]) -> tuple[Any, ...]:
    """The reference's full result in the short form a verifier gives without details."""
    if full[1] != "ok":
        return full
    line, _status, _reason, record_id, _digest, signer, batch, manifest = full
    root, leaf, size = (None, 0, 0) if batch is None else (batch.root, batch.index, batch.size)
    predicate = replace(manifest.predicate, signed_at=None)
    return (line, "ok", record_id, root, leaf, size, signer, predicate)


READERS: dict[str, Reader] = {
    "parsed": lambda verifier, line: verifier.read(line),
    "view": lambda verifier, line: canonical.view_and_digest(line, verifier.statement_prefix()),
}


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Case, list[tuple[Any, ...]]]]:
    """Every input, with the reference path's outcome on it."""
    folder = tmp_path_factory.mktemp("equivalence")
    out = []
    for case in [*_conformance(), *_generated(folder), *_fuzzed(folder)]:
        reference = Verifier(case.trust, now=NOW, strategies=frozenset())
        out.append((case, _outcomes(reference, case, None, True)))
    return out


def test_the_inputs_reach_every_status(cases: list[tuple[Case, list[tuple[Any, ...]]]]) -> None:
    statuses = {outcome[1] for _case, outcomes in cases for outcome in outcomes}
    assert statuses >= {
        "ok",
        "invalid-record",
        "missing-manifest",
        "malformed",
        "bad-signature",
        "untrusted-signer",
        "revoked-signer",
        "expired-signer",
        "bad-proof",
        "content-mismatch",
    }


def test_the_reference_path_reads_in_chunks_as_it_reads_records(
    cases: list[tuple[Case, list[tuple[Any, ...]]]],
) -> None:
    for case, expected in cases:
        reference = Verifier(case.trust, now=NOW, strategies=frozenset())
        assert _outcomes(reference, case, READERS["parsed"], True) == expected, case.name


@pytest.mark.parametrize("configuration", sorted(CONFIGURATIONS))
def test_strategies_give_the_reference_verdicts(
    configuration: str, cases: list[tuple[Case, list[tuple[Any, ...]]]]
) -> None:
    strategies = CONFIGURATIONS[configuration]
    for case, expected in cases:
        short = [_as_short(o) for o in expected]
        one = Verifier(case.trust, now=NOW, strategies=strategies)
        assert _outcomes(one, case, None, True) == expected, case.name
        for reader_name, read in READERS.items():
            for details in (True, False):
                verifier = Verifier(case.trust, now=NOW, strategies=strategies)
                for _ in range(2):  # the second pass starts from what the first one learnt
                    got = _outcomes(verifier, case, read, details)
                    assert got == (expected if details else short), (
                        case.name,
                        reader_name,
                        details,
                    )


def test_the_registry_names_what_each_strategy_builds_on() -> None:
    for name, strategy in STRATEGIES.items():
        assert strategy.step and strategy.summary, name
        assert set(strategy.needs) <= STRATEGIES.keys() - {name}, name
    with pytest.raises(ValueError, match="unknown verification strategies: nope"):
        Verifier(TRUST, strategies=frozenset({"nope"}))


def test_the_reference_path_does_not_touch_the_native_module(
    monkeypatch: pytest.MonkeyPatch, cases: list[tuple[Case, list[tuple[Any, ...]]]]
) -> None:
    import provenance.canonical
    import provenance.verify.steps

    class Refuse:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the reference path called the native {name}")

    monkeypatch.setattr(provenance.canonical, "_native", Refuse())
    monkeypatch.setattr(provenance.verify.steps, "_native", Refuse())
    for case, expected in cases:
        reference = Verifier(case.trust, now=NOW, strategies=frozenset())
        assert _outcomes(reference, case, None, True) == expected, case.name
