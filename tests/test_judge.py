"""The delivery verdict: every rule fires on its case and stays quiet on clean deliveries."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import (
    LAST_MILE_NUMBER,
    NUMBER,
    at,
    delivered,
    event,
    found,
    journey,
    order,
    parcel,
    timeline,
)
from tracker.judge import judge
from tracker.judge.phrases import contradiction
from tracker.model import (
    NumberResult,
    Outcome,
    Rule,
    Status,
    Timeline,
    TimelineEvent,
    TzProvenance,
    Verdict,
)


def verdict_of(tl: Timeline, results: tuple[NumberResult, ...] = (), **order_changes: object):
    return judge(order(**order_changes), parcel(), tl, results)


def rules_of(tl: Timeline, results: tuple[NumberResult, ...] = (), **changes: object) -> set[Rule]:
    return {reason.rule for reason in verdict_of(tl, results, **changes).reasons}


def test_no_delivery_claim_gives_none() -> None:
    tl = timeline(*journey()[:-1])
    assert verdict_of(tl).verdict is Verdict.NONE
    assert verdict_of(timeline()).verdict is Verdict.NONE


def test_clean_delivery_is_delivered_with_no_reasons() -> None:
    events = journey(("cainiao", "17track"))
    verdict = verdict_of(timeline(*events), (found("cainiao"), found("17track")))
    assert verdict.verdict is Verdict.DELIVERED
    assert verdict.reasons == ()
    assert verdict.delivered_at == at(12)
    assert verdict.delivered_event == events[-1].id


def test_pickup_station_signing_is_not_a_delivery() -> None:
    events = journey()[:-1]
    signed = event(
        "available_for_pickup.station_received",
        at(12),
        country="DE",
        raw_code="GTMS_STA_SIGNED",
        description="Signed by pickup station",
    )
    assert verdict_of(timeline(*events, signed)).verdict is Verdict.NONE


# ----------------------------------------------------------------------------- identity


def test_answer_for_another_number_is_identity_mismatch() -> None:
    other = found("cainiao", outcome=Outcome.OTHER_NUMBER, answered="LP00599999999999")
    verdict = verdict_of(timeline(*journey()), (other,))
    assert verdict.verdict is Verdict.SUSPECT
    (reason,) = verdict.reasons
    assert reason.rule is Rule.IDENTITY_MISMATCH
    assert reason.sources == ("cainiao",)
    assert "LP00599999999999" in reason.detail


def test_answer_for_the_parcels_own_last_mile_number_is_fine() -> None:
    other = found("cainiao", outcome=Outcome.OTHER_NUMBER, answered=LAST_MILE_NUMBER)
    assert rules_of(timeline(*journey()), (other,)) == set()


def test_several_shipments_with_untied_delivery_is_identity_mismatch() -> None:
    events = journey(("fedex",))[:-1]
    old = delivered(at(12), sources=("fedex",), shipment_ref="2024-A")
    new = delivered(at(12, 3), sources=("fedex",), shipment_ref="2026-B")
    result = found("fedex", shipments=2)
    assert rules_of(timeline(*events, old, new), (result,)) == {Rule.IDENTITY_MISMATCH}


def test_several_shipments_with_one_delivered_shipment_is_fine() -> None:
    events = journey(("fedex",))[:-1]
    only = delivered(at(12), sources=("fedex",), shipment_ref="2026-B")
    assert rules_of(timeline(*events, only), (found("fedex", shipments=2),)) == set()


# ----------------------------------------------------------------------------- location


def test_delivered_in_another_country_is_location_mismatch() -> None:
    events = journey()[:-1]
    fake = delivered(at(12), country="CN", postal_code=None)
    verdict = verdict_of(timeline(*events, fake))
    assert {r.rule for r in verdict.reasons} == {Rule.LOCATION_MISMATCH}
    assert verdict.reasons[0].events == (fake.id,)
    assert "CN" in verdict.reasons[0].detail


def test_delivered_at_another_postal_code_is_location_mismatch() -> None:
    events = journey()[:-1]
    assert rules_of(timeline(*events, delivered(at(12), postal_code="80331"))) == {
        Rule.LOCATION_MISMATCH
    }


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [("10115", " 10115 "), ("SW1A 1AA", "sw1a1aa"), ("90210", "90210-1234"), ("SW1A 1AA", "SW1A")],
)
def test_same_postal_code_written_differently_is_fine(ours: str, theirs: str) -> None:
    events = journey()[:-1]
    tl = timeline(*events, delivered(at(12), postal_code=theirs))
    dest = dataclasses.replace(order().destination, postal_code=ours)
    assert rules_of(tl, destination=dest) == set()


# ----------------------------------------------------------------------------- sequence


def test_cross_border_delivery_without_arrival_is_sequence_impossible() -> None:
    origin_only = journey()[:4]  # picked up .. departed CN
    verdict = verdict_of(timeline(*origin_only, delivered(at(12))))
    assert {r.rule for r in verdict.reasons} == {Rule.SEQUENCE_IMPOSSIBLE}
    assert "no earlier arrival" in verdict.reasons[0].detail


def test_delivered_before_shipping_is_sequence_impossible() -> None:
    tl = timeline(delivered(at(-3)))
    rules = rules_of(tl)
    assert rules == {Rule.SEQUENCE_IMPOSSIBLE}
    assert any("before the seller shipped" in r.detail for r in verdict_of(tl).reasons)


def test_delivered_before_acceptance_is_sequence_impossible() -> None:
    claim = delivered(at(1), country="DE")
    accepted = event("in_transit.accepted", at(3), country="DE")
    details = [r.detail for r in verdict_of(timeline(claim, accepted)).reasons]
    assert any("before the carrier accepted" in d for d in details)


def test_too_fast_is_sequence_impossible() -> None:
    fast = [
        event("in_transit.picked_up", at(0, 5), country="CN"),
        event("in_transit.linehaul_arrived", at(0, 12), country="DE"),
        event("out_for_delivery.out_for_delivery", at(0, 20), country="DE"),
        delivered(at(1)),
    ]
    verdict = verdict_of(timeline(*fast))
    assert {r.rule for r in verdict.reasons} == {Rule.SEQUENCE_IMPOSSIBLE}
    assert "needs at least 48 h" in verdict.reasons[0].detail


def test_domestic_next_day_delivery_is_fine() -> None:
    domestic = [
        event("in_transit.picked_up", at(0, 5), country="DE"),
        event("out_for_delivery.out_for_delivery", at(0, 20), country="DE"),
        delivered(at(1)),
    ]
    assert rules_of(timeline(*domestic)) == set()


# ----------------------------------------------------------------------------- post delivery


def test_movement_after_delivery_is_post_delivery_activity() -> None:
    later = event("in_transit.facility_arrival", at(14), country="DE", sources=("17track",))
    events = journey(("cainiao", "17track"))
    verdict = verdict_of(timeline(*events, later))
    assert {r.rule for r in verdict.reasons} == {Rule.POST_DELIVERY_ACTIVITY}
    (reason,) = verdict.reasons
    assert reason.events == (events[-1].id, later.id)
    assert reason.sources == ("17track",)


@pytest.mark.parametrize(
    "follow_up",
    [
        delivered(at(12, 5), sources=("17track",), description="Delivery confirmed"),
        event("exception.other", at(14), country="DE", description="Claim opened"),
        event("returning.return_initiated", at(14), country="DE"),
        event("returned.returned_to_sender", at(20), country="CN"),
        # time-zone noise: the same minute on the wall clock, stamped half an hour later
        event("out_for_delivery.out_for_delivery", at(12, 0.5), country="DE"),
    ],
    ids=["delivered-copy", "exception", "returning", "returned", "tz-noise"],
)
def test_follow_ups_are_not_post_delivery_activity(follow_up: TimelineEvent) -> None:
    assert rules_of(timeline(*journey(), follow_up)) == set()


def test_assumed_time_within_its_uncertainty_is_not_after() -> None:
    later = event(
        "in_transit.facility_arrival", at(12, 10), country="DE", provenance=TzProvenance.ASSUMED_UTC
    )
    assert rules_of(timeline(*journey(), later)) == set()
    much_later = event(
        "in_transit.facility_arrival", at(13), country="DE", provenance=TzProvenance.ASSUMED_UTC
    )
    assert rules_of(timeline(*journey(), much_later)) == {Rule.POST_DELIVERY_ACTIVITY}


# ----------------------------------------------------------------------------- sources


def test_last_mile_carrier_not_seeing_the_parcel_is_source_disagreement() -> None:
    events = journey(("cainiao",))
    usps = event(
        "pre_transit.info_received",
        at(13),
        sources=("usps",),
        number=LAST_MILE_NUMBER,
        description="Pre-Shipment Info Sent to USPS, USPS Awaiting Item",
    )
    verdict = verdict_of(timeline(*events, usps))
    assert {r.rule for r in verdict.reasons} == {Rule.SOURCE_DISAGREEMENT}
    (reason,) = verdict.reasons
    assert reason.sources == ("usps",)
    assert reason.events == (events[-1].id, usps.id)


def test_source_that_stopped_before_the_delivery_is_fine() -> None:
    events = journey(("cainiao",))
    early = event("in_transit.linehaul_departed", at(2), country="CN", sources=("17track",))
    assert rules_of(timeline(*events, early)) == set()


@dataclasses.dataclass(frozen=True, slots=True)
class ObservedResult(NumberResult):
    observed_at: datetime | None = None


def test_source_summary_observed_after_the_claim_is_source_disagreement() -> None:
    summary = ObservedResult(
        "usps", LAST_MILE_NUMBER, Outcome.FOUND, status=Status.IN_TRANSIT, observed_at=at(14)
    )
    assert rules_of(timeline(*journey()), (summary,)) == {Rule.SOURCE_DISAGREEMENT}
    stale = dataclasses.replace(summary, observed_at=at(11))
    assert rules_of(timeline(*journey()), (stale,)) == set()
    untimed = found("usps", LAST_MILE_NUMBER, status=Status.IN_TRANSIT)
    assert rules_of(timeline(*journey()), (untimed,)) == set()


# ----------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    "text",
    [
        "Delivered to local carrier",
        "Not delivered",
        "Item returned to sender",
        "Delivery attempted, no one home",
        "Handed over to the airline",
        "Sendung konnte nicht zugestellt werden",
        "Zending niet bezorgd",
        "No se pudo entregar",
        "未妥投",
    ],
)
def test_delivered_code_with_contrary_text_is_text_contradiction(text: str) -> None:
    events = journey()[:-1]
    claim = delivered(at(12), description=text, raw_code="Delivered_Other", sources=("17track",))
    verdict = verdict_of(timeline(*events, claim))
    assert Rule.TEXT_CONTRADICTION in {r.rule for r in verdict.reasons}
    assert verdict.verdict is Verdict.SUSPECT


@pytest.mark.parametrize(
    "text",
    [
        "Delivered",
        "Handed over to the recipient",
        "Delivered to neighbour",
        "Die Sendung wurde erfolgreich zugestellt",
        "Zending is bezorgd",
        "Entregado",
        "已签收",
        "Delivered, In/At Mailbox",
    ],
)
def test_plain_delivery_texts_do_not_contradict(text: str) -> None:
    assert contradiction(text) is None


def test_handover_before_a_credible_delivery_is_not_the_claim() -> None:
    events = journey()[:-1]
    handover = delivered(at(8, 2), description="Delivered to local carrier", sources=("17track",))
    real = delivered(at(12))
    verdict = verdict_of(timeline(*events, handover, real))
    assert verdict.verdict is Verdict.DELIVERED
    assert verdict.delivered_event == real.id


# ----------------------------------------------------------------------------- property


SOURCES = ("cainiao", "17track", "aftership")


@st.composite
def clean_journeys(draw: st.DrawFn) -> Timeline:
    """A monotonic CN -> DE journey, one delivery in DE, seen by 1-3 sources (exact copies)."""
    seen_by = draw(st.lists(st.sampled_from(SOURCES), min_size=1, max_size=3, unique=True))
    start = at(draw(st.floats(0, 3)))
    legs = [
        ("in_transit.picked_up", "CN", (0, 24)),
        ("in_transit.origin_facility", "CN", (0.5, 24)),
        ("in_transit.linehaul_departed", "CN", (1, 72)),
        ("in_transit.linehaul_arrived", "DE", (48, 300)),
        ("in_transit.import_customs_released", "DE", (1, 120)),
        ("out_for_delivery.out_for_delivery", "DE", (1, 72)),
        ("delivered.delivered", "DE", (0.1, 10)),
    ]
    events, when = [], start
    for substatus, country, (low, high) in legs:
        when += timedelta(hours=draw(st.floats(low, high)))
        seen = draw(st.lists(st.sampled_from(seen_by), min_size=1, max_size=3, unique=True))
        provenance = draw(
            st.sampled_from(
                [TzProvenance.CARRIER_OFFSET, TzProvenance.CARRIER_UTC, TzProvenance.AGGREGATOR_UTC]
            )
        )
        postal = "10115" if substatus.startswith("delivered") else None
        events.append(
            event(
                substatus,
                when,
                country=country,
                postal_code=postal,
                sources=seen,
                provenance=provenance,
            )
        )
    if draw(st.booleans()):  # a delivery confirmation from another source, a bit later
        events.append(
            delivered(
                when + timedelta(hours=draw(st.floats(0, 48))),
                sources=(draw(st.sampled_from(seen_by)),),
            )
        )
    return timeline(*events)


@settings(max_examples=300, deadline=None)
@given(clean_journeys())
def test_judge_never_flags_a_clean_journey(tl: Timeline) -> None:
    results = tuple(found(source) for source in {s for e in tl.events for s in e.sources})
    verdict = judge(order(), parcel(NUMBER), tl, results)
    assert verdict.verdict is Verdict.DELIVERED, verdict.reasons


def test_export_events_make_a_parcel_cross_border_without_countries() -> None:
    no_countries = [
        event("in_transit.picked_up", at(0, 5)),
        event("in_transit.linehaul_departed", at(2)),
        delivered(at(12), country=None, postal_code=None),
    ]
    assert rules_of(timeline(*no_countries)) == {Rule.SEQUENCE_IMPOSSIBLE}
    arrived = event("in_transit.linehaul_arrived", at(6))
    assert rules_of(timeline(*no_countries, arrived)) == set()
