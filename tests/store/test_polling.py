"""The poller's and the deadline sweep's queries, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Connection

from tests.store._helpers import NOW, add_order, minutes
from tracker.model import NumberResult, Outcome, Status, TrackingState
from tracker.store import polling, repo


def test_batches_of_parcels_and_orders_load_in_one_go(conn: Connection) -> None:
    a1, a2 = add_order(conn, "A-1", "LP1", "LP2")
    (b1,) = add_order(conn, "B-1", "LP3")
    rows = polling.parcels_by_id(conn, [b1, a1])
    assert [r.tracking_number for r in rows] == ["LP1", "LP3"]
    assert [r.id for r in polling.parcels_of_orders(conn, ["A-1"])] == [a1, a2]
    found = polling.orders_by_id(conn, ["A-1", "B-1", "nope"])
    assert sorted(found) == ["A-1", "B-1"]
    order = polling.order_value(found["A-1"], polling.parcels_of_orders(conn, ["A-1"]))
    assert [p.tracking_number for p in order.parcels] == ["LP1", "LP2"]
    assert order == repo.order_model(conn, "A-1")


def test_number_results_round_trip_per_source(conn: Connection) -> None:
    (pid,) = add_order(conn, "A-1", "LP1")
    seen = datetime(2026, 11, 12, 9, 30, tzinfo=UTC)
    cainiao = NumberResult("cainiao", "LP1", Outcome.OTHER_NUMBER, answered="LP9",
                           tracking_state=TrackingState.ACTIVE, shipments=2,
                           status=Status.DELIVERED, observed_at=seen)
    usps = NumberResult("usps", "LP1", Outcome.NOT_FOUND, tracking_state=TrackingState.PENDING)
    polling.set_results(conn, repo.get_parcel(conn, pid), "cainiao", [cainiao])  # type: ignore[arg-type]
    polling.set_results(conn, repo.get_parcel(conn, pid), "usps", [usps])  # type: ignore[arg-type]
    row = repo.get_parcel(conn, pid)
    assert row is not None
    assert sorted(polling.stored_results(row), key=lambda r: r.source) == [cainiao, usps]
    newer = NumberResult("cainiao", "LP1", Outcome.FOUND)
    polling.set_results(conn, row, "cainiao", [newer])
    row = repo.get_parcel(conn, pid)
    assert row is not None
    assert sorted(polling.stored_results(row), key=lambda r: r.source) == [newer, usps]


def test_new_orders_are_due_for_a_check_and_claims_lease_them(conn: Connection) -> None:
    add_order(conn, "A-1", "LP1")
    add_order(conn, "B-1", "LP2")
    assert sorted(polling.claim_due_checks(conn, NOW, 10)) == ["A-1", "B-1"]
    assert polling.claim_due_checks(conn, NOW, 10) == []
    polling.set_next_check(conn, "A-1", NOW + minutes(30))
    polling.set_next_check(conn, "B-1", None)
    assert polling.claim_due_checks(conn, NOW + minutes(29), 10) == []
    assert polling.claim_due_checks(conn, NOW + minutes(30), 10) == ["A-1"]
