"""The migrations build exactly tables.py, keep data across revisions, and downgrade cleanly."""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from tests.scenarios.build import ARRIVAL, NUMBER, ORIGIN, at, cainiao, case, obs, seventeentrack
from tracker.pipeline import Case, run_case
from tracker.store.db import current_revision, downgrade, upgrade
from tracker.store.tables import metadata

HEAD = "0006"
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
    "dead_letters",
}


def table_names(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_then_downgrade_to_base(blank_engine: Engine) -> None:
    assert table_names(blank_engine) == set()
    upgrade(blank_engine)
    assert table_names(blank_engine) == EXPECTED
    assert current_revision(blank_engine) == HEAD
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
    upgrade(blank_engine, "0002")
    assert current_revision(blank_engine) == "0002"
    query = sa.text("SELECT tracking_number, results, bodies FROM parcels")
    with blank_engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(query)]
    assert [(n, b) for n, _, b in rows] == [("LP1", None)]
    downgrade(blank_engine, "0001")
    assert "bodies" not in {c["name"] for c in sa.inspect(blank_engine).get_columns("parcels")}
    with blank_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM parcels")).scalar_one() == 1


def _body_compression(engine: Engine) -> str:
    query = sa.text(
        "SELECT attcompression FROM pg_attribute "
        "WHERE attrelid = 'observations'::regclass AND attname = 'body'"
    )
    with engine.connect() as conn:
        return str(conn.execute(query).scalar_one())


def test_0003_compresses_answers_with_lz4_on_postgresql(blank_engine: Engine) -> None:
    upgrade(blank_engine, "0002")
    big = '{"data": [' + ",".join(f'{{"n": "LP{i}", "x": "scan {i}"}}' for i in range(5000)) + "]}"
    row = {
        "source": "17track",
        "numbers": '["LP1"]',
        "fetched_at": "2026-10-01 00:00:00+00:00",
        "sha256": "a" * 64,
        "body": big,
    }
    insert = sa.text(
        "INSERT INTO observations (source, numbers, fetched_at, sha256, body) "
        "VALUES (:source, :numbers, :fetched_at, :sha256, :body)"
    )
    with blank_engine.begin() as conn:
        conn.execute(insert, row)
    upgrade(blank_engine, "0003")
    assert current_revision(blank_engine) == "0003"
    with blank_engine.begin() as conn:
        conn.execute(insert, {**row, "sha256": "b" * 64, "body": big.replace("scan", "seen")})
    with blank_engine.connect() as conn:
        bodies = dict(conn.execute(sa.text("SELECT sha256, body FROM observations")).all())
    assert bodies == {"a" * 64: big, "b" * 64: big.replace("scan", "seen")}  # both read back
    if blank_engine.dialect.name != "postgresql":
        return  # SQLite has no per-column compression: the revision changes nothing there
    assert _body_compression(blank_engine) == "l"
    with blank_engine.connect() as conn:
        methods = conn.execute(
            sa.text("SELECT sha256, pg_column_compression(body) FROM observations")
        ).all()
    assert dict(methods) == {"a" * 64: "pglz", "b" * 64: "lz4"}  # old rows keep theirs
    downgrade(blank_engine, "0002")
    assert _body_compression(blank_engine) == ""  # the server's default again
    with blank_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM observations")).scalar_one() == 2


def test_0004_rewrites_alert_keys_to_the_ones_the_pipeline_gives_now(
    blank_engine: Engine,
) -> None:
    """Alerts stored under the old keys (a merged event id at the end) get the key the
    pipeline gives the same alert now, so an upgrade sends nothing twice."""
    signed = ("GTMS_SIGNED", at(11, 19), "Delivered")
    attempt = ("DeliveryFailure_NoBody", at(11, 14), "Delivery attempted", "HERNANDO", "US")
    reports = [
        run_case(Case.from_json(case([obs("cainiao", cainiao(events), NUMBER, now)], now)), now)
        for events, now in (([*ORIGIN, *ARRIVAL, signed], at(13)), (ORIGIN, at(13)))
    ]
    reports.append(run_case(Case.from_json(case(
        [obs("17track", seventeentrack([attempt]), NUMBER, at(12))], at(12))), at(12)))  # fmt: skip
    now_keys = {(a["type"], a["key"]): a for r in reports for a in r["alerts"]}
    wanted = {"delivery.confirmed", "tracking.stalled", "tracking.exception"}
    assert wanted <= {kind for kind, _ in now_keys}
    upgrade(blank_engine, "0003")
    insert = sa.text(
        "INSERT INTO alerts (order_id, type, key, data, created_at) "
        "VALUES (:order_id, :type, :key, :data, '2026-10-14 00:00:00+00:00')"
    )
    order = {"id": "A-2001", "marketplace": "aliexpress", "destination_country": "US",
             "timezone": "UTC", "shipped_at": "2026-10-01 00:00:00+00:00",
             "promised_by": "2026-11-10", "created_at": "2026-10-01 00:00:00+00:00",
             "updated_at": "2026-10-01 00:00:00+00:00"}  # fmt: skip
    old_rows = []
    for (kind, key), alert in sorted(now_keys.items()):
        if kind in wanted:
            # the old key named the merged event: stored twice when a second source changed it
            parcel_key = f"A-2001:{kind}:{NUMBER}"
            for event_id in ("fcc9d682507a7d92", "82314d2b8875cc4d"):
                old_rows.append((kind, f"{parcel_key}:{event_id}", alert["data"], key))
    with blank_engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO orders (id, marketplace, destination_country, timezone, "
                             "shipped_at, promised_by, created_at, updated_at) VALUES (:id, "
                             ":marketplace, :destination_country, :timezone, :shipped_at, "
                             ":promised_by, :created_at, :updated_at)"), order)  # fmt: skip
        for kind, old, data, _ in old_rows:
            conn.execute(insert, {"order_id": "A-2001", "type": kind, "key": old,
                                  "data": json.dumps(data)})  # fmt: skip
    upgrade(blank_engine, "0004")
    assert current_revision(blank_engine) == "0004"
    with blank_engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT type, key FROM alerts ORDER BY id")).all()
    assert len(stored) == len(old_rows)  # nothing is lost
    for kind, key, _, new in old_rows[::2]:  # the older of each pair takes the new key
        if kind == "tracking.stalled":  # its new key counts scan days, which it does not say
            assert (kind, key) in stored
            continue
        assert (kind, new) in stored
        assert (kind, key) not in stored
    for kind, key, _, _ in old_rows[1::2]:  # the newer keeps its own: keys stay unique
        assert (kind, key) in stored


def test_0004_numbers_a_parcels_exceptions_by_their_days() -> None:
    import importlib

    m = importlib.import_module(
        "tracker.store.migrations.versions.0004_alert_keys_without_event_ids"
    )

    def data(day: str) -> dict[str, object]:
        return {"parcel": {"tracking_number": "LP1", "status": "delivery_attempted"},
                "event": {"status": "delivery_attempted", "occurred_at": f"{day}T09:00:00Z"}}

    rows = [(3, "A-1", data("2026-10-21")), (1, "A-1", data("2026-10-20")),
            (2, "A-1", data("2026-10-20"))]  # fmt: skip
    assert m._nth_days(rows) == {1: 1, 2: 1, 3: 2}
    key = "A-1:tracking.exception:LP1:0123456789abcdef"
    assert m.new_key("A-1", "tracking.exception", key, data("2026-10-21"), 2) == (
        "A-1:tracking.exception:LP1:delivery_attempted:2")  # fmt: skip
