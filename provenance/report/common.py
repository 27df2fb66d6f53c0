"""What several report formats share: rule groups, shard locations, safe links, short texts."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit

from provenance.policy.model import SEVERITY, Outcome, most_severe
from provenance.policy.report import PSEUDO_TITLES, Finding

if TYPE_CHECKING:
    from provenance.auditor import AuditReport

COLLAPSE_TITLE = "Dataset thresholds (risk of model collapse)"


def title_of(report: AuditReport, terms: str) -> str | None:
    """The title of a terms document (or pseudo document) the report names."""
    decision = report.policy.decision(terms)
    if decision is not None and decision.title:
        return decision.title
    if terms in PSEUDO_TITLES:
        return PSEUDO_TITLES[terms]
    if terms == "provenance/model-collapse-risk":
        return COLLAPSE_TITLE
    return next((p.title for p in report.policies if p.id == terms and p.title), None)


def rule_id(finding: Finding) -> str:
    """A stable id of the clause or rule behind a finding: ``<terms>/<rule>``."""
    return finding.terms if finding.rule is None else f"{finding.terms}/{finding.rule}"


@dataclass(frozen=True)
class RuleGroup:
    """Every finding of one terms document's clause (or engine rule), most severe first."""

    terms: str
    rule: str | None
    findings: tuple[Finding, ...]

    @property
    def id(self) -> str:
        return self.terms if self.rule is None else f"{self.terms}/{self.rule}"

    @property
    def outcome(self) -> Outcome:
        return most_severe(f.outcome for f in self.findings)

    @property
    def waived(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.waived_by is not None)

    @property
    def record_count(self) -> int:
        return sum(f.record_count for f in self.findings)


def rule_groups(findings: Iterable[Finding]) -> list[RuleGroup]:
    """Findings grouped by (terms, rule), in first-seen order; findings most severe first."""
    grouped: dict[tuple[str, str | None], list[Finding]] = {}
    for finding in findings:
        grouped.setdefault((finding.terms, finding.rule), []).append(finding)
    return [
        RuleGroup(
            terms,
            rule,
            tuple(sorted(items, key=lambda f: -SEVERITY[f.outcome])),
        )
        for (terms, rule), items in grouped.items()
    ]


def waiver_note(finding: Finding) -> str | None:
    """How a waived finding reads in every format: what it was, who accepted it and until when.

    ``None`` when no waiver applied to ``finding``.
    """
    waiver = finding.waived_by
    if waiver is None:
        return None
    was = finding.original_outcome or finding.outcome
    return f"waived (was {was}) by {waiver.owner}, expires {waiver.expires.isoformat()}"


def first_waived(findings: Iterable[Finding]) -> Finding | None:
    """The first waived finding among ``findings`` (a decision's or a rule group's), if any."""
    return next((f for f in findings if f.waived_by is not None), None)


def safe_url(value: object) -> str | None:
    """``value`` when it is an absolute http(s) URL, else None: nothing else becomes a link."""
    if not isinstance(value, str) or any(c in value for c in " \t\r\n\"'<>`"):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return value


def relative_uri(path: str, base: Path | None = None) -> tuple[str, bool]:
    """A URI for a data file: a relative POSIX path under ``base`` (default: the working
    directory) when possible, else a ``file://`` URI. Returns the URI and whether it is relative.
    """
    base = (base or Path.cwd()).resolve()
    candidate = Path(path)
    if not candidate.is_absolute():
        normal = PurePosixPath(os.path.normpath(candidate.as_posix()))
        if not normal.parts or normal.parts[0] != "..":
            return quote(normal.as_posix()), True
        candidate = base / candidate
    resolved = candidate.resolve()
    try:
        inner = resolved.relative_to(base)
    except ValueError:
        return resolved.as_uri(), False
    return quote(inner.as_posix()), True


def display_path(path: str, base: Path | None = None) -> str:
    """``path`` relative to ``base`` (default: the working directory) when it lies under it."""
    uri, relative = relative_uri(path, base)
    return unquote(uri) if relative else path


def short(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


_NARROW = frozenset("ijl.,:;'|!·` ")
_SLIM = frozenset("frt/-()[]{}")
_WIDE = frozenset("mwMW@%&")
_BREAK_AFTER = frozenset(" /-_@+·,:")


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """A generous estimate, in pixels, of ``text`` set at ``size`` px in a sans-serif font.

    The page names no font (nothing is loaded), so the browser's default sans-serif is used; the
    widths are those of DejaVu Sans, one of the widest common defaults, so a label sized by this
    estimate is not clipped by a narrower font.
    """
    em = 0.0
    for char in text:
        if char in _NARROW:
            em += 0.32
        elif char in _SLIM:
            em += 0.41
        elif char in _WIDE:
            em += 1.0
        elif char.isupper():
            em += 0.76
        elif char.isascii():
            em += 0.64
        else:
            em += 0.9
    return em * size * (1.12 if bold else 1.0)


def wrap(text: str, fits: Callable[[str], bool]) -> list[str]:
    """``text`` broken over lines that each ``fits``: after a space, slash, dash, dot, ``@`` …
    where possible, inside a word only where a word alone does not fit. No character but the spaces
    at a break is dropped, so two different names never read the same.
    """
    tokens: list[str] = []
    current = ""
    for char in " ".join(text.split()):
        current += char
        if char in _BREAK_AFTER:
            tokens.append(current)
            current = ""
    if current:
        tokens.append(current)
    lines: list[str] = []
    line = ""
    for token in tokens:
        if fits((line + token).rstrip()):
            line += token
            continue
        if line:
            lines.append(line.rstrip())
        while not fits(token.rstrip()) and len(token) > 1:
            cut = max((n for n in range(1, len(token)) if fits(token[:n])), default=1)
            lines.append(token[:cut])
            token = token[cut:]
        line = token
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines


def pct(value: float) -> str:
    return f"{100 * value:.1f}%"
