"""Alerts: each type due exactly at its boundary, with stable, distinct keys."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import NUMBER, at, delivered, event, journey, order, state, timeline
from tracker.alerts import AlertSettings, due, next_due
from tracker.deadlines import window
from tracker.judge import judge
from tracker.model import (
    Alert,
    AlertType,
    DeliveryVerdict,
    Order,
    Reason,
    Rule,
    Status,
    Verdict,
)
from tracker.pipeline import ParcelState

PROMISED_END = datetime(2026, 11, 10, 23, 0, tzinfo=UTC)
CLOSES = datetime(2026, 11, 25, 23, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


def in_transit() -> ParcelState:
    return state(timeline(*journey()[:5]))  # last event: arrived in DE on day 6


def delivered_state(when: datetime) -> ParcelState:
    events = [e for e in journey() if e.status is not Status.DELIVERED]
    events = [e for e in events if e.occurred_at and e.occurred_at < when]
    tl = timeline(*events, delivered(when))
    verdict = judge(order(), state(tl).parcel, tl, ())
    assert verdict.verdict is Verdict.DELIVERED
    return state(tl, verdict)


def suspect_state() -> ParcelState:
    tl = timeline(*journey())
    claim = tl.events[-1]
    reason = Reason(Rule.LOCATION_MISMATCH, "delivered in CN", ("cainiao",), (claim.id,))
    verdict = DeliveryVerdict(Verdict.SUSPECT, claim.occurred_at, claim.id, (reason,))
    return state(tl, verdict)


def alerts_at(now: datetime, *parcels: ParcelState, the_order: Order | None = None) -> list[Alert]:
    the_order = the_order or order()
    return due(the_order, parcels, window(the_order, now), now)


def types_at(now: datetime, *parcels: ParcelState, the_order: Order | None = None) -> set[str]:
    return {a.type.value for a in alerts_at(now, *parcels, the_order=the_order)}


# ----------------------------------------------------------------------------- overdue


def test_overdue_is_due_from_the_promised_end() -> None:
    assert "order.overdue" not in types_at(PROMISED_END - TICK, in_transit())
    (alert,) = [a for a in alerts_at(PROMISED_END, in_transit()) if a.type.value == "order.overdue"]
    assert alert.key == "A-1001:order.overdue:2026-11-10T23:00:00Z"
    assert alert.data["promised_end"] == "2026-11-10T23:00:00Z"
    assert alert.data["tracking_numbers"] == [NUMBER]
    assert alert.data["days_left"] == 15.0


def test_overdue_counts_a_suspect_delivery_as_undelivered() -> None:
    assert "order.overdue" in types_at(PROMISED_END, suspect_state())
    assert "order.overdue" not in types_at(PROMISED_END, delivered_state(at(30)))


def test_overdue_stops_when_the_window_closed() -> None:
    assert "order.overdue" in types_at(CLOSES - TICK, in_transit())
    assert "order.overdue" not in types_at(CLOSES, in_transit())


def test_overdue_with_one_of_two_parcels_delivered() -> None:
    other = state(timeline(*journey()[:3]), number="LP00500000000002")
    assert "order.overdue" in types_at(PROMISED_END, delivered_state(at(12)), other)


# ----------------------------------------------------------------------------- delivered late


def test_delivered_late_from_the_promised_end_on() -> None:
    late = delivered_state(PROMISED_END)
    (alert,) = [
        a
        for a in alerts_at(PROMISED_END + timedelta(days=1), late)
        if a.type is AlertType.ORDER_DELIVERED_LATE
    ]
    assert alert.key == f"A-1001:order.delivered_late:{NUMBER}"
    on_time = delivered_state(PROMISED_END - timedelta(seconds=1))
    assert "order.delivered_late" not in types_at(PROMISED_END + timedelta(days=1), on_time)


def test_suspect_delivery_is_never_delivered_late() -> None:
    assert "order.delivered_late" not in types_at(CLOSES, suspect_state())


# ----------------------------------------------------------------------------- deadline near


def test_deadline_near_three_days_before_closing() -> None:
    near = CLOSES - timedelta(days=3)
    assert "dispute.deadline_near" not in types_at(near - TICK, in_transit())
    (alert,) = [a for a in alerts_at(near, in_transit()) if a.type.value == "dispute.deadline_near"]
    assert alert.key == "A-1001:dispute.deadline_near:2026-11-25T23:00:00Z"
    assert alert.data["days_left"] == 3.0
    assert alert.data["dispute_closes_at"] == "2026-11-25T23:00:00Z"
    assert "dispute.deadline_near" in types_at(CLOSES - TICK, in_transit())
    assert "dispute.deadline_near" not in types_at(CLOSES, in_transit())


def test_deadline_near_follows_the_setting_and_the_verdict() -> None:
    now = CLOSES - timedelta(days=5)
    w = window(order(), now)
    settings = AlertSettings(deadline_near_days=7)
    assert any(
        a.type.value == "dispute.deadline_near"
        for a in due(order(), [in_transit()], w, now, settings)
    )
    assert "dispute.deadline_near" not in types_at(CLOSES - TICK, delivered_state(at(12)))
    assert "dispute.deadline_near" in types_at(CLOSES - TICK, suspect_state())


def test_deadline_near_is_keyed_by_the_new_close_after_confirmation() -> None:
    confirmed = order(confirmed_at=datetime(2026, 11, 1, tzinfo=UTC))
    now = datetime(2026, 11, 14, tzinfo=UTC)
    keys = {a.key for a in alerts_at(now, in_transit(), the_order=confirmed)}
    assert "A-1001:dispute.deadline_near:2026-11-16T00:00:00Z" in keys


# ----------------------------------------------------------------------------- deliveries


def test_suspect_alert_carries_the_evidence() -> None:
    s = suspect_state()
    (alert,) = [a for a in alerts_at(at(13), s) if a.type is AlertType.DELIVERY_SUSPECT]
    event_id = s.verdict.delivered_event
    assert alert.key == f"A-1001:delivery.suspect:{NUMBER}"
    assert alert.data["evidence"] == [
        {
            "rule": "location_mismatch",
            "detail": "delivered in CN",
            "sources": ["cainiao"],
            "events": [event_id],
        }
    ]
    assert "delivery.confirmed" not in types_at(at(13), s)


def test_confirmed_delivery() -> None:
    d = delivered_state(at(12))
    (alert,) = [a for a in alerts_at(at(13), d) if a.type is AlertType.DELIVERY_CONFIRMED]
    assert alert.key == f"A-1001:delivery.confirmed:{NUMBER}"
    assert alert.data["parcel"]["delivered_at"] == "2026-10-13T01:00:00Z"
    assert types_at(at(13), in_transit()).isdisjoint({"delivery.confirmed", "delivery.suspect"})


# ----------------------------------------------------------------------------- tracking


def test_stalled_after_ten_quiet_days() -> None:
    s = in_transit()
    last = s.timeline.events[-1]
    assert last.occurred_at is not None
    quiet = last.occurred_at + timedelta(days=10)
    assert "tracking.stalled" not in types_at(quiet - TICK, s)
    (alert,) = [a for a in alerts_at(quiet, s) if a.type is AlertType.TRACKING_STALLED]
    days = len({e.occurred_local.date() for e in s.timeline.events if e.occurred_local})
    assert alert.key == f"A-1001:tracking.stalled:{NUMBER}:day{days}"
    assert alert.data["last_event"]["id"] == last.id
    assert alert.data["quiet_days"] == 10.0


def test_terminal_parcels_never_stall() -> None:
    assert "tracking.stalled" not in types_at(CLOSES, delivered_state(at(12)))


def test_a_parcel_never_scanned_stalls_from_shipping() -> None:
    empty = state(timeline())
    assert "tracking.stalled" not in types_at(at(10) - TICK, empty)
    keys = {a.key for a in alerts_at(at(10), empty)}
    assert f"A-1001:tracking.stalled:{NUMBER}:no-events" in keys


@pytest.mark.parametrize(
    "substatus",
    [
        "exception.held_customs",
        "delivery_attempted.recipient_unavailable",
        "returning.return_initiated",
        "returned.returned_to_sender",
        "failed.lost",
    ],
)
def test_exception_statuses(substatus: str) -> None:
    trouble = event(substatus, at(9), country="DE")
    s = state(timeline(*journey()[:5], trouble))
    (alert,) = [a for a in alerts_at(at(9, 1), s) if a.type is AlertType.TRACKING_EXCEPTION]
    assert alert.key == f"A-1001:tracking.exception:{NUMBER}:{substatus.split('.')[0]}:1"
    assert alert.data["event"]["substatus"] == substatus


def test_a_second_failed_attempt_alerts_again_a_refined_first_one_does_not() -> None:
    first = event("delivery_attempted.recipient_unavailable", at(9), country="DE")
    one = state(timeline(*journey()[:5], first))
    refined = state(timeline(*journey()[:5], replace(first, occurred_at=at(9, 8))))
    second = event("delivery_attempted.recipient_unavailable", at(10), country="DE")
    two = state(timeline(*journey()[:5], first, second))

    def key(s: ParcelState) -> str:
        [a] = [a for a in alerts_at(at(10, 1), s) if a.type is AlertType.TRACKING_EXCEPTION]
        return a.key

    assert key(one) == key(refined)  # the same attempt, its instant moved by 8 h
    assert key(two) != key(one) and key(two).endswith(":delivery_attempted:2")
    copy = replace(first, occurred_at=at(9, 0.1), occurred_local=first.occurred_local)
    kept_apart = state(timeline(*journey()[:5], first, replace(copy, id="copy")))
    assert key(kept_apart) == key(one)  # a copy merge kept apart, the same day: no news


def test_no_exception_while_moving() -> None:
    assert "tracking.exception" not in types_at(at(7), in_transit())


# ----------------------------------------------------------------------------- keys


def test_keys_are_stable_across_runs_and_distinct() -> None:
    parcels = (in_transit(), suspect_state(), delivered_state(PROMISED_END + timedelta(hours=1)))
    now = CLOSES - timedelta(days=1)
    first = alerts_at(now, *parcels)
    again = alerts_at(now, *(state(p.timeline, p.verdict) for p in parcels))
    assert [a.key for a in first] == [a.key for a in again]
    assert len({a.key for a in first}) == len(first)
    assert {a.type.value for a in first} >= {
        "order.overdue",
        "dispute.deadline_near",
        "delivery.suspect",
        "tracking.stalled",
    }
    for alert in first:
        assert alert.key.startswith("A-1001:" + alert.type.value + ":")
        assert alert.data["order_id"] == "A-1001"


# ----------------------------------------------------------------------------- when to look again


@pytest.mark.parametrize("settings", [AlertSettings(), AlertSettings(deadline_near_days=7,
                                                                     stalled_days=5)])  # fmt: skip
def test_next_due_is_when_a_time_driven_alert_falls_due_by_the_settings(
    settings: AlertSettings,
) -> None:
    """Each instant `next_due` names is the first at which `due` (with the same settings) has
    an alert it had not an instant before, then the window's close (the order's stored window
    state changes): the deadline sweep comes back exactly then."""
    parcel, the_order = in_transit(), order()

    def types(at: datetime) -> set[str]:
        return {a.type.value for a in due(the_order, [parcel], window(the_order, at), at, settings)}

    now, seen, found = at(6, 1), set[str](), list[tuple[datetime, list[str]]]()
    while when := next_due(the_order, [parcel], window(the_order, now), now, settings):
        fresh, before = types(when) - seen, types(when - TICK)
        assert bool(fresh) is (when != CLOSES) and not fresh & before, when
        found.append((when, sorted(fresh)))
        seen |= fresh
        now = when
    last_scan = parcel.timeline.events[-1].occurred_at
    assert last_scan is not None
    near = timedelta(days=settings.deadline_near_days)
    assert [w for w, _ in found] == sorted(
        [last_scan + timedelta(days=settings.stalled_days), PROMISED_END, CLOSES - near, CLOSES]
    )
    assert seen == {"tracking.stalled", "order.overdue", "dispute.deadline_near"}


def test_nothing_is_due_again_once_delivered_or_closed() -> None:
    the_order = order()
    done = delivered_state(at(12))
    assert next_due(the_order, [done], window(the_order, at(13)), at(13)) is None
    assert next_due(the_order, [in_transit()], window(the_order, CLOSES), CLOSES) is None
