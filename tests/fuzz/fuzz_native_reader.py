"""Differential fuzzing of the native record reader under AddressSanitizer and UBSan.

    .venv/bin/python tests/fuzz/fuzz_native_reader.py --seconds 240 --seed 1

Builds ``provenance/_native.c`` with ``-fsanitize=address,undefined`` into a temporary directory,
then runs itself again with the sanitizer runtimes preloaded. It mutates record lines (inserted,
replaced and deleted bytes, chosen among JSON's structural bytes, digits, escapes and broken or
multi-byte UTF-8) and checks, for every line the native reader takes, that the reference parser
accepts it too and gives the same content digest and the same ``_provenance`` value; that the
batch-manifest reader (``scan_batch``) gives the same digest and, where it reads a manifest's
fields, the values orjson and the strict base64 decoder read; and that every line the native
batch tagger (``tag_batch``) signs is one the reference reads, with the same content. The corpus
holds batch-signed lines as the tagger writes them. A sanitizer report, or any disagreement,
stops the run with a non-zero exit code. Needs gcc and OpenSSL's headers.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import random
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]
ALPHABET = (
    b' "\\:,[]{}0123456789.eE+-aNtfnu/_provenance\x00\x1f\x7f'
    b"\xc3\xa9\xe2\x82\xac\xef\xbf\xbf\xf0\x9f\x98\x80\xff\xed\xa0\xc0"
)
WORDS = ["tutor", "caf\u00e9", "\u2713", "\U0001f642", "\u4e2d\u6587", "x\ny", 'a "q"', "\\"]


def _record(rnd: random.Random, depth: int = 0) -> Any:
    kind = rnd.random()
    if depth > 3 or kind < 0.35:
        return rnd.choice(
            [
                rnd.randint(-(10**15), 10**15),
                rnd.random() * 10 ** rnd.randint(-8, 22),
                rnd.choice(WORDS) * rnd.randint(1, 3),
                True,
                None,
            ]
        )
    if kind < 0.6:
        return [_record(rnd, depth + 1) for _ in range(rnd.randint(0, 4))]
    keys = [rnd.choice([*WORDS, "id", "meta", "_provenance", "\ue000", "b"]) for _ in range(4)]
    return {key: _record(rnd, depth + 1) for key in keys}


def _corpus(rnd: random.Random) -> list[bytes]:
    lines = []
    for _ in range(400):
        record = {"id": f"r-{rnd.randrange(10**6)}", "body": _record(rnd)}
        if rnd.random() < 0.7:
            record["_provenance"] = {"statement": "eyJ4IjoxfQ==", "batch": {"index": 3}}
        lines.append(orjson.dumps(record))
    vectors = ROOT / "tests" / "vectors" / "jcs" / "input"
    lines += [path.read_bytes() for path in sorted(vectors.iterdir())]
    return lines + _batch_signed()


def _batch_signed() -> list[bytes]:
    """Records as the batch tagger writes them (three batches of seven, and a batch of five with
    its envelope in a sidecar)."""
    sys.path.insert(0, str(ROOT))
    from provenance.keys import PrivateKeySigner
    from provenance.sign import Tagger

    tagger = Tagger(PrivateKeySigner.generate(name="fuzz"), provider="openai", model="gpt-4o")
    records = [{"id": f"r{k}", "text": WORDS[k % len(WORDS)]} for k in range(21)]
    signed = []
    for start in range(0, len(records), 7):
        signed += tagger.tag_batch(records[start : start + 7])
    signed += tagger.sign_batch(records[:5], sidecar="data.jsonl.batches")[0]
    return [orjson.dumps(record) for record in signed]


def _check_batch(native: Any, line: bytes, record: Any, digest: str, es6: Any) -> str | None:
    """A disagreement of the batch-manifest reader and the batch tagger with the reference."""
    from provenance.limits import DEFAULT_LIMITS
    from tests.oracles import expected_batch_fields

    depth = DEFAULT_LIMITS.max_json_depth
    read = native.scan_batch(line, depth, es6)
    if read is None or read[0] != digest:
        return "the batch-manifest reader gives another digest"
    if len(read) == 4:
        expected = expected_batch_fields(record.get("_provenance"))
        *values, envelope, _known = read[3]
        if expected is None or tuple(values) != expected[:5]:
            return "the batch-manifest reader reads other fields"
        if (envelope if isinstance(envelope, tuple) else orjson.loads(envelope)) != expected[5]:
            return "the batch-manifest reader reads another envelope"
    signed = native.tag_batch(line, depth, es6, "id", b"{", 1, lambda root, size: b"}}}\n")
    if signed is not None:
        if "_provenance" in record or type(record.get("id")) not in (str, int):
            return "the batch tagger signed a record it must leave to Python"
        out = orjson.loads(signed[0])
        if {k: v for k, v in out.items() if k != "_provenance"} != record:
            return "the batch tagger wrote other content"
    return None


def _mutate(line: bytes, rnd: random.Random) -> bytes:
    data = bytearray(line)
    for _ in range(rnd.randint(1, 4)):
        at = rnd.randrange(len(data) + 1)
        byte = rnd.choice(ALPHABET)
        action = rnd.random()
        if action < 0.4 or at == len(data):
            data.insert(at, byte)
        elif action < 0.8:
            data[at] = byte
        else:
            del data[at]
    return bytes(data)


def fuzz(library: Path, seconds: float, seed: int) -> int:
    spec = importlib.util.spec_from_file_location("provenance._native", library)
    assert spec is not None and spec.loader is not None
    native = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(native)
    sys.path.insert(0, str(ROOT))
    from provenance import canonical
    from provenance.errors import MalformedJSONError
    from provenance.limits import DEFAULT_LIMITS

    rnd = random.Random(seed)
    corpus = _corpus(rnd)
    end = time.monotonic() + seconds
    tried = taken = batch_read = 0
    depth, es6 = DEFAULT_LIMITS.max_json_depth, canonical._es6_number
    while time.monotonic() < end:
        line = _mutate(rnd.choice(corpus), rnd)
        tried += 1
        scanned = native.scan(line, depth, es6)
        if scanned is None:
            continue
        taken += 1
        try:
            record = canonical.parse_record(line)
        except MalformedJSONError as exc:
            print(f"taken natively, rejected by the reference ({exc.message}): {line!r}")
            return 1
        body, start, end_at = scanned
        if hashlib.sha256(body).hexdigest() != canonical.content_digest(record):
            print(f"digests differ: {line!r}")
            return 1
        expected = record.get(canonical.PROVENANCE_KEY, "absent")
        got = "absent" if start < 0 else orjson.loads(line[start:end_at])
        if got != expected:
            print(f"manifests differ: {line!r}")
            return 1
        problem = _check_batch(native, line, record, hashlib.sha256(body).hexdigest(), es6)
        if problem is not None:
            print(f"{problem}: {line!r}")
            return 1
        batch_read += scanned[1] >= 0 and len(native.scan_batch(line, depth, es6)) == 4
    print(
        f"{tried:,} mutated lines, {taken:,} taken by the native reader, {batch_read:,} batch "
        "manifests read natively, all equal"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--library", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.library is not None:
        return fuzz(args.library, args.seconds, args.seed)
    with tempfile.TemporaryDirectory() as work:
        library = Path(work) / "_native_sanitized.so"
        subprocess.run(
            [
                "gcc",
                "-shared",
                "-fPIC",
                "-O1",
                "-g",
                "-fno-omit-frame-pointer",
                "-fsanitize=address,undefined",
                "-fno-sanitize-recover=undefined",
                f"-I{sysconfig.get_paths()['include']}",
                str(ROOT / "provenance" / "_native.c"),
                "-o",
                str(library),
                "-lcrypto",
            ],
            check=True,
        )
        runtimes = [
            subprocess.run(
                ["gcc", f"-print-file-name={name}"], check=True, capture_output=True, text=True
            ).stdout.strip()
            for name in ("libasan.so", "libubsan.so")
        ]
        env = {**os.environ, "LD_PRELOAD": " ".join(runtimes), "ASAN_OPTIONS": "detect_leaks=0"}
        command = [sys.executable, __file__, "--library", str(library)]
        command += ["--seconds", str(args.seconds), "--seed", str(args.seed)]
        return subprocess.run(command, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
