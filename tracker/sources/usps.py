"""USPS: Tracking API v3 (JSON, OAuth bearer) and, for old saved data, the legacy Web Tools
TrackV2 XML (retired 2026-01-25; it allowed 10 numbers per call, v3 takes one).

Time zones (carriers.md §4.1, G1): v3 `eventTimestamp` is local wall clock with no offset and
truncated to minutes; `GMTTimestamp` is the instant (to the second) and `GMTOffset` the offset.
The instant comes from `GMTTimestamp` -- never from `eventTimestamp` read as UTC (karrio's and
Magento's 5-hour bug). Legacy XML has no zone at all and stays naive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from xml.etree.ElementTree import Element

from tracker.errors import UnparseableResponse
from tracker.model import Observation, Outcome, ParseResult, ParseWarning, SourceEvent, Status
from tracker.sources import _carrier as C
from tracker.sources._parse import get_list, load_json, load_xml, need, text
from tracker.sources.base import RateLimit, SourceSpec

if TYPE_CHECKING:
    from tracker.sources.http import SourceClient

SOURCE = "usps"

SPEC = SourceSpec(
    name=SOURCE,
    base_url="https://apis.usps.com/tracking/v3",
    batch_size=1,  # v3: one number per GET
    # ~60 requests/hour per application, token requests included (user reports, carriers.md §4.1)
    rate_limit=RateLimit(calls=60, period=3600.0),
    auth="OAuth2 client-credentials bearer token (scope `tracking`) in `Authorization: Bearer`",
    key_required=True,
    formats=("json", "xml"),
)

# eventCode (Pub 199 scan codes) -> sub-status; carriers.md §4.1 and §10.3 "USPS".
CODES: dict[str, str] = {
    "MA": "pre_transit.manifested",
    "TM": "pre_transit.manifested",
    "PA": "pre_transit.manifested",
    # GX, A1, T1, TL: not in carriers.md; meanings taken from the eventType text USPS sends
    # beside them in the v3 sample ("Shipping Label Created, USPS Awaiting Item", "Arrived at /
    # Departed USPS Regional Facility", "In Transit to Next Facility").
    "GX": "pre_transit.label_created",
    "03": "in_transit.accepted",
    "43": "in_transit.picked_up",
    "80": "in_transit.picked_up",
    "07": "in_transit.facility_arrival",
    "10": "in_transit.facility_arrival",
    "19": "in_transit.facility_arrival",
    "41": "in_transit.facility_arrival",
    "81": "in_transit.facility_arrival",
    "A1": "in_transit.facility_arrival",
    "PC": "in_transit.facility_departure",
    "EF": "in_transit.facility_departure",
    "SF": "in_transit.facility_departure",
    "82": "in_transit.facility_departure",
    "T1": "in_transit.facility_departure",
    "TL": "in_transit.other",
    "42": "in_transit.handed_to_last_mile",
    "06": "in_transit.forwarded",
    "08": "exception.missorted",
    "15": "exception.missorted",
    "DX": "exception.other",
    "OF": "out_for_delivery.out_for_delivery",
    "14": "available_for_pickup.at_post_office",
    "16": "available_for_pickup.at_post_office",
    "02": "delivery_attempted.notice_left",
    "52": "delivery_attempted.notice_left",
    "53": "delivery_attempted.access_issue",
    "54": "delivery_attempted.access_issue",
    "55": "delivery_attempted.access_issue",
    "30": "delivery_attempted.access_issue",
    "56": "delivery_attempted.recipient_unavailable",
    "51": "delivery_attempted.business_closed",
    "71": "delivery_attempted.rescheduled",
    "04": "returning.refused",
    "05": "returning.undeliverable",
    "21": "returning.undeliverable",
    "22": "returning.undeliverable",
    "23": "returning.undeliverable",
    "24": "returning.undeliverable",
    "25": "returning.undeliverable",
    "26": "returning.undeliverable",
    "28": "returning.undeliverable",
    "29": "returning.undeliverable",
    "27": "returning.unclaimed",
    "31": "returning.unclaimed",
    "09": "returning.return_initiated",
    "44": "returning.return_initiated",
    "11": "failed.undeliverable",
    "17": "delivered.to_agent",
    "01": "delivered.delivered",
}

# A plain "Delivered" (01) is refined by its text: a locker or mailbox is not the buyer's hand (G4).
DELIVERED_TEXT: tuple[tuple[str, str], ...] = (
    ("parcel locker", "delivered.to_locker"),
    ("mailbox", "delivered.to_mailbox"),
    ("front door", "delivered.safe_place"),
    ("porch", "delivered.safe_place"),
)

# statusCategory / StatusCategory -> the parcel's summary status (NumberResult.status).
CATEGORIES: dict[str, Status] = {
    "pre-shipment": Status.PRE_TRANSIT,
    "accepted": Status.IN_TRANSIT,
    "in transit": Status.IN_TRANSIT,
    "out for delivery": Status.OUT_FOR_DELIVERY,
    "available for pickup": Status.AVAILABLE_FOR_PICKUP,
    "delivery attempt": Status.DELIVERY_ATTEMPTED,
    "alert": Status.EXCEPTION,
    "delivered": Status.DELIVERED,
}

# Error text -> per-number outcome (v3 answers HTTP 400 with "12: A status update is not yet
# available..."; TrackV2 said "could not locate the tracking information").
ERRORS: tuple[tuple[str, Outcome], ...] = (
    ("not yet available", Outcome.NOT_FOUND),
    ("could not locate", Outcome.NOT_FOUND),
    ("not found", Outcome.NOT_FOUND),
    ("invalid", Outcome.INVALID),
    ("incorrect", Outcome.INVALID),
)


def fetch(client: SourceClient, numbers: Sequence[str]) -> list[Observation]:
    """One GET per number. 400/404 bodies carry the per-number answer (not found, invalid)."""
    headers = {**C.bearer(client), "Accept": "application/json"}
    observations = []
    for batch in C.batches(numbers, SPEC.batch_size):
        response = client.request(
            "GET",
            f"tracking/{quote(batch[0], safe='')}",
            params={"expand": "DETAIL"},
            headers=headers,
            ok_statuses=(400, 404),
        )
        observations.append(client.observe(response, batch))
    return observations


def parse(observation: Observation) -> ParseResult:
    with C.keeping_raw(observation):
        if C.is_xml(observation.payload):
            return _parse_xml(load_xml(observation), observation.numbers)
        body = need(SOURCE, load_json(observation), "$", dict)
        return _parse_json(body, observation.numbers)


# ----------------------------------------------------------------------------- v3 JSON


def _parse_json(body: dict[str, Any], requested: Sequence[str]) -> ParseResult:
    warnings: list[ParseWarning] = []
    if "error" in body and "trackingNumber" not in body:
        answer = _error_answer(body.get("error"), "$.error")
        return ParseResult(
            results=C.results(SOURCE, requested, [answer], warnings), warnings=tuple(warnings)
        )
    if "trackingNumber" not in body and "trackingEvents" not in body:
        raise UnparseableResponse(SOURCE, "neither trackingNumber nor error", field="$")
    number = text(body.get("trackingNumber")) or ""
    owner = number or (requested[0] if len(requested) == 1 else "")
    items = get_list(SOURCE, body, "trackingEvents", "$")
    events = tuple(
        _v3_event(need(SOURCE, item, f"$.trackingEvents[{i}]", dict), owner, warnings)
        for i, item in enumerate(items)
    )
    answer = C.Answer(
        number,
        Outcome.FOUND,
        status=_category(body.get("statusCategory")),
        message=text(body.get("status")),
    )
    return ParseResult(events, C.results(SOURCE, requested, [answer], warnings), tuple(warnings))


def _error_answer(error: Any, path: str) -> C.Answer:
    error = need(SOURCE, error, path, dict)
    listed = error.get("errors")
    details = [e for e in listed if isinstance(e, dict)] if isinstance(listed, list) else []
    parts = [error.get("message"), *(d.get("title") for d in details)]
    message = C.joined((text(p) or "").rstrip(" -") for p in parts)
    lowered = message.lower()
    for keyword, outcome in ERRORS:
        if keyword in lowered:
            return C.Answer("", outcome, message=message)
    raise UnparseableResponse(SOURCE, f"unrecognised error: {message[:200]!r}", field=path)


def _v3_event(item: dict[str, Any], number: str, warnings: list[ParseWarning]) -> SourceEvent:
    code = text(item.get("eventCode"))
    description = text(item.get("eventType")) or ""
    status, substatus = _classify(code, description, warnings)
    local = C.iso(item.get("eventTimestamp"))
    gmt = C.iso(item.get("GMTTimestamp"))
    raw = C.raw_join(
        eventTimestamp=item.get("eventTimestamp"),
        GMTTimestamp=item.get("GMTTimestamp"),
        GMTOffset=item.get("GMTOffset"),
    )
    if gmt.utc is None and local.utc is not None:
        when = local  # an eventTimestamp that carries its own offset needs nothing else
    else:
        when = C.combine(
            local.local, gmt.utc, C.offset_minutes(item.get("GMTOffset")), raw, warnings, SOURCE
        )
    return SourceEvent(
        source=SOURCE,
        source_number=number,
        status=status,
        substatus=substatus,
        raw_description=description,
        raw_status=text(item.get("actionCode")),
        raw_substatus=text(item.get("reasonCode")),
        raw_code=code,
        reporting_carrier=SOURCE,
        location=C.location(
            item.get("eventCity"),
            item.get("eventState"),
            item.get("eventZIP"),
            item.get("eventCountry"),
        ),
        occurred_local=when.local,
        utc_offset_minutes=when.offset_minutes,
        occurred_at=when.utc,
        tz_provenance=when.provenance,
        raw_time=raw,
        signed_by=text(item.get("name")),
    )


def _classify(
    code: str | None,
    description: str,
    warnings: list[ParseWarning],
) -> tuple[Status, str]:
    status, substatus = C.classify(SOURCE, CODES, code, warnings, "eventCode")
    if substatus == "delivered.delivered":
        return C.refine(substatus, description, DELIVERED_TEXT)
    return status, substatus


def _category(value: Any) -> Status | None:
    return CATEGORIES.get((text(value) or "").lower())


# ----------------------------------------------------------------------------- TrackV2 XML


def _parse_xml(root: Element, requested: Sequence[str]) -> ParseResult:
    if C.tag(root) == "Error":
        problem = C.child_text(root, "Description") or "error document"
        raise UnparseableResponse(SOURCE, f"TrackV2 error: {problem}", field="Error")
    if C.tag(root) != "TrackResponse":
        raise UnparseableResponse(SOURCE, f"unexpected root <{C.tag(root)}>", field="$")
    warnings: list[ParseWarning] = []
    events: list[SourceEvent] = []
    answers = []
    for info in root.findall("TrackInfo"):
        number = text(info.get("ID")) or ""
        error = info.find("Error")
        if error is not None:
            answers.append(_xml_error(number, error))
            continue
        answers.append(
            C.Answer(
                number,
                Outcome.FOUND,
                status=_category(info.findtext("StatusCategory")),
                message=C.child_text(info, "Status"),
            )
        )
        for node in [*info.findall("TrackSummary"), *info.findall("TrackDetail")]:
            events.append(_xml_event(node, number, warnings))
    return ParseResult(
        tuple(events), C.results(SOURCE, requested, answers, warnings), tuple(warnings)
    )


def _xml_error(number: str, error: Element) -> C.Answer:
    message = C.child_text(error, "Description") or "error"
    outcome = next((o for k, o in ERRORS if k in message.lower()), Outcome.NOT_FOUND)
    return C.Answer(number, outcome, message=message)


def _xml_event(node: Element, number: str, warnings: list[ParseWarning]) -> SourceEvent:
    if len(node) == 0:  # Revision 0 answers: the event is one sentence of text
        description = text(node.text) or ""
        code = None
    else:
        description = C.child_text(node, "Event") or ""
        code = C.child_text(node, "EventCode")
    status, substatus = _classify(code, description, warnings)
    day, clock = C.child_text(node, "EventDate"), C.child_text(node, "EventTime")
    raw = C.raw_join(EventDate=day, EventTime=clock)
    when = (
        C.naive(f"{day} {clock}", "%B %d, %Y %I:%M %p", raw)
        if day and clock
        else C.naive(day, "%B %d, %Y", raw)
    )
    return SourceEvent(
        source=SOURCE,
        source_number=number,
        status=status,
        substatus=substatus,
        raw_description=description,
        raw_code=code,
        reporting_carrier=SOURCE,
        location=C.location(
            node.findtext("EventCity"),
            node.findtext("EventState"),
            node.findtext("EventZIPCode"),
            node.findtext("EventCountry"),
        ),
        occurred_local=when.local,
        raw_time=raw,
        signed_by=C.child_text(node, "Name"),
    )
