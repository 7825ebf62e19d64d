"""Values shared by the storage tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.model import Destination, Order, Parcel
from tracker.store import repo

NOW = datetime(2026, 11, 12, 12, 0, tzinfo=UTC)
SOURCES = ("cainiao", "17track")


def count_rows(conn: Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def make_order(order_id: str = "A-1001", *numbers: str) -> Order:
    numbers = numbers or ("LP00512345678901",)
    return Order(
        id=order_id,
        destination=Destination("DE", "10115", "Berlin"),
        shipped_at=datetime(2026, 10, 1, 1, 0, tzinfo=UTC),
        promised_by=date(2026, 11, 10),
        marketplace="aliexpress",
        timezone="Europe/Berlin",
        parcels=tuple(
            Parcel(n, other_numbers=("00340434161234567890",) if i == 0 else ())
            for i, n in enumerate(numbers)
        ),
    )


def add_order(
    conn: Connection, order_id: str = "A-1001", *numbers: str, now: datetime = NOW
) -> list[int]:
    return repo.upsert_order(conn, make_order(order_id, *numbers), SOURCES, now=now)


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)
