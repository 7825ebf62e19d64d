"""UPS Track API v1 (JSON, OAuth bearer): one inquiry number per GET.

Answers (carriers.md §4.2, samples-notes.md): `trackResponse.shipment[].package[].activity[]`,
newest first. "Not found" comes back at HTTP 200 as `shipment[].warnings[]` TW0001 (newer
deployments: HTTP 404 with `response.errors[]`); an invalid number as `response.errors[]` TV1002.
Both are values, not errors.

Time zones: `date` (YYYYMMDD) + `time` (HHMMSS) are activity-local with no zone and stay naive;
only `gmtDate`/`gmtTime`/`gmtOffset` (added to the JSON API after UPS-API issue #38) give the
instant.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

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
from tracker.sources._parse import TimeReading, get_dict, get_list, load_json, need, text
from tracker.sources.base import RateLimit, SourceSpec

if TYPE_CHECKING:
    from tracker.sources.http import SourceClient

SOURCE = "ups"

SPEC = SourceSpec(
    name=SOURCE,
    base_url="https://onlinetools.ups.com/api/track/v1",
    batch_size=1,  # one inquiry number per GET
    # UPS publishes no rate limit (carriers.md §4.2, §11): start at 1/s, back off on 429/10429.
    rate_limit=RateLimit(calls=1, period=1.0),
    auth="OAuth2 client-credentials bearer token in `Authorization: Bearer`; "
    "headers `transId` and `transactionSrc` required",
    key_required=True,
)

# status.type -> sub-status (type letters per Business::UPS::Tracking; carriers.md §10.3 "UPS").
CODES: dict[str, str] = {
    "M": "pre_transit.manifested",
    "MV": "pre_transit.manifested",
    "P": "in_transit.picked_up",
    "I": "in_transit.other",
    "X": "exception.other",
    "D": "delivered.delivered",
    "RS": "returning.return_initiated",
}

# (type, code) pairs whose meaning is known more precisely than the type alone. SR under X is a
# customs release -- even when its simplifiedTextDescription says "Delivered" (UPS doc example).
ACTIVITY_CODES: dict[tuple[str, str], str] = {
    ("X", "SR"): "in_transit.import_customs_released",
    ("M", "MP"): "pre_transit.label_created",
    ("I", "OT"): "out_for_delivery.out_for_delivery",
    ("I", "OD"): "out_for_delivery.out_for_delivery",
}

# Without a known code, the description refines the type (UPS's code appendix is not public).
DESCRIPTION_RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "I": (
        ("out for delivery", "out_for_delivery.out_for_delivery"),
        ("returned to the sender", "returning.return_initiated"),
        ("return to sender", "returning.return_initiated"),
    ),
    "X": (
        ("refused", "returning.refused"),
        ("address", "delivery_attempted.address_issue"),
        ("released by the customs", "in_transit.import_customs_released"),
        ("released by customs", "in_transit.import_customs_released"),
        ("customs", "in_transit.import_customs_processing"),
        ("returned to the sender", "returning.return_initiated"),
        ("return to sender", "returning.return_initiated"),
    ),
}

# Error and warning codes that answer for the number asked.
ERRORS: dict[str, Outcome] = {
    "TW0001": Outcome.NOT_FOUND,  # Tracking Information Not Found
    "TV1002": Outcome.INVALID,  # Invalid inquiry number
}


def fetch(client: SourceClient, numbers: Sequence[str]) -> list[Observation]:
    """One GET per number; 400/404 bodies carry the TV1002/TW0001 answers."""
    observations = []
    for batch in C.batches(numbers, SPEC.batch_size):
        headers = {
            **C.bearer(client),
            "Accept": "application/json",
            "transId": uuid.uuid4().hex,
            "transactionSrc": "tracker",
        }
        response = client.request(
            "GET",
            f"details/{quote(batch[0], safe='')}",
            params={"locale": "en_US", "returnSignature": "false"},
            headers=headers,
            ok_statuses=(400, 404),
        )
        observations.append(client.observe(response, batch))
    return observations


def parse(observation: Observation) -> ParseResult:
    with C.keeping_raw(observation):
        body = need(SOURCE, load_json(observation), "$", dict)
        warnings: list[ParseWarning] = []
        if "trackResponse" in body:
            events, answers = _track_response(body, warnings)
        elif isinstance(body.get("response"), dict):
            events, answers = [], _errors(body["response"], "$.response")
        else:
            raise UnparseableResponse(SOURCE, "neither trackResponse nor response", field="$")
        results = C.results(SOURCE, observation.numbers, answers, warnings)
        return ParseResult(tuple(events), results, tuple(warnings))


def _errors(response: dict[str, Any], path: str) -> list[C.Answer]:
    answers = []
    for i, item in enumerate(get_list(SOURCE, response, "errors", path)):
        error = need(SOURCE, item, f"{path}.errors[{i}]", dict)
        code = text(error.get("code")) or ""
        if code not in ERRORS:
            raise UnparseableResponse(
                SOURCE, f"unrecognised error {code!r}", field=f"{path}.errors[{i}].code"
            )
        answers.append(C.Answer("", ERRORS[code], message=f"{code}: {text(error.get('message'))}"))
    if not answers:
        raise UnparseableResponse(SOURCE, "response without errors", field=f"{path}.errors")
    return answers


def _track_response(
    body: dict[str, Any],
    warnings: list[ParseWarning],
) -> tuple[list[SourceEvent], list[C.Answer]]:
    track = get_dict(SOURCE, body, "trackResponse", "$")
    events: list[SourceEvent] = []
    answers: list[C.Answer] = []
    for i, item in enumerate(get_list(SOURCE, track, "shipment", "$.trackResponse")):
        path = f"$.trackResponse.shipment[{i}]"
        shipment = need(SOURCE, item, path, dict)
        inquiry = text(shipment.get("inquiryNumber")) or ""
        packages = get_list(SOURCE, shipment, "package", path)
        notes = _warnings(shipment, path, inquiry, bool(packages), warnings)
        answers.extend(notes)
        for j, raw in enumerate(packages):
            package = need(SOURCE, raw, f"{path}.package[{j}]", dict)
            answer, found = _package(package, inquiry, f"{path}.package[{j}]", warnings)
            answers.append(answer)
            events.extend(found)
    return events, answers


def _warnings(
    shipment: dict[str, Any],
    path: str,
    inquiry: str,
    has_packages: bool,
    warnings: list[ParseWarning],
) -> list[C.Answer]:
    """Shipment warnings: TW0001 without packages is the not-found answer; others are noted."""
    answers = []
    for k, item in enumerate(get_list(SOURCE, shipment, "warnings", path)):
        note = need(SOURCE, item, f"{path}.warnings[{k}]", dict)
        code, message = text(note.get("code")) or "", text(note.get("message"))
        if code in ERRORS and not has_packages:
            answers.append(C.Answer("", ERRORS[code], asked=inquiry, message=f"{code}: {message}"))
        else:
            warnings.append(ParseWarning(SOURCE, f"warning {code}: {message}"))
    if not answers and not has_packages:
        raise UnparseableResponse(
            SOURCE, "shipment with neither package nor known warning", field=path
        )
    return answers


def _package(
    package: dict[str, Any],
    inquiry: str,
    path: str,
    warnings: list[ParseWarning],
) -> tuple[C.Answer, list[SourceEvent]]:
    number = text(package.get("trackingNumber")) or ""
    delivery = package.get("deliveryInformation")
    signer = text(delivery.get("receivedBy")) if isinstance(delivery, dict) else None
    events = [
        _activity(
            need(SOURCE, item, f"{path}.activity[{i}]", dict), number or inquiry, signer, warnings
        )
        for i, item in enumerate(get_list(SOURCE, package, "activity", path))
    ]
    current = package.get("currentStatus")
    status = _classify(current, None, [])[0] if isinstance(current, dict) else None
    if status is None and events:  # no currentStatus: activities are newest first
        status = events[0].status
    message = None
    if inquiry and number and C.norm(inquiry) != C.norm(number):
        message = f"inquiry {inquiry} answered with package {number}"
    answer = C.Answer(number, Outcome.FOUND, asked=inquiry, status=status, message=message)
    return answer, events


def _classify(
    state: dict[str, Any],
    signer: str | None,
    warnings: list[ParseWarning],
) -> tuple[Status, str]:
    kind, code = text(state.get("type")) or "", text(state.get("code")) or ""
    status, substatus = C.classify(SOURCE, CODES, kind or None, warnings, "status.type")
    if (kind, code) in ACTIVITY_CODES:
        substatus = ACTIVITY_CODES[(kind, code)]
        return status_of(substatus), substatus
    if kind in DESCRIPTION_RULES:
        return C.refine(substatus, text(state.get("description")), DESCRIPTION_RULES[kind])
    if substatus == "delivered.delivered" and signer:
        return Status.DELIVERED, "delivered.signed"
    return status, substatus


def _activity(
    item: dict[str, Any], number: str, signer: str | None, warnings: list[ParseWarning]
) -> SourceEvent:
    state = item.get("status")
    state = state if isinstance(state, dict) else {}
    status, substatus = _classify(state, signer, warnings)
    when, raw = _when(item, warnings)
    address = item.get("location")
    address = address.get("address") if isinstance(address, dict) else None
    address = address if isinstance(address, dict) else {}
    return SourceEvent(
        source=SOURCE,
        source_number=number,
        status=status,
        substatus=substatus,
        raw_description=_description(state),
        raw_status=text(state.get("type")),
        raw_substatus=text(state.get("statusCode")),
        raw_code=text(state.get("code")),
        reporting_carrier=SOURCE,
        location=C.location(
            address.get("city"),
            address.get("stateProvince"),
            address.get("postalCode"),
            address.get("countryCode") or address.get("country"),
        ),
        occurred_local=when.local,
        utc_offset_minutes=when.offset_minutes,
        occurred_at=when.utc,
        tz_provenance=when.provenance,
        raw_time=raw,
        signed_by=signer if status is Status.DELIVERED else None,
    )


def _description(state: dict[str, Any]) -> str:
    """The description, plus the simplified text when it says something else: both are kept
    raw (the customs-release activity's simplified text reads "Delivered")."""
    description = text(state.get("description")) or ""
    simplified = text(state.get("simplifiedTextDescription"))
    if simplified and simplified.lower() != description.lower():
        return f"{description} (simplifiedTextDescription: {simplified})".strip()
    return description


_NOT_DIGIT = re.compile(r"\D")


def _digits(day: Any, clock: Any) -> str | None:
    """`20220126` + `163000` (or `16:30:00`) -> `20220126163000`; None when malformed."""
    d, t = (_NOT_DIGIT.sub("", text(v) or "") for v in (day, clock))
    if len(t) == 4:
        t += "00"
    return d + t if len(d) == 8 and len(t) == 6 else None


def _when(item: dict[str, Any], warnings: list[ParseWarning]) -> tuple[TimeReading, str | None]:
    raw = C.raw_join(
        date=item.get("date"),
        time=item.get("time"),
        gmtDate=item.get("gmtDate"),
        gmtTime=item.get("gmtTime"),
        gmtOffset=item.get("gmtOffset"),
    )
    local = C.naive(_digits(item.get("date"), item.get("time")), "%Y%m%d%H%M%S", raw).local
    utc = C.utc_moment(_digits(item.get("gmtDate"), item.get("gmtTime")), "%Y%m%d%H%M%S")
    offset = C.offset_minutes(item.get("gmtOffset"))
    return C.combine(local, utc, offset, raw, warnings, SOURCE), raw
