"""The words every policy input shares: outcomes and their severity, the values of terms fields,
schema names and terms references, and the checks and writers each document's ``from_dict`` and
``to_dict`` use for them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, Literal

from provenance.errors import shown
from provenance.policy.fields import Fields, Where

Outcome = Literal["allow", "review", "deny"]
"""A decision: ``allow`` < ``review`` < ``deny`` in severity."""

SEVERITY: Mapping[str, int] = {"allow": 0, "review": 1, "deny": 2}
OUTCOMES: tuple[Outcome, ...] = ("allow", "review", "deny")

EFFECTS = frozenset({"deny", "review", "allow", "obligations"})
BINDS = frozenset({"licence", "contract"})
CONFIDENCES = frozenset({"high", "medium", "low"})
OBLIGATION_KINDS = frozenset(
    {"attribution", "model-name-prefix", "notice-file", "licence-copy", "use-restrictions", "other"}
)

TERMS_SCHEMA = "provenance/terms/v1"
CATALOG_SCHEMA = "provenance/catalog/v1"
LINEAGE_SCHEMA = "provenance/lineage/v1"
WAIVERS_SCHEMA = "provenance/waivers/v1"
INTENT_SCHEMA = "provenance/intent/v1"

ORG_PROVIDER = "org"
"""The provider of organisation policies."""

_NAME = r"[a-z0-9][a-z0-9._-]*"
_REF = re.compile(
    rf"(?P<family>(?P<provider>{_NAME})/(?P<document>{_NAME}))(?:@(?P<version>[A-Za-z0-9][A-Za-z0-9._-]*))?"
)


def most_severe(outcomes: Iterable[Outcome]) -> Outcome:
    """The most severe outcome; ``allow`` for none."""
    worst: Outcome = "allow"
    for outcome in outcomes:
        if SEVERITY[outcome] > SEVERITY[worst]:
            worst = outcome
    return worst


def split_ref(ref: str) -> tuple[str, str | None]:
    """``provider/document@version`` → (``provider/document``, ``version``); no version → None."""
    family, _, version = ref.partition("@")
    return family, version or None


def check_ref(ref: str, where: Where, *, exact: bool = False) -> str:
    """A terms reference: a document family ``provider/document`` or an exact ``…@version`` id."""
    match = _REF.fullmatch(ref)
    if match is None or (exact and match.group("version") is None):
        form = "<provider>/<document>@<version>" if exact else "<provider>/<document>[@<version>]"
        raise where.error(f"'{ref}' is not a terms reference of the form {form}")
    return ref


def iso_or_none(value: date | None) -> str | None:
    """A day as ISO text, for ``to_dict``; ``None`` stays ``None``."""
    return None if value is None else value.isoformat()


def put_optional(out: dict[str, Any], key: str, value: Any) -> None:
    """Write ``value`` under ``key`` unless it is absent (``None`` or empty), tuples as lists."""
    if value is not None and value != () and value != []:
        out[key] = list(value) if isinstance(value, tuple) else value


def check_schema(f: Fields, expected: str, *, required: bool = True) -> None:
    """Check the ``schema`` line of a document against ``expected`` (absent is an error when
    ``required``)."""
    value = f.opt_text("schema")
    if value is None:
        if required:
            raise f.where.error(
                "missing field 'schema'", f"the first line should be 'schema: {expected}'"
            )
        return
    if value != expected:
        raise f.at("schema").error(f"schema is '{shown(str(value))}', expected '{expected}'")
