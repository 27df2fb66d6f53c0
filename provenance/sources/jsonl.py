"""JSON Lines files, plain, gzip (``.gz``) or Zstandard (``.zst``), read as a stream."""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

from provenance.errors import InputError
from provenance.limits import DEFAULT_LIMITS
from provenance.sources.base import DatasetSource, RawRecord

_SUFFIXES = (".jsonl", ".ndjson")


def open_binary(path: Path) -> IO[bytes]:
    """Open a possibly compressed file for reading bytes."""
    try:
        if path.name.endswith(".gz"):
            return cast(IO[bytes], gzip.open(path, "rb"))
        if path.name.endswith(".zst"):
            import zstandard

            raw = path.open("rb")
            return zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
        return path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot open ({exc.strerror})", source=str(path)) from exc


def open_binary_write(path: Path) -> IO[bytes]:
    """Open a file for writing bytes, compressed by its suffix."""
    if path.name.endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "wb"))
    if path.name.endswith(".zst"):
        import zstandard

        return zstandard.ZstdCompressor().stream_writer(path.open("wb"), closefd=True)
    return path.open("wb")


def read_error(exc: BaseException, source: str, line: int) -> InputError | None:
    """The input error for a file that stops being readable at ``line`` (an I/O error, or
    corrupt gzip or zstd data: zlib and zstd raise their own types), or None for any other
    exception, which is a bug to let through."""
    if isinstance(exc, OSError | EOFError):
        return InputError(f"cannot read past line {line} ({exc})", source=source, line=line)
    kind = type(exc)
    module = kind.__module__.lower()
    if "zstd" in module or "zlib" in module or kind.__name__ in {"ZstdError", "error"}:
        return InputError(f"corrupt compressed data near line {line}", source=source, line=line)
    return None


class JsonlSource(DatasetSource):
    """One record per line; blank lines are skipped; line numbers are 1-based."""

    max_line_bytes = DEFAULT_LIMITS.max_record_bytes

    @classmethod
    def accepts(cls, path: Path) -> bool:
        name = path.name.lower()
        for compression in (".gz", ".zst"):
            if name.endswith(compression):
                name = name[: -len(compression)]
        return name.endswith(_SUFFIXES)

    def __iter__(self) -> Iterator[RawRecord]:
        source = str(self.path)
        number = 0
        try:
            with open_binary(self.path) as raw:
                # zstd's reader has no readline(); a buffer in front gives every codec one.
                reader = io.BufferedReader(cast(Any, raw), 1 << 20)
                while True:
                    line = reader.readline(self.max_line_bytes + 1)
                    if not line:
                        break
                    number += 1
                    if len(line) > self.max_line_bytes and not line.endswith(b"\n"):
                        raise InputError(
                            f"line longer than {self.max_line_bytes} bytes",
                            source=source,
                            line=number,
                        )
                    if line.strip():
                        yield RawRecord(source, number, line.rstrip(b"\r\n"))
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(
                f"cannot read past line {number} ({exc})", source=source, line=number + 1
            ) from exc
        except Exception as exc:
            if type(exc).__name__ == "ZstdError":
                raise InputError(
                    f"corrupt zstd data after line {number}", source=source, line=number + 1
                ) from exc
            raise
