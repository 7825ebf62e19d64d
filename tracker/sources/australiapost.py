"""Australia Post Shipping & Tracking API (`GET /shipping/v1/track?tracking_ids=a,b,...`).

`tracking_results[]{tracking_id, status?, errors[]?, trackable_items[]}`, and the items nest
two ways: a consignment with `items[]{article_id, events[]}`, or an article directly with
`events[]`. Both are read. Events have no code, only a description (mapped by exact text,
then by a known prefix) and a free-text location ("BRISBANE QLD", "CHICAGO (US)",
"US-60199, UNITED STATES", "NZ"). A per-result `errors[]` ESB-10001 is not found.

Time-zone trap: every event carries `+11:00`, even scans made in Chicago or Auckland (and in
Brisbane, which keeps +10:00 all year). The offset is what Australia Post printed, so it is
kept as given (carrier_offset) and the instant it implies is the carrier's; the normaliser's
cross-source checks are what catch a scan that cannot have happened at that hour.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
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
)
from tracker.sources import _parse
from tracker.sources._postal import (
    answer,
    as_dict,
    basic_auth,
    batches,
    credentials,
    dict_items,
    iso,
    keeping_raw,
    not_found,
    same_number,
    scalar,
)
from tracker.sources.base import RateLimit, SourceSpec
from tracker.sources.http import SourceClient

SOURCE = "australiapost"
SPEC = SourceSpec(
    name=SOURCE,
    base_url="https://digitalapi.auspost.com.au/shipping/v1",
    batch_size=10,  # tracking_ids takes a comma list of up to 10 ids
    rate_limit=RateLimit(calls=10, period=60.0),  # the track service's 10 calls a minute
    auth="header Account-Number + HTTP basic auth (key 'account_number:api_key:password')",
    key_required=True,
)

# event description (lower case, exact) -> canonical
CODES: dict[str, str] = {
    "shipping information received by australia post": "pre_transit.info_received",
    "shipping information approved by australia post": "pre_transit.manifested",
    "received by australia post": "in_transit.accepted",
    "received item from sender (outbound)": "in_transit.accepted",
    "arrived at facility": "in_transit.facility_arrival",
    "item processed at facility": "in_transit.facility_arrival",
    "processed at export facility": "in_transit.origin_facility",
    "despatch parcels from export facility": "in_transit.facility_departure",
    "cleared and awaiting international departure": "in_transit.export_customs_cleared",
    "processed by air carrier": "in_transit.other",
    "arrived awaiting clearance (inbound)": "in_transit.import_customs_processing",
    "item is in customs": "in_transit.import_customs_processing",
    "item cleared by customs": "in_transit.import_customs_released",
    "arrived in new zealand": "in_transit.linehaul_arrived",
    "onboard for delivery": "out_for_delivery.out_for_delivery",
    "on board for delivery": "out_for_delivery.out_for_delivery",
    "delivered": "delivered.delivered",
    "delivered - left in a safe place": "delivered.safe_place",
    "awaiting collection": "available_for_pickup.at_post_office",
    "possible delay": "exception.delayed",
    "article damaged": "exception.damaged",
    "unsuccessful delivery": "delivery_attempted.other",
}

# description prefixes (lower case) -> canonical, for texts that end with a place name
PREFIXES: tuple[tuple[str, str], ...] = (
    ("in transit to next facility in ", "in_transit.facility_departure"),
)

# item/result `status` (karrio's list, carriers.md 4.8) -> canonical, for the summary only
ITEM_STATUSES: dict[str, str] = {
    "unknown": "unknown.other",
    "in transit": "in_transit.other",
    "delivered": "delivered.delivered",
    "delivered in full": "delivered.delivered",
    "on board for delivery": "out_for_delivery.out_for_delivery",
    "awaiting collection": "available_for_pickup.at_post_office",
    "ready for pickup": "available_for_pickup.at_pickup_point",
    "possible delay": "exception.delayed",
    "to be re-delivered": "delivery_attempted.rescheduled",
    "held by courier": "exception.held_by_carrier",
    "article damaged": "exception.damaged",
    "cancelled": "cancelled.order_cancelled",
    "cannot be delivered": "delivery_attempted.other",
    "unsuccessful delivery": "delivery_attempted.other",
}

# per-result error code -> outcome (ESB-10001 "Invalid tracking ID" covers unknown ids too)
ERROR_CODES: dict[str, Outcome] = {"ESB-10001": Outcome.NOT_FOUND}

STATES = frozenset({"NSW", "VIC", "QLD", "SA", "WA", "TAS", "NT", "ACT"})
_PLACES: tuple[re.Pattern[str], ...] = (
    re.compile(r"^(?P<city>.+?)\s+(?P<state>[A-Z]{2,3})$"),  # BRISBANE QLD
    re.compile(r"^(?P<city>.+?)\s*\((?P<country>[A-Z]{2})\)$"),  # CHICAGO (US)
    re.compile(r"^(?P<country>[A-Z]{2})-(?P<postal>[0-9A-Z]+),\s*.+$"),  # US-60199, UNITED STATES
    re.compile(r"^(?P<country>[A-Z]{2})$"),  # NZ
)


def fetch(client: SourceClient, numbers: Sequence[str]) -> list[Observation]:
    account, user, password = credentials(
        SOURCE, client.key, 3, "'account_number:api_key:password'"
    )
    headers = {
        "Account-Number": account,
        "Authorization": basic_auth(user, password),
        "Accept": "application/json",
    }
    observations = []
    for batch in batches(numbers, SPEC.batch_size):
        response = client.request(
            "GET", "track", params={"tracking_ids": ",".join(batch)}, headers=headers
        )
        observations.append(client.observe(response, batch))
    return observations


def parse(observation: Observation) -> ParseResult:
    return keeping_raw(observation, lambda: _parse_body(observation))


def _parse_body(observation: Observation) -> ParseResult:
    body = _parse.need(SOURCE, _parse.load_json(observation), "$", dict)
    warnings: list[ParseWarning] = []
    events: list[SourceEvent] = []
    answered: dict[str, NumberResult] = {}
    for index, result in enumerate(dict_items(SOURCE, body, "tracking_results", "$")):
        path = f"$.tracking_results[{index}]"
        tracking_id = scalar(result.get("tracking_id")) or ""
        mine = _result_events(result, tracking_id, path, warnings)
        events.extend(mine)
        answered[tracking_id] = _summary(result, tracking_id, mine, path, warnings)
    results = _results(observation.numbers, answered)
    return ParseResult(tuple(events), tuple(results), tuple(warnings))


def _result_events(
    result: dict[str, Any], tracking_id: str, path: str, warnings: list[ParseWarning]
) -> list[SourceEvent]:
    events = []
    for i, trackable in enumerate(dict_items(SOURCE, result, "trackable_items", path)):
        tpath = f"{path}.trackable_items[{i}]"
        articles = dict_items(SOURCE, trackable, "items", tpath) or [trackable]
        for article in articles:
            number = scalar(article.get("article_id")) or tracking_id
            for event in dict_items(SOURCE, article, "events", tpath):
                events.append(_event(number, event, warnings))
    return events


def _summary(
    result: dict[str, Any],
    tracking_id: str,
    events: list[SourceEvent],
    path: str,
    warnings: list[ParseWarning],
) -> NumberResult:
    errors = dict_items(SOURCE, result, "errors", path)
    if errors and not events:
        codes = [scalar(e.get("code")) for e in errors]
        message = "; ".join(f"{scalar(e.get('code'))} {scalar(e.get('name'))}" for e in errors)
        outcome = next((ERROR_CODES[c] for c in codes if c in ERROR_CODES), Outcome.NOT_FOUND)
        return not_found(SOURCE, tracking_id, message, outcome)
    status = _item_status(result, warnings)
    trackables = dict_items(SOURCE, result, "trackable_items", path)
    items = sum(len(dict_items(SOURCE, t, "items", path)) or 1 for t in trackables)
    return answer(SOURCE, tracking_id, tracking_id, status=status, shipments=max(items, 1))


def _item_status(result: dict[str, Any], warnings: list[ParseWarning]) -> Status | None:
    """The result's `status`, else the first item's (the top-level one can be missing)."""
    raw = scalar(result.get("status"))
    if raw is None:
        for trackable in result.get("trackable_items") or []:
            items = as_dict(trackable).get("items")
            first = as_dict(items[0]) if isinstance(items, list) and items else as_dict(trackable)
            raw = scalar(first.get("status"))
            break
    if raw is None:
        return None
    return _parse.lookup(SOURCE, ITEM_STATUSES, raw.lower(), warnings, "item status")[0]


def _results(requested: Sequence[str], answered: dict[str, NumberResult]) -> list[NumberResult]:
    if not requested:
        return list(answered.values())
    results, claimed = [], set()
    for number in requested:
        key = next((k for k in answered if same_number(number, k)), None)
        only = next(iter(answered.values())) if len(answered) == 1 else None
        if (
            key is None
            and len(requested) == 1
            and only is not None
            and only.outcome is Outcome.FOUND
        ):
            # one number asked, one other item answered: that is the answer for the number
            # asked, given for another one (the judge's identity rule must see it)
            [(other, result)] = answered.items()
            claimed.add(other)
            results.append(replace(result, requested=number, outcome=Outcome.OTHER_NUMBER))
        elif key is None:
            results.append(not_found(SOURCE, number, "absent from the answer"))
        else:
            claimed.add(key)
            results.append(replace(answered[key], requested=number))
    # the other items of the answer (one consignment), so that their events are told apart
    rest = [r for k, r in answered.items() if k not in claimed]
    results += [replace(r, message="not requested") for r in rest]
    return results


def _event(number: str, event: dict[str, Any], warnings: list[ParseWarning]) -> SourceEvent:
    description = _parse.text(scalar(event.get("description")))
    status, sub = _classify(description, warnings)
    reading = iso(event.get("date"))  # +11:00 as printed, even abroad: see the module docstring
    return SourceEvent(
        source=SOURCE,
        source_number=number,
        status=status,
        substatus=sub,
        raw_description=description or "",
        reporting_carrier=SOURCE,
        location=_location(_parse.text(scalar(event.get("location")))),
        occurred_local=reading.local,
        utc_offset_minutes=reading.offset_minutes,
        occurred_at=reading.utc,
        tz_provenance=reading.provenance,
        raw_time=reading.raw,
    )


def _classify(description: str | None, warnings: list[ParseWarning]) -> tuple[Status, str]:
    key = description.lower() if description else None
    if key is not None and key not in CODES:
        for prefix, sub in PREFIXES:
            if key.startswith(prefix):
                return _parse.lookup(SOURCE, {key: sub}, key, warnings)
    return _parse.lookup(SOURCE, CODES, key, warnings, "description")


def _location(text: str | None) -> Location:
    if text is None:
        return Location()
    for pattern in _PLACES:
        match = pattern.match(text)
        if match is None:
            continue
        parts = match.groupdict()
        state = parts.get("state")
        if "state" in parts and state not in STATES:
            continue  # "Transit Scan" and the like are not places
        country = parts.get("country") or ("AU" if state else None)
        return Location(
            text=text,
            city=parts.get("city"),
            state=state,
            postal_code=parts.get("postal"),
            country=country,
        )
    return Location(text=text)
