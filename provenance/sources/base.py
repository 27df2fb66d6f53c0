"""The interface every dataset source implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as read: where it is and its JSON bytes, not yet parsed."""

    source: str
    line: int
    data: bytes


class DatasetSource(ABC):
    """Reads records from one file (or dataset directory)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    @abstractmethod
    def accepts(cls, path: Path) -> bool:
        """Whether this source reads ``path``."""

    @abstractmethod
    def __iter__(self) -> Iterator[RawRecord]:
        """Yield every record, in order, streaming."""
