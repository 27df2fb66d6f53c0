"""Strategy ``parallel``: a whole JSONL file signed by worker processes, written in input order.

:func:`tag_jsonl` cuts the input into tasks of whole lines (:mod:`provenance.sign.tasks`), and
every task is signed by :func:`provenance.sign.lines.sign_task`. With this strategy the tasks are
signed by a pool of forked worker processes (default: every core) while the parent reads on; a
worker writes its signed lines straight into a plain output file at their place (``pwrite``, see
:class:`Commit`), or leaves them in a spool file (memory-backed when the system has one) that the
parent appends in input order. It replaces signing the tasks one after another in this process,
which gives the same bytes, and it declines (the tasks are signed in this process) when the
tagger's strategies lack ``parallel``, when ``workers`` is 1, or, with ``workers`` unset, when the
input is not a regular file of at least :data:`INLINE_BYTES`.
"""

from __future__ import annotations

import fcntl
import io
import os
import shutil
import stat
import tempfile
from collections import deque
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path
from typing import IO, Any, Final

from provenance.errors import InputError, MalformedJSONError
from provenance.limits import DEFAULT_LIMITS
from provenance.manifest import Contribution
from provenance.record import SIDECAR_SUFFIX
from provenance.sign import lines
from provenance.sign.job import Done, Job
from provenance.sign.lines import sign_task
from provenance.sign.strategies import PARALLEL
from provenance.sign.tagger import Tagger
from provenance.sign.tasks import Task, source_name, task_size, tasks

INLINE_BYTES: Final = 4 << 20
"""Inputs smaller than this are signed in this process: starting workers would cost more."""


class Commit:
    """Workers' output written straight into a regular output file, in input order.

    A worker whose task is signed waits until every earlier task has taken its place in the file,
    takes the next one (the bytes after them) and writes there (``pwrite``), so the output is
    written once, by the workers, one at a time while the others go on signing. Tasks are
    numbered from 0 in input order and workers take them in that order, so the task a worker
    waits for is already being signed. The parent sets :meth:`abort` when it stops early; a
    waiting worker then gives up.
    """

    def __init__(self, context: Any, fd: int, base: int) -> None:
        self.fd = fd
        self.base = base
        self._ready = context.Condition()
        self._next = context.RawValue("q", 0)
        self._offset = context.RawValue("q", 0)
        self._stopped = context.RawValue("b", 0)
        self.writing = context.Lock()
        """Held while a worker writes: writers of one file contend for it in the kernel, so
        one writes at a time while the others sign."""

    @property
    def written(self) -> int:
        """Bytes placed so far."""
        return int(self._offset.value)

    def place(self, number: int, size: int) -> int | None:
        """The file offset for task ``number``'s ``size`` bytes, once every earlier task has its
        place; None when the run was aborted."""
        with self._ready:
            while self._next.value != number:
                if self._stopped.value:
                    return None
                self._ready.wait(0.2)
            offset = int(self._offset.value)
            self._offset.value = offset + size
            self._next.value = number + 1
            self._ready.notify_all()
        return self.base + offset

    def abort(self) -> None:
        with self._ready:
            self._stopped.value = 1
            self._ready.notify_all()


def _direct_output(output: IO[bytes]) -> tuple[int, int] | None:
    """The descriptor and position of ``output`` when workers can write into it themselves: a
    plain, uncompressed regular file, not in append mode (flushed here); else None."""
    if not isinstance(output, io.BufferedWriter | io.FileIO):
        return None
    try:
        fd = output.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode) or fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND:
            return None
        output.flush()
        return fd, output.tell()
    except OSError:
        return None


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        sent = os.pwrite(fd, view, offset)
        view, offset = view[sent:], offset + sent


_WORKER: dict[str, Any] = {}


def _init_worker(job: Job) -> None:
    from provenance.scan import leave_signals_to_parent, settle_worker_gc

    settle_worker_gc()
    leave_signals_to_parent()
    _WORKER["job"] = job


def _work(task: Task) -> Done:
    job: Job = _WORKER["job"]
    commit = job.commit
    try:
        done = sign_task(job, task)
    except BaseException:
        if commit is not None:
            commit.place(task.number, 0)
        raise
    if commit is not None:
        at = commit.place(task.number, len(done.output))
        if at is not None and done.output:
            with commit.writing:
                _pwrite_all(commit.fd, done.output, at)
        done.output = b""
    elif job.spool is not None and done.output:
        name = os.path.join(job.spool, f"{task.number}.part")
        with open(name, "wb") as handle:
            handle.write(done.output)
        done.output, done.spooled = b"", name
    return done


def _spool_root() -> str | None:
    """A memory-backed folder for the workers' output when the system has one (the output is
    then written to disk once, by the parent), else the default temporary folder."""
    shm = "/dev/shm"  # noqa: S108 - a tmpfs, private to this run by the random folder name
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def _append(output: IO[bytes], name: str) -> None:
    """Append the spool file ``name`` to ``output`` and remove it (a copy in the kernel when
    ``output`` is a plain file)."""
    with open(name, "rb") as part:
        size = os.fstat(part.fileno()).st_size
        copied = 0
        if isinstance(output, io.BufferedWriter) and hasattr(os, "copy_file_range"):
            output.flush()
            try:
                while copied < size:
                    sent = os.copy_file_range(part.fileno(), output.fileno(), size - copied)
                    if sent == 0:
                        break
                    copied += sent
            except OSError:
                pass
        if copied < size:
            part.seek(copied)
            shutil.copyfileobj(part, output, 1 << 20)
    os.unlink(name)


def tag_jsonl(
    tagger: Tagger,
    source: Path | IO[bytes],
    output: IO[bytes],
    *,
    batch_size: int | None = None,
    generated_at: datetime | None = None,
    contributions: Sequence[Contribution] | None = None,
    replace_existing: bool = False,
    sidecar: tuple[str, IO[bytes]] | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_line: int = DEFAULT_LIMITS.max_record_bytes,
    optional_parts: Collection[str] = (),
    time_field: str | None = None,
    unattributed: dict[str, int] | None = None,
) -> int:
    """Sign every record of the JSONL file ``source`` (plain, .gz or .zst; a pipe, or an open
    binary stream such as ``sys.stdin.buffer``) into ``output``.

    The records are written in input order, each as its input bytes with ``_provenance`` added
    (or, with ``replace_existing``, re-serialised without the manifest it had); blank lines are
    dropped. ``generated_at`` (default: the signing time) and ``contributions`` are as for
    :meth:`Tagger.statement_for`; the signing time is read once per task of a few thousand
    records. In batch mode (``batch_size``) each batch is ``batch_size``
    consecutive records; ``sidecar`` is the data file's final name and the open sidecar file, when
    the batch envelopes go there instead of into every record. Records are signed on ``workers``
    processes (default: every core for large inputs). Returns the number of records.

    With ``contributions``, each record must hold every part they name but those in
    ``optional_parts`` (see :func:`record_parts`), and ``unattributed``, when given, receives the
    top-level members no part covers with their number of records (see
    :func:`unattributed_parts`). With ``time_field``, each record's generation time is read
    from that member (see :func:`record_time`).

    Every line written is one a reader takes: no longer than ``max_line`` bytes (by default
    ``Limits.max_record_bytes``, the longest line ``provenance verify`` reads), strict JSON
    nested no deeper than ``Limits.max_json_depth``. A longer input line is refused while it
    is read, without holding it. Raises the first input error in input order (a line that is
    not strict JSON, too long as it stands or once signed, a record already signed), naming its
    file and line; what was written to ``output`` before is then incomplete.

    The fast strategies used are the tagger's (:attr:`Tagger.strategies`); with none, every
    record is signed by the reference path alone, in this process, to the same bytes.
    """
    from provenance.scan import default_workers

    most = DEFAULT_LIMITS.max_batch_size
    if batch_size is not None and not 1 <= batch_size <= most:
        raise InputError(f"batch size must be between 1 and {most}")
    name = source_name(source)
    job = Job(
        tagger,
        name,
        batch_size,
        generated_at,
        None if contributions is None else tuple(contributions),
        replace_existing,
        None if sidecar is None else sidecar[0] + SIDECAR_SUFFIX,
        max_line,
        optional=frozenset(optional_parts),
        time_field=time_field,
        strategies=tagger.strategies,
    )
    task_bytes = lines.TASK_BYTES
    per_task = max(1, task_bytes // 1024)
    if batch_size is not None:
        per_task = batch_size * max(1, per_task // batch_size)
    if workers is None:
        size = source.stat().st_size if isinstance(source, Path) and source.is_file() else 0
        workers = 1 if size < INLINE_BYTES else default_workers()
    if PARALLEL not in job.strategies:
        workers = 1
    cut = tasks(source, per_task, batch_size or 1, max_line, task_bytes)
    count = 0
    done_bytes = 0

    def take(done: Done, size: int) -> None:
        nonlocal count, done_bytes
        if done.error is not None:
            kind, message, line, hint = done.error
            error = MalformedJSONError if kind == MalformedJSONError.__name__ else InputError
            raise error(message, source=name, line=line or None, hint=hint)
        if done.spooled is not None:
            _append(output, done.spooled)
        else:
            output.write(done.output)
        if sidecar is not None and done.sidecar:
            sidecar[1].write(done.sidecar)
        if unattributed is not None:
            for pointer, records in done.unattributed.items():
                unattributed[pointer] = unattributed.get(pointer, 0) + records
        count += done.records
        done_bytes += size
        if progress:
            progress(count, done_bytes)

    if workers <= 1:
        for task in cut:
            if task.error is not None:
                raise task.error
            take(sign_task(job, task), task_size(task))
        return count
    context = get_context("fork")
    direct = _direct_output(output)
    commit = None if direct is None else Commit(context, *direct)
    # Named by the process, so that whoever finds one knows whose it is.
    prefix = f"provenance-tag-{os.getpid()}-"
    with tempfile.TemporaryDirectory(prefix=prefix, dir=_spool_root()) as spool:
        job = replace(job, spool=spool, commit=commit)
        window: deque[tuple[Future[Done], int]] = deque()
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(job,)
        ) as pool:
            try:
                for task in cut:
                    if task.error is not None:
                        # The tasks before it are taken first: an error in them comes first.
                        while window:
                            future, size = window.popleft()
                            take(future.result(), size)
                        raise task.error
                    window.append((pool.submit(_work, task), task_size(task)))
                    if len(window) >= 2 * workers:
                        future, size = window.popleft()
                        take(future.result(), size)
                while window:
                    future, size = window.popleft()
                    take(future.result(), size)
            except BaseException:
                if commit is not None:
                    commit.abort()
                for future, _ in window:
                    future.cancel()
                raise
    if commit is not None:
        output.seek(commit.base + commit.written)
    return count
