"""Canada Post VIS tracking v2 (`GET /vis/track/pin/{pin}/detail`, XML).

`tracking-detail/significant-events/occurrence{event-identifier, event-date, event-time,
event-time-zone, event-description, signatory-name, event-site, event-province,
event-retail-name}`; errors come as `messages/message/code` (004 "No Pin History" = not
found). The `<wrapper>` root in our samples is karrio's test harness: the document is found
by element name at any depth, with or without XML namespaces.

Identifiers arrive zero-padded ("0174"), so they are read as integers. Events are kept in the
order given: Canada Post may list a delivery (1496) *before* later scans of the same item, and
the judge needs to see that.

`event-time-zone` is an abbreviation (EST, PDT...): known North-American ones map to an offset
(carrier_offset); an unknown one leaves the wall clock naive.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from xml.etree.ElementTree import Element

from tracker.errors import UnparseableResponse
from tracker.model import (
    Location,
    NumberResult,
    Observation,
    Outcome,
    ParseResult,
    ParseWarning,
    SourceEvent,
    TzProvenance,
)
from tracker.sources import _parse
from tracker.sources._parse import TimeReading
from tracker.sources._postal import (
    answer,
    basic_auth,
    credentials,
    keeping_raw,
    local_with_offset,
    naive,
    not_found,
)
from tracker.sources.base import RateLimit, SourceSpec
from tracker.sources.http import SourceClient

SOURCE = "canadapost"
SPEC = SourceSpec(
    name=SOURCE,
    base_url="https://soa-gw.canadapost.ca/vis/track",
    batch_size=1,  # one PIN per GET
    # no published quota found; karrio spaces parallel calls, so stay modest
    rate_limit=RateLimit(calls=5, period=1.0),
    auth="HTTP basic auth (key 'username:password')",
    key_required=True,
    formats=("xml",),
)

# (first, last, canonical) ranges of event identifiers, after karrio's tables (carriers.md
# 4.7). Later rows override earlier ones: the reason ranges refine the broad ones.
_RANGES: tuple[tuple[int, int, str], ...] = (
    (100, 107, "in_transit.picked_up"),
    (1400, 1405, "in_transit.picked_up"),
    (174, 174, "out_for_delivery.out_for_delivery"),
    (500, 500, "out_for_delivery.out_for_delivery"),
    (118, 118, "available_for_pickup.at_post_office"),
    (156, 156, "available_for_pickup.at_post_office"),
    (1407, 1407, "available_for_pickup.at_post_office"),
    (1410, 1410, "available_for_pickup.at_post_office"),
    (1435, 1438, "available_for_pickup.at_post_office"),
    (1479, 1479, "available_for_pickup.at_post_office"),
    (1488, 1488, "available_for_pickup.at_post_office"),
    (1701, 1701, "available_for_pickup.at_post_office"),
    (2410, 2410, "available_for_pickup.at_post_office"),
    (150, 150, "delivery_attempted.other"),
    (154, 154, "delivery_attempted.other"),
    (167, 169, "delivery_attempted.other"),
    (179, 179, "delivery_attempted.other"),
    (181, 184, "delivery_attempted.other"),
    (190, 190, "delivery_attempted.other"),
    (1100, 1100, "delivery_attempted.other"),
    (1415, 1420, "delivery_attempted.other"),
    (1450, 1450, "delivery_attempted.other"),
    (1481, 1483, "delivery_attempted.other"),
    (1491, 1493, "delivery_attempted.other"),
    (2600, 2600, "delivery_attempted.other"),
    (2802, 2802, "delivery_attempted.other"),
    (3001, 3001, "delivery_attempted.other"),
    (4650, 4650, "delivery_attempted.other"),
    (117, 117, "exception.held_by_carrier"),
    (120, 121, "exception.held_by_carrier"),
    (1411, 1411, "exception.held_by_carrier"),
    (1414, 1414, "exception.held_by_carrier"),
    (2411, 2411, "exception.held_by_carrier"),
    (2414, 2414, "exception.held_by_carrier"),
    (4700, 4700, "exception.held_by_carrier"),
    (172, 172, "exception.delayed"),
    (2412, 2412, "exception.delayed"),
    (1408, 1409, "delivered.delivered"),
    (1421, 1434, "delivered.delivered"),
    (1441, 1442, "delivered.delivered"),
    (1496, 1499, "delivered.delivered"),
    # reasons
    (100, 100, "in_transit.facility_arrival"),  # "Item processed at postal facility"
    (20, 20, "delivered.signed"),  # "Signature image recorded for Online viewing"
    (173, 173, "exception.address_correction"),  # "Customer addressing error found..."
    (159, 163, "exception.delayed_weather"),
    (119, 119, "exception.damaged"),
    (142, 149, "exception.damaged"),
    (124, 124, "failed.lost"),
    (126, 126, "failed.lost"),
    (151, 153, "failed.lost"),
    (150, 150, "delivery_attempted.refused"),
    (1415, 1416, "delivery_attempted.refused"),
    (810, 810, "exception.held_customs"),
    (1443, 1443, "exception.held_customs"),
    (1484, 1484, "exception.held_customs"),
    (1487, 1487, "exception.held_customs"),
    (125, 125, "exception.duties_unpaid"),
    (127, 127, "exception.duties_unpaid"),
    (1494, 1494, "exception.duties_unpaid"),
)
CODES: dict[str, str] = {
    str(code): sub for first, last, sub in _RANGES for code in range(first, last + 1)
}

# Time-zone abbreviations Canada Post prints -> minutes east of UTC
ZONE_OFFSETS: dict[str, int] = {
    "NST": -210,
    "NDT": -150,
    "AST": -240,
    "ADT": -180,
    "EST": -300,
    "EDT": -240,
    "CST": -360,
    "CDT": -300,
    "MST": -420,
    "MDT": -360,
    "PST": -480,
    "PDT": -420,
    "AKST": -540,
    "AKDT": -480,
    "HST": -600,
}

PROVINCES = frozenset(
    {"AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"}
)

# messages/message/code -> outcome for the PIN asked
MESSAGE_CODES: dict[str, Outcome] = {
    "004": Outcome.NOT_FOUND,  # No Pin History
}


def fetch(client: SourceClient, numbers: Sequence[str]) -> list[Observation]:
    user, password = credentials(SOURCE, client.key, 2, "'username:password'")
    headers = {
        "Authorization": basic_auth(user, password),
        "Accept": "application/vnd.cpc.track-v2+xml",
        "Accept-language": "en-CA",
    }
    observations = []
    for number in numbers:
        # an unknown PIN is answered with a <messages> body, on 404 as well as 200
        response = client.request(
            "GET", f"pin/{number}/detail", headers=headers, ok_statuses=(404,)
        )
        observations.append(client.observe(response, [number]))
    return observations


def parse(observation: Observation) -> ParseResult:
    return keeping_raw(observation, lambda: _parse_body(observation))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _find(root: Element, name: str) -> Element | None:
    return next((el for el in root.iter() if _local(el.tag) == name), None)


def _child(element: Element, name: str) -> str | None:
    found = next((el for el in element if _local(el.tag) == name), None)
    return _parse.text(found.text) if found is not None else None


def _parse_body(observation: Observation) -> ParseResult:
    root = _parse.load_xml(observation)
    detail = _find(root, "tracking-detail")
    if detail is None:
        messages = _find(root, "messages")
        if messages is None:
            raise UnparseableResponse(
                SOURCE,
                "neither tracking-detail nor messages",
                observation.text,
                field="tracking-detail",
            )
        return _messages(observation, messages)
    warnings: list[ParseWarning] = []
    pin = _child(detail, "pin")
    events_root = _find(detail, "significant-events")
    occurrences = (
        [] if events_root is None else [el for el in events_root if _local(el.tag) == "occurrence"]
    )
    events = [_event(pin or "", el, warnings) for el in occurrences]
    results = [_result(n, pin, events) for n in observation.numbers]
    return ParseResult(tuple(events), tuple(results), tuple(warnings))


def _result(requested: str, pin: str | None, events: list[SourceEvent]) -> NumberResult:
    latest = events[0].status if events else None  # Canada Post lists newest first
    return answer(SOURCE, requested, pin, status=latest)


def _event(pin: str, occurrence: Element, warnings: list[ParseWarning]) -> SourceEvent:
    raw_code = _child(occurrence, "event-identifier")
    code = str(int(raw_code)) if raw_code and raw_code.isdigit() else raw_code
    status, sub = _parse.lookup(SOURCE, CODES, code, warnings, "event-identifier")
    reading = _time(
        _child(occurrence, "event-date"),
        _child(occurrence, "event-time"),
        _child(occurrence, "event-time-zone"),
    )
    return SourceEvent(
        source=SOURCE,
        source_number=pin,
        status=status,
        substatus=sub,
        raw_description=_child(occurrence, "event-description") or "",
        raw_code=raw_code,
        reporting_carrier=SOURCE,
        location=_location(occurrence),
        occurred_local=reading.local,
        utc_offset_minutes=reading.offset_minutes,
        occurred_at=reading.utc,
        tz_provenance=reading.provenance,
        raw_time=reading.raw,
        signed_by=_child(occurrence, "signatory-name"),
    )


def _location(occurrence: Element) -> Location:
    site = _child(occurrence, "event-site")
    province = _child(occurrence, "event-province")
    retail = _child(occurrence, "event-retail-name")
    text = ", ".join(p for p in (retail, site, province) if p) or None
    # a Canadian province code places the scan in Canada; elsewhere the country is not given
    country = "CA" if province and province.upper() in PROVINCES else None
    return Location(text=text, city=site, state=province, country=country)


def _time(day: str | None, clock: str | None, zone: str | None) -> TimeReading:
    raw = " ".join(p for p in (day, clock, zone) if p) or None
    if not day:
        return TimeReading(raw=raw)
    stamp = f"{day} {clock or '00:00:00'}"
    local: datetime | None = naive(stamp, ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")).local
    if local is None:
        return TimeReading(raw=raw)
    offset = ZONE_OFFSETS.get((zone or "").upper())
    if offset is None:
        return TimeReading(local=local, raw=raw)
    return local_with_offset(local, offset, TzProvenance.CARRIER_OFFSET, raw)


def _messages(observation: Observation, messages: Element) -> ParseResult:
    items = [el for el in messages if _local(el.tag) == "message"]
    codes = [_child(el, "code") for el in items]
    text = "; ".join(f"{_child(el, 'code')} {_child(el, 'description')}" for el in items)
    outcome = next((MESSAGE_CODES[c] for c in codes if c in MESSAGE_CODES), None)
    if outcome is None:
        note = f"error answer, nothing said about the PIN: {text or 'empty messages'}"
        return ParseResult(warnings=(ParseWarning(SOURCE, note),))
    return ParseResult(
        results=tuple(not_found(SOURCE, n, text, outcome) for n in observation.numbers)
    )
