"""PostNL Shipping Status API v2 (`/shipment/v2/status/barcode/{barcode}?detail=true`).

`CompleteStatus.Shipment` carries two histories: `Event[]` (scan codes such as A01, B01, J05
with a Dutch description, a depot `LocationCode` and a route) and `OldStatus[]` (the status
code/phase history). The status code is the reliable signal (11 or 22 in phase 4 = delivered or
collected); event codes are not even stable across accounts (our samples use 01B both for
"received" and for "delivered"). So an event and a status row stamped with the same second
are read as one event: canonical from the status code, raw code from the event. Rows left
unpaired stay separate events, nothing is dropped, except:

StatusCode 99 "Niet van toepassing" rows are skipped without a warning: they are documented
filler carrying no state, a warning would fire on nearly every PostNL answer and so teach
readers to ignore warnings, and the raw body stays stored as evidence.

`updatedshipments` answers a top-level array of `{Barcode, Status{Timestamp...}}`; note its
`Timestamp` key (other casing, ISO without offset).

Times are Dutch wall clock with no zone. They are kept as such (no offset, no instant): the
normalise step infers Europe/Amsterdam and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tracker.errors import UnparseableResponse
from tracker.model import (
    Location,
    NumberResult,
    Observation,
    ParseResult,
    ParseWarning,
    SourceEvent,
    Status,
)
from tracker.sources import _parse
from tracker.sources._parse import TimeReading
from tracker.sources._postal import (
    answer,
    as_dict,
    credentials,
    dict_items,
    iso,
    keeping_raw,
    naive,
    not_found,
    same_number,
    scalar,
)
from tracker.sources.base import RateLimit, SourceSpec
from tracker.sources.http import SourceClient

SOURCE = "postnl"
SPEC = SourceSpec(
    name=SOURCE,
    base_url="https://api.postnl.nl/shipment/v2/status",
    batch_size=1,  # one barcode per GET
    # PostNL publishes no per-second figure for this API; stay well inside fair use
    rate_limit=RateLimit(calls=5, period=1.0),
    auth="header apikey: <api key>",
    key_required=True,
)

NOISE_STATUS = "99"  # "Niet van toepassing": see the module docstring

# Status.StatusCode -> canonical (1, 2, 5, 7, 11, 22 are in our samples; the rest follow
# the team's mapping table, carriers.md 10.3, which reads them from karrio).
CODES: dict[str, str] = {
    "1": "pre_transit.info_received",  # Zending voorgemeld
    "2": "in_transit.accepted",  # Zending in ontvangst genomen
    "5": "in_transit.facility_arrival",  # Zending gesorteerd
    "7": "out_for_delivery.out_for_delivery",  # Zending in distributieproces
    "8": "exception.delayed",
    "9": "exception.held_by_carrier",
    "11": "delivered.delivered",  # Zending afgeleverd (phase 4)
    "12": "available_for_pickup.at_pickup_point",
    "15": "delivery_attempted.other",
    "16": "exception.delayed",
    "17": "exception.delayed",
    "18": "delivery_attempted.other",
    "19": "delivery_attempted.other",
    "22": "delivered.picked_up_by_recipient",  # Zending afgehaald van Postkantoor (phase 4)
}

# Event.Code -> canonical, used only for events no status row explains. 01B is left out on
# purpose: it means "received" in one sample and "delivered" in the other.
EVENT_CODES: dict[str, str] = {
    "A01": "pre_transit.info_received",
    "01A": "pre_transit.info_received",
    "B01": "in_transit.accepted",
    "J01": "in_transit.facility_arrival",
    "J05": "out_for_delivery.out_for_delivery",
}

_FORMATS = ("%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M:%S.%f", "%d-%m-%Y %H:%M")


def fetch(client: SourceClient, numbers: Sequence[str]) -> list[Observation]:
    (key,) = credentials(SOURCE, client.key, 1, "the PostNL API key")
    headers = {"apikey": key, "Accept": "application/json"}
    observations = []
    for number in numbers:
        response = client.request(
            "GET", f"barcode/{number}", headers=headers, params={"detail": "true", "language": "NL"}
        )
        observations.append(client.observe(response, [number]))
    return observations


def parse(observation: Observation) -> ParseResult:
    return keeping_raw(observation, lambda: _parse_body(observation))


def _parse_body(observation: Observation) -> ParseResult:
    body = _parse.load_json(observation)
    if isinstance(body, list):
        return _updated_shipments(observation, body)
    body = _parse.need(SOURCE, body, "$", dict)
    complete = as_dict(body.get("CompleteStatus") or body.get("CurrentStatus"))
    if "Shipment" not in complete:
        return _no_shipment(observation, body, complete)
    shipments = complete["Shipment"]
    if isinstance(shipments, dict):
        shipments = [shipments]
    shipments = _parse.need(SOURCE, shipments, "$.CompleteStatus.Shipment", list)
    warnings: list[ParseWarning] = []
    events: list[SourceEvent] = []
    answered: list[tuple[str | None, str | None, Status | None]] = []
    for index, shipment in enumerate(shipments):
        path = f"$.CompleteStatus.Shipment[{index}]"
        shipment = _parse.need(SOURCE, shipment, path, dict)
        events.extend(_shipment_events(shipment, path, warnings))
        answered.append(_identity(shipment, warnings))
    return ParseResult(
        tuple(events), tuple(_results(observation.numbers, answered)), tuple(warnings)
    )


# ----------------------------------------------------------------------------- CompleteStatus


def _shipment_events(
    shipment: dict[str, Any], path: str, warnings: list[ParseWarning]
) -> list[SourceEvent]:
    number = scalar(shipment.get("Barcode")) or scalar(shipment.get("MainBarcode")) or ""
    rows = _status_rows(shipment, path)
    used: set[int] = set()
    events = []
    for scan in dict_items(SOURCE, shipment, "Event", path):
        reading = _time(scan.get("TimeStamp"))
        row = _pair(rows, used, reading.local)
        events.append(_scan_event(number, scan, row, reading, warnings))
    for index, row in enumerate(rows):
        if index not in used:
            events.append(_status_event(number, row, _time(row.get("TimeStamp")), warnings))
    return events


def _status_rows(shipment: dict[str, Any], path: str) -> list[dict[str, Any]]:
    """The status history without the 99 filler. With `detail=true` OldStatus already holds
    the current status as its first row; without it only `Status` is there."""
    rows = dict_items(SOURCE, shipment, "OldStatus", path)
    if not rows and isinstance(shipment.get("Status"), dict):
        rows = [shipment["Status"]]
    return [r for r in rows if scalar(r.get("StatusCode")) != NOISE_STATUS]


def _pair(
    rows: list[dict[str, Any]], used: set[int], when: datetime | None
) -> dict[str, Any] | None:
    if when is None:
        return None
    for index, row in enumerate(rows):
        if index not in used and _time(row.get("TimeStamp")).local == when:
            used.add(index)
            return row
    return None


def _scan_event(
    number: str,
    scan: dict[str, Any],
    row: dict[str, Any] | None,
    reading: TimeReading,
    warnings: list[ParseWarning],
) -> SourceEvent:
    code = scalar(scan.get("Code"))
    if row is not None:
        status, sub = _parse.lookup(
            SOURCE, CODES, scalar(row.get("StatusCode")), warnings, "StatusCode"
        )
    else:
        status, sub = _parse.lookup(SOURCE, EVENT_CODES, code, warnings, "event Code")
    place = [scalar(scan.get("LocationCode")), scalar(scan.get("RouteName"))]
    return SourceEvent(
        source=SOURCE,
        source_number=number,
        status=status,
        substatus=sub,
        raw_description=_parse.text(scalar(scan.get("Description"))) or "",
        raw_status=scalar(row.get("StatusCode")) if row else None,
        raw_substatus=scalar(row.get("PhaseCode")) if row else None,
        raw_code=code,
        reporting_carrier=SOURCE,
        # LocationCode is a PostNL depot number, RouteName a delivery route: text only
        location=Location(text=" ".join(p for p in place if p) or None),
        occurred_local=reading.local,
        raw_time=reading.raw,
    )


def _status_event(
    number: str, row: dict[str, Any], reading: TimeReading, warnings: list[ParseWarning]
) -> SourceEvent:
    code = scalar(row.get("StatusCode"))
    status, sub = _parse.lookup(SOURCE, CODES, code, warnings, "StatusCode")
    return SourceEvent(
        source=SOURCE,
        source_number=number,
        status=status,
        substatus=sub,
        raw_description=_parse.text(scalar(row.get("StatusDescription"))) or "",
        raw_status=code,
        raw_substatus=scalar(row.get("PhaseCode")),
        reporting_carrier=SOURCE,
        occurred_local=reading.local,
        utc_offset_minutes=reading.offset_minutes,
        occurred_at=reading.utc,
        tz_provenance=reading.provenance,
        raw_time=reading.raw,
    )


def _time(value: Any) -> TimeReading:
    """`dd-MM-yyyy HH:mm:ss[.fff]` (CompleteStatus) or ISO (updatedshipments), Dutch wall clock."""
    raw = scalar(value)
    if raw is not None and raw[:4].isdigit():
        return iso(raw)
    return naive(raw, _FORMATS)


def _identity(
    shipment: dict[str, Any], warnings: list[ParseWarning]
) -> tuple[str | None, str | None, Status | None]:
    current = as_dict(shipment.get("Status"))
    code = scalar(current.get("StatusCode"))
    status = None
    if code is not None and code != NOISE_STATUS:
        status = _parse.lookup(SOURCE, CODES, code, warnings, "StatusCode")[0]
    return scalar(shipment.get("Barcode")), scalar(shipment.get("MainBarcode")), status


def _results(
    requested: Sequence[str], answered: list[tuple[str | None, str | None, Status | None]]
) -> list[NumberResult]:
    if not requested:
        return [answer(SOURCE, b or m or "", b or m, status=s) for b, m, s in answered if b or m]
    if not answered:
        return [not_found(SOURCE, n, "empty Shipment list") for n in requested]
    results = []
    for number in requested:
        hits = [a for a in answered if same_number(number, a[0]) or same_number(number, a[1])]
        barcode, main, status = hits[0] if hits else answered[0]
        results.append(
            answer(
                SOURCE,
                number,
                barcode or main,
                [main or ""],
                status=status,
                shipments=max(len(hits), 1),
            )
        )
    return results


def _no_shipment(
    observation: Observation, body: dict[str, Any], complete: dict[str, Any]
) -> ParseResult:
    """No `Shipment`: PostNL answers an unknown barcode with `Warnings` (or `Errors`)."""
    notes = complete.get("Warnings") or body.get("Warnings") or body.get("Errors")
    if not isinstance(notes, list) or not notes:
        raise UnparseableResponse(
            SOURCE, "neither Shipment nor Warnings", field="$.CompleteStatus.Shipment"
        )
    message = (
        "; ".join(
            " ".join(
                filter(
                    None,
                    (
                        scalar(as_dict(n).get("Code")),
                        scalar(as_dict(n).get("Message"))
                        or scalar(as_dict(n).get("Description"))
                        or scalar(as_dict(n).get("ErrorMsg")),
                    ),
                )
            )
            for n in notes
        )
        or "no shipment"
    )
    return ParseResult(results=tuple(not_found(SOURCE, n, message) for n in observation.numbers))


# ----------------------------------------------------------------------------- updatedshipments


def _updated_shipments(observation: Observation, items: list[Any]) -> ParseResult:
    warnings: list[ParseWarning] = []
    events = []
    answered = []
    for index, item in enumerate(items):
        item = _parse.need(SOURCE, item, f"$[{index}]", dict)
        row = as_dict(item.get("Status"))
        if scalar(row.get("StatusCode")) == NOISE_STATUS:
            continue
        number = scalar(item.get("Barcode")) or ""
        event = _status_event(number, row, _time(row.get("Timestamp")), warnings)
        events.append(event)
        answered.append((number or None, None, event.status))
    # this feed lists what changed, so a barcode missing from it is unchanged, not unknown:
    # results only for the barcodes present
    wanted = set(observation.numbers)
    results = [
        answer(SOURCE, b, b, status=s) for b, _, s in answered if b and (not wanted or b in wanted)
    ]
    return ParseResult(tuple(events), tuple(results), tuple(warnings))
