"""What ``provenance log verify`` finds: each :class:`Problem`, each checkpoint's result, and the
:class:`LogReport` that holds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provenance.registry.logtree import Frontier

MAX_LISTED = 200
"""Problems listed in full; the rest are counted."""


@dataclass(frozen=True)
class Problem:
    kind: str
    """``altered``, ``deleted``, ``reordered``, ``inserted``, ``log-edited``, ``log-gap``,
    ``rolled-back``, ``diverged``, ``derived``, ``dataset``, ``checkpoint``, ``head``,
    ``integrity``."""
    message: str
    seq: int | None = None
    table: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "seq": self.seq, "table": self.table, "message": self.message}


@dataclass(frozen=True)
class CheckpointResult:
    source: str
    size: int
    root: str
    signer: str | None
    consistent: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "tree_size": self.size,
            "root": self.root,
            "signer": self.signer,
            "consistent": self.consistent,
        }


@dataclass
class LogReport:
    origin: str
    size: int = 0
    root: str = ""
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0
    checkpoints: list[CheckpointResult] = field(default_factory=list)
    rows: int = 0
    frontier: Frontier | None = None
    """The tree rebuilt from the recomputed entry hashes (what a new checkpoint signs)."""
    trust_source: str = ""
    """Which keys checkpoint signatures were accepted from, and by which rule."""

    @property
    def ok(self) -> bool:
        return not self.problems and not self.more_problems

    def add(self, problem: Problem) -> None:
        if len(self.problems) < MAX_LISTED:
            self.problems.append(problem)
        else:
            self.more_problems += 1

    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "origin": self.origin,
            "tree_size": self.size,
            "root": self.root,
            "rows": self.rows,
            "checkpoints": [c.to_dict() for c in self.checkpoints],
            "trust": self.trust_source,
            "problems": [p.to_dict() for p in self.problems],
            "problems_not_listed": self.more_problems,
        }

    def lines(self) -> list[str]:
        out = [
            f"log: {self.size} entries, root {self.root}, {self.rows} evidence rows "
            f"(registry {self.origin})"
        ]
        if self.checkpoints and self.trust_source:
            out.append(f"checkpoint signatures checked against {self.trust_source}")
        for c in self.checkpoints:
            state = "consistent" if c.consistent else "NOT consistent"
            signer = f"signed by {c.signer}" if c.signer else "signature not verified"
            out.append(
                f"checkpoint {c.source}: size {c.size}, root {c.root[:16]}…, {signer}: {state}"
            )
        for p in self.problems:
            where = f"#{p.seq} " if p.seq is not None else ""
            out.append(f"{p.kind}: {where}{p.message}")
        if self.more_problems:
            out.append(f"… and {self.more_problems} more problems")
        out.append("ok: the store matches its log" if self.ok else "FAILED: the store was changed")
        return out
