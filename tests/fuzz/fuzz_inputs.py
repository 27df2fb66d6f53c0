"""Mutation fuzzing of the files people hand the tool: YAML inputs and evidence bundles.

    .venv/bin/python tests/fuzz/fuzz_inputs.py --seconds 60 --seed 1

YAML: every file of the shipped terms library (terms, catalog, policy tests), the example intents
and lineage, a trust store and a ``--parts`` file are mutated (bytes among YAML's structural ones,
lines duplicated, dropped, swapped or re-indented, values wrapped deeper, anchors, aliases and tags
inserted) and read by the loader each kind goes through. Bundles: a real evidence bundle, made by
the command line in a temporary project, is mutated as bytes, as entries (changed, added, dropped,
renamed) and in its zip comment, and checked with ``provenance evidence verify``.

What must hold for every input: the tool either accepts it or refuses it with a
:class:`~provenance.errors.ProvenanceError` (one line, exit code 1 or 2), never another exception;
each input takes less than ``--cpu-limit`` seconds of CPU time; the whole run stays inside
``--memory`` bytes of address space; and a bundle whose signed content changed never verifies.
The first failure is written to ``--crashes`` and stops the run with exit code 1.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

YAML_BYTES = b" \n-:,[]{}&*!|>'\"#?%@`0123456789.eE+~x"
TAGS = [
    "!!python/name:os.system",
    "!!binary",
    "!!timestamp",
    "!!set",
    "!!omap",
    "!!pairs",
    "!!float",
    "!!int",
    "!!null",
    "!!str",
    "!custom",
]
SCALARS = ["2024-13-45", "1e400", "-.inf", ".nan", "0x1F", "~", "yes", "'", '"\\x00"', "é" * 3]
JSON_BYTES = b' "\\:,[]{}0123456789.eE+-tfnul'


@dataclass(frozen=True)
class Target:
    name: str
    seed: bytes
    check: Callable[[Path], object]
    suffix: str


def _yaml_targets(work: Path) -> list[Target]:
    from provenance import project
    from provenance.keys import PrivateKeySigner
    from provenance.policy import loader
    from provenance.trust import TrustedKey, TrustStore

    library = ROOT / "policies"
    targets: list[Target] = []
    for path in sorted((library / "terms").rglob("*.yaml"))[::4]:
        name = path.name
        targets.append(
            Target(
                f"terms {path.relative_to(library)}",
                path.read_bytes(),
                functools.partial(_terms_check, name),
                ".yaml",
            )
        )
    for path in sorted((library / "catalog").glob("*.yaml")):
        targets.append(
            Target(f"catalog {path.name}", path.read_bytes(), loader.load_catalog, ".yaml")
        )
    for path in sorted((library / "tests").rglob("*.test.yaml"))[::8]:
        targets.append(
            Target(
                f"policy tests {path.name}", path.read_bytes(), loader.load_policy_tests, ".yaml"
            )
        )
    for path in sorted((ROOT / "examples" / "intents").glob("*.yaml")):
        targets.append(
            Target(f"intent {path.name}", path.read_bytes(), loader.load_intent, ".yaml")
        )
    lineage = ROOT / "examples" / "lineage.yaml"
    targets.append(Target("lineage", lineage.read_bytes(), loader.load_lineage, ".yaml"))
    waivers = b"waivers:\n  - terms: openai/terms-of-use@2024-01-31\n    clause: x\n"
    waivers += b"    reason: reviewed\n    approved_by: legal\n    expires: 2027-01-01\n"
    targets.append(Target("waivers", waivers, loader.load_waivers, ".yaml"))
    key = PrivateKeySigner.generate(name="fuzz").verifying_key()
    store = TrustStore().add(TrustedKey(name="fuzz", key=key, providers=("openai",)))
    trust = work / "trust.yaml"
    project.save_trust(store, trust)
    targets.append(Target("trust store", trust.read_bytes(), project.load_trust, ".yaml"))
    parts = (
        b"/messages/1/content:\n  provider: openai\n  model: gpt-4o\n  role: response\n"
        b"/score:\n  provider: anthropic\n  model: claude-3-5-sonnet\n  role: judge\n"
    )
    targets.append(Target("parts", parts, _parts_check, ".yaml"))
    return targets


def _terms_check(name: str, path: Path) -> object:
    """A terms document is read under the file name its id asks for."""
    from provenance.policy import loader

    return loader.load_terms(path.rename(path.with_name(name)))


def _parts_check(path: Path) -> object:
    from provenance.cli.commands import _load_parts

    return _load_parts(path)


def _mutate_yaml(data: bytes, rnd: random.Random) -> bytes:
    lines = data.split(b"\n")
    for _ in range(rnd.randint(1, 4)):
        action = rnd.random()
        at = rnd.randrange(len(lines))
        if action < 0.3:
            text = bytearray(lines[at])
            spot = rnd.randrange(len(text) + 1)
            if rnd.random() < 0.5 or spot == len(text):
                text.insert(spot, rnd.choice(YAML_BYTES))
            else:
                del text[spot]
            lines[at] = bytes(text)
        elif action < 0.4:
            lines.insert(at, lines[rnd.randrange(len(lines))])
        elif action < 0.5 and len(lines) > 1:
            del lines[at]
        elif action < 0.6:
            other = rnd.randrange(len(lines))
            lines[at], lines[other] = lines[other], lines[at]
        elif action < 0.7:
            lines[at] = b" " * rnd.choice([1, 2, 4]) + lines[at]
        elif action < 0.78 and b": " in lines[at]:
            key, _, value = lines[at].partition(b": ")
            depth = rnd.choice([1, 3, 70, 2000])
            lines[at] = key + b": " + b"[" * depth + value + b"]" * depth
        elif action < 0.86 and b": " in lines[at]:
            key, _, value = lines[at].partition(b": ")
            lines[at] = key + b": " + rnd.choice(TAGS).encode() + b" " + value
        elif action < 0.93 and b": " in lines[at]:
            key, _, _value = lines[at].partition(b": ")
            lines[at] = key + b": " + rnd.choice(SCALARS).encode()
        else:
            anchor = rnd.randrange(len(lines))
            if b": " in lines[anchor] and b": " in lines[at]:
                key, _, value = lines[anchor].partition(b": ")
                lines[anchor] = key + b": &a " + value
                key, _, _value = lines[at].partition(b": ")
                lines[at] = key + b": *a"
    return b"\n".join(lines)


class Bundles:
    """A real evidence bundle, made by the command line, and its trust store."""

    def __init__(self, work: Path) -> None:
        self.home = work / "project"
        self.home.mkdir()
        env = {**os.environ, "PROVENANCE_NATIVE": os.environ.get("PROVENANCE_NATIVE", "1")}
        env.pop("PROVENANCE_HOME", None)
        env.pop("PROVENANCE_DATABASE_URL", None)

        def run(*args: str) -> None:
            subprocess.run(
                [sys.executable, "-m", "provenance", *args],
                cwd=self.home,
                env=env,
                check=True,
                capture_output=True,
            )

        (self.home / "data.jsonl").write_text(
            "".join(f'{{"id": "r{i}", "text": "answer {i}"}}\n' for i in range(5))
        )
        run("init")
        run("keys", "generate", "gen", "--trust", "--signs", "records,evidence,checkpoints")
        tag = ["--key", "gen", "--model", "gpt-4o", "--provider", "openai", "--service", "api"]
        tag += ["--generated-at", "2024-06-01T09:00:00Z"]
        run("tag", "data.jsonl", "-o", "tagged.jsonl", *tag)
        run("ingest", "tagged.jsonl", "--name", "d1")
        run("lineage", "add", "acme/m", "--trained-on", "d1", "--base-model", "acme/base")
        intent = ROOT / "examples" / "intents" / "research-eval.yaml"
        with contextlib.suppress(subprocess.CalledProcessError):
            run("audit", "tagged.jsonl", "--intent", str(intent), "--record")
        run("evidence", "acme/m", "-o", "bundle.zip")
        self.bundle = (self.home / "bundle.zip").read_bytes()
        self.trust = self.home / ".provenance" / "trust.yaml"
        signed = self._entries(self.bundle)
        assert signed is not None
        self.signed = signed

    @staticmethod
    def _entries(data: bytes) -> tuple[dict[str, bytes], bytes] | None:
        """The bundle's files and comment, or None when it is not a readable zip (bounded)."""
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                files = {}
                for info in archive.infolist():
                    with archive.open(info) as handle:
                        body = handle.read(len(data) * 4 + 1024)
                    files[info.filename] = body
                return files, archive.comment
        except Exception:
            return None

    def mutate(self, rnd: random.Random) -> bytes:
        action = rnd.random()
        if action < 0.35:
            data = bytearray(self.bundle)
            for _ in range(rnd.randint(1, 3)):
                data[rnd.randrange(len(data))] = rnd.randrange(256)
            return bytes(data)
        files, comment = dict(self.signed[0]), self.signed[1]
        if action < 0.7:
            name = rnd.choice(sorted(files))
            body = bytearray(files[name])
            for _ in range(rnd.randint(1, 3)):
                spot = rnd.randrange(len(body) + 1)
                choice = rnd.random()
                if choice < 0.4 or spot == len(body):
                    body.insert(spot, rnd.choice(JSON_BYTES))
                elif choice < 0.8:
                    body[spot] = rnd.choice(JSON_BYTES)
                else:
                    del body[spot]
            files[name] = bytes(body)
        elif action < 0.78:
            files[rnd.choice(["extra.json", "../escape.txt", "keys/other.pub"])] = b"{}"
        elif action < 0.84:
            del files[rnd.choice(sorted(files))]
        elif action < 0.9:
            depth = rnd.choice([200, 100_000])
            comment = b"[" * depth + b"]" * depth
        else:
            text = bytearray(comment)
            if text:
                text[rnd.randrange(len(text))] = rnd.choice(JSON_BYTES)
            comment = bytes(text)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in files.items():
                archive.writestr(name, content)
            archive.comment = comment[:65535]
        return out.getvalue()

    def check(self, path: Path) -> int:
        from provenance.cli import main

        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = main(["evidence", "verify", str(path), "--trust", str(self.trust)])
        if code not in (0, 1, 2) or "Traceback" in err.getvalue():
            raise AssertionError(f"exit code {code}: {err.getvalue()[-500:]}")
        if code == 0:
            read = self._entries(path.read_bytes())
            if read is None or read[0] != self.signed[0]:
                raise AssertionError("a bundle whose content changed verified")
        return code


def fuzz(
    seconds: float,
    seed: int,
    cpu_limit: float,
    crashes: Path,
    only: str = "",
    keep_going: bool = False,
) -> int:
    from provenance.errors import ProvenanceError

    rnd = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="provenance-fuzz-"))
    try:
        targets = _yaml_targets(work)
        bundles = Bundles(work) if only != "yaml" else None
        inputs = work / "inputs"
        inputs.mkdir()
        counts = {"inputs": 0, "accepted": 0, "refused": 0}
        findings: dict[tuple[str, str], tuple[str, bytes, str]] = {}
        spent_on = {"yaml": 0.0, "bundles": 0.0}
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            # Each kind gets about half the CPU time: a bundle takes far longer than a YAML file.
            yaml_turn = spent_on["yaml"] <= spent_on["bundles"]
            if bundles is None or (yaml_turn and only != "bundles"):
                kind = "yaml"
                target = rnd.choice(targets)
                data = _mutate_yaml(target.seed, rnd)
                name = target.name
                path = inputs / f"input{target.suffix}"
                check: Callable[[Path], object] = target.check
            else:
                data = bundles.mutate(rnd)
                name = "evidence bundle"
                path = inputs / "input.zip"
                check = bundles.check
                kind = "bundles"
            path.write_bytes(data)
            before = time.process_time()
            finding = ""
            try:
                result: Any = check(path)
                refused = result in (1, 2)
            except ProvenanceError:
                refused = True
            except Exception as exc:  # any other exception is the finding
                finding = f"{type(exc).__name__}: {exc}"[:300]
            spent = time.process_time() - before
            spent_on[kind] += spent
            if not finding and spent > cpu_limit:
                finding = f"took {spent:.1f} s of CPU time"
            if finding:
                if not keep_going:
                    return _crash(crashes, name, data, finding)
                findings.setdefault((name.split()[0], finding[:60]), (name, data, finding))
                continue
            counts["inputs"] += 1
            counts["refused" if refused else "accepted"] += 1
            for leftover in inputs.iterdir():
                leftover.unlink()
        for found_in, data, finding in findings.values():
            _crash(crashes, found_in, data, finding)
        print(
            f"fuzz_inputs: {counts['inputs']} inputs in {seconds:.0f} s "
            f"({counts['refused']} refused, {counts['accepted']} accepted), "
            f"{len(findings) or 'no'} finding{'' if len(findings) == 1 else 's'}"
        )
        return 1 if findings else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _crash(crashes: Path, name: str, data: bytes, what: str) -> int:
    crashes.mkdir(parents=True, exist_ok=True)
    path = crashes / f"crash-{time.time_ns()}.bin"
    path.write_bytes(data)
    print(f"fuzz_inputs: {name}: {what}\n  input kept in {path}", file=sys.stderr)
    return 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cpu-limit", type=float, default=10, help="CPU seconds per input")
    parser.add_argument("--memory", type=int, default=2 * 1024**3, help="address space, bytes")
    parser.add_argument("--crashes", type=Path, default=Path("fuzz-crashes"))
    parser.add_argument(
        "--keep-going", action="store_true", help="collect distinct findings, report at the end"
    )
    parser.add_argument("--only", choices=["yaml", "bundles"], default="", help="one kind of input")
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_AS, (args.memory, args.memory))
    return fuzz(args.seconds, args.seed, args.cpu_limit, args.crashes, args.only, args.keep_going)


if __name__ == "__main__":
    sys.exit(main())
