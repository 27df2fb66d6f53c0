"""Hostile bundles and checkpoints, and registry signatures judged by the trust store's rules.

A bundle is read without trusting the zip: a file the signed index does not name is refused
unread, a file larger than its signed size is refused without reading it whole (checked in a child
process under a memory limit), and JSON nested past the limit gets no verdict (exit 2), never a
traceback. Registry signatures are accepted only from keys trusted for that kind of signature
(``signs``), not revoked, within their validity window.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import struct
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from provenance import canonical, dsse
from provenance.keys import PrivateKeySigner
from provenance.limits import Limits
from provenance.manifest import PAYLOAD_TYPE
from provenance.registry.bundle import sign_json, statement
from provenance.registry.bundle import write_bundle as write_signed_bundle
from provenance.registry.bundle_verify import BundleRefused, verify_bundle
from tests.bounds import GiB, run_bounded
from tests.conftest import TAG, Runner, chat_records, write_jsonl
from tests.registry.registry_data import signed_file

DEEP = 20_000
"""Nesting far past the JSON depth limit (and past Python's recursion limit)."""
ZEROS = 3 * GiB
"""What the zip bomb's entry decompresses to."""


def _deep(depth: int = DEEP) -> bytes:
    return b"[" * depth + b"]" * depth


def _deep_envelope() -> bytes:
    """A DSSE envelope whose payload is nested past the limit."""
    payload = base64.b64encode(_deep()).decode("ascii")
    return json.dumps(
        {
            "payloadType": "application/vnd.in-toto+json",
            "payload": payload,
            "signatures": [{"sig": "AAAA"}],
        }
    ).encode()


def _files(bundle: bytes) -> tuple[dict[str, bytes], bytes]:
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        return {i.filename: archive.read(i) for i in archive.infolist()}, archive.comment


def _rezip(files: Mapping[str, bytes], comment: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.comment = comment
    return buffer.getvalue()


def _no_traceback(err: str) -> None:
    assert "Traceback" not in err
    assert "RecursionError" not in err and "MemoryError" not in err


# ---- a zip written by hand, so the bomb costs megabytes and milliseconds to make ------------


def _zeros_deflated(size: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``size`` zero bytes (a whole number of MiB) and its CRC-32, made
    from one compressed MiB repeated: after a full flush each MiB compresses to the same bytes."""
    mib = bytes(1 << 20)
    count, rest = divmod(size, len(mib))
    assert rest == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(mib) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(mib, crc)
    return block * count + b"\x03\x00", crc  # then an empty final block


def _raw_zip(entries: list[tuple[str, bytes, int, int, int]], comment: bytes) -> bytes:
    """A zip (APPNOTE 4.3) of ``(name, stored bytes, crc, uncompressed size, method)`` entries:
    local headers and data, the central directory, the end record with ``comment``."""
    out = io.BytesIO()
    central = []
    # fmt: off
    for name, data, crc, size, method in entries:
        offset, encoded = out.tell(), name.encode()
        out.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0x21,
                              crc, len(data), size, len(encoded), 0) + encoded + data)
        central.append(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, method, 0,
                                   0x21, crc, len(data), size, len(encoded), 0, 0, 0, 0,
                                   0o644 << 16, offset) + encoded)
    start, directory = out.tell(), b"".join(central)
    out.write(directory + struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(central),
                                      len(central), len(directory), start, len(comment)) + comment)
    # fmt: on
    return out.getvalue()


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sealed, signed bundle whose ``README.txt`` (6 bytes in the signed index) now holds 3 GiB
    of zeros, plus an unlisted ``extra.bin`` of 3 GiB: about 6 MB on disk."""
    signer = PrivateKeySigner.generate()
    small = {"README.txt": b"hello\n", "registry-key.pub": signer.verifying_key().pem()}
    original, comment = _files(
        write_signed_bundle(small, signer, {"subject": {"kind": "dataset", "name": "d"}})
    )
    zeros, crc = _zeros_deflated(ZEROS)
    entries = []
    for name, data in original.items():
        if name == "README.txt":
            entries.append((name, zeros, crc, ZEROS, zipfile.ZIP_DEFLATED))
        else:
            deflated = zlib.compress(data, 9)[2:-4]  # raw deflate: no zlib header or checksum
            entries.append((name, deflated, zlib.crc32(data), len(data), zipfile.ZIP_DEFLATED))
    entries.append(("extra.bin", zeros, crc, ZEROS, zipfile.ZIP_DEFLATED))
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    path.write_bytes(_raw_zip(entries, comment))
    return path


def test_a_zip_bomb_is_refused_without_reading_it_whole(bomb: Path, tmp_path: Path) -> None:
    assert bomb.stat().st_size < 16 * 1024 * 1024
    with zipfile.ZipFile(bomb) as archive:  # the zip says what it holds; nothing trusts it
        assert archive.getinfo("README.txt").file_size == ZEROS
    done = run_bounded(
        ["evidence", "verify", bomb, "--format", "json"], cwd=tmp_path, memory=GiB, cpu_seconds=60
    )
    assert done.killed_by is None, done.err
    _no_traceback(done.err)
    assert done.code == 1, done.err
    report = json.loads(done.out)
    problems = "\n".join(report["problems"])
    assert (
        "README.txt was changed: it holds more than the 6 bytes the signed index states "
        "(reading stopped there)" in problems
    )
    assert "extra.bin is not listed in the signed index (added)" in problems


# ---- files the index does not name, sizes, limits ---------------------------------------


def _small_bundle(signer: PrivateKeySigner, **files: bytes) -> bytes:
    content = {"registry-key.pub": signer.verifying_key().pem(), **files}
    return write_signed_bundle(content, signer, {"subject": {"kind": "dataset", "name": "d"}})


def test_a_file_the_index_does_not_name_is_refused(tmp_path: Path, cli: Runner) -> None:
    signer = PrivateKeySigner.generate()
    files, comment = _files(_small_bundle(signer, **{"README.txt": b"hello\n"}))
    files["keys/extra.pub"] = PrivateKeySigner.generate().verifying_key().pem()
    path = tmp_path / "added.zip"
    path.write_bytes(_rezip(files, comment))
    result = cli("evidence", "verify", path)
    assert result.code == 1
    assert "problem: keys/extra.pub is not listed in the signed index (added)" in result.out
    _no_traceback(result.err)


def test_a_file_longer_than_its_signed_size_is_named(tmp_path: Path) -> None:
    signer = PrivateKeySigner.generate()
    files, comment = _files(_small_bundle(signer, **{"README.txt": b"hello\n"}))
    files["README.txt"] = b"hello, and a good deal more\n"
    report = verify_bundle(_rezip(files, comment))
    assert any(
        p.startswith("README.txt was changed: it holds more than the 6 bytes the signed index")
        for p in report.problems
    ), report.problems


def test_the_limits_bound_what_an_index_may_state(tmp_path: Path) -> None:
    signer = PrivateKeySigner.generate()
    bundle = _small_bundle(signer, **{"big.bin": bytes(2 << 20), "README.txt": b"hello\n"})
    assert not [p for p in verify_bundle(bundle).problems if "is missing" not in p]
    with pytest.raises(BundleRefused, match=r"big\.bin is 2,097,152 bytes, more than the limit"):
        verify_bundle(bundle, limits=Limits(max_bundle_entry_bytes=1 << 20))
    with pytest.raises(BundleRefused, match="more than the limit of 1,048,576"):
        verify_bundle(bundle, limits=Limits(max_bundle_bytes=1 << 20))


def test_a_bundle_made_before_sizes_were_signed_still_verifies() -> None:
    """The layout of bundles made before the index stated sizes: the index's predicate has no
    ``sizes`` and the seal no time. Such a bundle verifies, each file bounded by the limits."""
    signer = PrivateKeySigner.generate()
    files = {"README.txt": b"hello\n", "registry-key.pub": signer.verifying_key().pem()}
    subjects = [(n, hashlib.sha256(files[n]).hexdigest()) for n in sorted(files)]
    index = sign_json(
        signer,
        statement(
            subjects,
            "https://provenance.dev/evidence-bundle/v1",
            {"subject": {"kind": "dataset", "name": "d"}, "created_at": "2025-01-01T00:00:00Z"},
        ),
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in [("bundle.dsse.json", index), *sorted(files.items())]:
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    raw = buffer.getvalue()
    seal = dsse.sign(
        PAYLOAD_TYPE,
        statement(
            [("bundle", hashlib.sha256(raw[:-22]).hexdigest())],
            "https://provenance.dev/evidence-seal/v1",
            {"covers": "every byte before the end-of-central-directory record"},
        ),
        [signer],
    ).to_dict()
    comment = canonical.canonicalize(seal)
    old = raw[:-2] + len(comment).to_bytes(2, "little") + comment
    report = verify_bundle(old)
    problems = [p for p in report.problems if "is missing" not in p]
    assert problems == [], report.problems
    assert any("states no file sizes" in f for f in report.facts)


# ---- nesting past the limit: no verdict, exit 2 -------------------------------------------


def _signed_small() -> tuple[PrivateKeySigner, dict[str, bytes], bytes]:
    signer = PrivateKeySigner.generate()
    files, comment = _files(_small_bundle(signer, **{"README.txt": b"hello\n"}))
    return signer, files, comment


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("zip comment", "the zip's seal: nesting deeper than 128 levels"),
        ("seal payload", "the zip's seal: nesting deeper than 128 levels"),
        ("index", "bundle.dsse.json: nesting deeper than 128 levels"),
        ("index payload", "bundle.dsse.json: nesting deeper than 128 levels"),
        ("checkpoint", "checkpoint.json: nesting deeper than 128 levels"),
    ],
)
def test_deeply_nested_json_in_a_bundle_is_no_verdict(
    tmp_path: Path, cli: Runner, where: str, message: str
) -> None:
    signer, files, comment = _signed_small()
    if where == "zip comment":
        data = _rezip(files, _deep(30_000))
    elif where == "seal payload":
        data = _rezip(files, _deep_envelope())
    elif where == "index":
        data = _rezip({**files, "bundle.dsse.json": _deep()}, comment)
    elif where == "index payload":
        data = _rezip({**files, "bundle.dsse.json": _deep_envelope()}, comment)
    else:
        # A checkpoint nested past the limit, listed in an index its key signed.
        content = {n: d for n, d in files.items() if n != "bundle.dsse.json"}
        content["checkpoint.json"] = _deep()
        data = write_signed_bundle(content, signer, {"subject": {"kind": "dataset", "name": "d"}})
    path = tmp_path / "nested.zip"
    path.write_bytes(data)
    result = cli("evidence", "verify", path)
    _no_traceback(result.err)
    assert result.code == 2, (result.out, result.err)
    assert f"provenance: error: {path}: {message} (hint: no verdict" in result.err, result.err
    assert result.err.count("\n") == 1


@pytest.mark.parametrize("content", [_deep(), _deep_envelope()], ids=["file", "payload"])
def test_deeply_nested_checkpoint_file_is_no_verdict(
    registry_keyed: Path, cli: Runner, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "checkpoint.json"
    path.write_bytes(content)
    result = cli("log", "verify", "--checkpoint", path)
    _no_traceback(result.err)
    assert result.code == 2
    assert f"provenance: error: {path}: " in result.err
    assert "nesting deeper than 128 levels" in result.err


# ---- registry signatures judged by the trust store's entries ------------------------------


def _trust_file(path: Path, project: Path, **signs: list[str] | Mapping[str, object]) -> Path:
    """A trust store holding the project's keys named in ``signs``, each with the given
    ``signs`` list (or a whole entry's extra fields when a mapping is given)."""
    keys = []
    for name, value in signs.items():
        pem = (project / ".provenance" / "keys" / f"{name}.pub").read_text()
        extra: dict[str, object] = {"signs": value} if isinstance(value, list) else dict(value)
        keys.append({"name": name, "public_key": pem, **extra})
    path.write_text(yaml.safe_dump({"version": 1, "keys": keys}))
    return path


def _bundle(project: Path, cli: Runner, *key: str) -> Path:
    data = signed_file(project / "d.jsonl", "d", 4)
    assert cli("ingest", data, "--name", "d").code == 0
    out = project / "bundle.zip"
    built = cli("evidence", "d", "-o", out, *key)
    assert built.code == 0, built.err
    return out


def _verify(cli: Runner, bundle: Path, trust: Path) -> tuple[int, dict[str, Any]]:
    result = cli("evidence", "verify", bundle, "--trust", trust, "--format", "json")
    _no_traceback(result.err)
    return result.code, orjson.loads(result.out)


def test_evidence_needs_a_key_trusted_to_sign_evidence(
    registry_keyed: Path, cli: Runner, tmp_path: Path
) -> None:
    project = registry_keyed
    bundle = _bundle(project, cli)  # by 'registry'; the records by 'gen'
    records_only = _trust_file(
        tmp_path / "records.yaml", project, gen=["records"], registry=["records"]
    )
    code, report = _verify(cli, bundle, records_only)
    assert code == 1
    assert (
        "bundle.dsse.json: key 'registry' is not trusted to sign evidence (it signs records)"
        in report["problems"]
    )
    # Trusted (for records) for another provider and organisation: refused the same way.
    elsewhere = {"providers": ["anthropic"], "organizations": ["globex"]}
    other = _trust_file(tmp_path / "other.yaml", project, gen=["records"], registry=elsewhere)
    code, report = _verify(cli, bundle, other)
    assert code == 1
    assert (
        "bundle.dsse.json: key 'registry' is not trusted to sign evidence (it signs records)"
        in report["problems"]
    )
    # The same key trusted to sign evidence: accepted (providers and organisations scope records).
    evidence = _trust_file(
        tmp_path / "evidence.yaml",
        project,
        gen=["records"],
        registry={**elsewhere, "signs": ["evidence"]},
    )
    code, report = _verify(cli, bundle, evidence)
    assert code == 0, report
    assert report["signer"] is not None
    assert "evidence by keys it trusts to sign evidence" in str(report["trust"])


def test_a_bundle_signed_with_a_records_key_warns_and_is_refused(
    registry_keyed: Path, cli: Runner
) -> None:
    project = registry_keyed
    data = signed_file(project / "d.jsonl", "d", 4)
    assert cli("ingest", data, "--name", "d").code == 0
    out = project / "by-gen.zip"
    built = cli("evidence", "d", "-o", out, "--key", "gen")
    assert built.code == 0
    assert "warning: key 'gen' is not trusted to sign evidence (it signs records)" in built.err
    code, report = _verify(cli, out, project / ".provenance" / "trust.yaml")
    assert code == 1
    assert (
        "seal: key 'gen' is not trusted to sign evidence (it signs records)" in report["problems"]
    )


def test_manifests_in_a_bundle_need_a_key_trusted_to_sign_records(
    registry_keyed: Path, cli: Runner, tmp_path: Path
) -> None:
    project = registry_keyed
    bundle = _bundle(project, cli)
    no_records = _trust_file(
        tmp_path / "t.yaml", project, gen=["evidence"], registry=["evidence", "checkpoints"]
    )
    code, report = _verify(cli, bundle, no_records)
    assert code == 1
    problems = report["problems"]
    assert isinstance(problems, list) and len(problems) == 4
    assert all(
        "untrusted-signer (key 'gen' is not trusted to sign records (it signs evidence))" in p
        for p in problems
    ), problems


def test_evidence_signed_by_a_retired_key_is_refused(registry_keyed: Path, cli: Runner) -> None:
    project = registry_keyed
    before = _bundle(project, cli)  # by 'registry', trusted for evidence and checkpoints
    rotated = cli("keys", "rotate", "registry", "registry2")
    assert rotated.code == 0, rotated.err
    trust = project / ".provenance" / "trust.yaml"
    store = yaml.safe_load(trust.read_text())
    new = next(k for k in store["keys"] if k["name"] == "registry2")
    assert new["signs"] == ["evidence", "checkpoints"]  # rotate carries what the key signs
    assert _verify(cli, before, trust)[0] == 0  # made before the key was retired
    after = project / "after.zip"
    built = cli("evidence", "d", "-o", after, "--key", "registry")
    assert built.code == 0
    assert "warning: signed at" in built.err and "key 'registry' expired at" in built.err
    code, report = _verify(cli, after, trust)
    assert code == 1
    assert any(
        str(p).startswith("bundle.dsse.json: signed at ") and "key 'registry' expired at" in str(p)
        for p in report["problems"]
    ), report
    renewed = project / "renewed.zip"
    assert cli("evidence", "d", "-o", renewed, "--key", "registry2").code == 0
    assert _verify(cli, renewed, trust)[0] == 0


def test_evidence_signed_by_a_revoked_key_is_refused(registry_keyed: Path, cli: Runner) -> None:
    project = registry_keyed
    bundle = _bundle(project, cli)
    assert cli("keys", "revoke", "registry", "--reason", "laptop stolen").code == 0
    code, report = _verify(cli, bundle, project / ".provenance" / "trust.yaml")
    assert code == 1
    assert "bundle.dsse.json: key 'registry' was revoked (laptop stolen)" in report["problems"]


def _checkpoint(project: Path, cli: Runner, *key: str) -> Path:
    data = signed_file(project / "c.jsonl", "c", 3)
    assert cli("ingest", data, "--name", "c").code == 0
    saved = project / "checkpoint.json"
    made = cli("log", "checkpoint", "-o", saved, *key)
    assert made.code == 0, made.err
    return saved


def _log_verify(cli: Runner, saved: Path, *trust: Path) -> tuple[int, dict[str, Any]]:
    extra = ["--trust", trust[0]] if trust else []
    result = cli("log", "verify", "--checkpoint", saved, "--format", "json", *extra)
    _no_traceback(result.err)
    return result.code, orjson.loads(result.out)


def _messages(report: dict[str, Any]) -> list[str]:
    problems = report["problems"]
    assert isinstance(problems, list)
    return [str(p["message"]) for p in problems]


def test_checkpoint_needs_a_key_trusted_to_sign_checkpoints(
    registry_project: Path, cli: Runner, tmp_path: Path
) -> None:
    project = registry_project
    made = cli("log", "checkpoint", "-o", project / "unused.json")
    assert "warning: key 'gen' is not trusted to sign checkpoints" in made.err
    saved = _checkpoint(project, cli)  # by 'gen', trusted for records only
    code, report = _log_verify(cli, saved)
    assert code == 1
    assert (
        "the checkpoint's signature is not accepted: key 'gen' is not trusted to sign "
        "checkpoints (it signs records)" in _messages(report)
    )
    elsewhere = _trust_file(
        tmp_path / "elsewhere.yaml",
        project,
        gen={"providers": ["anthropic"], "organizations": ["globex"], "signs": ["records"]},
    )
    assert _log_verify(cli, saved, elsewhere)[0] == 1
    scoped = _trust_file(
        tmp_path / "scoped.yaml",
        project,
        gen={"providers": ["anthropic"], "organizations": ["globex"], "signs": ["checkpoints"]},
    )
    code, report = _log_verify(cli, saved, scoped)
    assert code == 0, report
    assert "checkpoints by keys it trusts to sign checkpoints" in str(report["trust"])


def test_checkpoint_signed_by_a_retired_key_is_refused(registry_keyed: Path, cli: Runner) -> None:
    project = registry_keyed
    before = _checkpoint(project, cli)
    assert cli("keys", "rotate", "registry", "registry2").code == 0
    assert _log_verify(cli, before)[0] == 0  # signed while the key was valid
    after = project / "after.json"
    assert cli("log", "checkpoint", "-o", after, "--key", "registry").code == 0
    code, report = _log_verify(cli, after)
    assert code == 1
    assert any("key 'registry' expired at" in m for m in _messages(report)), report
    # The retired key's .pub file is still in the project: it does not bring the key back.
    assert (project / ".provenance" / "keys" / "registry.pub").exists()


def test_a_project_key_outside_the_trust_store_may_sign_checkpoints(
    registry_project: Path, cli: Runner
) -> None:
    """Without --trust, a project public key that the trust store does not hold may sign
    checkpoints and evidence (whoever can write keys/ can write the trust store too); a key the
    store holds is judged by its entry, whatever its .pub file says."""
    project = registry_project
    assert cli("keys", "generate", "loose").code == 0  # not in the trust store
    saved = _checkpoint(project, cli, "--key", "loose")
    code, report = _log_verify(cli, saved)
    assert code == 0, report
    assert "the project's public keys not in it (loose), for evidence and checkpoints" in str(
        report["trust"]
    )
    made = cli("keys", "generate", "held", "--trust", "--signs", "checkpoints")
    assert made.code == 0, made.err
    assert cli("keys", "revoke", "held").code == 0
    revoked = project / "revoked.json"
    assert cli("log", "checkpoint", "-o", revoked, "--key", "held").code == 0
    code, report = _log_verify(cli, revoked)
    assert code == 1
    assert "the checkpoint's signature is not accepted: key 'held' was revoked (revoked)" in (
        _messages(report)
    )


# ---- record signatures need 'records' ----------------------------------------------------


def test_a_record_signed_by_a_key_trusted_for_evidence_only_is_not_verified(
    project_dir: Path, cli: Runner, tmp_path: Path
) -> None:
    data = write_jsonl(project_dir / "in.jsonl", chat_records(3))
    signed = project_dir / "signed.jsonl"
    assert cli("tag", data, "-o", signed, *TAG).code == 0
    evidence_only = _trust_file(tmp_path / "evidence.yaml", project_dir, gen=["evidence"])
    result = cli("verify", signed, "--trust", evidence_only)
    assert result.code == 1
    assert "untrusted-signer" in result.out
    assert "key 'gen' is not trusted to sign records (it signs evidence)" in result.out
    records_too = _trust_file(tmp_path / "both.yaml", project_dir, gen=["evidence", "records"])
    assert cli("verify", signed, "--trust", records_too).code == 0


def test_an_old_trust_store_without_signs_verifies_records_as_before(
    project_dir: Path, cli: Runner
) -> None:
    trust = project_dir / ".provenance" / "trust.yaml"
    data = write_jsonl(project_dir / "in.jsonl", chat_records(3))
    signed = project_dir / "signed.jsonl"
    assert cli("tag", data, "-o", signed, *TAG).code == 0
    store = yaml.safe_load(trust.read_text())
    assert "signs" not in store["keys"][0]  # records only is written as before: left out
    old = project_dir / "old.yaml"
    old.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "keys": [
                    {
                        "name": "gen",
                        "public_key": store["keys"][0]["public_key"],
                        "providers": ["*"],
                        "organizations": ["acme"],
                    }
                ],
            }
        )
    )
    assert cli("verify", signed, "--trust", old).code == 0
    assert cli("keys", "generate", "second", "--trust").code == 0
    assert "signs" not in trust.read_text()
    listing = cli("keys", "list")
    assert "signs records for *" in listing.out


def test_an_unknown_kind_in_signs_is_a_config_error(project_dir: Path, cli: Runner) -> None:
    trust = project_dir / ".provenance" / "trust.yaml"
    store = yaml.safe_load(trust.read_text())
    store["keys"][0]["signs"] = ["records", "everything"]
    trust.write_text(yaml.safe_dump(store))
    result = cli("keys", "list")
    assert result.code == 2
    assert "keys[0].signs: unknown kind 'everything'" in result.err
    assert "records, evidence, checkpoints" in result.err
    bad = cli("keys", "generate", "other", "--trust", "--signs", "records,bundles")
    assert bad.code == 2
    assert "--signs: unknown kind 'bundles'" in bad.err


def test_lineage_show_walks_a_lattice_of_models_once_each(
    registry_keyed: Path, cli: Runner
) -> None:
    """Sixteen generations of two models each, every dataset written by both models of the
    generation before: as a tree that is 2**16 copies of the oldest models, but `lineage show`
    walks each model once (later meetings read "already shown"), within a CPU-time limit."""
    generations = 16
    folder = registry_keyed
    writers = [("contoso", "contoso-large-2")]
    for g in range(generations):
        parts = [
            signed_file(folder / f"d{g}-{i}.jsonl", f"d{g}-{i}", 2, provider=p, model=m)
            for i, (p, m) in enumerate(writers)
        ]
        data = folder / f"d{g}.jsonl"
        data.write_bytes(b"".join(part.read_bytes() for part in parts))
        assert cli("ingest", data, "--name", f"d{g}").code == 0
        writers = [("acme", f"acme/m{g}-a"), ("acme", f"acme/m{g}-b")]
        for _, model in writers:
            assert cli("lineage", "add", model, "--trained-on", f"d{g}").code == 0
    shown = run_bounded(
        ["lineage", "show", f"acme/m{generations - 1}-a"], cwd=folder, cpu_seconds=60
    )
    assert shown.killed_by is None
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert len(lines) < 20 * generations
    expanded = [
        line.strip()
        for line in lines
        if line.strip().startswith("model ") and "already" not in line
    ]
    # Each model is expanded once; every other meeting of it is one "already shown" line.
    assert len(expanded) == len(set(expanded)) == 2 * generations - 1
    assert sum("already shown" in line for line in lines) == 2 * (generations - 2)
