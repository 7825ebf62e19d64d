"""The outbox: alerts, one webhook delivery per alert and endpoint, one attempt row per try.

Alerts and their delivery rows are written in the caller's transaction, together with the
state they describe (reliability.md WH-9); the sender is enqueued only after commit, and a
sweeper finds what is due by `next_attempt_at`, so long retry schedules never sit in Celery.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker import webhooks
from tracker.model import Alert
from tracker.store._sql import DEFAULT_LEASE, claim_due, from_row, upsert_insert
from tracker.store.endpoints import list_endpoints
from tracker.store.tables import alerts, webhook_attempts, webhook_deliveries
from tracker.webhooks import webhook_id as webhook_id

EXCERPT_BYTES = 1024  # stored response excerpt cap (reliability.md WH-7)

DeliveryStatus = Literal["pending", "succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: int
    order_id: str
    type: str
    key: str
    data: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    alert_id: int
    endpoint_id: str
    webhook_id: str
    payload: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    created_at: datetime
    updated_at: datetime


def insert_alerts(conn: Connection, new: Iterable[Alert], *, now: datetime) -> list[int]:
    """Insert alerts whose key is new; returns only the new ids (a known key is a no-op)."""
    return sorted(alert_id for alert_id, _ in insert_new_alerts(conn, new, now=now))


def insert_new_alerts(
    conn: Connection, new: Iterable[Alert], *, now: datetime
) -> list[tuple[int, str]]:
    """`insert_alerts` returning (id, type) of each new alert, ordered by id (metrics count
    alerts by type)."""
    values = [
        {
            "order_id": a.order_id,
            "type": a.type.value,
            "key": a.key,
            "data": dict(a.data),
            "created_at": now,
        }
        for a in new
    ]
    if not values:
        return []
    stmt = (
        upsert_insert(conn, alerts)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(alerts.c.id, alerts.c.type)
    )
    return sorted((int(row.id), str(row.type)) for row in conn.execute(stmt, values))


def get_alert(conn: Connection, alert_id: int) -> AlertRow | None:
    row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).first()
    return None if row is None else from_row(AlertRow, row)


def list_alerts(
    conn: Connection, since_id: int = 0, limit: int = 100, *, order_id: str | None = None
) -> list[AlertRow]:
    """Alerts with id > since_id, oldest first.

    On PostgreSQL ids are handed out before commit, so a reader paging by id can, rarely,
    pass over an alert whose transaction commits late; webhooks are the lossless channel.
    """
    query = sa.select(alerts).where(alerts.c.id > since_id).order_by(alerts.c.id).limit(limit)
    if order_id is not None:
        query = query.where(alerts.c.order_id == order_id)
    return [from_row(AlertRow, row) for row in conn.execute(query)]


def alert_payload(alert: AlertRow) -> str:
    """The body sent for `alert`, serialised once so the signed bytes are the stored bytes."""
    return webhooks.body(
        alert.type, alert.order_id, alert.key, alert.data, alert.created_at
    ).decode()


def create_deliveries(conn: Connection, alert_id: int, *, now: datetime) -> list[int]:
    """One pending delivery per enabled endpoint that wants the alert's type; returns new ids.

    Running it again for the same alert creates nothing (unique alert and endpoint).
    """
    alert = get_alert(conn, alert_id)
    if alert is None:
        return []
    payload = alert_payload(alert)
    values = [
        {
            "alert_id": alert_id,
            "endpoint_id": ep.id,
            "webhook_id": webhook_id(alert.key, ep.id),
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for ep in list_endpoints(conn, enabled_only=True)
        if ep.wants(alert.type)
    ]
    if not values:
        return []
    stmt = (
        upsert_insert(conn, webhook_deliveries)
        .on_conflict_do_nothing(index_elements=["alert_id", "endpoint_id"])
        .returning(webhook_deliveries.c.id)
    )
    return sorted(int(row.id) for row in conn.execute(stmt, values))


def create_deliveries_many(
    conn: Connection, alert_ids: Iterable[int], *, now: datetime
) -> list[int]:
    """`create_deliveries` for many alerts: one read of the alerts, one of the endpoints, one
    insert (a poll that raises alerts for several orders pays three round trips, not 3N)."""
    ids = sorted(set(alert_ids))
    if not ids:
        return []
    query = sa.select(alerts).where(alerts.c.id.in_(ids)).order_by(alerts.c.id)
    found = [from_row(AlertRow, row) for row in conn.execute(query)]
    wanted = list_endpoints(conn, enabled_only=True)
    values = [
        {
            "alert_id": alert.id,
            "endpoint_id": ep.id,
            "webhook_id": webhook_id(alert.key, ep.id),
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for alert in found
        for payload in (alert_payload(alert),)
        for ep in wanted
        if ep.wants(alert.type)
    ]
    if not values:
        return []
    stmt = (
        upsert_insert(conn, webhook_deliveries)
        .on_conflict_do_nothing(index_elements=["alert_id", "endpoint_id"])
        .returning(webhook_deliveries.c.id)
    )
    return sorted(int(row.id) for row in conn.execute(stmt, values))


def get_delivery(conn: Connection, delivery_id: int) -> DeliveryRow | None:
    query = sa.select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
    row = conn.execute(query).first()
    return None if row is None else from_row(DeliveryRow, row)


def get_deliveries(conn: Connection, delivery_ids: Iterable[int]) -> list[DeliveryRow]:
    """The deliveries that exist among `delivery_ids`, by id (one read for a batch)."""
    ids = sorted(set(delivery_ids))
    if not ids:
        return []
    table = webhook_deliveries
    query = sa.select(table).where(table.c.id.in_(ids)).order_by(table.c.id)
    return [from_row(DeliveryRow, row) for row in conn.execute(query)]


def claim_due_deliveries(
    conn: Connection, now: datetime, limit: int, *, lease: timedelta = DEFAULT_LEASE
) -> list[DeliveryRow]:
    """Lease pending deliveries due at `now` (the lease is longer than one send can take)."""
    rows = claim_due(
        conn,
        webhook_deliveries,
        "next_attempt_at",
        now=now,
        limit=limit,
        lease=lease,
        where=[webhook_deliveries.c.status == "pending"],
    )
    return [from_row(DeliveryRow, row) for row in rows]


def record_attempt(
    conn: Connection,
    delivery_id: int,
    *,
    attempted_at: datetime,
    duration_ms: int,
    status: DeliveryStatus,
    next_attempt_at: datetime | None = None,
    status_code: int | None = None,
    error: str | None = None,
    response: str | bytes | None = None,
) -> int:
    """Record one try and move the delivery on; returns the attempt id.

    `status` and `next_attempt_at` come from the retry policy (tracker.webhooks). A delivery
    that already finished keeps its outcome: a redelivered task that sent again adds an
    attempt row but never turns a success back into pending.
    """
    attempt = conn.execute(
        sa.insert(webhook_attempts)
        .values(
            delivery_id=delivery_id,
            attempted_at=attempted_at,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
            response_excerpt=excerpt(response),
        )
        .returning(webhook_attempts.c.id)
    ).scalar_one()
    table = webhook_deliveries
    pending = table.c.status == "pending"
    next_at = next_attempt_at if status == "pending" else None
    conn.execute(
        sa.update(table)
        .where(table.c.id == delivery_id)
        .values(
            attempts=table.c.attempts + 1,
            last_status_code=status_code,
            updated_at=attempted_at,
            # one statement, not two: only a pending delivery moves on
            status=sa.case((pending, sa.literal(status)), else_=table.c.status),
            next_attempt_at=sa.case(
                (pending, sa.literal(next_at, type_=table.c.next_attempt_at.type)),
                else_=table.c.next_attempt_at,
            ),
        )
    )
    return int(attempt)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try, as `record_attempt` takes it (for `record_attempts`)."""

    delivery_id: int
    attempted_at: datetime
    duration_ms: int
    status: DeliveryStatus
    next_attempt_at: datetime | None = None
    status_code: int | None = None
    error: str | None = None
    response: str | bytes | None = None


def record_attempts(conn: Connection, attempts: Sequence[Attempt]) -> None:
    """`record_attempt` for many tries: one executemany of attempt rows, one of delivery
    updates (psycopg pipelines both), with the same rule: only a pending delivery moves on."""
    if not attempts:
        return
    rows = [
        {
            "delivery_id": a.delivery_id,
            "attempted_at": a.attempted_at,
            "status_code": a.status_code,
            "error": a.error,
            "duration_ms": a.duration_ms,
            "response_excerpt": excerpt(a.response),
        }
        for a in attempts
    ]
    conn.execute(sa.insert(webhook_attempts), rows)
    table = webhook_deliveries
    pending = table.c.status == "pending"
    next_at = sa.bindparam("b_next", type_=table.c.next_attempt_at.type)
    stmt = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("b_id"))
        .values(
            attempts=table.c.attempts + 1,
            last_status_code=sa.bindparam("b_code", type_=sa.Integer),
            updated_at=sa.bindparam("b_at", type_=table.c.updated_at.type),
            status=sa.case(
                (pending, sa.bindparam("b_status", type_=sa.Text)), else_=table.c.status
            ),
            next_attempt_at=sa.case((pending, next_at), else_=table.c.next_attempt_at),
        )
    )
    updates = [
        {
            "b_id": a.delivery_id,
            "b_code": a.status_code,
            "b_at": a.attempted_at,
            "b_status": a.status,
            "b_next": a.next_attempt_at if a.status == "pending" else None,
        }
        for a in attempts
    ]
    conn.execute(stmt, updates)


def attempts_of(conn: Connection, delivery_id: int) -> list[dict[str, Any]]:
    query = (
        sa.select(webhook_attempts)
        .where(webhook_attempts.c.delivery_id == delivery_id)
        .order_by(webhook_attempts.c.id)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def excerpt(response: str | bytes | None) -> str | None:
    """At most EXCERPT_BYTES of UTF-8, cut on a character boundary."""
    if response is None:
        return None
    raw = response.encode("utf-8", "replace") if isinstance(response, str) else response
    return raw[:EXCERPT_BYTES].decode("utf-8", "ignore")


def reopen_delivery(conn: Connection, delivery_id: int, *, now: datetime) -> int:
    """Make a delivery pending and due now (a replay, or after an endpoint is re-enabled):
    the same webhook-id and the same stored bytes. Returns its attempt count, which the
    deliver task must see to send (NotFoundError if there is no such delivery)."""
    from tracker.errors import NotFoundError

    table = webhook_deliveries
    attempts = conn.execute(
        sa.update(table)
        .where(table.c.id == delivery_id)
        .values(status="pending", next_attempt_at=now, updated_at=now)
        .returning(table.c.attempts)
    ).scalar()
    if attempts is None:
        raise NotFoundError("delivery", str(delivery_id))
    return int(attempts)


def list_deliveries(
    conn: Connection,
    *,
    endpoint_id: str | None = None,
    status: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[tuple[DeliveryRow, str]]:
    """Deliveries newest first, each with its alert's type; `before_id` pages on."""
    table = webhook_deliveries
    query = (
        sa.select(table, alerts.c.type.label("alert_type"))
        .join(alerts, alerts.c.id == table.c.alert_id)
        .order_by(table.c.id.desc())
        .limit(limit)
    )
    if endpoint_id is not None:
        query = query.where(table.c.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(table.c.status == status)
    if before_id is not None:
        query = query.where(table.c.id < before_id)
    return [(from_row(DeliveryRow, row), row.alert_type) for row in conn.execute(query)]


def reopen_failed(conn: Connection, endpoint_id: str, since: datetime, *, now: datetime) -> int:
    """Make every failed delivery to the endpoint created at or after `since` pending and due
    now (recovery after an outage): same webhook-ids, same bytes. How many were reopened."""
    table = webhook_deliveries
    result = conn.execute(
        sa.update(table)
        .where(
            table.c.endpoint_id == endpoint_id,
            table.c.status == "failed",
            table.c.created_at >= since,
        )
        .values(status="pending", next_attempt_at=now, updated_at=now)
    )
    return int(result.rowcount)
