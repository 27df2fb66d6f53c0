"""The error families of provenance.

Every error the tool raises on purpose derives from :class:`ProvenanceError`. The CLI catches that one
base, prints ``diagnostics()`` as a single line and exits with ``exit_code`` (2 for "no verdict").
Families are grouped by origin: bad input, key handling, verification of a signed record, policy
documents.
"""

from __future__ import annotations

from provenance.limits import DEFAULT_LIMITS


def shown(value: str, limit: int = DEFAULT_LIMITS.max_quoted_chars) -> str:
    """A user's value as quoted in a message: whole when short, else its start and its length, so
    that a megabyte-long field cannot fill a terminal or a CI log (``Limits.max_quoted_chars``)."""
    if len(value) <= limit:
        return value
    return f"{value[:limit]}… ({len(value):,} characters)"


class ProvenanceError(Exception):
    """Base of every error provenance raises deliberately."""

    exit_code: int = 2

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        hint: str | None = None,
        limit: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.line = line
        self.hint = hint
        self.limit = limit
        """The field of :class:`~provenance.limits.Limits` the input went past, if that is the
        problem (the input may be sound, only too large or too deep to judge)."""

    def location(self) -> str:
        """``file:line`` (or just ``file``) where the problem is, or an empty string."""
        if self.source is None:
            return ""
        return f"{self.source}:{self.line}" if self.line is not None else self.source

    def diagnostics(self) -> str:
        """One line for a person: where, what, and how to fix it when known."""
        where = self.location()
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return text

    def at(self, source: str | None, line: int | None = None) -> ProvenanceError:
        """Fill in the location if it is not set yet; returns ``self`` for ``raise e.at(...)``."""
        if self.source is None:
            self.source = source
        if self.line is None:
            self.line = line
        return self


class InputError(ProvenanceError):
    """Input that cannot be judged: unreadable file, invalid JSON, bad arguments."""


class MalformedJSONError(InputError):
    """A record that is not strict JSON: duplicate keys, NaN, unsafe integers, lone surrogates,
    invalid UTF-8, or not an object."""


class SigningKeyError(ProvenanceError):
    """A key that cannot be loaded, generated or used."""


class ConfigError(ProvenanceError):
    """A project file (trust store, intent, lineage, policy) that is missing or invalid."""


class PolicyError(ConfigError):
    """A terms document, catalog or policy test that is invalid."""


class VerificationError(ProvenanceError):
    """A signed record that does not verify. ``status`` is the per-record status name."""

    exit_code = 1
    status: str = "bad-signature"

    def __init__(
        self,
        message: str,
        *,
        status: str | None = None,
        record_id: str | None = None,
        source: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message, source=source, line=line)
        if status is not None:
            self.status = status
        self.record_id = record_id
