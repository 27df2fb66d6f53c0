"""Parquet files and Hugging Face ``datasets`` directories (``save_to_disk``), read with pyarrow.

A row is a record: it is turned into JSON as the table holds it, so a record signed from its JSON
form must be stored with the same fields per row. The manifest lives in the ``_provenance`` column,
either as a JSON string (recommended: it keeps the signed structure exactly) or as a struct, whose
null members (Arrow fills absent struct fields with null) are dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

from provenance.errors import InputError
from provenance.sources.base import DatasetSource, RawRecord

PROVENANCE_COLUMN = "_provenance"
BATCH_ROWS = 4096
ARROW_EXTRA_HINT = "install the Arrow extra: pip install 'provenance[arrow]'"


def require_pyarrow(source: str) -> ModuleType:
    """pyarrow, or an error naming the file that needs it and the extra that brings it (pyarrow is
    optional: JSONL needs none of it)."""
    try:
        import pyarrow
        import pyarrow.ipc
        import pyarrow.parquet
    except ImportError as exc:
        raise InputError(
            "reading Parquet and Arrow data needs pyarrow, which is not installed",
            source=source,
            hint=ARROW_EXTRA_HINT,
        ) from exc
    module: ModuleType = pyarrow
    return module


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def _row_bytes(row: dict[str, Any], source: str, number: int) -> bytes:
    manifest = row.get(PROVENANCE_COLUMN)
    if manifest is None:
        row.pop(PROVENANCE_COLUMN, None)
    elif isinstance(manifest, str):
        try:
            row[PROVENANCE_COLUMN] = orjson.loads(manifest)
        except orjson.JSONDecodeError as exc:
            raise InputError(
                "the _provenance column is not JSON", source=source, line=number
            ) from exc
    elif isinstance(manifest, dict):
        row[PROVENANCE_COLUMN] = _strip_nulls(manifest)
    try:
        return orjson.dumps(row)
    except TypeError as exc:
        raise InputError(
            f"row is not JSON-representable ({exc})", source=source, line=number
        ) from exc


def _batches_to_records(batches: Iterator[Any], source: str) -> Iterator[RawRecord]:
    number = 0
    for batch in batches:
        for row in batch.to_pylist():
            number += 1
            yield RawRecord(source, number, _row_bytes(row, source, number))


class ParquetSource(DatasetSource):
    """One record per row of a Parquet file; rows are numbered from 1."""

    @classmethod
    def accepts(cls, path: Path) -> bool:
        return path.is_file() and path.suffix.lower() in {".parquet", ".pq"}

    def __iter__(self) -> Iterator[RawRecord]:
        source = str(self.path)
        pa = require_pyarrow(source)
        try:
            handle = pa.parquet.ParquetFile(self.path)
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"unreadable Parquet file ({exc})", source=source) from exc
        try:
            yield from _batches_to_records(handle.iter_batches(batch_size=BATCH_ROWS), source)
        except pa.ArrowException as exc:
            raise InputError(f"unreadable Parquet data ({exc})", source=source) from exc


class HfDatasetSource(DatasetSource):
    """A ``datasets`` directory written by ``save_to_disk``: Arrow stream files listed in
    ``state.json`` (one split), or a ``dataset_dict.json`` folder of splits."""

    @classmethod
    def accepts(cls, path: Path) -> bool:
        return path.is_dir() and (
            (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()
        )

    def _arrow_files(self) -> list[Path]:
        if (self.path / "dataset_dict.json").is_file():
            listing = self.path / "dataset_dict.json"
            splits = self._json(listing).get("splits", [])
            files: list[Path] = []
            for split in splits if isinstance(splits, list) else [splits]:
                # One folder level down, never back up or to itself: no loop, nothing outside.
                folder = self._inside(split, listing, "split")
                files.extend(HfDatasetSource(folder)._arrow_files())
            return files
        state = self.path / "state.json"
        entries = self._json(state).get("_data_files", [])
        return [
            self._inside(e.get("filename"), state, "data file")
            for e in (entries if isinstance(entries, list) else [])
            if isinstance(e, dict)
        ]

    def _inside(self, name: object, listing: Path, what: str) -> Path:
        """A name from the dataset's metadata: a plain file or folder name inside its folder."""
        if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name:
            raise InputError(
                f"names {what} {name!r}, which is not a name inside {self.path}",
                source=str(listing),
            )
        return self.path / name

    def _json(self, path: Path) -> dict[str, Any]:
        from provenance.bounded import parse_json_document
        from provenance.limits import DEFAULT_LIMITS

        try:
            with path.open("rb") as handle:
                raw = handle.read(DEFAULT_LIMITS.max_document_bytes + 1)
            data = parse_json_document(raw, "dataset metadata")
        except OSError as exc:
            raise InputError(
                f"unreadable dataset metadata ({exc.strerror})", source=str(path)
            ) from exc
        except InputError as exc:
            raise InputError(exc.message, source=str(path), limit=exc.limit) from None
        if not isinstance(data, dict):
            raise InputError("dataset metadata is not an object", source=str(path))
        return data

    def __iter__(self) -> Iterator[RawRecord]:
        pa = require_pyarrow(str(self.path))
        for arrow in self._arrow_files():
            source = str(arrow)
            try:
                with pa.memory_map(str(arrow)) as handle:
                    try:
                        reader = pa.ipc.open_stream(handle)
                    except pa.ArrowInvalid:
                        handle.seek(0)
                        reader = pa.ipc.open_file(handle)
                        batches: Iterator[Any] = (
                            reader.get_batch(i) for i in range(reader.num_record_batches)
                        )
                    else:
                        batches = iter(reader)
                    yield from _batches_to_records(batches, source)
            except (OSError, pa.ArrowException) as exc:
                raise InputError(f"unreadable Arrow file ({exc})", source=source) from exc
