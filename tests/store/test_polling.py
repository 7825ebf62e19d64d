"""The poller's and the deadline sweep's queries, on both databases."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from sqlalchemy.engine import Connection, Engine

from tests.store._helpers import NOW, add_order, make_order, minutes
from tracker.model import NumberResult, Outcome, Status, TrackingState
from tracker.store import orders, polling, repo
from tracker.store.orders import ParcelRow


def test_batches_of_parcels_and_orders_load_in_one_go(conn: Connection) -> None:
    a1, a2 = add_order(conn, "A-1", "LP1", "LP2")
    (b1,) = add_order(conn, "B-1", "LP3")
    targets = polling.poll_targets(conn, [b1, a1, a1], "cainiao")
    assert [t.parcel.tracking_number for t in targets] == ["LP1", "LP3"]
    assert [(t.order.id, t.order_parcels, t.latest_body) for t in targets] == [
        ("A-1", 2, None),
        ("B-1", 1, None),
    ]
    assert [r.id for r in polling.parcels_of_orders(conn, ["A-1"])] == [a1, a2]
    found = polling.orders_by_id(conn, ["A-1", "B-1", "nope"])
    assert sorted(found) == ["A-1", "B-1"]
    order = polling.order_value(found["A-1"], polling.parcels_of_orders(conn, ["A-1"]))
    assert [p.tracking_number for p in order.parcels] == ["LP1", "LP2"]
    assert order == repo.order_model(conn, "A-1")


def test_number_results_round_trip_per_source(conn: Connection) -> None:
    (pid,) = add_order(conn, "A-1", "LP1")
    seen = datetime(2026, 11, 12, 9, 30, tzinfo=UTC)
    cainiao = NumberResult(
        "cainiao",
        "LP1",
        Outcome.OTHER_NUMBER,
        answered="LP9",
        tracking_state=TrackingState.ACTIVE,
        shipments=2,
        status=Status.DELIVERED,
        observed_at=seen,
    )
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


def test_a_poll_target_knows_the_body_its_source_last_answered_with(conn: Connection) -> None:
    (p1,) = add_order(conn, "A-1", "LP1")
    (p2,) = add_order(conn, "B-1", "LP2")

    def answered(source: str, digest: str, *pids: int) -> None:
        orders.update_parcels(conn, [polling.bodies_values(p, source, digest) for p in pids])

    answered("cainiao", "a" * 64, p1, p2)
    answered("cainiao", "b" * 64, p1)
    answered("17track", "c" * 64, p1, p2)
    answered("cainiao", "a" * 64, p1)  # the first body back again: it is the last one now
    assert [t.latest_body for t in polling.poll_targets(conn, [p1, p2], "cainiao")] == [
        "a" * 64,
        "a" * 64,
    ]
    assert [t.latest_body for t in polling.poll_targets(conn, [p2, p1], "17track")] == [
        "c" * 64
    ] * 2
    assert [t.latest_body for t in polling.poll_targets(conn, [p1], "usps")] == [None]


def test_two_sources_answering_at_once_both_keep_their_answers(engine: Engine) -> None:
    """A Cainiao poll and a 17TRACK poll of one parcel read it before either writes: each
    replaces only its own source's answers, so the second write does not drop the first's."""
    with engine.begin() as conn:
        (pid,) = add_order(conn, "A-1", "LP1")
        usps = NumberResult("usps", "LP1", Outcome.NOT_FOUND)
        polling.set_results(conn, _parcel(conn, pid), "usps", [usps])
    with engine.connect() as conn:
        stale_a, stale_b = _parcel(conn, pid), _parcel(conn, pid)
    cainiao = NumberResult("cainiao", "LP1", Outcome.FOUND, status=Status.IN_TRANSIT)
    track = NumberResult("17track", "LP1", Outcome.FOUND, status=Status.DELIVERED)
    with engine.begin() as conn:
        orders.update_parcels(conn, [polling.results_values(stale_a, "cainiao", [cainiao])])
    with engine.begin() as conn:
        orders.update_parcels(conn, [polling.results_values(stale_b, "17track", [track])])
    with engine.connect() as conn:
        row = _parcel(conn, pid)
    assert sorted(row.results or {}) == ["17track", "cainiao", "usps"]
    assert sorted(polling.stored_results(row), key=lambda r: r.source) == [
        track,
        cainiao,
        usps,
    ]


def _parcel(conn: Connection, pid: int) -> ParcelRow:
    row = repo.get_parcel(conn, pid)
    assert row is not None
    return row  # type: ignore[return-value]


def test_new_orders_are_due_for_a_check_and_claims_lease_them(conn: Connection) -> None:
    add_order(conn, "A-1", "LP1")
    add_order(conn, "B-1", "LP2")
    assert sorted(polling.claim_due_checks(conn, NOW, 10)) == ["A-1", "B-1"]
    assert polling.claim_due_checks(conn, NOW, 10) == []
    polling.set_next_check(conn, "A-1", NOW + minutes(30))
    polling.set_next_check(conn, "B-1", None)
    assert polling.claim_due_checks(conn, NOW + minutes(29), 10) == []
    assert polling.claim_due_checks(conn, NOW + minutes(30), 10) == ["A-1"]


def test_an_updated_order_is_due_for_a_check_at_once(conn: Connection) -> None:
    """A receipt confirmation (or any change) must be re-judged now, not at the next check."""
    add_order(conn, "A-1", "LP1")
    assert polling.claim_due_checks(conn, NOW, 10) == ["A-1"]
    polling.set_next_check(conn, "A-1", NOW + minutes(600))
    assert polling.claim_due_checks(conn, NOW + minutes(5), 10) == []
    confirmed = dataclasses.replace(make_order("A-1", "LP1"), confirmed_at=NOW + minutes(5))
    repo.upsert_order(conn, confirmed, ["cainiao"], now=NOW + minutes(5))
    assert polling.claim_due_checks(conn, NOW + minutes(5), 10) == ["A-1"]


def test_many_parcel_rows_written_at_once_read_back_exactly(conn: Connection) -> None:
    """`update_many` (one statement per group on PostgreSQL, values as one JSON document):
    awkward texts, microseconds, JSON null, a JSON key set among others, rows of two shapes."""
    from tracker.store._sql import SetKey, update_many
    from tracker.store.tables import parcels

    ids = [add_order(conn, f"A-{i}", f"LP{i:014d}")[0] for i in range(3)]
    when = datetime(2026, 12, 4, 19, 30, 1, 123456, tzinfo=UTC)
    awkward = 'quote " backslash \\ brace { } comma , unicode é 中 \u2028 tab\t'
    rows = [
        {"id": ids[2], "status": awkward, "next_poll_at": when, "poll_failures": 3,
         "results": SetKey("cainiao", [{"message": awkward, "n": 1}])},
        {"id": ids[0], "status": "in_transit", "next_poll_at": None, "poll_failures": 0,
         "results": SetKey("17track", [])},
        {"id": ids[1], "bodies": {"cainiao": awkward}, "results": None},
    ]  # fmt: skip
    update_many(conn, parcels, [{"id": ids[0], "results": SetKey("cainiao", [{"a": None}])}])
    update_many(conn, parcels, rows)
    got = {pid: repo.get_parcel(conn, pid) for pid in ids}
    first, second, third = (got[pid] for pid in ids)
    assert first is not None and second is not None and third is not None
    assert third.status == awkward and third.next_poll_at == when and third.poll_failures == 3
    assert third.results == {"cainiao": [{"message": awkward, "n": 1}]}
    assert first.next_poll_at is None and first.status == "in_transit"
    assert first.results == {"cainiao": [{"a": None}], "17track": []}  # the key set kept
    assert second.bodies == {"cainiao": awkward} and second.results is None
    # a JSON null (what the JSON type stores for None) takes a key like an empty column
    update_many(conn, parcels, [{"id": ids[1], "results": SetKey("cainiao", [])}])
    update_many(conn, parcels, [{"id": ids[1], "results": SetKey("17track", [{"n": 2}])}])
    again = repo.get_parcel(conn, ids[1])
    assert again is not None and again.results == {"cainiao": [], "17track": [{"n": 2}]}
