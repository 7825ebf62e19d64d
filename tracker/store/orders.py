"""Orders and their parcels: registration, the current report, and the poll schedule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.errors import NotFoundError
from tracker.model import Destination, Order, Parcel, TrackingState
from tracker.store._sql import (
    DEFAULT_LEASE,
    claim_due,
    from_row,
    update_many,
    upsert_insert,
)
from tracker.store._sql import SetKey as SetKey  # `update_parcels` takes it for `results`
from tracker.store.tables import orders, parcels


@dataclass(frozen=True, slots=True)
class OrderRow:
    id: str
    marketplace: str
    destination_country: str
    destination_postal_code: str | None
    destination_city: str | None
    timezone: str
    shipped_at: datetime
    promised_by: str
    confirmed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    status: str | None
    substatus: str | None
    verdict: str | None
    window_state: str | None
    dispute_closes_at: datetime | None
    next_check_at: datetime | None


@dataclass(frozen=True, slots=True)
class ParcelRow:
    id: int
    order_id: str
    tracking_number: str
    other_numbers: list[str]
    source_hint: str | None
    sources: list[str]
    tracking_state: str
    next_poll_at: datetime | None
    last_polled_at: datetime | None
    last_event_at: datetime | None
    poll_failures: int
    status: str | None
    delivered_at: datetime | None
    results: dict[str, list[dict[str, Any]]] | None
    bodies: dict[str, str] | None = None  # {source: sha256 of the body last answered with}


def promised_to_text(value: date | datetime) -> str:
    return value.isoformat()


def promised_from_text(text: str) -> date | datetime:
    """A date stays a date: the deadline rules treat the two differently (DESIGN.md)."""
    return datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)


def upsert_order(
    conn: Connection, order: Order, sources: Sequence[str], *, now: datetime
) -> list[int]:
    """Create or update `order` and its parcels; returns the ids of the order's parcels.

    A new parcel is due for a poll at `now`. An existing parcel keeps its schedule and its
    history; parcels no longer listed are kept too, because their observations are evidence.
    A new or updated order is due for a check at `now`: the deadline sweep re-judges it with
    what changed (a receipt confirmation shortens its window at once).
    """
    fields = _order_fields(order)
    stmt = upsert_insert(conn, orders).values(
        id=order.id, created_at=now, updated_at=now, next_check_at=now, **fields
    )
    changed = {**fields, "updated_at": now, "next_check_at": now}
    conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=changed))
    for parcel in order.parcels:
        _upsert_parcel(conn, order.id, parcel, list(sources), now)
    return [p.id for p in parcels_of(conn, order.id)]


def _order_fields(order: Order) -> dict[str, Any]:
    return {
        "marketplace": order.marketplace,
        "destination_country": order.destination.country,
        "destination_postal_code": order.destination.postal_code,
        "destination_city": order.destination.city,
        "timezone": order.timezone,
        "shipped_at": order.shipped_at,
        "promised_by": promised_to_text(order.promised_by),
        "confirmed_at": order.confirmed_at,
    }


def _upsert_parcel(
    conn: Connection, order_id: str, parcel: Parcel, sources: list[str], now: datetime
) -> None:
    fields = {
        "other_numbers": list(parcel.other_numbers),
        "source_hint": parcel.source_hint,
        "sources": sources,
    }
    stmt = upsert_insert(conn, parcels).values(
        order_id=order_id,
        tracking_number=parcel.tracking_number,
        tracking_state=TrackingState.PENDING.value,
        next_poll_at=now,
        poll_failures=0,
        **fields,
    )
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["order_id", "tracking_number"], set_=fields)
    )


def get_order(conn: Connection, order_id: str) -> OrderRow | None:
    row = conn.execute(sa.select(orders).where(orders.c.id == order_id)).first()
    return None if row is None else from_row(OrderRow, row)


def list_orders(
    conn: Connection,
    *,
    status: str | None = None,
    verdict: str | None = None,
    window_state: str | None = None,
    marketplace: str | None = None,
    after_id: str | None = None,
    limit: int = 100,
) -> list[OrderRow]:
    """Orders by id, filtered by exact values; page with `after_id` (keyset, no OFFSET)."""
    wanted = {
        "status": status,
        "verdict": verdict,
        "window_state": window_state,
        "marketplace": marketplace,
    }
    query = sa.select(orders).order_by(orders.c.id).limit(limit)
    for column, value in wanted.items():
        if value is not None:
            query = query.where(orders.c[column] == value)
    if after_id is not None:
        query = query.where(orders.c.id > after_id)
    return [from_row(OrderRow, row) for row in conn.execute(query)]


def order_model(conn: Connection, order_id: str) -> Order:
    """The stored order as the pipeline's value (NotFoundError if absent)."""
    row = get_order(conn, order_id)
    if row is None:
        raise NotFoundError("order", order_id)
    return Order(
        id=row.id,
        destination=Destination(
            row.destination_country, row.destination_postal_code, row.destination_city
        ),
        shipped_at=row.shipped_at,
        promised_by=promised_from_text(row.promised_by),
        marketplace=row.marketplace,
        timezone=row.timezone,
        confirmed_at=row.confirmed_at,
        parcels=tuple(
            Parcel(p.tracking_number, tuple(p.other_numbers), p.source_hint)
            for p in parcels_of(conn, order_id)
        ),
    )


def update_order_report(
    conn: Connection,
    order_id: str,
    *,
    now: datetime,
    status: str | None,
    substatus: str | None,
    verdict: str | None,
    window_state: str | None,
    dispute_closes_at: datetime | None,
) -> None:
    """Write the pipeline's current summary of the order (the list view reads it)."""
    conn.execute(
        sa.update(orders)
        .where(orders.c.id == order_id)
        .values(
            status=status,
            substatus=substatus,
            verdict=verdict,
            window_state=window_state,
            dispute_closes_at=dispute_closes_at,
            updated_at=now,
        )
    )


def parcels_of(conn: Connection, order_id: str) -> list[ParcelRow]:
    query = sa.select(parcels).where(parcels.c.order_id == order_id).order_by(parcels.c.id)
    return [from_row(ParcelRow, row) for row in conn.execute(query)]


def get_parcel(conn: Connection, parcel_id: int) -> ParcelRow | None:
    row = conn.execute(sa.select(parcels).where(parcels.c.id == parcel_id)).first()
    return None if row is None else from_row(ParcelRow, row)


def claim_due_parcels(
    conn: Connection, now: datetime, limit: int, *, lease: timedelta = DEFAULT_LEASE
) -> list[ParcelRow]:
    """Lease up to `limit` parcels due at `now`, the most overdue (see `_sql.claim_due`).

    The returned rows carry the lease time in `next_poll_at`; the poll task replaces it with
    `set_next_poll`. A worker that dies leaves the parcel due again when the lease ends.
    """
    rows = claim_due(conn, parcels, "next_poll_at", now=now, limit=limit, lease=lease)
    return [from_row(ParcelRow, row) for row in rows]


def delay_polls(conn: Connection, parcel_ids: Sequence[int], until: datetime) -> int:
    """Move the parcels' next poll to `until` where it is sooner (a stopped parcel, or one
    scheduled later, is left as it is); how many moved."""
    if not parcel_ids:
        return 0
    result = conn.execute(
        sa.update(parcels)
        .where(
            parcels.c.id.in_(parcel_ids),
            parcels.c.next_poll_at.is_not(None),
            parcels.c.next_poll_at < until,
        )
        .values(next_poll_at=until)
    )
    return int(result.rowcount)


def set_next_poll(
    conn: Connection,
    parcel_id: int,
    when: datetime | None,
    *,
    polled_at: datetime | None = None,
    failed: bool | None = None,
    **state: Any,
) -> None:
    """Schedule the next poll (None = stop polling) and record how the last one went.

    `failed=True` counts a failure, `failed=False` resets the count, None leaves it alone.
    `state` may set tracking_state, status, last_event_at and delivered_at.
    """
    values = next_poll_values(parcel_id, when, polled_at=polled_at, **state)
    del values["id"]
    if failed is not None:
        values["poll_failures"] = parcels.c.poll_failures + 1 if failed else 0
    conn.execute(sa.update(parcels).where(parcels.c.id == parcel_id).values(values))


def next_poll_values(
    parcel_id: int, when: datetime | None, *, polled_at: datetime | None = None, **state: Any
) -> dict[str, Any]:
    """The `set_next_poll` row for `update_parcels` (a successful poll: failures reset)."""
    unknown = set(state) - {"tracking_state", "status", "last_event_at", "delivered_at"}
    if unknown:
        raise TypeError(f"set_next_poll: unexpected fields {sorted(unknown)}")
    values: dict[str, Any] = {"id": parcel_id, "next_poll_at": when, **state}
    if polled_at is not None:
        values["last_polled_at"] = polled_at
    return values


def update_parcels(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Write many parcels' new values (dicts with `id`) in a few executemany round trips."""
    update_many(conn, parcels, rows)


def update_order_reports(conn: Connection, reports: Sequence[dict[str, Any]]) -> None:
    """`update_order_report` for many orders: dicts with `id`, `updated_at` and the report."""
    update_many(conn, orders, reports)
