"""The migrations build exactly tables.py, keep data across revisions, and downgrade cleanly."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from tracker.store.db import current_revision, downgrade, upgrade
from tracker.store.tables import metadata

EXPECTED = {
    "orders",
    "parcels",
    "observations",
    "observation_parcels",
    "events",
    "verdicts",
    "alerts",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_attempts",
    "api_tokens",
    "lookups",
}


def table_names(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_then_downgrade_to_base(blank_engine: Engine) -> None:
    assert table_names(blank_engine) == set()
    upgrade(blank_engine)
    assert table_names(blank_engine) == EXPECTED
    assert current_revision(blank_engine) == "0002"
    downgrade(blank_engine, "base")
    assert table_names(blank_engine) == set()
    assert current_revision(blank_engine) is None


def test_upgrade_is_repeatable(blank_engine: Engine) -> None:
    upgrade(blank_engine)
    upgrade(blank_engine)  # already at head: nothing to do, no error
    assert table_names(blank_engine) == EXPECTED


def test_migrated_schema_matches_tables_module(blank_engine: Engine) -> None:
    upgrade(blank_engine)
    with blank_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_comparison_would_notice_a_missing_index(blank_engine: Engine) -> None:
    # Guards the test above: the comparison is not vacuous.
    upgrade(blank_engine)
    with blank_engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_parcels_next_poll_at"))
    with blank_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, metadata)
    assert [d[0] for d in diffs] == ["add_index"]


def test_indexes_the_dispatchers_rely_on(blank_engine: Engine) -> None:
    upgrade(blank_engine)
    inspector = sa.inspect(blank_engine)
    assert {"ix_parcels_next_poll_at"} <= {i["name"] for i in inspector.get_indexes("parcels")}
    names = {i["name"] for i in inspector.get_indexes("webhook_deliveries")}
    assert "ix_webhook_deliveries_next_attempt_at" in names


def test_0002_adds_parcel_bodies_and_keeps_every_parcel(blank_engine: Engine) -> None:
    upgrade(blank_engine, "0001")
    order = {
        "id": "A-1",
        "marketplace": "aliexpress",
        "destination_country": "DE",
        "timezone": "Europe/Berlin",
        "shipped_at": "2026-10-01 00:00:00+00:00",
        "promised_by": "2026-11-10",
        "created_at": "2026-10-01 00:00:00+00:00",
        "updated_at": "2026-10-01 00:00:00+00:00",
    }
    parcel = {
        "order_id": "A-1",
        "tracking_number": "LP1",
        "other_numbers": "[]",
        "sources": '["cainiao"]',
        "tracking_state": "active",
        "results": '{"cainiao": []}',
    }
    with blank_engine.begin() as conn:
        for table, row in (("orders", order), ("parcels", parcel)):
            names = ", ".join(row)
            marks = ", ".join(f":{k}" for k in row)
            conn.execute(sa.text(f"INSERT INTO {table} ({names}) VALUES ({marks})"), row)
    upgrade(blank_engine)
    assert current_revision(blank_engine) == "0002"
    query = sa.text("SELECT tracking_number, results, bodies FROM parcels")
    with blank_engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(query)]
    assert [(n, b) for n, _, b in rows] == [("LP1", None)]
    downgrade(blank_engine, "0001")
    assert "bodies" not in {c["name"] for c in sa.inspect(blank_engine).get_columns("parcels")}
    with blank_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM parcels")).scalar_one() == 1
