"""Create the whole schema: orders, parcels, evidence, alerts, webhooks, tokens, lookups.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Written by hand as a snapshot of tracker/store/tables.py at this revision; later revisions
must not import tables.py (it will have moved on). tests/store/test_migrations.py checks the
two agree.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Instant = sa.DateTime(timezone=True)


def _pk() -> sa.Column:
    return sa.Column("id", BigId, primary_key=True, autoincrement=True)


def _fk(name, target, type_=BigId, nullable=False, ondelete="CASCADE") -> sa.Column:
    return sa.Column(name, type_, sa.ForeignKey(target, ondelete=ondelete), nullable=nullable)


def _at(name, nullable=False) -> sa.Column:
    return sa.Column(name, Instant, nullable=nullable)


def _index(table, *columns, unique=False, **kw) -> None:
    name = kw.pop("name", None) or f"ix_{table}_{'_'.join(columns)}"
    op.create_index(name, table, list(columns), unique=unique, **kw)


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("marketplace", sa.Text, nullable=False),
        sa.Column("destination_country", sa.Text, nullable=False),
        sa.Column("destination_postal_code", sa.Text),
        sa.Column("destination_city", sa.Text),
        sa.Column("timezone", sa.Text, nullable=False),
        _at("shipped_at"),
        sa.Column("promised_by", sa.Text, nullable=False),
        _at("confirmed_at", nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.Column("status", sa.Text),
        sa.Column("substatus", sa.Text),
        sa.Column("verdict", sa.Text),
        sa.Column("window_state", sa.Text),
        _at("dispute_closes_at", nullable=True),
        _at("next_check_at", nullable=True),
    )
    _index("orders", "created_at")
    _index("orders", "next_check_at")

    op.create_table(
        "parcels",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _fk("order_id", "orders.id", type_=sa.Text),
        sa.Column("tracking_number", sa.Text, nullable=False),
        sa.Column("other_numbers", sa.JSON, nullable=False),
        sa.Column("source_hint", sa.Text),
        sa.Column("sources", sa.JSON, nullable=False),
        sa.Column("tracking_state", sa.Text, nullable=False),
        _at("next_poll_at", nullable=True),
        _at("last_polled_at", nullable=True),
        _at("last_event_at", nullable=True),
        sa.Column("poll_failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("status", sa.Text),
        _at("delivered_at", nullable=True),
        sa.Column("results", sa.JSON),
        sa.UniqueConstraint("order_id", "tracking_number"),
    )
    _index("parcels", "order_id")
    _index("parcels", "tracking_number")
    _index("parcels", "next_poll_at")

    op.create_table(
        "observations",
        _pk(),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("numbers", sa.JSON, nullable=False),
        _at("fetched_at"),
        sa.Column("http_status", sa.Integer),
        sa.Column("content_type", sa.Text),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.UniqueConstraint("source", "sha256"),
    )
    op.create_table(
        "observation_parcels",
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
        ),
    )
    _index("observation_parcels", "parcel_id")

    op.create_table(
        "events",
        sa.Column("id", sa.Text, primary_key=True),
        _fk("parcel_id", "parcels.id", type_=sa.Integer),
        _fk("observation_id", "observations.id", nullable=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("source_number", sa.Text, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        _at("occurred_at", nullable=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("substatus", sa.Text, nullable=False),
        _at("created_at"),
    )
    _index("events", "parcel_id")
    _index("events", "observation_id")
    _index("events", "occurred_at")

    op.create_table(
        "verdicts",
        _pk(),
        _fk("order_id", "orders.id", type_=sa.Text),
        _fk("parcel_id", "parcels.id", type_=sa.Integer, nullable=True),
        sa.Column("verdict", sa.Text, nullable=False),
        _at("delivered_at", nullable=True),
        sa.Column("reasons", sa.JSON, nullable=False),
        _at("computed_at"),
    )
    _index("verdicts", "order_id")
    _index("verdicts", "parcel_id")

    op.create_table(
        "alerts",
        _pk(),
        _fk("order_id", "orders.id", type_=sa.Text),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        _at("created_at"),
        sa.UniqueConstraint("key"),
    )
    _index("alerts", "order_id")

    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("types", sa.JSON, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("disabled_reason", sa.Text),
        _at("failing_since", nullable=True),
        _at("created_at"),
    )

    op.create_table(
        "webhook_deliveries",
        _pk(),
        _fk("alert_id", "alerts.id"),
        _fk("endpoint_id", "webhook_endpoints.id", type_=sa.Text),
        sa.Column("webhook_id", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        _at("next_attempt_at", nullable=True),
        sa.Column("last_status_code", sa.Integer),
        _at("created_at"),
        _at("updated_at"),
        sa.UniqueConstraint("alert_id", "endpoint_id"),
    )
    _index("webhook_deliveries", "alert_id")
    _index("webhook_deliveries", "endpoint_id")
    _index("webhook_deliveries", "next_attempt_at")

    op.create_table(
        "webhook_attempts",
        _pk(),
        _fk("delivery_id", "webhook_deliveries.id"),
        _at("attempted_at"),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("response_excerpt", sa.Text),
    )
    _index("webhook_attempts", "delivery_id")

    op.create_table(
        "api_tokens",
        _pk(),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("token_hash", sa.Text, nullable=False),
        _at("created_at"),
        _at("revoked_at", nullable=True),
        sa.UniqueConstraint("token_hash"),
    )

    op.create_table(
        "lookups",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("tracking_number", sa.Text, nullable=False),
        sa.Column("source", sa.Text),
        _fk("token_id", "api_tokens.id", nullable=True, ondelete="SET NULL"),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("report", sa.JSON),
        sa.Column("error", sa.Text),
        _at("created_at"),
        _at("finished_at", nullable=True),
    )
    _index("lookups", "token_id")


def downgrade() -> None:
    # Children before parents, so foreign keys never dangle mid-way.
    for table in (
        "lookups",
        "api_tokens",
        "webhook_attempts",
        "webhook_deliveries",
        "webhook_endpoints",
        "alerts",
        "verdicts",
        "events",
        "observation_parcels",
        "observations",
        "parcels",
        "orders",
    ):
        op.drop_table(table)
