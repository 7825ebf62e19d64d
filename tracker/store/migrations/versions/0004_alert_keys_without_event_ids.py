"""Alert keys no longer name a merged event id.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

A merged event's id changes when a second source adds a city or a finer sub-status to the same
scan, so keys that named it (`<order>:delivery.confirmed:<number>:<event id>`) let the same
delivery alert twice. The pipeline now keys a confirmed, late or suspect delivery by its parcel,
a stall by its parcel and on how many days it was scanned, and an exception by its parcel, its
status and on how many days it had one (tracker/alerts.py).

This revision rewrites the stored keys to that scheme, from each alert's own stored data, so
that after an upgrade the next analysis of an order finds its alerts already sent instead of
sending them again. Where the old scheme had stored the same alert twice, the oldest row takes
the new key and the others keep theirs (they stay as history). Rows whose data does not allow
the new key are left as they are. Downgrade leaves keys as they are: the new keys are unique
and the old code only compares keys for equality.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_PER_PARCEL = ("delivery.confirmed", "delivery.suspect", "order.delivered_late")
_PER_DAY = ("tracking.stalled", "tracking.exception")


def new_key(
    order_id: str, kind: str, key: str, data: dict[str, Any], nth: int | None = None
) -> str | None:
    """The key tracker/alerts.py gives this stored alert now, or None to keep `key`. `nth`:
    for an exception, on how many days the parcel had one of that status by this alert's."""
    prefix = f"{order_id}:{kind}:"
    if not key.startswith(prefix):
        return None
    parcel = data.get("parcel") if isinstance(data.get("parcel"), dict) else {}
    number = parcel.get("tracking_number")
    if not isinstance(number, str) or not key[len(prefix) :].startswith(f"{number}:"):
        return None
    if kind in _PER_PARCEL:
        return f"{prefix}{number}"
    if kind == "tracking.stalled":
        # the new key counts the days the parcel was scanned, which the stored alert does not
        # say; a stall is re-keyed only when there was no scan at all
        return f"{prefix}{number}:no-events" if data.get("last_event") is None else None
    event, status = data.get("event"), parcel.get("status")
    if not isinstance(status, str):
        return None
    if not isinstance(event, dict) or event.get("status") != status or nth is None:
        return f"{prefix}{number}:{status}:{parcel.get('substatus')}"
    return f"{prefix}{number}:{status}:{nth}"


def _event_day(data: dict[str, Any]) -> str:
    event = data.get("event")
    when = event.get("occurred_at") if isinstance(event, dict) else None
    return when[:10] if isinstance(when, str) else ""  # UTC, ISO-8601 with Z


def _nth_days(rows: list[tuple[int, str, dict[str, Any]]]) -> dict[int, int]:
    """For each stored exception alert (id, order id, data): on how many distinct days the
    parcel had an exception of that status up to and including this one's."""
    groups: dict[tuple[str, Any, Any], list[tuple[str, int]]] = {}
    for alert_id, order_id, data in rows:
        parcel = data.get("parcel") if isinstance(data.get("parcel"), dict) else {}
        group = (order_id, parcel.get("tracking_number"), parcel.get("status"))
        groups.setdefault(group, []).append((_event_day(data), alert_id))
    nth: dict[int, int] = {}
    for found in groups.values():
        days: list[str] = []
        for day, alert_id in sorted(found):
            if day not in days:
                days.append(day)
            nth[alert_id] = len(days)
    return nth


def upgrade() -> None:
    bind = op.get_bind()
    alerts = sa.table(
        "alerts",
        sa.column("id", sa.Integer),
        sa.column("order_id", sa.Text),
        sa.column("type", sa.Text),
        sa.column("key", sa.Text),
        sa.column("data", sa.JSON),
    )
    rows = bind.execute(
        sa.select(alerts.c.id, alerts.c.order_id, alerts.c.type, alerts.c.key, alerts.c.data)
        .where(alerts.c.type.in_(_PER_PARCEL + _PER_DAY))
        .order_by(alerts.c.id)
    ).all()
    decoded = [
        (row, row.data if isinstance(row.data, dict) else json.loads(row.data or "{}"))
        for row in rows
    ]
    nth = _nth_days(
        [(row.id, row.order_id, data) for row, data in decoded if row.type == "tracking.exception"]
    )
    taken = set(bind.execute(sa.select(alerts.c.key)).scalars())
    for row, data in decoded:
        key = new_key(row.order_id, row.type, row.key, data, nth.get(row.id))
        if key is None or key == row.key or key in taken:
            continue
        bind.execute(sa.update(alerts).where(alerts.c.id == row.id).values(key=key))
        taken.add(key)


def downgrade() -> None:
    pass  # the new keys are unique, and the old code only compares keys for equality
