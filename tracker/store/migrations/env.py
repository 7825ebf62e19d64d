"""Alembic environment: run migrations on the engine handed over by tracker.store.db.

From the command line, pass the URL with `-x url=...` (or set TRACKER_DATABASE_URL).
"""

from __future__ import annotations

import os

from alembic import context

from tracker.store.db import make_engine
from tracker.store.tables import metadata

config = context.config


def _engine():  # type: ignore[no-untyped-def]
    engine = config.attributes.get("engine")
    if engine is not None:
        return engine
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(
        "TRACKER_DATABASE_URL", "sqlite:///./tracker.db"
    )
    return make_engine(url)


def run_migrations_online() -> None:
    with _engine().begin() as conn:
        context.configure(
            connection=conn,
            target_metadata=metadata,
            render_as_batch=conn.dialect.name == "sqlite",  # SQLite cannot ALTER most things
            compare_type=True,
        )
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
