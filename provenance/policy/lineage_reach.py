"""Which terms reach judged data: a :class:`Reach` per terms reference a source brings.

A dataset licence brings its reference; a model writing data brings the terms it names, or else
the catalog's terms for the channel it ran on, and the licence of every base model under it; what
is not known brings an unknown in place of terms, which the engine turns into a review.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from provenance.policy.generation import Generation
from provenance.policy.lineage_walk import Source

if TYPE_CHECKING:
    from provenance.policy.lineage import LineageGraph


@dataclass(frozen=True)
class Reach:
    """A terms reference reaching judged data along one lineage path."""

    ref: str | None
    """Terms family or exact id; ``None`` when the source is unknown (see ``unknown``)."""
    source: Source
    steps: tuple[str, ...]
    """The source's steps, plus the base models whose licence applies (``base model …``)."""
    channel: str | None = None
    unknown: str | None = None
    """Why no terms are known, for a reach without ``ref``."""
    rule: str | None = None
    """Short name of what is unknown: ``unknown-model``, ``no-channel-terms``, ``unknown-dataset``,
    ``undeclared-dataset``, ``undeclared-generators``, ``undeclared-training``, ``undeclared-base``,
    ``unsigned-records``, ``unattributed-part``."""

    @property
    def hops(self) -> int:
        return self.source.hops

    @property
    def origin(self) -> Generation | None:
        return self.source.origin

    def path(self, terms_label: str | None = None) -> str:
        """The way from the judged part to the terms, for people: ``/score ← model m ← terms §x``."""
        head = self.source.part or "record"
        tail = [terms_label] if terms_label else []
        return " ← ".join([head, *self.steps, *tail])


def terms_reaching(lineage: LineageGraph, sources: Iterable[Source]) -> tuple[Reach, ...]:
    """The terms references (or unknowns) that the given sources bring."""
    out: list[Reach] = []
    for source in sources:
        if source.kind == "licence":
            out.append(Reach(source.ref, source, source.steps))
        elif source.kind == "unknown":
            out.append(Reach(None, source, source.steps, unknown=source.reason, rule=source.rule))
        else:
            out.extend(_generation_reaches(lineage, source))
    return tuple(out)


def _generation_reaches(lineage: LineageGraph, source: Source) -> list[Reach]:
    generation = source.origin
    assert generation is not None
    declared = lineage.declared_model(generation)
    out: list[Reach] = []
    if generation.terms is not None:
        # A manifest that names its terms is judged under them (docs/policy-format.md, "Time").
        out.append(Reach(generation.terms, source, source.steps, generation.channel))
    else:
        entry = lineage.catalog_model(generation.model, generation.model_returned)
        if entry is not None:
            pairs = entry.terms_for(generation.channel)
            out.extend(
                Reach(ref, source, source.steps, channel) for channel, refs in pairs for ref in refs
            )
            if not pairs:
                reason = (
                    f"the catalog names no terms for {generation.model} via "
                    f"{generation.service} ({generation.channel})"
                )
                out.append(
                    Reach(
                        None,
                        source,
                        source.steps,
                        generation.channel,
                        reason,
                        "no-channel-terms",
                    )
                )
        elif declared is None:
            reason = f"model {generation.effective_model} is in neither the catalog nor the lineage"
            out.append(
                Reach(None, source, source.steps, generation.channel, reason, "unknown-model")
            )
    steps = source.steps
    while declared is not None and declared.base_model is not None:
        # The base weights' licence governs outputs of models built on them.
        steps = (*steps, f"base model {declared.base_model}")
        entry = lineage.catalog_model(declared.base_model)
        if entry is not None:
            out.extend(
                Reach(ref, source, steps, channel)
                for channel, refs in entry.terms_for("self-hosted")
                for ref in refs
            )
        declared = lineage.declared_model(declared.base_model)
    return out
