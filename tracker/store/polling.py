"""Queries of the poller and the deadline sweep: batches of parcels and orders at once,
per-source number results, and the time-driven check schedule of orders."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.model import Destination, NumberResult, Order, Outcome, Parcel, Status, TrackingState
from tracker.store._sql import DEFAULT_LEASE, SetKey, claim_due, from_row, update_many
from tracker.store.orders import OrderRow, ParcelRow, promised_from_text
from tracker.store.tables import orders, parcels


@dataclass(frozen=True, slots=True)
class PollTarget:
    """A parcel about to be polled from one source, with what a repeated answer needs."""

    parcel: ParcelRow
    order: OrderRow
    order_parcels: int  # how many parcels the order has
    source: str

    @property
    def latest_body(self) -> str | None:
        """The sha256 of the body `source` last answered the parcel with (None: not known)."""
        return (self.parcel.bodies or {}).get(self.source)


_ORDER_LABELS = {f.name: f"o__{f.name}" for f in dataclasses.fields(OrderRow)}


def poll_targets(conn: Connection, ids: Iterable[int], source: str) -> list[PollTarget]:
    """The parcels of `ids` (by id), each with its order and its order's parcel count, in
    one statement (a poll reads this before its fetch; a repeated answer needs no more)."""
    siblings = parcels.alias("siblings")
    count = (
        sa.select(sa.func.count())
        .where(siblings.c.order_id == parcels.c.order_id)
        .scalar_subquery()
    )
    query = (
        sa.select(
            parcels,
            *(orders.c[name].label(label) for name, label in _ORDER_LABELS.items()),
            count.label("order_parcels"),
        )
        .join(orders, orders.c.id == parcels.c.order_id)
        .where(parcels.c.id.in_(sorted(set(ids))))
        .order_by(parcels.c.id)
    )
    targets = []
    for row in conn.execute(query):
        mapping = row._mapping
        order = OrderRow(**{name: mapping[label] for name, label in _ORDER_LABELS.items()})
        targets.append(PollTarget(from_row(ParcelRow, row), order, int(row.order_parcels), source))
    return targets


def bodies_values(parcel_id: int, source: str, sha256: str) -> dict[str, Any]:
    """An `orders.update_parcels` row: `source` last answered the parcel with this body."""
    return {"id": parcel_id, "bodies": SetKey(source, sha256)}


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
    update_many(conn, parcels, [results_values(row, source, results)])


def results_values(row: ParcelRow, source: str, results: Sequence[NumberResult]) -> dict[str, Any]:
    """`set_results` as a row for `orders.update_parcels`: only `source`'s key is replaced, in
    SQL, so a concurrent poll of another source of the parcel keeps its answers."""
    return {"id": row.id, "results": SetKey(source, [result_to_data(r) for r in results])}


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
