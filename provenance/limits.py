"""Named bounds on every walk and every input, in one place (STYLE habit 5)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Bounds that keep hostile or broken input from exhausting memory or time."""

    max_record_bytes: int = 16 * 1024 * 1024
    """Longest JSONL line (one record with its manifest) that is read."""
    max_json_depth: int = 128
    """Deepest nesting of arrays and objects in a record."""
    max_signatures: int = 16
    """Most signatures looked at in one envelope."""
    max_contributions: int = 256
    """Most contributions (parts written by a model) named in one manifest."""
    max_parents: int = 4096
    """Most parents named in one manifest."""
    max_audit_path: int = 64
    """Longest Merkle audit path (a tree of up to 2**64 leaves)."""
    max_batch_size: int = 1 << 20
    """Most records signed under one batch envelope."""
    max_graph_depth: int = 64
    """Most hops walked through the lineage graph."""
    max_graph_nodes: int = 1_000_000
    """Most nodes in a lineage graph."""
    max_yaml_bytes: int = 4 * 1024 * 1024
    """Largest YAML file read (terms, catalog, intent, lineage, waivers, trust store, parts)."""
    max_yaml_depth: int = 64
    """Deepest nesting of mappings and lists in a YAML file."""
    max_document_bytes: int = 64 * 1024 * 1024
    """Largest JSON document read whole (a seal, an index, a checkpoint, a stored report)."""
    max_bundle_entry_bytes: int = 4 * 1024 * 1024 * 1024
    """Largest file inside an evidence bundle, whatever size its signed index states."""
    max_bundle_bytes: int = 16 * 1024 * 1024 * 1024
    """Most bytes, all files together, that an evidence bundle may unpack to."""
    max_quoted_chars: int = 60
    """Most characters of a user's value quoted in an error message (the rest is counted)."""


DEFAULT_LIMITS = Limits()
