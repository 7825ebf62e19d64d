"""Revision 0001 builds exactly tables.py, and downgrading removes it, on both databases."""

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
    assert current_revision(blank_engine) == "0001"
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
