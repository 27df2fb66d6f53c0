"""A :class:`~provenance.policy.diff.PolicyDiff` as text, Markdown or JSON.

Text and Markdown are written for a reader of the terms: per document its id and title, per
clause its id, section and citation, per field the old and the new value (``old → new``).
Markdown escapes every value taken from the files, so a clause can never inject markup; only
http(s) citations become links. JSON is :meth:`PolicyDiff.to_dict` with sorted keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

from provenance.policy.conditions import ALWAYS, Condition
from provenance.policy.diff import (
    CatalogEntryDiff,
    ClauseDiff,
    DocumentDiff,
    FieldChange,
    ObligationChange,
    PolicyDiff,
)
from provenance.policy.terms import Clause, TermsDocument
from provenance.text import count

LABELS: Mapping[str, str] = {
    "when": "condition",
    "passes_to_derivatives": "passes to derivatives",
    "effective_from": "effective from",
    "effective_until": "effective until",
    "human_written": "written by people",
}
"""How a field is named for a reader (the JSON keeps the field names of the files)."""

NONE_AS: Mapping[str, str] = {
    "when": "always",
    "effective_until": "none (in force)",
    "confidence": "the document's",
}
"""What an absent value means, per field."""

INLINE_WIDTH = 80
"""A change whose old and new values together are longer is shown on two lines."""


def label(name: str) -> str:
    return LABELS.get(name, name)


def plain(name: str, value: Any) -> str:
    """A field's value as words."""
    if value is None or value == [] or value == ALWAYS:
        return NONE_AS.get(name, "none")
    if isinstance(value, Condition):
        return value.describe()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(plain(name, v) for v in value)
    if isinstance(value, Mapping):
        if "provider" in value and "model" in value:
            extra = ", ".join(
                f"{k} {v}" for k, v in value.items() if k not in ("provider", "model")
            )
            return f"{value['provider']} {value['model']}" + (f" ({extra})" if extra else "")
        return "; ".join(f"{k}: {plain(k, v)}" for k, v in value.items())
    return " ".join(str(value).split())


def _row(change: FieldChange) -> tuple[str, str, str]:
    """(field, old, new) as words."""
    old, new = _change_values(change)
    return label(change.field), old, new


def _change_values(change: FieldChange) -> tuple[str, str]:
    new = plain(change.field, change.new)
    if change.direction:
        new += f" ({change.direction})"
    return plain(change.field, change.old), new


def _effective(doc: TermsDocument) -> str:
    until = doc.effective_until.isoformat() if doc.effective_until else "in force"
    return f"{doc.effective_from.isoformat()} → {until}"


def _clause_head(clause: Clause) -> str:
    return f"clause {clause.id} ({clause.section})"


def _obligation_row(change: ObligationChange) -> tuple[str, str, str]:
    """(what happened, old, new) for an obligation; ``—`` for none."""
    old = "—" if change.old is None else change.old.describe()
    new = "—" if change.new is None else change.new.describe()
    return f"obligation {change.status}", old, new


def _clause_facts(clause: Clause) -> Iterator[tuple[str, str]]:
    """The fields of a whole clause (added or removed), as (label, value)."""
    yield "citation", clause.citation
    yield "effect", clause.effect
    yield "condition", plain("when", clause.when)
    for obligation in clause.obligations:
        yield "obligation", obligation.describe()
    if clause.passes_to_derivatives:
        yield "passes to derivatives", "yes"
    if clause.confidence:
        yield "confidence", clause.confidence
    if clause.settles:
        yield "settles", plain("settles", clause.settles)
    yield "paraphrase", plain("paraphrase", clause.paraphrase)


def _document_facts(doc: TermsDocument) -> Iterator[tuple[str, str]]:
    yield "effective", _effective(doc)
    yield "binds", doc.binds
    yield "confidence", doc.confidence
    yield "source", doc.source
    for clause in doc.clauses:
        yield "clause", f"{clause.id} ({clause.section}): {clause.effect}"


def _document_head(entry: DocumentDiff) -> str:
    if entry.old is not None and entry.new is not None and entry.old.id != entry.new.id:
        ids = f"{entry.old.id} → {entry.new.id}"
    else:
        ids = entry.id
    return f"{ids} — {entry.document.title}"


def _catalog_head(entry: CatalogEntryDiff) -> str:
    what = "model pattern" if entry.kind == "model" else "dataset"
    return f"{what} '{entry.key}'"


def summary_line(diff: PolicyDiff) -> str:
    """``no differences``, or the counts of what differs."""
    if diff.identical:
        return "no differences"
    counts = diff.summary()
    parts: list[str] = []
    for noun, key in (
        ("document", "documents"),
        ("clause", "clauses"),
        ("catalog model pattern", "catalog_models"),
        ("catalog dataset", "catalog_datasets"),
    ):
        for status in ("added", "removed", "changed"):
            n = int(counts[f"{key}_{status}"])
            if n:
                parts.append(f"{count(n, noun)} {status}")
    return ", ".join(parts)


# -- text ----------------------------------------------------------------------------------------


def _text_change(lines: list[str], indent: str, name: str, old: str, new: str) -> None:
    if len(old) + len(new) <= INLINE_WIDTH:
        lines.append(f"{indent}{name}: {old} → {new}")
    else:
        lines += [f"{indent}{name}:", f"{indent}  old: {old}", f"{indent}  new: {new}"]


def _text_clause(lines: list[str], entry: ClauseDiff) -> None:
    clause = entry.clause
    lines.append(f"  {_clause_head(clause)} — {entry.status}")
    if entry.status != "changed":
        lines += [f"    {name}: {value}" for name, value in _clause_facts(clause)]
        return
    if not any(c.field == "citation" for c in entry.changes):
        lines.append(f"    citation: {clause.citation}")
    for change in entry.changes:
        _text_change(lines, "    ", *_row(change))
    for duty in entry.obligations:
        if duty.old is None or duty.new is None:
            obligation = duty.new or duty.old
            assert obligation is not None
            lines.append(f"    obligation {duty.status}: {obligation.describe()}")
        else:
            _text_change(lines, "    ", *_obligation_row(duty))


def render_text(diff: PolicyDiff) -> str:
    lines = [f"old: {diff.old.describe()}", f"new: {diff.new.describe()}"]
    for entry in diff.documents:
        lines += ["", f"{entry.status.upper()}  {_document_head(entry)}"]
        if entry.status != "changed":
            lines += [f"  {name}: {value}" for name, value in _document_facts(entry.document)]
            continue
        for change in entry.changes:
            _text_change(lines, "  ", *_row(change))
        for clause in entry.clauses:
            _text_clause(lines, clause)
    if diff.models or diff.datasets:
        lines += ["", "CATALOG"]
        for item in (*diff.models, *diff.datasets):
            lines.append(f"  {_catalog_head(item)} — {item.status}")
            if item.status != "changed":
                value = item.new if item.new is not None else item.old
                lines += [f"    {label(k)}: {plain(k, v)}" for k, v in (value or {}).items()]
            for change in item.changes:
                _text_change(lines, "    ", *_row(change))
    lines += ["", summary_line(diff)]
    return "\n".join(lines) + "\n"


# -- Markdown ------------------------------------------------------------------------------------

_SPECIAL = re.compile(r"([\\`*_\[\]|~#])")
_URL = re.compile(r"https?://[^\s<>()\"'`|\\]+")


def md(text: object) -> str:
    """Plain text made inert for GitHub Markdown: HTML escaped, Markdown syntax backslashed."""
    value = " ".join(str(text).split())
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", value)


def md_link(url: str) -> str:
    """``<url>`` for an http(s) URL without characters that could end the link, else text."""
    return f"<{url}>" if _URL.fullmatch(url) else md(url)


def _md_table(rows: list[tuple[str, str, str]]) -> list[str]:
    out = ["| field | old | new |", "|---|---|---|"]
    out += [f"| {md(name)} | {md(old)} | {md(new)} |" for name, old, new in rows]
    return [*out, ""]


def _md_facts(facts: Iterator[tuple[str, str]]) -> list[str]:
    out: list[str] = []
    for name, value in facts:
        shown = md_link(value) if name in ("citation", "source") else md(value)
        out.append(f"- {md(name)}: {shown}")
    return [*out, ""]


def _md_clause(entry: ClauseDiff) -> list[str]:
    clause = entry.clause
    out = [f"### Clause {md(clause.id)} ({md(clause.section)}): {entry.status}", ""]
    if entry.status != "changed":
        return out + _md_facts(_clause_facts(clause))
    if not any(c.field == "citation" for c in entry.changes):
        out += [f"Citation: {md_link(clause.citation)}", ""]
    rows = [_row(c) for c in entry.changes]
    rows += [_obligation_row(o) for o in entry.obligations]
    return out + _md_table(rows)


def render_markdown(diff: PolicyDiff) -> str:
    out = [
        "# Changes to the terms",
        "",
        f"- old: {md(diff.old.describe())}",
        f"- new: {md(diff.new.describe())}",
        "",
        f"**{md(summary_line(diff))}**",
        "",
    ]
    for entry in diff.documents:
        out += [f"## {entry.status.capitalize()}: {md(_document_head(entry))}", ""]
        if entry.status != "changed":
            out += _md_facts(_document_facts(entry.document))
            continue
        if entry.changes:
            out += _md_table([_row(c) for c in entry.changes])
        for clause in entry.clauses:
            out += _md_clause(clause)
    if diff.models or diff.datasets:
        out += ["## Catalog", "", "| entry | change | details |", "|---|---|---|"]
        for item in (*diff.models, *diff.datasets):
            if item.status == "changed":
                details = "; ".join(
                    f"{label(c.field)}: {' → '.join(_change_values(c))}" for c in item.changes
                )
            else:
                value = item.new if item.new is not None else item.old
                details = "; ".join(f"{label(k)}: {plain(k, v)}" for k, v in (value or {}).items())
            out.append(f"| {md(_catalog_head(item))} | {item.status} | {md(details)} |")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


# -- JSON ----------------------------------------------------------------------------------------


def render_json(diff: PolicyDiff) -> str:
    data = orjson.dumps(diff.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    return data.decode("utf-8") + "\n"


RENDERERS: Mapping[str, Callable[[PolicyDiff], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": render_json,
}
"""The renderer of each ``--format``."""
