"""FedEx Track API v1 (JSON, OAuth bearer): POST up to 30 numbers per call.

Answers (carriers.md §4.3): `output.completeTrackResults[]{trackingNumber, trackResults[]}`.
FedEx recycles numbers: one number can come back with several `trackResults`, told apart only by
`trackingNumberUniqueId`. Those are several shipments, not one parcel: every event carries its
shipment's unique id as `shipment_ref` and the NumberResult counts the shipments, so the judge
can refuse a "delivered" it cannot tie to the order (G3).

Time zones: scan `date` is ISO with the scan's offset (offsets change along the route). A scan
without an offset (seen on a PU scan at midnight) stays naive -- the offset is never invented.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tracker.errors import UnparseableResponse
from tracker.model import (
    Observation,
    Outcome,
    ParseResult,
    ParseWarning,
    SourceEvent,
    Status,
    status_of,
)
from tracker.sources import _carrier as C
from tracker.sources._parse import get_dict, get_list, load_json, need, text
from tracker.sources.base import RateLimit, SourceSpec

if TYPE_CHECKING:
    from tracker.sources.http import SourceClient

SOURCE = "fedex"

SPEC = SourceSpec(
    name=SOURCE,
    base_url="https://apis.fedex.com/track/v1",
    batch_size=30,  # at most 30 trackingInfo entries per request
    # FedEx publishes no per-call quota in what we read (carriers.md §8): start at 1/s.
    rate_limit=RateLimit(calls=1, period=1.0),
    auth="OAuth2 client-credentials bearer token in `Authorization: Bearer`",
    key_required=True,
)

# scanEvents[].eventType -> sub-status (carriers.md §4.3 and §10.3 "FedEx").
CODES: dict[str, str] = {
    "OC": "pre_transit.label_created",
    "OX": "pre_transit.info_received",
    "EP": "pre_transit.other",
    "MD": "pre_transit.other",
    "PU": "in_transit.picked_up",
    "PX": "in_transit.picked_up",
    "AP": "in_transit.picked_up",
    "OF": "in_transit.origin_facility",
    "AR": "in_transit.facility_arrival",
    "AF": "in_transit.facility_arrival",
    "SF": "in_transit.facility_arrival",
    "FD": "in_transit.facility_arrival",
    "DP": "in_transit.facility_departure",
    "LO": "in_transit.facility_departure",
    "IT": "in_transit.other",
    "IX": "in_transit.other",
    "TR": "in_transit.other",
    "PF": "in_transit.other",
    "PL": "in_transit.other",
    "AA": "in_transit.other",
    "EA": "in_transit.other",
    "EO": "in_transit.other",
    "Ow": "in_transit.other",
    "PM": "in_transit.other",
    "AX": "in_transit.other",
    "AC": "in_transit.other",
    "AO": "in_transit.other",  # "Shipment arriving On-Time" (sample)
    "AE": "in_transit.other",  # "Shipment arriving early" (sample)
    "CH": "in_transit.other",  # location changed
    "SP": "in_transit.other",  # split status
    "CP": "in_transit.import_customs_processing",
    "CC": "in_transit.import_customs_released",
    "CD": "exception.held_customs",
    "OD": "out_for_delivery.out_for_delivery",
    "ED": "out_for_delivery.out_for_delivery",
    "AD": "out_for_delivery.out_for_delivery",
    "HL": "available_for_pickup.at_pickup_point",
    "HP": "available_for_pickup.at_pickup_point",
    "DE": "delivery_attempted.other",
    "SE": "exception.other",
    "DD": "exception.delayed",
    "DY": "exception.delayed",
    "PD": "exception.delayed",
    "RS": "returning.return_initiated",
    "CA": "cancelled.other",
    "DL": "delivered.delivered",
}

# derivedStatusCode, used only when the eventType is not in CODES (FedEx's own summary).
DERIVED: dict[str, str] = {
    "IN": "pre_transit.label_created",
    "PU": "in_transit.picked_up",
    "IT": "in_transit.other",
    "OD": "out_for_delivery.out_for_delivery",
    "DE": "delivery_attempted.other",
    "DY": "exception.delayed",
    "DD": "exception.delayed",
    "SE": "exception.other",
    "RS": "returning.return_initiated",
    "CA": "cancelled.other",
    "DL": "delivered.delivered",
}

# Return-label link scans: information about a label, not a movement of this parcel.
IGNORED: frozenset[str] = frozenset({"RD", "RP", "RG", "LP"})

ERRORS: dict[str, Outcome] = {
    "TRACKING.TRACKINGNUMBER.NOTFOUND": Outcome.NOT_FOUND,
    "NOT.FOUND.ERROR": Outcome.NOT_FOUND,
    "TRACKING.TRACKINGNUMBER.INVALID": Outcome.INVALID,
    "TRACKING.TRACKINGNUMBER.EMPTY": Outcome.INVALID,
}


def fetch(client: SourceClient, numbers: Sequence[str]) -> list[Observation]:
    """One POST per 30 numbers; a 404 body carries per-number not-found answers."""
    headers = {**C.bearer(client), "Accept": "application/json", "X-locale": "en_US"}
    observations = []
    for batch in C.batches(numbers, SPEC.batch_size):
        body = {
            "includeDetailedScans": True,
            "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": n}} for n in batch],
        }
        response = client.request(
            "POST", "trackingnumbers", json=body, headers=headers, ok_statuses=(404,)
        )
        observations.append(client.observe(response, batch))
    return observations


def parse(observation: Observation) -> ParseResult:
    with C.keeping_raw(observation):
        body = need(SOURCE, load_json(observation), "$", dict)
        warnings: list[ParseWarning] = []
        events: list[SourceEvent] = []
        if "output" not in body and isinstance(body.get("errors"), list):
            answers = _top_errors(body["errors"])
        else:
            output = get_dict(SOURCE, body, "output", "$")
            events, answers = _outputs(output, warnings)
        results = C.results(SOURCE, observation.numbers, answers, warnings)
        return ParseResult(tuple(events), results, tuple(warnings))


def _top_errors(errors: list[Any]) -> list[C.Answer]:
    answers = []
    for i, item in enumerate(errors):
        error = need(SOURCE, item, f"$.errors[{i}]", dict)
        code = text(error.get("code")) or ""
        if code not in ERRORS:
            raise UnparseableResponse(
                SOURCE, f"unrecognised error {code!r}", field=f"$.errors[{i}].code"
            )
        answers.append(C.Answer("", ERRORS[code], message=f"{code}: {text(error.get('message'))}"))
    return answers


def _outputs(
    output: dict[str, Any],
    warnings: list[ParseWarning],
) -> tuple[list[SourceEvent], list[C.Answer]]:
    events: list[SourceEvent] = []
    answers: list[C.Answer] = []
    for i, item in enumerate(get_list(SOURCE, output, "completeTrackResults", "$.output")):
        path = f"$.output.completeTrackResults[{i}]"
        complete = need(SOURCE, item, path, dict)
        asked = text(complete.get("trackingNumber")) or ""
        results = [
            need(SOURCE, r, f"{path}.trackResults[{j}]", dict)
            for j, r in enumerate(get_list(SOURCE, complete, "trackResults", path))
        ]
        note = _duplicates(asked, [r for r in results if _has_data(r)])
        for j, result in enumerate(results):
            answer, found = _track_result(
                result, asked, note, f"{path}.trackResults[{j}]", warnings
            )
            answers.append(answer)
            events.extend(found)
    return events, answers


def _has_data(result: dict[str, Any]) -> bool:
    return bool(result.get("scanEvents") or result.get("latestStatusDetail"))


def _duplicates(asked: str, shipments: list[dict[str, Any]]) -> str | None:
    if len(shipments) < 2:
        return None
    refs = ", ".join(_ref(s) or "?" for s in shipments)
    return f"{len(shipments)} shipments share number {asked} (trackingNumberUniqueId {refs})"


def _info(result: dict[str, Any]) -> dict[str, Any]:
    info = result.get("trackingNumberInfo")
    return info if isinstance(info, dict) else {}


def _ref(result: dict[str, Any]) -> str | None:
    return text(_info(result).get("trackingNumberUniqueId"))


def _track_result(
    result: dict[str, Any], asked: str, note: str | None, path: str, warnings: list[ParseWarning]
) -> tuple[C.Answer, list[SourceEvent]]:
    number = text(_info(result).get("trackingNumber")) or asked
    error = result.get("error")
    if isinstance(error, dict):
        code = text(error.get("code")) or ""
        message = f"{code}: {text(error.get('message'))}"
        if not _has_data(result):
            return _error_answer(number, asked, code, message, warnings), []
        warnings.append(ParseWarning(SOURCE, f"error beside tracking data for {number}: {message}"))
    events = _scans(result, number, path, warnings)
    return C.Answer(
        number, Outcome.FOUND, asked=asked, status=_summary(result), message=note
    ), events


def _error_answer(
    number: str, asked: str, code: str, message: str, warnings: list[ParseWarning]
) -> C.Answer:
    if code not in ERRORS:
        warnings.append(ParseWarning(SOURCE, f"unrecognised error {code!r} read as not found"))
    return C.Answer(number, ERRORS.get(code, Outcome.NOT_FOUND), asked=asked, message=message)


def _summary(result: dict[str, Any]) -> Status | None:
    latest = result.get("latestStatusDetail")
    if not isinstance(latest, dict):
        return None
    sub = _lookup(text(latest.get("code")), text(latest.get("derivedCode")), [])[1]
    return status_of(sub) if sub != "unknown.other" else None


def _lookup(
    code: str | None, derived: str | None, warnings: list[ParseWarning]
) -> tuple[Status, str]:
    if code not in CODES and derived in DERIVED:
        return C.classify(SOURCE, DERIVED, derived, warnings, "derivedStatusCode")
    return C.classify(SOURCE, CODES, code, warnings, "eventType")


def _signer(result: dict[str, Any]) -> str | None:
    # FedEx shows receivedByName as "Signed for by" when there is no separate signedByName.
    details = result.get("deliveryDetails")
    if not isinstance(details, dict):
        return None
    return C.first_text(details.get("signedByName"), details.get("receivedByName"))


def _scans(
    result: dict[str, Any], number: str, path: str, warnings: list[ParseWarning]
) -> list[SourceEvent]:
    ref, signer = _ref(result), _signer(result)
    events = []
    for i, item in enumerate(get_list(SOURCE, result, "scanEvents", path)):
        scan = need(SOURCE, item, f"{path}.scanEvents[{i}]", dict)
        if text(scan.get("eventType")) not in IGNORED:
            events.append(_scan(scan, number, ref, signer, warnings))
    return events


def _scan(
    scan: dict[str, Any],
    number: str,
    ref: str | None,
    signer: str | None,
    warnings: list[ParseWarning],
) -> SourceEvent:
    code, derived = text(scan.get("eventType")), text(scan.get("derivedStatusCode"))
    status, substatus = _lookup(code, derived, warnings)
    if substatus == "delivered.delivered" and signer:
        substatus = "delivered.signed"
    when = C.iso(scan.get("date"))
    place = scan.get("scanLocation")
    place = place if isinstance(place, dict) else {}
    return SourceEvent(
        source=SOURCE,
        source_number=number,
        status=status,
        substatus=substatus,
        raw_description=C.joined([scan.get("eventDescription"), scan.get("exceptionDescription")]),
        raw_status=derived,
        raw_substatus=text(scan.get("exceptionCode")),
        raw_code=code,
        reporting_carrier=SOURCE,
        location=C.location(
            place.get("city"),
            place.get("stateOrProvinceCode"),
            place.get("postalCode"),
            place.get("countryCode"),
        ),
        occurred_local=when.local,
        utc_offset_minutes=when.offset_minutes,
        occurred_at=when.utc,
        tz_provenance=when.provenance,
        raw_time=when.raw,
        shipment_ref=ref,
        signed_by=signer if status is Status.DELIVERED else None,
    )
