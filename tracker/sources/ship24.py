"""Ship24 Tracking API: an aggregator that relays several couriers' scans per parcel.

Shapes read here: tracker results (`{data: {trackings: [...]}}`, from `POST /trackers/track`
and `GET /trackers/{id}/results`) and the webhook push (`{trackings: [...]}` with
`metadata.topic`). One tracking can span several legs: every event carries the number of its
own leg (`eventTrackingNumber`) and the courier that scanned it (`courierCode`).

Times: `occurrenceDatetime` is the courier's naive wall clock; newer payloads add `datetime`
(a UTC instant computed by Ship24, hence `aggregator_utc`), `utcOffset` and `hasNoTime`. The
OpenAPI example gives the last two as the strings "null," and "false," (a spec bug): anything
that is not a real offset or boolean is read as absent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from tracker.model import (
    Location,
    NumberResult,
    Observation,
    Outcome,
    ParseResult,
    ParseWarning,
    SourceEvent,
    Status,
    TrackingState,
    TzProvenance,
)
from tracker.sources import _parse
from tracker.sources._parse import TimeReading
from tracker.sources._postal import (
    as_dict,
    credentials,
    dict_items,
    iso,
    keeping_raw,
    local_with_offset,
    offset_minutes,
    same_number,
    scalar,
)
from tracker.sources.base import RateLimit, SourceSpec
from tracker.sources.http import SourceClient

SOURCE = "ship24"

SPEC = SourceSpec(
    name=SOURCE,
    base_url="https://api.ship24.com/public/v1",
    batch_size=1,  # POST /trackers/track takes one trackingNumber per call
    rate_limit=RateLimit(calls=10, period=1.0),
    auth="header Authorization: Bearer <api key>",
    key_required=True,
)

# Event `statusCode` -> canonical. delivery_delivered and delivery_out_for_delivery are in our
# samples; the others follow Ship24's status page and have not been seen in a payload yet.
CODES: dict[str, str] = {
    "data_order_created": "pre_transit.info_received",
    "data_order_cancelled": "cancelled.order_cancelled",
    "transit_pickup": "in_transit.picked_up",
    "transit_departure": "in_transit.facility_departure",
    "transit_arrival": "in_transit.facility_arrival",
    "transit_customs_submitted": "in_transit.import_customs_processing",
    "transit_customs_inspection": "in_transit.import_customs_processing",
    "transit_customs_released": "in_transit.import_customs_released",
    "transit_customs_held": "exception.held_customs",
    "delivery_out_for_delivery": "out_for_delivery.out_for_delivery",
    "delivery_ready_for_pickup": "available_for_pickup.at_pickup_point",
    "delivery_failed_attempt": "delivery_attempted.other",
    "delivery_delivered": "delivered.delivered",
    "delivery_received_by_recipient": "delivered.delivered",
    "exception_return": "returning.return_initiated",
    "exception_returned": "returned.returned_to_sender",
    "exception_lost": "failed.lost",
    "exception_damage": "exception.damaged",
    "exception_delayed": "exception.delayed",
    "exception_other": "exception.other",
}

# `statusMilestone` is on every event (statusCode is null on "non-significant" ones), so it
# classifies those; its vocabulary is closed and documented.
MILESTONES: dict[str, str] = {
    "pending": "pre_transit.other",
    "info_received": "pre_transit.info_received",
    "in_transit": "in_transit.other",
    "out_for_delivery": "out_for_delivery.out_for_delivery",
    "failed_attempt": "delivery_attempted.other",
    "available_for_pickup": "available_for_pickup.other",
    "delivered": "delivered.delivered",
    "exception": "exception.other",
}

_US_PLACE = re.compile(r"^(?P<city>[^,]+),\s*(?P<state>[A-Z]{2})\s+(?P<zip>\d{5}(?:-\d{4})?)$")
_FLAGS = {"true": True, "false": False}


def fetch(client: SourceClient, numbers: Sequence[str]) -> list[Observation]:
    (key,) = credentials(SOURCE, client.key, 1, "the Ship24 API key")
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
    observations = []
    for number in numbers:
        response = client.request(
            "POST", "trackers/track", json={"trackingNumber": number}, headers=headers
        )
        observations.append(client.observe(response, [number]))
    return observations


def parse(observation: Observation) -> ParseResult:
    return keeping_raw(observation, lambda: _parse_body(observation))


def _parse_body(observation: Observation) -> ParseResult:
    body = _parse.need(SOURCE, _parse.load_json(observation), "$", dict)
    if "trackings" in body:  # webhook push
        trackings = dict_items(SOURCE, body, "trackings", "$")
    else:
        data = body.get("data")
        if data is None and body.get("errors"):
            return _error_result(observation, body)
        data = _parse.need(SOURCE, data, "$.data", dict)
        trackings = dict_items(SOURCE, data, "trackings", "$.data")
    warnings: list[ParseWarning] = []
    events = [
        _event(event, tracking, warnings)
        for index, tracking in enumerate(trackings)
        for event in dict_items(SOURCE, tracking, "events", f"trackings[{index}]")
    ]
    results = _results(observation.numbers, trackings, warnings)
    return ParseResult(tuple(events), tuple(results), tuple(warnings))


# ----------------------------------------------------------------------------- events


def _event(
    event: dict[str, Any], tracking: dict[str, Any], warnings: list[ParseWarning]
) -> SourceEvent:
    shipment = as_dict(tracking.get("shipment"))
    code = scalar(event.get("statusCode"))
    milestone = scalar(event.get("statusMilestone"))
    if code is not None:
        status, sub = _parse.lookup(SOURCE, CODES, code, warnings, "statusCode")
    else:
        status, sub = _parse.lookup(SOURCE, MILESTONES, milestone, warnings, "statusMilestone")
    reading = _time(event)
    signed_by = scalar(as_dict(shipment.get("delivery")).get("signedBy"))
    return SourceEvent(
        source=SOURCE,
        # the leg's own number: a Ship24 tracking strings the origin and last-mile numbers
        source_number=(
            scalar(event.get("eventTrackingNumber"))
            or scalar(event.get("trackingNumber"))
            or scalar(as_dict(tracking.get("tracker")).get("trackingNumber"))
            or ""
        ),
        status=status,
        substatus=sub,
        raw_description=_parse.text(scalar(event.get("status"))) or "",
        raw_status=milestone,
        raw_substatus=scalar(event.get("statusCategory")),
        raw_code=code,
        reporting_carrier=scalar(event.get("courierCode")),
        location=_location(scalar(event.get("location"))),
        occurred_local=reading.local,
        utc_offset_minutes=reading.offset_minutes,
        occurred_at=reading.utc,
        tz_provenance=reading.provenance,
        raw_time=reading.raw,
        shipment_ref=scalar(shipment.get("shipmentId")),
        signed_by=signed_by if status is Status.DELIVERED else None,
    )


def _location(value: str | None) -> Location:
    text = _parse.text(value)
    if text is None:
        return Location()
    match = _US_PLACE.match(text)
    if match is None:
        return Location(text=text)
    # "SAN RAFAEL, CA 94901": city, state and ZIP; the country is not stated, so not guessed
    return Location(
        text=text, city=match["city"].strip(), state=match["state"], postal_code=match["zip"]
    )


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _FLAGS.get(value.strip().rstrip(",").strip().lower())
    return None


def _time(event: dict[str, Any]) -> TimeReading:
    """Wall clock from `occurrenceDatetime`, instant from `datetime`; an offset is kept only
    when it agrees with both (Ship24 computes the instant itself: aggregator_utc)."""
    fields = ("occurrenceDatetime", "datetime", "utcOffset", "hasNoTime")
    raw = " | ".join(f"{k}={event[k]}" for k in fields if isinstance(event.get(k), str)) or None
    local = iso(event.get("occurrenceDatetime"), TzProvenance.AGGREGATOR_UTC)
    instant = iso(event.get("datetime"), TzProvenance.AGGREGATOR_UTC)
    if _flag(event.get("hasNoTime")):
        # a date without a time: the midnight wall clock is a placeholder, no instant exists
        return TimeReading(local=local.local or instant.local, raw=raw)
    offset = offset_minutes(event.get("utcOffset"))
    if offset is None:
        offset = local.offset_minutes if local.offset_minutes is not None else None
    if instant.utc is not None:
        wall = local.local or instant.local
        agree = (
            wall is not None
            and offset is not None
            and (wall - timedelta(minutes=offset) == instant.utc.replace(tzinfo=None))
        )
        return TimeReading(
            local=wall,
            offset_minutes=offset if agree else None,
            utc=instant.utc,
            provenance=TzProvenance.AGGREGATOR_UTC,
            raw=raw,
        )
    if local.local is not None and offset is not None:
        return local_with_offset(local.local, offset, TzProvenance.AGGREGATOR_UTC, raw)
    return TimeReading(local=local.local, raw=raw)


# ----------------------------------------------------------------------------- answers


def _numbers_of(tracking: dict[str, Any]) -> tuple[str | None, list[str]]:
    tracker_number = scalar(as_dict(tracking.get("tracker")).get("trackingNumber"))
    shipment = as_dict(tracking.get("shipment"))
    numbers = shipment.get("trackingNumbers")
    aliases = [
        n
        for n in (
            scalar(as_dict(item).get("tn"))
            for item in (numbers if isinstance(numbers, list) else [])
        )
        if n
    ]
    return tracker_number, aliases


def _results(
    requested: Sequence[str], trackings: list[dict[str, Any]], warnings: list[ParseWarning]
) -> list[NumberResult]:
    if not requested:  # a push: report each tracking for its own number
        requested = [n for n in (_numbers_of(t)[0] for t in trackings) if n]
    results = []
    for number in dict.fromkeys(requested):
        mine = [t for t in trackings if any(same_number(number, n) for n in _flat(t))]
        if mine:
            results.append(_found(number, mine, warnings))
        elif len(trackings) == 1 and len(requested) == 1:
            answered = _numbers_of(trackings[0])[0]
            results.append(NumberResult(SOURCE, number, Outcome.OTHER_NUMBER, answered=answered))
        else:
            results.append(
                NumberResult(
                    SOURCE,
                    number,
                    Outcome.NOT_FOUND,
                    tracking_state=TrackingState.PENDING,
                    message="no tracking for this number in the answer",
                )
            )
    return results


def _flat(tracking: dict[str, Any]) -> list[str]:
    first, aliases = _numbers_of(tracking)
    return [n for n in (first, *aliases) if n]


def _found(
    number: str, trackings: list[dict[str, Any]], warnings: list[ParseWarning]
) -> NumberResult:
    shipment = as_dict(trackings[0].get("shipment"))
    milestone = scalar(shipment.get("statusMilestone"))
    status = None
    if milestone is not None:
        status = _parse.lookup(SOURCE, MILESTONES, milestone, warnings, "statusMilestone")[0]
    has_events = any(isinstance(t.get("events"), list) and t["events"] for t in trackings)
    if not has_events and milestone in (None, "pending"):
        # Ship24 creates the tracker at once but has nothing from any courier yet
        return NumberResult(
            SOURCE,
            number,
            Outcome.NOT_FOUND,
            answered=_numbers_of(trackings[0])[0],
            tracking_state=TrackingState.PENDING,
            shipments=len(trackings),
            message="tracker created, no courier data yet",
        )
    return NumberResult(
        SOURCE,
        number,
        Outcome.FOUND,
        answered=_numbers_of(trackings[0])[0],
        shipments=len(trackings),
        status=status,
    )


def _error_result(observation: Observation, body: dict[str, Any]) -> ParseResult:
    """An error body (`{errors: [{code, message}], data: null}`): nothing is known about the
    numbers asked, so each is reported not found with the source's own words."""
    errors = body.get("errors")
    items = errors if isinstance(errors, list) else [errors]
    message = "; ".join(
        f"{scalar(as_dict(e).get('code'))}: {scalar(as_dict(e).get('message'))}" for e in items
    )
    results = tuple(
        NumberResult(
            SOURCE, n, Outcome.NOT_FOUND, message=message, tracking_state=TrackingState.PENDING
        )
        for n in observation.numbers
    )
    return ParseResult((), results, (ParseWarning(SOURCE, f"error answer: {message}"),))
