"""Engines, transactions with retries, and schema migrations for the registry.

The database is a SQLite file in the project folder (``.provenance/registry.db``) unless
``PROVENANCE_DATABASE_URL`` (or ``--db``) names another, for example
``postgresql+psycopg://user@host/db``. There is no engine at import time: :func:`make_engine` makes
one per opened registry.

Writes are serialised. On SQLite the file is in WAL mode and a write transaction starts with
``BEGIN IMMEDIATE`` (it takes the write lock at once, so two writers never deadlock upgrading a
read lock), with a busy timeout; on PostgreSQL every write locks the log head row first. A
transaction that still meets a lock (SQLite ``database is locked``) or a serialisation failure or
deadlock (PostgreSQL ``40001``/``40P01``) is rolled back and run again after a randomised pause.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlmodel import Session

from provenance import project
from provenance.errors import ConfigError, ProvenanceError

DATABASE_ENV = "PROVENANCE_DATABASE_URL"
DATABASE_FILE = "registry.db"
MIGRATIONS = Path(__file__).parent / "migrations"
WRITE_OPTION = "provenance_write"
BUSY_TIMEOUT_S = 30.0
RETRY_SECONDS = 300.0
"""How long a write keeps retrying a locked or conflicting transaction before giving up."""
_PG_LOCK_ID = 0x70726F76
"""Advisory lock key that serialises schema migrations on PostgreSQL."""

T = TypeVar("T")


class RegistryError(ProvenanceError):
    """The registry cannot be opened or written (exit 2)."""


def database_url(explicit: str | None = None) -> str:
    """The registry database: ``explicit`` (``--db``), else ``$PROVENANCE_DATABASE_URL``, else the
    SQLite file in the project folder."""
    if explicit:
        return explicit
    env = os.environ.get(DATABASE_ENV)
    if env:
        return env
    home = project.require_project()
    return f"sqlite:///{home / DATABASE_FILE}"


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable database URL>"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str) -> Engine:
    """An engine for ``url``, with SQLite set up for concurrent writers."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"'{url}' is not a database URL") from exc
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    try:
        return create_engine(parsed, pool_pre_ping=True)
    except ImportError as exc:
        hint = (
            "install the PostgreSQL extra: pip install 'provenance[postgres]'"
            if parsed.get_backend_name() == "postgresql"
            else "install the database driver the URL names"
        )
        raise ConfigError(
            f"cannot use database {describe(url)}: its driver is not installed ({exc})", hint=hint
        ) from exc
    except ArgumentError as exc:
        raise ConfigError(f"cannot use database {describe(url)}: {exc}") from exc


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling is switched off; "begin" below emits BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    if connection.get_execution_options().get(WRITE_OPTION):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


def retryable(exc: BaseException) -> bool:
    """Whether a failed transaction may succeed when run again."""
    if isinstance(exc, OperationalError):
        text_ = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
        if "database is locked" in text_ or "database is busy" in text_:
            return True
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        state = getattr(exc.orig, "sqlstate", None)
        if state in ("40001", "40P01"):
            return True
    return False


def run_write(engine: Engine, work: Callable[[Session], T], *, deadline: float | None = None) -> T:
    """Run ``work`` in one write transaction, again from the start when it meets a lock or a
    serialisation failure, until it commits or ``RETRY_SECONDS`` pass."""
    stop = time.monotonic() + (RETRY_SECONDS if deadline is None else deadline)
    pause = 0.01
    writer = engine.execution_options(**{WRITE_OPTION: True})
    while True:
        try:
            with Session(writer, expire_on_commit=False) as session, session.begin():
                return work(session)
        except DBAPIError as exc:
            if not retryable(exc) or time.monotonic() > stop:
                raise RegistryError(
                    f"the registry database refused the write: {_short(exc)}"
                ) from exc
        time.sleep(pause * (0.5 + random.random()))  # noqa: S311
        pause = min(pause * 2, 1.0)


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session on one consistent snapshot (one transaction; repeatable read on PostgreSQL)."""
    bound: Engine = engine
    if not is_sqlite(engine):
        bound = engine.execution_options(isolation_level="REPEATABLE READ")
    with Session(bound, expire_on_commit=False) as session, session.begin():
        yield session


def _short(exc: DBAPIError) -> str:
    return str(exc.orig if exc.orig is not None else exc).strip().splitlines()[0]


# ---- migrations ----------------------------------------------------------------------------


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to the newest revision; returns (revision before, revision after).

    Safe when several processes open a new registry at once: the check and the migration run in
    one write transaction (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL).
    """
    head = head_revision()
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    with engine.connect() as connection:
        before = current_revision(connection)
        connection.rollback()
    if before == head:
        return before, head
    if before is not None and before not in known:
        raise RegistryError(
            f"the registry schema is at revision {before}, which this version of provenance "
            "does not know (made by a newer version?)"
        )

    def migrate(session: Session) -> str | None:
        connection = session.connection()
        if not is_sqlite(engine):
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_ID})
        found = current_revision(connection)
        if found != head:
            command.upgrade(alembic_config(connection), "head")
        return found

    found = run_write(engine, migrate)
    return found, head
