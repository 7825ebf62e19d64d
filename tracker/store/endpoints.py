"""Webhook endpoints: where alerts are sent, and whether an endpoint is still enabled.

`secret` is stored as the caller hands it: sealed by `tracker.secretbox.SecretBox.seal` (plaintext
only while no TRACKER_SECRET_KEY is set). The store never encrypts nor decrypts: whoever signs
opens the secret, so a row it cannot open fails that one endpoint, not the read of a batch.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.store._sql import from_row
from tracker.store.tables import webhook_endpoints


@dataclass(frozen=True, slots=True)
class EndpointRow:
    id: str
    url: str
    secret: str  # as stored: `enc:v1:...` or a plaintext whsec_; SecretBox.open it to sign
    previous_secret: str | None  # the secret before the last rotation, stored the same way
    previous_until: datetime | None  # signed with as well until then (WH-4)
    types: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime

    def previous_at(self, now: datetime) -> str | None:
        """The previous secret (as stored) while its overlap lasts at `now`, else None."""
        until = self.previous_until
        return self.previous_secret if until is not None and now < until else None

    def wants(self, alert_type: str) -> bool:
        """An empty type list subscribes to every alert type."""
        return not self.types or alert_type in self.types


def new_endpoint_id() -> str:
    return "ep_" + secrets.token_urlsafe(12).replace("-", "").replace("_", "")


def create_endpoint(
    conn: Connection,
    url: str,
    secret: str,
    types: Sequence[str] = (),
    *,
    now: datetime,
    endpoint_id: str | None = None,
) -> EndpointRow:
    """Register an endpoint. URL checks (HTTPS, no private targets) belong to the caller."""
    values = {
        "id": endpoint_id or new_endpoint_id(),
        "url": url,
        "secret": secret,
        "types": list(types),
        "enabled": True,
        "created_at": now,
    }
    row = conn.execute(
        sa.insert(webhook_endpoints).values(values).returning(*webhook_endpoints.c)
    ).one()
    return from_row(EndpointRow, row)


def get_endpoint(conn: Connection, endpoint_id: str) -> EndpointRow | None:
    query = sa.select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
    row = conn.execute(query).first()
    return None if row is None else from_row(EndpointRow, row)


def list_endpoints(conn: Connection, *, enabled_only: bool = False) -> list[EndpointRow]:
    query = sa.select(webhook_endpoints).order_by(
        webhook_endpoints.c.created_at, webhook_endpoints.c.id
    )
    if enabled_only:
        query = query.where(webhook_endpoints.c.enabled.is_(True))
    return [from_row(EndpointRow, row) for row in conn.execute(query)]


def delete_endpoint(conn: Connection, endpoint_id: str) -> bool:
    """Remove the endpoint with its deliveries and attempts; False if it did not exist."""
    result = conn.execute(sa.delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id))
    return result.rowcount > 0


def disable_endpoint(conn: Connection, endpoint_id: str, reason: str) -> bool:
    """Stop sending (410 Gone, or failing for days: reliability.md WH-6, WH-8); False if it
    was disabled already (by another worker meanwhile), which keeps its first reason."""
    result = conn.execute(
        sa.update(webhook_endpoints)
        .where(webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.enabled.is_(True))
        .values(enabled=False, disabled_reason=reason)
    )
    return result.rowcount > 0


def enable_endpoint(conn: Connection, endpoint_id: str) -> None:
    conn.execute(
        sa.update(webhook_endpoints)
        .where(webhook_endpoints.c.id == endpoint_id)
        .values(enabled=True, disabled_reason=None, failing_since=None)
    )


def stored_secrets(conn: Connection) -> list[tuple[str, str]]:
    """(endpoint id, stored secret) of every endpoint, by id: what re-sealing walks over."""
    query = sa.select(webhook_endpoints.c.id, webhook_endpoints.c.secret).order_by(
        webhook_endpoints.c.id
    )
    return [(row.id, row.secret) for row in conn.execute(query)]


def stored_previous_secrets(conn: Connection) -> list[tuple[str, str]]:
    """(endpoint id, stored previous secret) of every endpoint rotated with an overlap."""
    column = webhook_endpoints.c.previous_secret
    query = (
        sa.select(webhook_endpoints.c.id, column)
        .where(column.is_not(None))
        .order_by(webhook_endpoints.c.id)
    )
    return [(row.id, row.previous_secret) for row in conn.execute(query)]


def replace_secret(
    conn: Connection, endpoint_id: str, old: str, new: str, *, previous: bool = False
) -> bool:
    """Store `new` in place of `old` (the previous secret's column with `previous`); False if
    the row no longer holds `old` (deleted, or re-sealed by another run meanwhile), which is
    then left as it is."""
    column = webhook_endpoints.c.previous_secret if previous else webhook_endpoints.c.secret
    result = conn.execute(
        sa.update(webhook_endpoints)
        .where(webhook_endpoints.c.id == endpoint_id, column == old)
        .values({column.name: new})
    )
    return result.rowcount > 0


def rotate_secret(
    conn: Connection, endpoint_id: str, new: str, overlap_until: datetime | None
) -> bool:
    """Make `new` (as stored) the secret; the current one is kept as the previous secret,
    signed with as well until `overlap_until` (None: not kept). False if there is no such
    endpoint."""
    t = webhook_endpoints
    result = conn.execute(
        sa.update(t)
        .where(t.c.id == endpoint_id)
        .values(
            previous_secret=t.c.secret if overlap_until is not None else None,
            previous_until=overlap_until,
            secret=new,
        )
    )
    return result.rowcount > 0


def drop_previous_secret(conn: Connection, endpoint_id: str, old: str) -> None:
    """Forget the secret kept from a rotation, if it is still `old`."""
    t = webhook_endpoints
    conn.execute(
        sa.update(t)
        .where(t.c.id == endpoint_id, t.c.previous_secret == old)
        .values(previous_secret=None, previous_until=None)
    )


def set_failing_since(conn: Connection, endpoint_id: str, since: datetime | None) -> None:
    """Start the failure clock (keeps the first failure time) or clear it (since=None)."""
    stmt = sa.update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
    if since is not None:
        # Only the first failure starts the clock; later ones must not reset it.
        stmt = stmt.where(webhook_endpoints.c.failing_since.is_(None))
    conn.execute(stmt.values(failing_since=since))
