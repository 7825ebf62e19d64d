"""Builders for orders, timelines and parcel states, so pure-stage tests read like stories."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from tracker.model import (
    DeliveryVerdict,
    Destination,
    Location,
    NumberResult,
    Order,
    Outcome,
    Parcel,
    SourceEvent,
    Status,
    Timeline,
    TimelineEvent,
    TzProvenance,
    Verdict,
    status_of,
)
from tracker.pipeline import ParcelState

NUMBER = "LP00512345678901"
LAST_MILE_NUMBER = "00340434161234567890"
SHIPPED = datetime(2026, 10, 1, 1, 0, tzinfo=UTC)


def order(**changes: object) -> Order:
    fields: dict[str, object] = {
        "id": "A-1001",
        "destination": Destination("DE", "10115", "Berlin"),
        "shipped_at": SHIPPED,
        "promised_by": date(2026, 11, 10),
        "timezone": "Europe/Berlin",
    }
    fields.update(changes)
    return Order(**fields)  # type: ignore[arg-type]


def parcel(number: str = NUMBER, *others: str) -> Parcel:
    return Parcel(number, others or (LAST_MILE_NUMBER,))


def at(days: float, hours: float = 0) -> datetime:
    """An instant `days` (+ `hours`) after the seller shipped."""
    return SHIPPED + timedelta(days=days, hours=hours)


def event(
    substatus: str,
    when: datetime | None,
    *,
    country: str | None = None,
    postal_code: str | None = None,
    sources: Iterable[str] = ("cainiao",),
    description: str = "",
    provenance: TzProvenance = TzProvenance.CARRIER_OFFSET,
    number: str = NUMBER,
    raw_code: str | None = None,
    shipment_ref: str | None = None,
    local: datetime | None = None,
    ident: str | None = None,
) -> TimelineEvent:
    """A merged event seen identically by every source in `sources`."""
    status = status_of(substatus)
    names = tuple(sources)
    location = Location(country=country, postal_code=postal_code)
    local = local or (when.replace(tzinfo=None) if when else None)
    members = tuple(
        SourceEvent(
            source=name,
            source_number=number,
            status=status,
            substatus=substatus,
            raw_description=description,
            raw_code=raw_code,
            location=location,
            occurred_local=local,
            occurred_at=when,
            tz_provenance=provenance,
            shipment_ref=shipment_ref,
        )
        for name in names
    )
    key = f"{substatus}|{when}|{country}|{description}|{names}|{shipment_ref}"
    return TimelineEvent(
        id=ident or "ev-" + hashlib.sha256(key.encode()).hexdigest()[:12],
        status=status,
        substatus=substatus,
        description=description,
        location=location,
        occurred_at=when,
        occurred_local=local,
        utc_offset_minutes=0 if when else None,
        tz_provenance=provenance,
        sources=names,
        numbers=(number,),
        raw_codes=(raw_code,) if raw_code else (),
        members=members,
    )


def timeline(*events: TimelineEvent) -> Timeline:
    """Events oldest first, as merge hands them over."""
    ordered = sorted(events, key=lambda e: e.occurred_at or datetime.min.replace(tzinfo=UTC))
    return Timeline(tuple(ordered), (NUMBER, LAST_MILE_NUMBER))


def journey(
    sources: Iterable[str] = ("cainiao",), delivered_day: float = 12
) -> list[TimelineEvent]:
    """A clean CN -> DE journey ending in one delivery at the order's address."""
    names = tuple(sources)
    steps = [
        ("in_transit.picked_up", at(0, 5), "CN", "Picked up by carrier"),
        ("in_transit.origin_facility", at(0, 12), "CN", "Arrived at sorting center"),
        ("in_transit.export_customs_cleared", at(1), "CN", "Export customs clearance complete"),
        ("in_transit.linehaul_departed", at(2), "CN", "Departed from departure country"),
        ("in_transit.linehaul_arrived", at(6), "DE", "Arrived at destination country"),
        ("in_transit.import_customs_released", at(7), "DE", "Import customs clearance complete"),
        ("in_transit.handed_to_last_mile", at(8), "DE", "Handed over to last mile carrier"),
        ("out_for_delivery.out_for_delivery", at(delivered_day, -4), "DE", "Out for delivery"),
    ]
    events = [event(s, w, country=c, description=d, sources=names) for s, w, c, d in steps]
    events.append(delivered(at(delivered_day), sources=names))
    return events


def delivered(when: datetime, **kwargs: object) -> TimelineEvent:
    fields: dict[str, object] = {
        "country": "DE",
        "postal_code": "10115",
        "description": "Delivered to the recipient",
    }
    fields.update(kwargs)
    return event("delivered.delivered", when, **fields)  # type: ignore[arg-type]


def found(source: str, requested: str = NUMBER, **changes: object) -> NumberResult:
    fields: dict[str, object] = {"source": source, "requested": requested, "outcome": Outcome.FOUND}
    fields.update(changes)
    return NumberResult(**fields)  # type: ignore[arg-type]


def state(
    tl: Timeline,
    verdict: DeliveryVerdict | None = None,
    *,
    number: str = NUMBER,
    status: Status | None = None,
) -> ParcelState:
    latest = tl.latest
    return ParcelState(
        parcel=parcel(number),
        timeline=tl,
        verdict=verdict or DeliveryVerdict(Verdict.NONE),
        status=status or (latest.status if latest else Status.NOT_FOUND),
        substatus=latest.substatus if latest else "not_found.not_yet_available",
        results=(),
    )
