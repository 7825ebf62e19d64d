"""Engines: URL checking, SQLite pragmas, and UTC datetimes on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tracker.errors import ConfigurationError
from tracker.store.db import make_engine
from tracker.store.tables import orders

from ._helpers import NOW, add_order


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("not a url", "not a database URL"),
        ("mysql://u@h/db", "unsupported database 'mysql'"),
        ("postgresql+asyncpg://u@h/db", "unsupported driver postgresql+asyncpg"),
        ("postgresql+psycopg2://u@h/db", "unsupported driver postgresql+psycopg2"),
        ("sqlite://", "needs a file path"),
        ("sqlite:///:memory:", "needs a file path"),
    ],
)
def test_bad_urls_name_the_setting(url: str, problem: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        make_engine(url)
    assert info.value.variable == "TRACKER_DATABASE_URL"
    assert problem in str(info.value)


def test_sqlite_pragmas(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    try:
        with engine.connect() as conn:
            pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") == 5000
    finally:
        engine.dispose()


def test_postgres_engine_pings_before_use() -> None:
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    assert engine.pool._pre_ping


def test_datetimes_come_back_aware_utc(conn: Connection) -> None:
    add_order(conn)
    berlin = timezone(timedelta(hours=1))
    conn.execute(
        sa.update(orders).values(confirmed_at=datetime(2026, 11, 5, 13, 30, 15, 250, tzinfo=berlin))
    )
    value = conn.execute(sa.select(orders.c.confirmed_at)).scalar_one()
    assert value == datetime(2026, 11, 5, 12, 30, 15, 250, tzinfo=UTC)
    assert value.utcoffset() == timedelta(0)
    assert conn.execute(sa.select(orders.c.created_at)).scalar_one() == NOW


def test_naive_datetimes_are_refused(conn: Connection) -> None:
    add_order(conn)
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        conn.execute(sa.update(orders).values(confirmed_at=datetime(2026, 11, 5, 12)))


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    from tracker.store.tables import parcels

    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(
            sa.insert(parcels).values(
                order_id="missing",
                tracking_number="X",
                other_numbers=[],
                sources=[],
                tracking_state="pending",
            )
        )
