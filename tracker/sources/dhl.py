"""DHL: Shipment Tracking - Unified (JSON, header `DHL-API-Key`), plus two older formats read
from saved data: Express XML-PI `TrackingResponse` and Parcel DE (Post & Paket Deutschland)
`piece-shipment-list` XML. The format is detected by shape.

Traps (carriers.md §4.4, samples-notes.md):
* Unified `statusCode` (pre-transit | transit | delivered | failure | unknown) and the free
  `status` text can contradict each other (doc example: pre-transit vs "DELIVERED"). Events are
  classified by `statusCode`, both are kept raw, and a warning names the contradiction.
* Without `service`, Unified can answer with another shipment: the returned `id` is compared.
* Unified event timestamps are often naive (stay naive); `...Z` ones are the carrier's UTC.
  Express and Parcel DE times are local with no zone at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tracker.errors import ConfigurationError, UnparseableResponse
from tracker.model import Observation, Outcome, ParseResult, ParseWarning, SourceEvent, Status
from tracker.sources import _carrier as C
from tracker.sources import _dhl_xml
from tracker.sources._parse import get_list, load_json, load_xml, need, text
from tracker.sources.base import RateLimit, SourceSpec

if TYPE_CHECKING:
    from tracker.sources.http import SourceClient

SOURCE = "dhl"

SPEC = SourceSpec(
    name=SOURCE,
    base_url="https://api-eu.dhl.com/track",
    batch_size=1,  # one trackingNumber per GET
    # Initial service level: 250 calls/day (reset 00:00 GMT), at most 1 call/s (carriers.md
    # §4.4, G10). Both are windows of the shared limit: the daily one alone would let its 250
    # calls go in the same second.
    rate_limit=RateLimit(calls=250, period=86400.0),
    auth="API key in header `DHL-API-Key`",
    key_required=True,
    formats=("json", "xml"),
    more_limits=(RateLimit(calls=1, period=1.0),),
)

# Unified statusCode -> sub-status (carriers.md §10.3 "DHL Unified").
CODES: dict[str, str] = {
    "pre-transit": "pre_transit.info_received",
    "transit": "in_transit.other",
    "delivered": "delivered.delivered",
    "failure": "exception.other",
    "unknown": "unknown.other",
}

# A `failure` is refined by the first keyword found in its status/description text.
FAILURE_TEXT: tuple[tuple[str, str], ...] = (
    ("refused", "returning.refused"),
    ("return", "returning.return_initiated"),
    ("address", "delivery_attempted.address_issue"),
    ("customs", "exception.held_customs"),
    ("damage", "exception.damaged"),
)

EXPRESS_CODES = _dhl_xml.EXPRESS_CODES
PARCEL_DE_CODES = _dhl_xml.PARCEL_DE_CODES


def fetch(client: SourceClient, numbers: Sequence[str]) -> list[Observation]:
    """One GET per number; a 404 problem+json body is the not-found answer."""
    if not client.key:
        raise ConfigurationError("TRACKER_DHL_KEY", "an API key is required")
    headers = {"DHL-API-Key": client.key, "Accept": "application/json"}
    observations = []
    for batch in C.batches(numbers, SPEC.batch_size):
        response = client.request(
            "GET",
            "shipments",
            params={"trackingNumber": batch[0]},
            headers=headers,
            ok_statuses=(404,),
        )
        observations.append(client.observe(response, batch))
    return observations


def parse(observation: Observation) -> ParseResult:
    with C.keeping_raw(observation):
        warnings: list[ParseWarning] = []
        if C.is_xml(observation.payload):
            events, answers = _dhl_xml.parse_xml(load_xml(observation), warnings)
        else:
            body = need(SOURCE, load_json(observation), "$", dict)
            events, answers = _unified(body, warnings)
        results = C.results(SOURCE, observation.numbers, answers, warnings)
        return ParseResult(tuple(events), results, tuple(warnings))


# ----------------------------------------------------------------------------- Unified JSON


def _unified(
    body: dict[str, Any],
    warnings: list[ParseWarning],
) -> tuple[list[SourceEvent], list[C.Answer]]:
    if "shipments" not in body:
        return [], [_problem(body)]
    events: list[SourceEvent] = []
    answers: list[C.Answer] = []
    for i, item in enumerate(get_list(SOURCE, body, "shipments", "$")):
        shipment = need(SOURCE, item, f"$.shipments[{i}]", dict)
        found = _shipment_events(shipment, f"$.shipments[{i}]", warnings)
        events.extend(found)
        summary = _dict(shipment.get("status"))
        status = C.classify(SOURCE, CODES, text(summary.get("statusCode")), [], "")[0]
        answers.append(
            C.Answer(
                text(shipment.get("id")) or "",
                Outcome.FOUND,
                status=None if status is Status.UNKNOWN else status,
            )
        )
    return events, answers


def _problem(body: dict[str, Any]) -> C.Answer:
    """An RFC 7807 problem body: 404 is "no shipment with this number" -- a value."""
    status, title = text(body.get("status")), text(body.get("title"))
    if status is None or title is None:
        raise UnparseableResponse(SOURCE, "neither shipments nor a problem body", field="$")
    if status != "404":
        raise UnparseableResponse(SOURCE, f"problem {status}: {title}", field="$.status")
    return C.Answer("", Outcome.NOT_FOUND, message=C.joined([title, body.get("detail")], ": "))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _shipment_events(
    shipment: dict[str, Any], path: str, warnings: list[ParseWarning]
) -> list[SourceEvent]:
    number = text(shipment.get("id")) or ""
    service = text(shipment.get("service"))
    carrier = f"dhl-{service}" if service else SOURCE
    raw_events = get_list(SOURCE, shipment, "events", path)
    if not raw_events and isinstance(shipment.get("status"), dict):
        raw_events = [shipment["status"]]  # no history: the current status is the one event
    events = [
        _event(need(SOURCE, item, f"{path}.events[{i}]", dict), number, carrier, warnings)
        for i, item in enumerate(raw_events)
    ]
    return _with_signer(events, _pod_signer(shipment))


def _event(
    item: dict[str, Any], number: str, carrier: str, warnings: list[ParseWarning]
) -> SourceEvent:
    code, said = text(item.get("statusCode")), text(item.get("status"))
    description = C.joined([item.get("description"), item.get("remark")])
    status, substatus = C.classify(SOURCE, CODES, code, warnings, "statusCode")
    if code == "failure":
        status, substatus = C.refine(substatus, f"{said} {description}", FAILURE_TEXT)
    if said and "deliver" in said.lower() and code != "delivered":
        warnings.append(
            ParseWarning(
                SOURCE,
                f"{number}: status text {said!r} contradicts statusCode {code!r} "
                f"(classified by statusCode)",
            )
        )
    when = C.iso(item.get("timestamp"))
    address = _dict(_dict(item.get("location")).get("address"))
    return SourceEvent(
        source=SOURCE,
        source_number=number,
        status=status,
        substatus=substatus,
        raw_description=description,
        raw_status=code,
        raw_substatus=said,
        raw_code=code,
        reporting_carrier=carrier,
        location=C.location(
            address.get("addressLocality"),
            None,
            address.get("postalCode"),
            address.get("countryCode"),
        ),
        occurred_local=when.local,
        utc_offset_minutes=when.offset_minutes,
        occurred_at=when.utc,
        tz_provenance=when.provenance,
        raw_time=when.raw,
    )


def _pod_signer(shipment: dict[str, Any]) -> str | None:
    signed = _dict(_dict(_dict(shipment.get("details")).get("proofOfDelivery")).get("signed"))
    full = C.joined([signed.get("givenName"), signed.get("familyName")], " ")
    return C.first_text(signed.get("name"), full)


def _with_signer(events: list[SourceEvent], signer: str | None) -> list[SourceEvent]:
    """Attach the proof-of-delivery signer to the delivered events -- or, when the statusCode
    says otherwise, to the events whose raw text says delivered, so the evidence stays."""
    if not signer:
        return events
    targets = {i for i, e in enumerate(events) if e.status is Status.DELIVERED} or {
        i for i, e in enumerate(events) if "deliver" in (e.raw_substatus or "").lower()
    }
    return [replace(e, signed_by=signer) if i in targets else e for i, e in enumerate(events)]
