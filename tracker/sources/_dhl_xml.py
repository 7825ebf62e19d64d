"""The two XML formats of the `dhl` source (split from dhl.py to keep modules small):

* Express XML-PI `TrackingResponse`: `AWBInfo[]/ShipmentInfo/ShipmentEvent[]` with separate
  `Date` and `Time` (local, no zone), `ServiceEvent/EventCode` (`OK` = delivered) and a
  `Signatory` that only means a signer on a delivery (elsewhere it holds weights or times).
* Parcel DE `piece-shipment-list`: everything in attributes of nested `<data name=...>`,
  `dd.MM.yyyy HH:mm` local times, `event-country` as a country *name*; the piece carries
  `delivery-event-flag`, and delivery events `ice=DLVRD` / `standard-event-code=ZU`.
"""

from __future__ import annotations

from dataclasses import replace
from xml.etree.ElementTree import Element

from tracker.errors import UnparseableResponse
from tracker.model import Location, Outcome, ParseWarning, SourceEvent, Status, status_of
from tracker.sources import _carrier as C
from tracker.sources._parse import text

SOURCE = "dhl"

# Express checkpoint codes. The sample's own descriptions give PU, PO, PL, AF, DF, AR, WC, OK;
# RW is a weight check; the rest are DHL Express checkpoint meanings (not in carriers.md).
EXPRESS_CODES: dict[str, str] = {
    "SA": "in_transit.accepted",
    "PU": "in_transit.picked_up",
    "PO": "in_transit.facility_departure",  # "Departing origin"
    "PL": "in_transit.facility_arrival",  # "Processed at Location ..."
    "AF": "in_transit.facility_arrival",
    "AR": "in_transit.facility_arrival",
    "DF": "in_transit.facility_departure",
    "TR": "in_transit.other",
    "RW": "in_transit.other",
    "IC": "in_transit.import_customs_processing",
    "CR": "in_transit.import_customs_released",
    "CD": "exception.held_customs",
    "OH": "exception.held_by_carrier",
    "MS": "exception.missorted",
    "WC": "out_for_delivery.out_for_delivery",  # "With delivery courier"
    "CC": "available_for_pickup.at_pickup_point",  # awaiting consignee collection
    "NH": "delivery_attempted.recipient_unavailable",
    "CA": "delivery_attempted.business_closed",
    "BA": "delivery_attempted.address_issue",
    "RT": "returning.return_initiated",
    "OK": "delivered.delivered",
}

# Parcel DE standard-event-code -> sub-status; meanings from the sample's event texts.
PARCEL_DE_CODES: dict[str, str] = {
    "ES": "in_transit.accepted",  # posted by the sender (at a PACKSTATION)
    "AE": "in_transit.picked_up",
    "AA": "in_transit.facility_departure",  # onward transport / parcel centre of origin
    "EE": "in_transit.facility_arrival",  # destination parcel centre
    "PO": "out_for_delivery.out_for_delivery",  # loaded onto the delivery vehicle
    "ZU": "delivered.delivered",
}

EXPRESS_STATUSES: dict[str, Outcome] = {
    "success": Outcome.FOUND,
    "no shipments found": Outcome.NOT_FOUND,
    "invalid awb number": Outcome.INVALID,
}

Result = tuple[list[SourceEvent], list[C.Answer]]


def parse_xml(root: Element, warnings: list[ParseWarning]) -> Result:
    name = C.tag(root)
    if name == "TrackingResponse":
        return _express(root, warnings)
    if name == "data" and root.get("name") == "piece-shipment-list":
        return _parcel_de(root, warnings)
    if name == "ErrorResponse":
        problem = text(root.findtext(".//ConditionData")) or "error response"
        raise UnparseableResponse(SOURCE, f"XML-PI error: {problem}", field="ErrorResponse")
    raise UnparseableResponse(SOURCE, f"unknown XML root <{name}>", field="$")


# ----------------------------------------------------------------------------- Express XML-PI


def _express(root: Element, warnings: list[ParseWarning]) -> Result:
    events: list[SourceEvent] = []
    answers: list[C.Answer] = []
    for info in root.findall("AWBInfo"):
        number = C.child_text(info, "AWBNumber") or ""
        said = C.child_text(info, "Status/ActionStatus") or ""
        outcome = EXPRESS_STATUSES.get(said.lower())
        if outcome is None:
            warnings.append(
                ParseWarning(SOURCE, f"{number}: ActionStatus {said!r} read as not found")
            )
            outcome = Outcome.NOT_FOUND
        shipment_events = [
            _express_event(e, number, warnings) for e in info.findall("ShipmentInfo/ShipmentEvent")
        ]
        status = shipment_events[-1].status if shipment_events else None  # oldest first
        answers.append(
            C.Answer(
                number, outcome, status=status, message=None if outcome is Outcome.FOUND else said
            )
        )
        events.extend(shipment_events)
    return events, answers


def _express_event(node: Element, number: str, warnings: list[ParseWarning]) -> SourceEvent:
    code = C.child_text(node, "ServiceEvent/EventCode")
    status, substatus = C.classify(SOURCE, EXPRESS_CODES, code, warnings, "EventCode")
    signer = C.child_text(node, "Signatory") if status is Status.DELIVERED else None
    if signer:
        status, substatus = Status.DELIVERED, "delivered.signed"
    day, clock = C.child_text(node, "Date"), C.child_text(node, "Time")
    raw = C.raw_join(Date=day, Time=clock)
    when = C.naive(f"{day}T{clock}", "%Y-%m-%dT%H:%M:%S", raw)
    area = C.child_text(node, "ServiceArea/Description")
    area_code = C.child_text(node, "ServiceArea/ServiceAreaCode")
    place = C.joined([area, f"({area_code})" if area_code else None], " ") or None
    return SourceEvent(
        source=SOURCE,
        source_number=number,
        status=status,
        substatus=substatus,
        raw_description=C.child_text(node, "ServiceEvent/Description") or "",
        raw_code=code,
        reporting_carrier="dhl-express",
        location=Location(text=place),
        occurred_local=when.local,
        raw_time=raw,
        signed_by=signer,
    )


# ----------------------------------------------------------------------------- Parcel DE


def _parcel_de(root: Element, warnings: list[ParseWarning]) -> Result:
    pieces = [p for p in root.findall("data") if p.get("name") == "piece-shipment"]
    if not pieces and (root.get("code") or "0") != "0":
        problem = root.get("error") or root.get("code")
        raise UnparseableResponse(SOURCE, f"Parcel DE error {problem}", field="code")
    events: list[SourceEvent] = []
    answers: list[C.Answer] = []
    for piece in pieces:
        answer, found = _piece(piece, warnings)
        answers.append(answer)
        events.extend(found)
    return events, answers


def _piece(piece: Element, warnings: list[ParseWarning]) -> tuple[C.Answer, list[SourceEvent]]:
    number = text(piece.get("piece-code")) or text(piece.get("searched-piece-code")) or ""
    if (piece.get("error-status") or "0") != "0":
        message = C.joined([piece.get("error-status"), piece.get("status")], ": ")
        return C.Answer(number, Outcome.NOT_FOUND, message=message), []
    nodes = [n for n in piece.iter("data") if n.get("name") == "piece-event"]
    events = [_piece_event(n, piece, number, warnings) for n in nodes]
    delivered_flag = piece.get("delivery-event-flag") == "1"
    delivered_events = any(e.status is Status.DELIVERED for e in events)
    if delivered_flag != delivered_events:
        warnings.append(
            ParseWarning(
                SOURCE,
                f"{number}: delivery-event-flag="
                f"{piece.get('delivery-event-flag')} but delivered events: "
                f"{delivered_events}",
            )
        )
    status = Status.DELIVERED if delivered_flag else (events[-1].status if events else None)
    return C.Answer(number, Outcome.FOUND, status=status), events


def _piece_event(
    node: Element, piece: Element, number: str, warnings: list[ParseWarning]
) -> SourceEvent:
    code = text(node.get("standard-event-code"))
    status, substatus = C.classify(SOURCE, PARCEL_DE_CODES, code, warnings, "standard-event-code")
    returning = node.get("ruecksendung") == "true"
    if returning:  # a return shipment: its "delivered" is the sender getting it back
        substatus = (
            "returned.returned_to_sender"
            if status is Status.DELIVERED
            else "returning.return_initiated"
            if status is not Status.UNKNOWN
            else substatus
        )
        status = status_of(substatus)
    signer = text(piece.get("recipient-name")) if status is Status.DELIVERED else None
    if signer:
        substatus = "delivered.signed"
    stamp = text(node.get("event-timestamp"))
    when = C.naive(stamp, "%d.%m.%Y %H:%M")
    return SourceEvent(
        source=SOURCE,
        source_number=number,
        status=status,
        substatus=substatus,
        raw_description=C.joined([node.get("event-status"), node.get("event-text")]),
        raw_status=text(node.get("ice")),
        raw_substatus=text(node.get("ric")),
        raw_code=code,
        reporting_carrier="dhl-parcel-de",
        location=_place(node, piece),
        occurred_local=when.local,
        raw_time=stamp,
        signed_by=signer,
    )


def _place(node: Element, piece: Element) -> Location:
    """The event's place. Events name the country ("Germany"); the piece's latest status gives
    the ISO code ("DE") for the same event, matched by time and ICE code."""
    place = C.location(node.get("event-location"), None, None, node.get("event-country"))
    same = node.get("event-timestamp") == piece.get("status-timestamp") and node.get(
        "ice"
    ) == piece.get("ice")
    code = C.iso2(piece.get("event-country")) if same else None
    if place.country is None and code:
        return replace(place, country=code)
    return place
