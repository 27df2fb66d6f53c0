"""Alembic environment: runs on the connection ``provenance.registry.db.upgrade`` passes in.

There is no alembic.ini: the registry runs migrations programmatically, inside its own transaction.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from provenance.registry.tables import metadata_registry


def run() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("registry migrations run on a connection given by provenance")
    context.configure(
        connection=connection,
        target_metadata=metadata_registry.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if getattr(context, "config", None) is not None:  # not when imported outside a migration run
    run()
