"""Observations, events and verdicts: kept as received, insert-only, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.engine import Connection

from tracker.model import (
    DeliveryVerdict,
    Location,
    Observation,
    Reason,
    Rule,
    SourceEvent,
    Status,
    TzProvenance,
    Verdict,
)
from tracker.store import repo
from tracker.store.tables import events, observation_parcels, observations

from ._helpers import NOW, add_order, count_rows, minutes

BODY = '{"data": [{"mailNo": "LP00512345678901", "status": "ÜBERGABE"}]}'


def observation(body: str = BODY, *, at: datetime = NOW, source: str = "cainiao") -> Observation:
    return Observation(
        source=source,
        payload=body,
        fetched_at=at,
        numbers=("LP00512345678901",),
        http_status=200,
        content_type="application/json",
    )


def test_observation_round_trip(conn: Connection) -> None:
    (pid,) = add_order(conn)
    repo.store_observation(conn, [pid], observation())
    assert repo.observations_for_order(conn, "A-1001") == [observation()]


def test_same_observation_twice_is_one_row(conn: Connection) -> None:
    (pid,) = add_order(conn)
    first = repo.store_observation(conn, [pid], observation())
    again = repo.store_observation(conn, [pid], observation(at=NOW + minutes(10)))
    assert again == first
    assert count_rows(conn, observations) == 1


def test_a_batch_body_is_kept_once_and_linked_to_every_parcel(conn: Connection) -> None:
    pid, other = add_order(conn, "A-1", "LP1", "LP2")
    (third,) = add_order(conn, "A-2", "LP3")
    first = repo.store_observation(conn, [pid, other], observation())
    assert repo.store_observation(conn, [third], observation()) == first
    assert count_rows(conn, observations) == 1
    assert repo.observations_for_order(conn, "A-1") == [observation()]
    assert repo.observations_for_order(conn, "A-2") == [observation()]
    other_source = repo.store_observation(conn, [pid], observation(source="17track"))
    assert other_source != first


def test_several_answers_stored_at_once_like_one_by_one(conn: Connection) -> None:
    pid, other = add_order(conn, "A-1", "LP1", "LP2")
    (third,) = add_order(conn, "A-2", "LP3")
    known = repo.store_observation(conn, [pid], observation("known"))
    first, second = observation("first"), observation("second", at=NOW + minutes(1))
    again = observation("first", at=NOW + minutes(2))  # the same body fetched twice
    ids = repo.store_observations(
        conn,
        [
            (first, [pid, other], first.sha256),
            (observation("known"), [third], observation("known").sha256),
            (second, [], second.sha256),
            (again, [third], again.sha256),
        ],
    )
    assert ids[1] == known and ids[0] == ids[3]
    assert len(set(ids)) == 3
    assert count_rows(conn, observations) == 3
    assert [o.payload for o in repo.observations_for_order(conn, "A-1")] == ["known", "first"]
    # the first answer of a body is the one kept (fetched at NOW, not NOW + 2 min)
    assert [(o.payload, o.fetched_at) for o in repo.observations_for_order(conn, "A-2")] == [
        ("known", NOW),
        ("first", NOW),
    ]
    assert repo.store_observations(conn, []) == []


def test_many_links_are_written_in_chunks(conn: Connection) -> None:
    parcel_ids = [add_order(conn, f"A-{i}", f"LP{i}")[0] for i in range(1203)]
    (obs_id,) = repo.store_observations(conn, [(observation(), parcel_ids, observation().sha256)])
    assert count_rows(conn, observation_parcels) == 1203
    repo.link_observation(conn, obs_id, parcel_ids)  # existing links are kept, not doubled
    assert count_rows(conn, observation_parcels) == 1203


def test_unlinked_observation_is_idempotent_and_can_be_linked_later(
    conn: Connection,
) -> None:
    first = repo.store_observation(conn, [], observation())
    assert repo.store_observation(conn, [], observation()) == first
    assert count_rows(conn, observations) == 1
    (pid,) = add_order(conn)
    assert repo.observations_for_order(conn, "A-1001") == []
    repo.link_observation(conn, first, [pid])
    assert repo.observations_for_order(conn, "A-1001") == [observation()]


def test_decoded_json_payload_is_stored_canonically(conn: Connection) -> None:
    (pid,) = add_order(conn)
    decoded = Observation(source="17track", payload={"b": 1, "a": [1, 2]}, fetched_at=NOW)
    repo.store_observation(conn, [pid], decoded)
    (stored,) = repo.observations_for_order(conn, "A-1001")
    assert stored.payload == '{"a":[1,2],"b":1}'
    assert stored.sha256 == decoded.sha256


def test_observations_are_listed_oldest_first_for_the_order_only(conn: Connection) -> None:
    (pid,) = add_order(conn, "A-1", "LP1")
    (other,) = add_order(conn, "A-2", "LP2")
    repo.store_observation(conn, [pid], observation("late", at=NOW))
    repo.store_observation(conn, [pid], observation("early", at=NOW - minutes(60)))
    repo.store_observation(conn, [other], observation("elsewhere"))
    assert [o.payload for o in repo.observations_for_order(conn, "A-1")] == ["early", "late"]


def source_event(
    description: str = "Arrived at facility", at: datetime | None = NOW
) -> SourceEvent:
    local = at.astimezone(timezone(timedelta(hours=8))) if at else None
    return SourceEvent(
        source="cainiao",
        source_number="LP00512345678901",
        status=Status.IN_TRANSIT,
        substatus="in_transit.facility_arrival",
        raw_description=description,
        raw_status="ARRIVED",
        raw_code="GWMS_ACCEPT",
        location=Location("Shenzhen", "Shenzhen", country="CN"),
        occurred_local=local.replace(tzinfo=None) if local else None,
        utc_offset_minutes=480 if at else None,
        occurred_at=at,
        tz_provenance=TzProvenance.CARRIER_OFFSET if at else TzProvenance.UNKNOWN,
        raw_time="2026-11-12 20:00:00",
    )


def test_event_round_trip_is_lossless(conn: Connection) -> None:
    (pid,) = add_order(conn)
    obs_id = repo.store_observation(conn, [pid], observation())
    event = source_event()
    assert repo.insert_events(conn, [repo.event_row("ev1", pid, obs_id, event)], now=NOW) == 1
    (row,) = repo.events_for_parcel(conn, pid)
    assert (row.id, row.observation_id, row.occurred_at, row.status) == (
        "ev1",
        obs_id,
        NOW,
        "in_transit",
    )
    assert repo.event_from_data(row.data) == event


def test_same_event_id_twice_is_one_row(conn: Connection) -> None:
    (pid,) = add_order(conn)
    row = repo.event_row("ev1", pid, None, source_event())
    assert repo.insert_events(conn, [row], now=NOW) == 1
    changed = repo.event_row("ev1", pid, None, source_event("rewritten"))
    fresh = repo.event_row("ev2", pid, None, source_event(at=NOW + minutes(1)))
    assert repo.insert_events(conn, [changed, fresh, fresh], now=NOW + minutes(5)) == 1
    assert count_rows(conn, events) == 2
    first = repo.events_for_parcel(conn, pid)[0]
    assert (first.data["raw_description"], first.created_at) == ("Arrived at facility", NOW)


def test_insert_nothing(conn: Connection) -> None:
    assert repo.insert_events(conn, [], now=NOW) == 0


def test_event_rows_must_be_complete(conn: Connection) -> None:
    with pytest.raises(ValueError, match="substatus"):
        repo.insert_events(conn, [{"id": "x", "parcel_id": 1}], now=NOW)


def test_events_are_ordered_with_unknown_times_last(conn: Connection) -> None:
    (pid,) = add_order(conn)
    rows = [
        repo.event_row("c", pid, None, source_event(at=None)),
        repo.event_row("b", pid, None, source_event(at=NOW)),
        repo.event_row("a", pid, None, source_event(at=NOW + minutes(1))),
    ]
    repo.insert_events(conn, rows, now=NOW)
    assert [e.id for e in repo.events_for_parcel(conn, pid)] == ["b", "a", "c"]


def test_many_events_in_one_call(conn: Connection) -> None:
    (pid,) = add_order(conn)
    rows = [
        repo.event_row(f"ev{i}", pid, None, source_event(at=NOW + minutes(i))) for i in range(1200)
    ]
    assert repo.insert_events(conn, rows, now=NOW) == 1200
    assert repo.insert_events(conn, rows, now=NOW) == 0


def test_verdict_history(conn: Connection) -> None:
    (pid,) = add_order(conn)
    reason = Reason(
        Rule.LOCATION_MISMATCH, "delivered in FR, order goes to DE", ("17track",), ("ev1",)
    )
    delivered = datetime(2026, 11, 11, 9, tzinfo=UTC)
    repo.record_verdict(conn, "A-1001", pid, DeliveryVerdict(Verdict.NONE), now=NOW)
    repo.record_verdict(
        conn,
        "A-1001",
        pid,
        DeliveryVerdict(Verdict.SUSPECT, delivered, "ev1", (reason,)),
        now=NOW + minutes(1),
    )
    history = repo.verdict_history(conn, "A-1001")
    assert [(v["verdict"], v["delivered_at"]) for v in history] == [
        ("none", None),
        ("suspect", delivered),
    ]
    assert history[1]["reasons"] == [reason.to_dict()]
    assert history[1]["computed_at"] == NOW + minutes(1)
