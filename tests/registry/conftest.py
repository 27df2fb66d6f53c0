"""Registry fixtures: a database per test on SQLite and, when configured, on PostgreSQL.

PostgreSQL tests run when ``PROVENANCE_TEST_DATABASE_URL`` is set (``.ci/run`` sets it); each test
gets a schema of its own (``search_path``), dropped afterwards, so reruns and parallel workers never
meet. Set but unreachable is a failure, not a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests.conftest import Runner

PG_ENV = "PROVENANCE_TEST_DATABASE_URL"


def pg_base() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty registry database URL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    base = pg_base()
    if base is None:
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL registry tests skipped")
    engine = create_engine(base)
    schema = f"t_{uuid.uuid4().hex[:16]}"
    try:
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        engine.dispose()
        pytest.fail(f"{PG_ENV} is set but PostgreSQL is unreachable: {exc}")
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def registry_project(project_dir: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project (trusted key ``gen``) whose registry is ``db_url``."""
    monkeypatch.setenv("PROVENANCE_DATABASE_URL", db_url)
    monkeypatch.delenv("PROVENANCE_REGISTRY_KEY", raising=False)
    return project_dir


@pytest.fixture
def run(cli: Runner) -> Runner:
    return cli


@pytest.fixture
def registry_keyed(registry_project: Path, cli: Runner) -> Path:
    """``registry_project`` with a second key, ``registry``, trusted to sign evidence and
    checkpoints (``gen`` signs records only): the registry signs with it, as the only project key
    trusted for that."""
    made = cli("keys", "generate", "registry", "--trust", "--signs", "evidence,checkpoints")
    assert made.code == 0, made.err
    return registry_project
