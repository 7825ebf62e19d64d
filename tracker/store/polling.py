"""Queries of the poller and the deadline sweep: batches of parcels and orders at once,
per-source number results, and the time-driven check schedule of orders."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.model import Destination, NumberResult, Order, Outcome, Parcel, Status, TrackingState
from tracker.store._sql import DEFAULT_LEASE, claim_due, from_row, update_many
from tracker.store.orders import OrderRow, ParcelRow, promised_from_text
from tracker.store.tables import orders, parcels


def parcels_by_id(conn: Connection, ids: Iterable[int]) -> list[ParcelRow]:
    query = sa.select(parcels).where(parcels.c.id.in_(sorted(set(ids)))).order_by(parcels.c.id)
    return [from_row(ParcelRow, row) for row in conn.execute(query)]


def parcels_of_orders(conn: Connection, order_ids: Iterable[str]) -> list[ParcelRow]:
    query = (
        sa.select(parcels)
        .where(parcels.c.order_id.in_(sorted(set(order_ids))))
        .order_by(parcels.c.id)
    )
    return [from_row(ParcelRow, row) for row in conn.execute(query)]


def orders_by_id(conn: Connection, ids: Iterable[str]) -> dict[str, OrderRow]:
    query = sa.select(orders).where(orders.c.id.in_(sorted(set(ids))))
    return {row.id: from_row(OrderRow, row) for row in conn.execute(query)}


def parcel_model(row: ParcelRow) -> Parcel:
    return Parcel(row.tracking_number, tuple(row.other_numbers), row.source_hint)


def order_value(row: OrderRow, parcel_rows: Sequence[ParcelRow]) -> Order:
    """The pipeline's Order for a stored order and its parcels."""
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
        parcels=tuple(parcel_model(p) for p in parcel_rows),
    )


# ----------------------------------------------------------------------------- number results


def result_to_data(result: NumberResult) -> dict[str, Any]:
    return {
        "source": result.source,
        "requested": result.requested,
        "outcome": result.outcome.value,
        "answered": result.answered,
        "tracking_state": result.tracking_state.value,
        "shipments": result.shipments,
        "message": result.message,
        "status": result.status.value if result.status else None,
        "observed_at": result.observed_at.isoformat() if result.observed_at else None,
    }


def result_from_data(data: Mapping[str, Any]) -> NumberResult:
    return NumberResult(
        source=data["source"],
        requested=data["requested"],
        outcome=Outcome(data["outcome"]),
        answered=data.get("answered"),
        tracking_state=TrackingState(data.get("tracking_state", "active")),
        shipments=int(data.get("shipments", 1)),
        message=data.get("message"),
        status=Status(data["status"]) if data.get("status") else None,
        observed_at=datetime.fromisoformat(data["observed_at"])
        if data.get("observed_at")
        else None,
    )


def stored_results(row: ParcelRow) -> list[NumberResult]:
    return [result_from_data(r) for rs in (row.results or {}).values() for r in rs]


def set_results(
    conn: Connection, row: ParcelRow, source: str, results: Sequence[NumberResult]
) -> None:
    """Replace one source's latest answers for a parcel (the other sources' stay)."""
    merged = dict(row.results or {})
    merged[source] = [result_to_data(r) for r in results]
    conn.execute(sa.update(parcels).where(parcels.c.id == row.id).values(results=merged))


def results_values(row: ParcelRow, source: str, results: Sequence[NumberResult]) -> dict[str, Any]:
    """`set_results` as a row for `orders.update_parcels`."""
    merged = dict(row.results or {})
    merged[source] = [result_to_data(r) for r in results]
    return {"id": row.id, "results": merged}


# ----------------------------------------------------------------------------- deadline checks


def claim_due_checks(
    conn: Connection, now: datetime, limit: int, *, lease: timedelta = DEFAULT_LEASE
) -> list[str]:
    """Lease orders whose time-driven alerts may be due; returns their ids."""
    rows = claim_due(conn, orders, "next_check_at", now=now, limit=limit, lease=lease)
    return [row.id for row in rows]


def set_next_check(conn: Connection, order_id: str, when: datetime | None) -> None:
    conn.execute(sa.update(orders).where(orders.c.id == order_id).values(next_check_at=when))


def set_next_checks(conn: Connection, checks: Mapping[str, datetime | None]) -> None:
    """`set_next_check` for many orders in one executemany."""
    update_many(conn, orders, [{"id": k, "next_check_at": v} for k, v in checks.items()])


def parcels_with_numbers(conn: Connection, numbers: Iterable[str]) -> list[ParcelRow]:
    """Parcels whose main tracking number is one of `numbers` (pushes name the number a
    source was registered with)."""
    wanted = sorted(set(numbers))
    if not wanted:
        return []
    query = sa.select(parcels).where(parcels.c.tracking_number.in_(wanted)).order_by(parcels.c.id)
    return [from_row(ParcelRow, row) for row in conn.execute(query)]


def parcel_counts(conn: Connection, order_ids: Iterable[str]) -> dict[str, int]:
    """How many parcels each order has (without reading them)."""
    query = (
        sa.select(parcels.c.order_id, sa.func.count())
        .where(parcels.c.order_id.in_(sorted(set(order_ids))))
        .group_by(parcels.c.order_id)
    )
    return {str(order_id): int(count) for order_id, count in conn.execute(query)}
