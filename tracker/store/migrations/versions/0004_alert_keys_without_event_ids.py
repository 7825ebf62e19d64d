"""Alert keys no longer name a merged event id.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

A merged event's id changes when a second source adds a city or a finer sub-status to the same
scan, so keys that named it (`<order>:delivery.confirmed:<number>:<event id>`) let the same
delivery alert twice. The pipeline now keys a confirmed, late or suspect delivery by its parcel,
a stall by its parcel and the ISO week of its last event, and an exception by its parcel, its
status and how many events of that status came (tracker/alerts.py).

This revision rewrites the stored keys to that scheme, from each alert's own stored data, so
that after an upgrade the next analysis of an order finds its alerts already sent instead of
sending them again. Where the old scheme had stored the same alert twice, the oldest row takes
the new key and the others keep theirs (they stay as history). Rows whose data does not allow
the new key are left as they are. Downgrade leaves keys as they are: the new keys are unique
and the old code only compares keys for equality.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_PER_PARCEL = ("delivery.confirmed", "delivery.suspect", "order.delivered_late")
_PER_DAY = ("tracking.stalled", "tracking.exception")


def new_key(order_id: str, kind: str, key: str, data: dict[str, Any]) -> str | None:
    """The key tracker/alerts.py gives this stored alert now, or None to keep `key`."""
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
        last = data.get("last_event")
        return f"{prefix}{number}:{_week(last) if isinstance(last, dict) else 'no-events'}"
    event, status = data.get("event"), parcel.get("status")
    if not isinstance(status, str):
        return None
    if not isinstance(event, dict) or event.get("status") != status:
        return f"{prefix}{number}:{status}:{parcel.get('substatus')}"
    # the stored alert does not say how many events of the status came before: the first
    return f"{prefix}{number}:{status}:1"


def _week(event: dict[str, Any]) -> str:
    when = event.get("occurred_at")  # UTC, ISO-8601 with Z
    if not isinstance(when, str):
        return "untimed"
    year, week, _ = datetime.fromisoformat(when.replace("Z", "+00:00")).isocalendar()
    return f"{year}-W{week:02d}"


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
    taken = set(bind.execute(sa.select(alerts.c.key)).scalars())
    for row in rows:
        data = row.data if isinstance(row.data, dict) else json.loads(row.data or "{}")
        key = new_key(row.order_id, row.type, row.key, data)
        if key is None or key == row.key or key in taken:
            continue
        bind.execute(sa.update(alerts).where(alerts.c.id == row.id).values(key=key))
        taken.add(key)


def downgrade() -> None:
    pass  # the new keys are unique, and the old code only compares keys for equality
