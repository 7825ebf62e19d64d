"""Merging source events into one timeline: properties (hypothesis) and the cases that matter."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tracker.merge import merge
from tracker.model import Location, SourceEvent, Status, Timeline, TzProvenance, status_of

NUMBERS = ("LP00512345678901", "00340434161234567890")
T0 = datetime(2026, 10, 2, 1, 0, tzinfo=UTC)


def event(
    *,
    source: str = "cainiao",
    substatus: str = "in_transit.facility_arrival",
    at: datetime = T0,
    offset: int | None = 480,
    provenance: TzProvenance = TzProvenance.CARRIER_OFFSET,
    description: str = "Arrived at sorting center",
    location: Location | None = None,
    number: str = NUMBERS[0],
) -> SourceEvent:
    local = (at + timedelta(minutes=offset)).replace(tzinfo=None) if offset is not None else None
    return SourceEvent(
        source=source,
        source_number=number,
        status=status_of(substatus),
        substatus=substatus,
        raw_description=description,
        location=location if location is not None else Location(city="Shenzhen", country="CN"),
        occurred_local=local,
        utc_offset_minutes=offset,
        occurred_at=at,
        tz_provenance=provenance,
    )


def snapshot(timeline: Timeline) -> list[tuple[object, ...]]:
    """Everything about a timeline, including the members (excluded from `==`)."""
    return [(e, sorted(map(repr, e.members))) for e in timeline.events]


def member_count(timeline: Timeline) -> Counter[SourceEvent]:
    return Counter(m for e in timeline.events for m in e.members)


# ----------------------------------------------------------------------------- properties

SUBSTATUSES = [
    "in_transit.facility_arrival",
    "in_transit.other",
    "in_transit.facility_departure",
    "out_for_delivery.out_for_delivery",
    "delivered.other",
    "delivered.signed",
]
LOCATIONS = [
    Location(),
    Location(city="Shenzhen", country="CN"),
    Location(country="CN"),
    Location(city="Berlin", country="DE"),
    Location(city="Munich", country="DE"),
]
random_events = st.builds(
    event,
    source=st.sampled_from(["cainiao", "17track", "aftership"]),
    substatus=st.sampled_from(SUBSTATUSES),
    at=st.integers(0, 96).map(lambda k: T0 + timedelta(minutes=30 * k)),
    offset=st.sampled_from([None, 0, 60, 480, 330]),
    provenance=st.sampled_from(list(TzProvenance)),
    description=st.sampled_from(["Arrived", "arrived.", "Yanwen: Arrived at hub", "Departed"]),
    location=st.sampled_from(LOCATIONS),
    number=st.sampled_from(NUMBERS),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(random_events, max_size=30), st.randoms(use_true_random=False))
def test_merge_is_order_independent_idempotent_and_loses_nothing(
    events: list[SourceEvent], rnd: random.Random
) -> None:
    timeline = merge(events, NUMBERS)
    shuffled = events[:]
    rnd.shuffle(shuffled)
    assert snapshot(merge(shuffled, NUMBERS)) == snapshot(timeline)
    members = [m for e in timeline.events for m in e.members]
    assert snapshot(merge(members, NUMBERS)) == snapshot(timeline)
    assert member_count(timeline) == Counter(events)
    ids = [e.id for e in timeline.events]
    assert len(ids) == len(set(ids))
    for merged in timeline.events:
        assert {m.status for m in merged.members} == {merged.status}
        countries = {m.location.country for m in merged.members} - {None}
        assert len(countries) <= 1
        assert merged.sources == tuple(sorted({m.source for m in merged.members}))
    instants = [e.occurred_at for e in timeline.events if e.occurred_at]
    assert instants == sorted(instants)


physical = st.tuples(
    st.sampled_from(SUBSTATUSES),
    st.sampled_from(LOCATIONS[1:]),
    st.sampled_from(["Arrived at hub", "Departed from facility", "Out for delivery"]),
)
variant = st.tuples(
    st.sampled_from(["cainiao", "17track", "aftership"]),
    st.sampled_from(["shift", "reword", "no_location", "vague", "same"]),
    st.integers(-28, 28),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(physical, st.lists(variant, min_size=1, max_size=4)), max_size=8))
def test_reports_of_one_physical_event_merge_and_distinct_events_do_not(
    plan: list[tuple[tuple[str, Location, str], list[tuple[str, str, int]]]],
) -> None:
    expected: list[set[SourceEvent]] = []
    for k, ((substatus, location, text), variants) in enumerate(plan):
        # 45 h apart: reports shifted by up to 14 h each way stay more than 14 h apart
        at = T0 + timedelta(hours=45 * k, minutes=7)
        base = event(substatus=substatus, location=location, description=text, at=at)
        reports = {base}
        for source, how, halves in variants:
            reports.add(_variant(base, source, how, halves))
        expected.append(reports)
    timeline = merge([e for group in expected for e in group], NUMBERS)
    assert len(timeline.events) == len(expected)
    assert {frozenset(e.members) for e in timeline.events} == set(map(frozenset, expected))


def _variant(base: SourceEvent, source: str, how: str, halves: int) -> SourceEvent:
    ev = replace(base, source=source)
    if source == "17track":  # another source's word for the same scan
        ev = replace(ev, substatus=RECODED.get(base.substatus, base.substatus))
    if how == "shift":  # same wall clock, restamped with another offset
        assert base.occurred_at is not None and base.utc_offset_minutes is not None
        offset = base.utc_offset_minutes + 30 * halves
        return replace(
            ev,
            occurred_at=base.occurred_at - timedelta(minutes=30 * halves),
            utc_offset_minutes=offset,
            tz_provenance=TzProvenance.AGGREGATOR_UTC,
        )
    if how == "reword":  # UTC only, shifted, reworded with a carrier prefix
        assert base.occurred_at is not None
        return replace(
            ev,
            occurred_at=base.occurred_at + timedelta(minutes=30 * halves),
            occurred_local=None,
            utc_offset_minutes=None,
            tz_provenance=TzProvenance.CARRIER_UTC,
            raw_description=f"[Yanwen]  {base.raw_description.upper()}!",
        )
    if how == "no_location":
        return replace(ev, location=Location())
    if how == "vague":
        return replace(ev, substatus=base.status.sub("other"))
    return ev


repeat_variant = st.tuples(
    st.sampled_from(["17track", "aftership"]),
    st.sampled_from(["shift", "no_location", "vague", "same"]),
    st.integers(-28, 28).filter(lambda h: h % 7 != 0 or h == 0),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(repeat_variant, max_size=3), min_size=2, max_size=6))
def test_one_carriers_repeated_scans_stay_apart_whatever_relays_them(
    plan: list[list[tuple[str, str, int]]],
) -> None:
    """The carrier repeats one scan (same words, same place) every 3.5 h, whole half hours
    apart; each scan is relayed with its wall clock, re-stamped up to 14 h off. Every scan
    stays one event with exactly its relays. (Reports of two scans re-stamped onto one instant
    are left out: an instant within a minute says one scan, so that input is ambiguous.)"""
    expected: list[set[SourceEvent]] = []
    for k, variants in enumerate(plan):
        base = event(at=T0 + timedelta(hours=3.5 * k), description="In transit to next facility")
        expected.append({base} | {_variant(base, *v) for v in variants})
    instants = [(e.occurred_at, k) for k, group in enumerate(expected) for e in group]
    assume(
        all(a[1] == b[1] or a[0] != b[0] for i, a in enumerate(instants) for b in instants[i:])
    )
    timeline = merge([e for group in expected for e in group], NUMBERS)
    assert {frozenset(e.members) for e in timeline.events} == set(map(frozenset, expected))


RECODED = {
    "in_transit.facility_arrival": "in_transit.linehaul_arrived",
    "delivered.signed": "delivered.delivered",
    "delivered.other": "delivered.to_mailbox",
}


# ----------------------------------------------------------------------------- cases


def test_three_sources_one_event_keep_best_reading_and_list_sources() -> None:
    carrier = event(source="cainiao")
    relayed = event(
        source="17track",
        at=T0 + timedelta(hours=7),
        offset=60,  # 17TRACK restamped with the destination offset: same wall clock
        provenance=TzProvenance.AGGREGATOR_UTC,
        description="[Cainiao] arrived at sorting center.",
    )
    naive = event(
        source="aftership",
        at=T0 + timedelta(hours=8),
        offset=None,
        provenance=TzProvenance.ASSUMED_UTC,
        location=Location(),
    )
    naive = replace(naive, occurred_local=carrier.occurred_local)
    timeline = merge([relayed, naive, carrier], NUMBERS)
    (only,) = timeline.events
    assert only.sources == ("17track", "aftership", "cainiao")
    assert only.occurred_at == T0
    assert only.tz_provenance is TzProvenance.CARRIER_OFFSET
    assert only.utc_offset_minutes == 480


def test_distinct_status_location_or_time_stay_apart() -> None:
    base = event()
    others = [
        replace(base, status=Status.IN_TRANSIT, substatus="in_transit.facility_departure"),
        replace(base, location=Location(city="Guangzhou", country="CN")),
        replace(base, occurred_at=T0 + timedelta(minutes=45)),
        replace(base, source="17track", occurred_at=T0 + timedelta(hours=15)),
        event(substatus="delivered.signed"),
    ]
    assert len(merge([base, *others], NUMBERS).events) == 6


def test_one_source_two_codes_in_one_minute_are_two_scans() -> None:
    arrival = event(source="cainiao", substatus="in_transit.facility_arrival")
    departure = event(source="cainiao", substatus="in_transit.facility_departure")
    relayed = event(source="17track", substatus="in_transit.facility_departure")
    timeline = merge([arrival, departure, relayed], NUMBERS)
    assert sorted(len(e.members) for e in timeline.events) == [1, 2]


def test_one_source_two_wall_clocks_half_hours_apart_are_two_scans() -> None:
    first = event(source="17track")
    second = event(source="17track", at=T0 + timedelta(hours=2))
    assert len(merge([first, second], NUMBERS).events) == 2


def test_a_relayed_scan_does_not_pull_in_the_carriers_next_scan_of_the_same_words() -> None:
    # Cainiao scans twice, 3 h apart, in the same words at the same place; 17TRACK relays the
    # first with its wall clock, re-stamped 1 h off: 2 h, whole hours, from the second scan.
    words = "In transit to next facility"
    first = event(source="cainiao", description=words)
    second = event(source="cainiao", at=T0 + timedelta(hours=3), description=words)
    relayed = _variant(first, "17track", "shift", -2)
    assert relayed.occurred_at == T0 + timedelta(hours=1)
    timeline = merge([first, second, relayed], NUMBERS)
    assert [set(e.members) for e in timeline.events] == [{first, relayed}, {second}]
    # the same when the carrier's second scan is reported under the parcel's other number
    elsewhere = replace(second, source_number=NUMBERS[1])
    timeline = merge([first, elsewhere, relayed], NUMBERS)
    assert [set(e.members) for e in timeline.events] == [{first, relayed}, {elsewhere}]


def test_vague_event_cannot_chain_two_specific_ones() -> None:
    berlin = event(location=Location(city="Berlin", country="DE"), source="17track")
    munich = event(location=Location(city="Munich", country="DE"), source="aftership")
    nowhere = event(location=Location(), source="cainiao")
    timeline = merge([berlin, munich, nowhere], NUMBERS)
    assert len(timeline.events) == 2
    assert member_count(timeline) == Counter([berlin, munich, nowhere])


def test_ids_are_stable_and_timeline_is_oldest_first_with_lifecycle_tiebreak() -> None:
    out = event(substatus="out_for_delivery.out_for_delivery", at=T0)
    done = event(substatus="delivered.signed", at=T0)
    early = event(at=T0 - timedelta(days=2))
    timeline = merge([done, out, early], NUMBERS)
    assert [e.status for e in timeline.events] == [
        Status.IN_TRANSIT,
        Status.OUT_FOR_DELIVERY,
        Status.DELIVERED,
    ]
    assert [e.id for e in merge([early, out, done], NUMBERS[::-1]).events] == [
        e.id for e in timeline.events
    ]


def test_merged_event_takes_specific_substatus_and_fills_location_gaps() -> None:
    vague = event(
        source="17track",
        substatus="delivered.other",
        location=Location(text="BERLIN, DE", country="DE"),
    )
    precise = event(
        source="cainiao",
        substatus="delivered.signed",
        location=Location(),
        provenance=TzProvenance.CARRIER_UTC,
    )
    (only,) = merge([vague, precise], NUMBERS).events
    assert only.substatus == "delivered.signed"
    assert only.location.country == "DE"
    assert only.sources == ("17track", "cainiao")


def test_untimed_events_merge_on_description_and_sort_first() -> None:
    a = replace(
        event(),
        occurred_at=None,
        occurred_local=None,
        utc_offset_minutes=None,
        tz_provenance=TzProvenance.UNKNOWN,
    )
    b = replace(a, source="17track", raw_description="ARRIVED at sorting-center")
    timed = event(at=T0 - timedelta(days=3), substatus="in_transit.picked_up")
    timeline = merge([timed, a, b], NUMBERS)
    assert [len(e.members) for e in timeline.events] == [2, 1]


def test_one_source_stamping_one_scan_two_ways_under_two_numbers_still_merges() -> None:
    # 17TRACK follows both numbers of the parcel: under one it converts Cainiao's scan right,
    # under the other it reads the wall clock as UTC (8 h off). Both are the carrier's one scan.
    carrier = event(source="cainiao")
    restamped = event(source="17track", at=T0 + timedelta(hours=8), offset=0,
                      provenance=TzProvenance.AGGREGATOR_UTC)  # fmt: skip
    converted = event(source="17track", offset=0, provenance=TzProvenance.AGGREGATOR_UTC,
                      number=NUMBERS[1])  # fmt: skip
    timeline = merge([carrier, restamped, converted], NUMBERS)
    assert [set(e.members) for e in timeline.events] == [{carrier, restamped, converted}]
