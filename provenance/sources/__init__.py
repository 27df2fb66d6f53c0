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

__all__ = ["SOURCES", "DatasetSource", "RawRecord", "data_files", "expand_paths", "open_source"]

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


def expand_paths(items: Sequence[str]) -> list[Path]:
    """Files named by ``items``: files as given, directories walked, globs expanded, sorted."""
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if any(ch in item for ch in "*?["):
            matches = (
                sorted(Path().glob(item))
                if not path.is_absolute()
                else sorted(Path(path.anchor).glob(str(path.relative_to(path.anchor))))
            )
            if not matches:
                raise InputError(f"no file matches '{item}'")
            found.extend(m for m in matches if m.is_file())
        elif path.is_dir() and HfDatasetSource.accepts(path):
            found.append(path)
        elif path.is_dir():
            found.extend(_walk(path))
        elif path.exists():
            found.append(path)
        else:
            raise InputError("no such file or directory", source=item)
    return found


def data_files(items: Sequence[str | Path]) -> list[Path]:
    """:func:`expand_paths`, and an error naming what was given when it holds no data file."""
    names = [str(item) for item in items]
    paths = expand_paths(names)
    if not paths:
        raise InputError(
            f"no data files found in {', '.join(names) or 'nothing (no path given)'}",
            hint="data files are .jsonl, .jsonl.gz, .jsonl.zst, .parquet and datasets folders",
        )
    return paths


def _walk(folder: Path) -> list[Path]:
    """Data files below ``folder``; a ``datasets`` directory counts as one input."""
    out: list[Path] = []
    for child in sorted(folder.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_dir():
            out.extend([child] if HfDatasetSource.accepts(child) else _walk(child))
        elif any(source.accepts(child) for source in SOURCES):
            out.append(child)
    return out


def iter_records(paths: Sequence[Path]) -> Iterator[RawRecord]:
    for path in paths:
        yield from open_source(path)
