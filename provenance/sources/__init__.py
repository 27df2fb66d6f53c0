"""Dataset sources: where records are read from, one plug-in per format.

Every source yields :class:`RawRecord` items (the file, the 1-based line or row number, the record's
JSON bytes) without judging them; parsing and verification happen in the core. Sources stream: no
source loads a whole file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from provenance.errors import InputError
from provenance.sources.arrow import HfDatasetSource, ParquetSource
from provenance.sources.base import DatasetSource, RawRecord
from provenance.sources.jsonl import JsonlSource
from provenance.sources.walk import DataWalk, Skipped, walk_inputs

__all__ = [
    "SOURCES",
    "DataWalk",
    "DatasetSource",
    "RawRecord",
    "Skipped",
    "data_files",
    "expand_paths",
    "open_source",
    "walk_data",
]

SOURCES: tuple[type[DatasetSource], ...] = (JsonlSource, ParquetSource, HfDatasetSource)
"""Every registered source, tried in order."""


def open_source(path: Path) -> DatasetSource:
    """The source that reads ``path``; an error naming the file if none does."""
    for source in SOURCES:
        if source.accepts(path):
            return source(path)
    raise InputError(
        "unsupported data file",
        source=str(path),
        hint="use .jsonl(.gz/.zst), .parquet, or a datasets save_to_disk directory",
    )


def walk_data(items: Sequence[str | Path], *, follow_links: bool = False) -> DataWalk:
    """The data files ``items`` name (files as given, folders walked, globs expanded; each real
    file once, see :mod:`provenance.sources.walk`) and the paths skipped; an error naming what was
    given when it holds no data file."""
    names = [str(item) for item in items]
    walk = walk_inputs(names, SOURCES, follow_links=follow_links)
    if not walk.files:
        raise InputError(
            f"no data files found in {', '.join(names) or 'nothing (no path given)'}",
            hint="data files are .jsonl, .jsonl.gz, .jsonl.zst, .parquet and datasets folders",
        )
    return walk


def expand_paths(items: Sequence[str], *, follow_links: bool = False) -> list[Path]:
    """The files ``items`` name, by the rules of :mod:`provenance.sources.walk`; may be empty."""
    return list(walk_inputs(list(items), SOURCES, follow_links=follow_links).files)


def data_files(items: Sequence[str | Path], *, follow_links: bool = False) -> list[Path]:
    """The files of :func:`walk_data`, without the list of paths skipped."""
    return list(walk_data(items, follow_links=follow_links).files)


def iter_records(paths: Sequence[Path]) -> Iterator[RawRecord]:
    for path in paths:
        yield from open_source(path)
