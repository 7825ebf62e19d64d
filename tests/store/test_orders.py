"""Orders, parcels and the poll schedule, on both databases."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tracker.errors import NotFoundError
from tracker.model import Destination, Parcel
from tracker.store import repo
from tracker.store.tables import orders, parcels

from ._helpers import NOW, SOURCES, add_order, count_rows, make_order, minutes


def test_order_round_trip(conn: Connection) -> None:
    order = make_order("A-1", "LP1", "LP2")
    ids = repo.upsert_order(conn, order, SOURCES, now=NOW)
    assert len(ids) == 2
    assert repo.order_model(conn, "A-1") == order
    row = repo.get_order(conn, "A-1")
    assert row is not None
    assert (row.promised_by, row.created_at, row.status) == ("2026-11-10", NOW, None)


def test_promised_datetime_stays_a_datetime(conn: Connection) -> None:
    promised = datetime(2026, 11, 10, 18, 0, tzinfo=UTC)
    order = replace(make_order("A-2"), promised_by=promised, confirmed_at=NOW)
    repo.upsert_order(conn, order, SOURCES, now=NOW)
    assert repo.order_model(conn, "A-2").promised_by == promised
    assert repo.order_model(conn, "A-2").confirmed_at == NOW


def test_missing_order(conn: Connection) -> None:
    assert repo.get_order(conn, "nope") is None
    with pytest.raises(NotFoundError):
        repo.order_model(conn, "nope")


def test_new_parcels_are_due_at_once(conn: Connection) -> None:
    add_order(conn, "A-1", "LP1")
    (parcel,) = repo.parcels_of(conn, "A-1")
    assert parcel.next_poll_at == NOW
    assert parcel.tracking_state == "pending"
    assert parcel.sources == list(SOURCES)
    assert parcel.other_numbers == ["00340434161234567890"]
    assert parcel.poll_failures == 0


def test_upsert_again_updates_order_and_keeps_schedule(conn: Connection) -> None:
    add_order(conn, "A-1", "LP1")
    (parcel,) = repo.parcels_of(conn, "A-1")
    repo.set_next_poll(conn, parcel.id, NOW + minutes(60), polled_at=NOW, failed=False)
    changed = replace(
        make_order("A-1", "LP1", "LP9"), destination=Destination("FR", "75001", "Paris")
    )
    later = NOW + minutes(5)
    repo.upsert_order(conn, changed, ["usps"], now=later)
    first, added = repo.parcels_of(conn, "A-1")
    assert (first.id, first.next_poll_at, first.sources) == (parcel.id, NOW + minutes(60), ["usps"])
    assert (added.tracking_number, added.next_poll_at) == ("LP9", later)
    row = repo.get_order(conn, "A-1")
    assert row is not None
    assert (row.destination_country, row.created_at, row.updated_at) == ("FR", NOW, later)
    assert count_rows(conn, orders) == 1


def test_list_orders_filters_and_pages(conn: Connection) -> None:
    for i in range(5):
        add_order(conn, f"A-{i}", f"LP{i}")
    for order_id in ("A-1", "A-3"):
        repo.update_order_report(
            conn,
            order_id,
            now=NOW,
            status="delivered",
            substatus="delivered.delivered",
            verdict="suspect",
            window_state="open",
            dispute_closes_at=NOW + minutes(1),
        )
    assert [o.id for o in repo.list_orders(conn, verdict="suspect")] == ["A-1", "A-3"]
    assert [o.id for o in repo.list_orders(conn, limit=2)] == ["A-0", "A-1"]
    assert [o.id for o in repo.list_orders(conn, after_id="A-1", limit=2)] == ["A-2", "A-3"]
    assert repo.list_orders(conn, status="in_transit") == []
    suspect = repo.get_order(conn, "A-3")
    assert suspect is not None and suspect.dispute_closes_at == NOW + minutes(1)


def test_parcel_row_round_trip(conn: Connection) -> None:
    order = replace(make_order("A-1"), parcels=(Parcel("LP1", ("N2", "N3"), "cainiao"),))
    (pid,) = repo.upsert_order(conn, order, SOURCES, now=NOW)
    repo.set_next_poll(
        conn,
        pid,
        None,
        polled_at=NOW,
        failed=True,
        tracking_state="stopped",
        status="delivered",
        last_event_at=NOW - minutes(3),
        delivered_at=NOW - minutes(3),
    )
    parcel = repo.get_parcel(conn, pid)
    assert parcel == repo.ParcelRow(
        id=pid,
        order_id="A-1",
        tracking_number="LP1",
        other_numbers=["N2", "N3"],
        source_hint="cainiao",
        sources=list(SOURCES),
        tracking_state="stopped",
        next_poll_at=None,
        last_polled_at=NOW,
        last_event_at=NOW - minutes(3),
        poll_failures=1,
        status="delivered",
        delivered_at=NOW - minutes(3),
        results=None,
    )


def test_poll_failures_count_and_reset(conn: Connection) -> None:
    (pid,) = add_order(conn)
    for _ in range(3):
        repo.set_next_poll(conn, pid, NOW, failed=True)
    assert repo.get_parcel(conn, pid).poll_failures == 3  # type: ignore[union-attr]
    repo.set_next_poll(conn, pid, NOW)  # failed=None leaves the count alone
    assert repo.get_parcel(conn, pid).poll_failures == 3  # type: ignore[union-attr]
    repo.set_next_poll(conn, pid, NOW, failed=False)
    assert repo.get_parcel(conn, pid).poll_failures == 0  # type: ignore[union-attr]
    with pytest.raises(TypeError, match="next_poll_at"):
        repo.set_next_poll(conn, pid, NOW, next_poll_at=NOW)


def test_deleting_an_order_removes_its_parcels(conn: Connection) -> None:
    add_order(conn, "A-1", "LP1", "LP2")
    conn.execute(sa.delete(orders).where(orders.c.id == "A-1"))
    assert count_rows(conn, parcels) == 0


# --------------------------------------------------------------------------- claims


def _schedule(conn: Connection, offsets: dict[str, int | None]) -> dict[str, int]:
    """Parcels LP<name> due at NOW + offset minutes (None = not scheduled)."""
    ids = add_order(conn, "A-1", *offsets)
    by_number = {p.tracking_number: p.id for p in repo.parcels_of(conn, "A-1")}
    for number, offset in offsets.items():
        when = None if offset is None else NOW + minutes(offset)
        repo.set_next_poll(conn, by_number[number], when)
    assert len(ids) == len(offsets)
    return by_number


def test_claim_returns_only_due_parcels(conn: Connection) -> None:
    ids = _schedule(conn, {"late": -30, "now": 0, "later": -5, "future": 1, "off": None})
    claimed = repo.claim_due_parcels(conn, NOW, 10, lease=minutes(7))
    assert [p.id for p in claimed] == sorted([ids["late"], ids["later"], ids["now"]])
    assert {p.next_poll_at for p in claimed} == {NOW + minutes(7)}
    untouched = {p.tracking_number: p.next_poll_at for p in repo.parcels_of(conn, "A-1")}
    assert untouched["future"] == NOW + minutes(1) and untouched["off"] is None


def test_a_limited_claim_takes_the_most_overdue(conn: Connection) -> None:
    ids = _schedule(conn, {"a": -1, "b": -30, "c": 0, "d": -5})
    claimed = repo.claim_due_parcels(conn, NOW, 2)
    assert {p.id for p in claimed} == {ids["b"], ids["d"]}


def test_two_claims_do_not_return_the_same_parcels(conn: Connection) -> None:
    _schedule(conn, {f"N{i}": -i for i in range(5)})
    first = repo.claim_due_parcels(conn, NOW, 3)
    second = repo.claim_due_parcels(conn, NOW, 3)
    assert len(first) == 3 and len(second) == 2
    assert {p.id for p in first}.isdisjoint(p.id for p in second)
    assert repo.claim_due_parcels(conn, NOW, 3) == []


def test_an_expired_lease_makes_the_parcel_due_again(conn: Connection) -> None:
    ids = _schedule(conn, {"N": 0})
    assert [p.id for p in repo.claim_due_parcels(conn, NOW, 5, lease=minutes(5))] == [ids["N"]]
    assert repo.claim_due_parcels(conn, NOW + minutes(4), 5) == []
    assert [p.id for p in repo.claim_due_parcels(conn, NOW + minutes(5), 5)] == [ids["N"]]


def test_concurrent_claims_do_not_overlap(engine: Engine) -> None:
    """Two dispatchers in overlapping transactions: each parcel goes to exactly one of them."""
    with engine.begin() as conn:
        _schedule(conn, {f"N{i}": -i for i in range(10)})
    results: list[list[int]] = [[], []]

    def dispatcher(slot: int) -> None:
        with engine.begin() as conn:
            results[slot] = [p.id for p in repo.claim_due_parcels(conn, NOW, 6)]
            time.sleep(0.3)  # hold the transaction open while the other one claims

    threads = [threading.Thread(target=dispatcher, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert set(results[0]).isdisjoint(results[1])
    assert len(results[0]) + len(results[1]) == 10


@pytest.mark.postgres
@pytest.mark.parametrize("migrated_engine", ["postgresql"], indirect=True)
def test_postgres_claims_skip_locked_rows_without_waiting(engine: Engine) -> None:
    # PostgreSQL only: SQLite has no row locks; it serialises writers (test above).
    assert engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        _schedule(conn, {f"N{i}": -i for i in range(5)})
    with engine.connect() as first, engine.connect() as second, first.begin():
        held = repo.claim_due_parcels(first, NOW, 3)
        with second.begin():
            # Were the held rows waited on instead of skipped, this would fail fast.
            second.exec_driver_sql("SET LOCAL lock_timeout = '1s'")
            rest = repo.claim_due_parcels(second, NOW, 10)
    assert len(held) == 3 and len(rest) == 2
    assert {p.id for p in held}.isdisjoint(p.id for p in rest)


def test_many_dispatchers_drain_the_queue_exactly_once(engine: Engine) -> None:
    with engine.begin() as conn:
        _schedule(conn, {f"N{i}": -(i % 7) for i in range(60)})
    batches: list[list[int]] = []
    lock = threading.Lock()

    def dispatcher() -> None:
        while True:
            with engine.begin() as conn:
                batch = [p.id for p in repo.claim_due_parcels(conn, NOW, 5)]
            if not batch:
                return
            with lock:
                batches.append(batch)

    threads = [threading.Thread(target=dispatcher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    claimed = [pid for batch in batches for pid in batch]
    assert all(len(batch) <= 5 for batch in batches)
    assert len(claimed) == len(set(claimed)) == 60
