"""A terms library as it stands at a revision of a git repository (``git:REV`` in ``provenance
policy diff``): its YAML files are listed with ``git ls-tree`` and read with one ``git cat-file
--batch``, never by checking the revision out, and files over ``Limits.max_yaml_bytes`` are refused
before git hands their bytes over."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from provenance.errors import InputError
from provenance.limits import DEFAULT_LIMITS

if TYPE_CHECKING:
    import subprocess

GIT_PREFIX = "git:"
"""How a revision is written where a library directory could be: ``git:HEAD~1``."""


def _git(repo: Path, *args: str, feed: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    import subprocess  # only when a revision is read: the policy commands start without it

    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args], input=feed, capture_output=True, check=False
        )
    except FileNotFoundError:
        raise InputError(
            "git is not installed, so a git:REV library cannot be read",
            hint="install git, or check the revision out and give its directory",
        ) from None


def _tracked_yaml(repo: Path, tree: str, label: str) -> list[tuple[bytes, str]]:
    """(blob, relative path) of every YAML file below ``tree``; files too large to read are
    refused here, before git hands their bytes over."""
    listing = _git(repo, "ls-tree", "-r", "-z", "-l", tree)
    if listing.returncode != 0:
        raise InputError(f"git cannot list {tree}", source=label)
    out: list[tuple[bytes, str]] = []
    for item in listing.stdout.split(b"\0"):
        meta, _, name = item.partition(b"\t")
        fields = meta.split()
        if len(fields) != 4 or fields[1] != b"blob" or fields[0] not in (b"100644", b"100755"):
            continue
        relative = name.decode("utf-8", "surrogateescape")
        if not relative.endswith(".yaml"):
            continue
        parts = relative.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise InputError(f"the revision holds a path that cannot be read safely: {relative!r}")
        if int(fields[3]) > DEFAULT_LIMITS.max_yaml_bytes:
            raise InputError(
                f"larger than the limit of {DEFAULT_LIMITS.max_yaml_bytes} bytes",
                source=f"{label}/{relative}",
                limit="max_yaml_bytes",
            )
        out.append((fields[2], relative))
    return out


def _blobs(repo: Path, names: list[bytes]) -> list[bytes]:
    """The bytes of each blob, read by one ``git cat-file --batch``."""
    if not names:
        return []
    done = _git(repo, "cat-file", "--batch", feed=b"".join(n + b"\n" for n in names))
    data, at = done.stdout, 0
    out: list[bytes] = []
    for name in names:
        end = data.find(b"\n", at)
        header = data[at:end].split()
        if done.returncode != 0 or end < 0 or len(header) != 3 or header[1] != b"blob":
            raise InputError(f"git cannot read object {name.decode('ascii', 'replace')}")
        start = end + 1
        size = int(header[2])
        out.append(data[start : start + size])
        at = start + size + 1
    return out


def git_library(rev: str, repo: Path, folder: str, into: Path) -> str:
    """Write the YAML files of ``folder`` at revision ``rev`` of the git repository ``repo`` into
    the directory ``into``; returns how the files are named in messages (``git:REV:folder``)."""
    if not rev or rev.startswith("-"):
        raise InputError(
            f"'{GIT_PREFIX}{rev}' names no revision",
            hint="write git:REV, e.g. git:HEAD~1 or git:v2",
        )
    top = _git(repo, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise InputError(
            f"not a git repository: {repo}",
            hint="run the command inside the repository, or give it with --repo",
        )
    where = top.stdout.decode("utf-8", "replace").strip()
    found = _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if found.returncode != 0:
        raise InputError(
            f"no revision '{rev}' in the git repository {where}",
            hint="give a commit, branch or tag, e.g. git:HEAD~1",
        )
    commit = found.stdout.decode("ascii").strip()
    folder = folder.strip("/")
    tree = f"{commit}:{folder}" if folder not in ("", ".") else f"{commit}^{{tree}}"
    kind = _git(repo, "cat-file", "-t", tree)
    if kind.returncode != 0 or kind.stdout.strip() != b"tree":
        raise InputError(
            f"no folder '{folder}' in revision '{rev}' of the git repository {where}",
            hint="give the library's folder, relative to the top of the repository, with --path",
        )
    label = f"{GIT_PREFIX}{rev}:{folder}" if folder not in ("", ".") else f"{GIT_PREFIX}{rev}"
    files = _tracked_yaml(repo, tree, label)
    for (_, relative), data in zip(files, _blobs(repo, [b for b, _ in files]), strict=True):
        target = into.joinpath(*relative.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return label
