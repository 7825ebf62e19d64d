"""The schema: one MetaData, portable across SQLite (WAL) and PostgreSQL.

Conventions that matter for correctness:
- Every instant is stored in UTC through `UTCDateTime`, which refuses naive values on the way
  in and hands back aware UTC values on the way out, on SQLite too (where the column is text
  of fixed width, so comparisons like `next_poll_at <= now` still order correctly).
- Surrogate keys of tables that grow with traffic are BIGINT on PostgreSQL but INTEGER on
  SQLite, where only `INTEGER PRIMARY KEY` aliases the rowid and autoincrements.
- Idempotency lives in unique constraints (events.id, alerts.key, observations' body hash,
  one delivery per alert and endpoint), so a redelivered task changes nothing.

The migration `0001` is a hand-written snapshot of this module; a test compares the two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """An aware datetime stored as UTC; naive input is a bug, so it is refused."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: store aware UTC instants only")
        value = value.astimezone(UTC)
        # SQLite keeps text without an offset: strip it after converting, never before.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""Autoincrementing surrogate key type (see the module docstring)."""


def _pk() -> sa.Column[Any]:
    return sa.Column("id", BigId, primary_key=True, autoincrement=True)


def _fk(
    name: str, target: str, *, nullable: bool = False, ondelete: str = "CASCADE"
) -> sa.Column[Any]:
    return sa.Column(
        name, None, sa.ForeignKey(target, ondelete=ondelete), nullable=nullable, index=True
    )


def _at(name: str, *, nullable: bool = False, index: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, UTCDateTime(), nullable=nullable, index=index)


orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("marketplace", sa.Text, nullable=False),
    sa.Column("destination_country", sa.Text, nullable=False),
    sa.Column("destination_postal_code", sa.Text),
    sa.Column("destination_city", sa.Text),
    sa.Column("timezone", sa.Text, nullable=False),
    _at("shipped_at"),
    # As given: an ISO date or an ISO datetime; the two mean different deadlines.
    sa.Column("promised_by", sa.Text, nullable=False),
    _at("confirmed_at", nullable=True),
    _at("created_at", index=True),
    _at("updated_at"),
    # The current report, written by the pipeline; null until it first runs.
    sa.Column("status", sa.Text),
    sa.Column("substatus", sa.Text),
    sa.Column("verdict", sa.Text),
    sa.Column("window_state", sa.Text),
    _at("dispute_closes_at", nullable=True),
    # When a time-driven alert (overdue, deadline near, stalled) could next fall due: the
    # deadline sweep reads only what is due here, so its cost follows what is due (index).
    _at("next_check_at", nullable=True, index=True),
)

parcels = sa.Table(
    "parcels",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _fk("order_id", "orders.id"),
    sa.Column("tracking_number", sa.Text, nullable=False, index=True),
    sa.Column("other_numbers", sa.JSON, nullable=False),
    sa.Column("source_hint", sa.Text),
    sa.Column("sources", sa.JSON, nullable=False),
    sa.Column("tracking_state", sa.Text, nullable=False),
    # Null means "not scheduled"; the dispatcher's cost follows what is due (index).
    _at("next_poll_at", nullable=True, index=True),
    _at("last_polled_at", nullable=True),
    _at("last_event_at", nullable=True),
    sa.Column("poll_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("status", sa.Text),
    _at("delivered_at", nullable=True),
    # The latest per-number answers of each source ({source: [result, ...]}): the judge needs
    # them (another number answered, several shipments, a source's own summary status).
    sa.Column("results", sa.JSON),
    # The sha256 of the body each source last answered with ({source: sha256}): an answer
    # that is the same body again needs no parsing (tracker.service.repoll).
    sa.Column("bodies", sa.JSON),
    sa.UniqueConstraint("order_id", "tracking_number"),
)

observations = sa.Table(
    "observations",
    metadata,
    _pk(),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("numbers", sa.JSON, nullable=False),
    _at("fetched_at"),
    sa.Column("http_status", sa.Integer),
    sa.Column("content_type", sa.Text),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    # One row per distinct body: a batch answer covering 40 parcels is kept once and linked
    # to each of them (observation_parcels); fetching the same body again stores nothing.
    sa.UniqueConstraint("source", "sha256"),
)

observation_parcels = sa.Table(
    "observation_parcels",
    metadata,
    sa.Column(
        "observation_id",
        BigId,
        sa.ForeignKey("observations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "parcel_id",
        sa.Integer,
        sa.ForeignKey("parcels.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),  # deterministic, computed by the caller
    _fk("parcel_id", "parcels.id"),
    _fk("observation_id", "observations.id", nullable=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("source_number", sa.Text, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),  # the lossless source event
    _at("occurred_at", nullable=True, index=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("substatus", sa.Text, nullable=False),
    _at("created_at"),
)

verdicts = sa.Table(
    "verdicts",
    metadata,
    _pk(),
    _fk("order_id", "orders.id"),
    _fk("parcel_id", "parcels.id", nullable=True),
    sa.Column("verdict", sa.Text, nullable=False),
    _at("delivered_at", nullable=True),
    sa.Column("reasons", sa.JSON, nullable=False),
    _at("computed_at"),
)

alerts = sa.Table(
    "alerts",
    metadata,
    _pk(),
    _fk("order_id", "orders.id"),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False, unique=True),
    sa.Column("data", sa.JSON, nullable=False),
    _at("created_at"),
)

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),  # ep_...
    sa.Column("url", sa.Text, nullable=False),
    # Sealed with TRACKER_SECRET_KEY as `enc:v1:<fernet token>` (reliability.md WH-4, SEC-2),
    # so a database dump alone cannot forge our signatures; a plaintext whsec_ while no key is
    # set. Text: a sealed 64-byte secret is ~210 characters, and no length is imposed.
    sa.Column("secret", sa.Text, nullable=False),
    # the secret before the last rotation, sealed the same way, still signed with (beside the
    # new one) until previous_until, so receivers can switch in their own time (WH-4)
    sa.Column("previous_secret", sa.Text),
    _at("previous_until", nullable=True),
    sa.Column("types", sa.JSON, nullable=False),  # empty list = every alert type
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("disabled_reason", sa.Text),
    _at("failing_since", nullable=True),
    _at("created_at"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    _pk(),
    _fk("alert_id", "alerts.id"),
    _fk("endpoint_id", "webhook_endpoints.id"),
    sa.Column("webhook_id", sa.Text, nullable=False),  # msg_..., the same on every retry
    sa.Column("payload", sa.Text, nullable=False),  # the exact bytes that are signed and sent
    sa.Column("status", sa.Text, nullable=False),  # pending | succeeded | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    # Null once the delivery is finished, so the index holds only what may still be sent.
    _at("next_attempt_at", nullable=True, index=True),
    sa.Column("last_status_code", sa.Integer),
    _at("created_at"),
    _at("updated_at"),
    sa.UniqueConstraint("alert_id", "endpoint_id"),
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    _pk(),
    _fk("delivery_id", "webhook_deliveries.id"),
    _at("attempted_at"),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("response_excerpt", sa.Text),  # at most 1 KiB (reliability.md WH-7)
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    _pk(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),  # never the token itself
    _at("created_at"),
    _at("revoked_at", nullable=True),
)

lookups = sa.Table(
    "lookups",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("tracking_number", sa.Text, nullable=False),
    sa.Column("source", sa.Text),
    _fk("token_id", "api_tokens.id", nullable=True, ondelete="SET NULL"),
    sa.Column("status", sa.Text, nullable=False),  # queued | done | failed
    sa.Column("report", sa.JSON(none_as_null=True)),  # SQL NULL, not JSON null, until done
    sa.Column("error", sa.Text),
    _at("created_at"),
    _at("finished_at", nullable=True),
)

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    _pk(),
    # a task message delivered more times than a worker survived it (reliability.md CEL-3):
    # recorded once, acknowledged, and no longer run
    sa.Column("task_id", sa.Text, nullable=False, unique=True),
    sa.Column("task_name", sa.Text, nullable=False),
    sa.Column("args", sa.JSON, nullable=False),
    sa.Column("deliveries", sa.Integer, nullable=False),
    _at("created_at"),
)
