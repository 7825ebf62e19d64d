"""Engines and migrations: the only place that knows which database we talk to.

Supported: `sqlite:///path` (the embedded default, WAL so the api, worker and beat processes
can read while one writes) and `postgresql+psycopg://...` (production). Anything else is a
`ConfigurationError` naming TRACKER_DATABASE_URL, raised before any connection is attempted.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import ArgumentError

from tracker.errors import ConfigurationError
from tracker.store._sql import json_dumps

SETTING = "TRACKER_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_MS = 5000  # a writer waits this long for another process's write lock

_DRIVERS: dict[str, str] = {"sqlite": "pysqlite", "postgresql": "psycopg"}


def parse_url(url: str) -> URL:
    """The URL as SQLAlchemy reads it, or a ConfigurationError that says what is wrong."""
    try:
        parsed = sa.make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(SETTING, f"not a database URL: {url!r}") from exc
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend not in _DRIVERS:
        raise ConfigurationError(
            SETTING, f"unsupported database {backend!r}; use sqlite:/// or postgresql+psycopg://"
        )
    if driver != _DRIVERS[backend]:
        raise ConfigurationError(
            SETTING, f"unsupported driver {backend}+{driver}; use {backend}+{_DRIVERS[backend]}"
        )
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        # Each connection would get its own empty database: tasks would see nothing.
        raise ConfigurationError(SETTING, "SQLite needs a file path, e.g. sqlite:///./tracker.db")
    return parsed


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = parse_url(url)
    # JSON columns (events' data, per-source results) are written and read on every poll:
    # orjson does both several times faster than the stdlib, with the same JSON values.
    kwargs.setdefault("json_serializer", json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed, connect_args={"check_same_thread": False}, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)  # a checkout tests its connection first
    return sa.create_engine(parsed, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")  # off by default in SQLite
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; durable at checkpoints
    finally:
        cursor.close()


def alembic_config(engine: Engine) -> Config:
    """Alembic configured from the installed package, bound to `engine`."""
    here = resources.files("tracker.store")
    cfg = Config(str(here / "alembic.ini"))
    cfg.set_main_option("script_location", str(here / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
