"""A progress bar for long runs: records/s and ETA on a terminal, nothing when piped."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def progress_bar(paths: Sequence[Path], label: str) -> Iterator[Callable[[int, int], None] | None]:
    """Yield a ``progress(records, bytes_done)`` callback, or None when stderr is not a TTY."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    total = sum(p.stat().st_size for p in paths if p.is_file())
    compressed = any(p.suffix in {".gz", ".zst"} for p in paths)
    columns = [
        TextColumn(f"{label}"),
        BarColumn(),
        TextColumn("{task.fields[records]:,} records"),
        TextColumn("{task.fields[rate]:,.0f}/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None if compressed else total, records=0, rate=0.0)

        def update(records: int, done: int) -> None:
            elapsed = bar.tasks[0].elapsed or 0.0
            bar.update(
                task, completed=done, records=records, rate=records / elapsed if elapsed else 0.0
            )

        yield update
