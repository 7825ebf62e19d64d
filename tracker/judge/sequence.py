"""`sequence_impossible`: delivered before the parcel could have got there.

Four checks, each a small function: a cross-border parcel with no destination-side event before
the delivery; delivered before the seller shipped; delivered before the carrier accepted it;
delivered faster than any carrier moves a parcel between those countries.
"""

from __future__ import annotations

from datetime import timedelta

from tracker.judge.case import Case, after, aware, country, instant, slack, sources_of, when
from tracker.model import Reason, Rule, Status, Timeline, TimelineEvent

DESTINATION_SIDE: frozenset[str] = frozenset(
    {
        "in_transit.linehaul_arrived",
        "in_transit.import_customs_processing",
        "in_transit.import_customs_released",
        "in_transit.handed_to_last_mile",
    }
)
"""Sub-statuses that only happen once a parcel reached its destination country."""

LAST_MILE: frozenset[Status] = frozenset(
    {Status.OUT_FOR_DELIVERY, Status.AVAILABLE_FOR_PICKUP, Status.DELIVERY_ATTEMPTED}
)
"""Statuses of the last mile: without a location they still place the parcel at destination."""

LEFT_ORIGIN: frozenset[str] = frozenset(
    {
        "in_transit.export_customs_started",
        "in_transit.export_customs_cleared",
        "in_transit.linehaul_departed",
        "in_transit.transit_country",
    }
)
"""Sub-statuses that make a parcel cross-border even when no event names a country (Cainiao)."""

ACCEPTANCE: frozenset[str] = frozenset({"in_transit.picked_up", "in_transit.accepted"})


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


REGIONS: dict[str, frozenset[str]] = {
    "europe": _codes(
        "AT BE BG CH CY CZ DE DK EE ES FI FR GB GR HR HU IE IS IT LI LT LU LV MT NL NO PL PT RO"
        " SE SI SK"
    ),
    "north_america": _codes("US CA MX"),
    "east_asia": _codes("CN HK MO TW JP KR"),
    "southeast_asia": _codes("SG MY TH VN PH ID"),
    "oceania": _codes("AU NZ"),
}

MIN_TRANSIT: dict[str, timedelta] = {
    # Between regions even international express (air, export and import clearance, last mile)
    # needs about two days door to door; marketplace parcels never beat that.
    "intercontinental": timedelta(days=2),
    # Across a border within a region (or between unlisted countries, where we can't tell the
    # distance) next-day road express exists; delivery within half a day does not.
    "regional": timedelta(hours=12),
}

Found = tuple[str, list[TimelineEvent]] | None


def origin_country(timeline: Timeline) -> str | None:
    """The country of the earliest event that names one."""
    for event in timeline.events:
        found = country(event.location.country)
        if found:
            return found
    return None


def _cross_border(case: Case) -> str | None:
    """The origin country when it differs from the destination, else None."""
    origin = origin_country(case.timeline)
    dest = case.destination
    if origin is None and any(e.substatus in LEFT_ORIGIN for e in case.others):
        return "abroad"
    return origin if origin and dest and origin != dest else None


def _destination_side(event: TimelineEvent, dest: str | None) -> bool:
    found = country(event.location.country)
    if found:
        return found == dest
    return event.substatus in DESTINATION_SIDE or event.status in LAST_MILE


def no_arrival(case: Case) -> Found:
    origin = _cross_border(case)
    if origin is None:
        return None
    for event in case.others:
        if not after(event, case.claim) and _destination_side(event, case.destination):
            return None
    detail = (
        f"parcel from {origin} delivered with no earlier arrival, import-customs or "
        f"{case.destination} event"
    )
    return detail, [case.claim]


def before_shipping(case: Case) -> Found:
    delivered, shipped = instant(case.claim), aware(case.order.shipped_at)
    if delivered is None or delivered >= shipped - slack(case.claim):
        return None
    detail = f"delivered at {when(delivered)}, before the seller shipped at {when(shipped)}"
    return detail, [case.claim]


def before_acceptance(case: Case) -> Found:
    accepted = [e for e in case.others if e.substatus in ACCEPTANCE and instant(e) is not None]
    if not accepted:
        return None
    first = min(accepted, key=lambda e: instant(e) or aware(case.order.shipped_at))
    if not after(first, case.claim):
        return None
    detail = (
        f"delivered at {when(instant(case.claim))}, before the carrier accepted the parcel "
        f"at {when(instant(first))}"
    )
    return detail, [case.claim, first]


def _region(code: str | None) -> str | None:
    return next((name for name, members in REGIONS.items() if code in members), None)


def minimum_transit(origin: str | None, dest: str | None) -> timedelta:
    a, b = _region(origin), _region(dest)
    return MIN_TRANSIT["intercontinental" if a and b and a != b else "regional"]


def too_fast(case: Case) -> Found:
    origin = _cross_border(case)
    delivered = instant(case.claim)
    scans = [
        e
        for e in case.others
        if e.status is Status.IN_TRANSIT and instant(e) is not None and not after(e, case.claim)
    ]
    if origin is None or delivered is None or not scans:
        return None
    first = min(scans, key=lambda e: instant(e) or delivered)
    minimum = minimum_transit(origin, case.destination)
    took = delivered - (instant(first) or delivered)
    if took + slack(case.claim, first) >= minimum:
        return None
    hours = max(took.total_seconds(), 0) / 3600
    detail = (
        f"delivered {hours:.0f} h after the first scan in transit; a parcel from {origin} to "
        f"{case.destination} needs at least {minimum.total_seconds() / 3600:.0f} h"
    )
    return detail, [first, case.claim]


CHECKS = (no_arrival, before_shipping, before_acceptance, too_fast)


def sequence_impossible(case: Case) -> list[Reason]:
    """Delivered before it could have been: no arrival, before shipping, or too fast."""
    reasons = []
    for check in CHECKS:
        found = check(case)
        if found:
            detail, events = found
            ids = tuple(e.id for e in events)
            reasons.append(Reason(Rule.SEQUENCE_IMPOSSIBLE, detail, sources_of(events), ids))
    return reasons
