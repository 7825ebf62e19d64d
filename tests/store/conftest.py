"""Database fixtures: every storage test runs on SQLite (a temp file) and on PostgreSQL.

PostgreSQL comes from TRACKER_TEST_POSTGRES_URL (default: the local server, trust auth). Each
test session creates its own uniquely named database through the `postgres` maintenance
database and drops it at the end. If PostgreSQL cannot be reached the tests FAIL: a storage
test that silently ran on one database would prove half of what it claims.

Written so the fixtures can move to tests/conftest.py unchanged.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from tracker.store.db import make_engine, upgrade
from tracker.store.tables import metadata

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def postgres_base_url() -> URL:
    return sa.make_url(os.environ.get("TRACKER_TEST_POSTGRES_URL", DEFAULT_PG_URL))


@contextmanager
def postgres_database(prefix: str = "tracker_test") -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database (its URL), dropped afterwards."""
    base = postgres_base_url()
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL is unreachable at {base.render_as_string(hide_password=True)} "
            f"(set TRACKER_TEST_POSTGRES_URL): {exc.orig}",
            pytrace=False,
        )
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def blank_database(backend: str, tmp_dir: Path) -> Iterator[Engine]:
    """An engine on an empty database of `backend` (no tables, no migrations)."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_dir / f'{uuid.uuid4().hex}.db'}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    with postgres_database() as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """One database per backend per session, migrated to head once."""
    with blank_database(request.param, tmp_path_factory.mktemp("db")) as engine:
        upgrade(engine)
        yield engine


def _wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def engine(migrated_engine: Engine) -> Engine:
    """A migrated database with empty tables, on each backend."""
    _wipe(migrated_engine)
    return migrated_engine


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that commits when the test ends."""
    with engine.begin() as connection:
        yield connection


@pytest.fixture(params=BACKENDS)
def blank_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty, unmigrated database on each backend (for migration tests)."""
    with blank_database(request.param, tmp_path) as engine:
        yield engine


@pytest.fixture
def backend(engine: Engine) -> str:
    return engine.dialect.name
