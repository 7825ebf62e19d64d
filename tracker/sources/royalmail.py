"""Royal Mail Tracking API v2 (`GET /mailpieces/v2/{mailPieceId}/events`).

`mailPieces{mailPieceId, summary{oneDBarcode, statusCategory, lastEventCode...}, signature,
events[]{eventCode, eventName, eventDateTime, locationName}}`. Times carry their offset
(`2016-10-20T10:04:00+01:00`): carrier_offset.

Royal Mail's event-code catalogue is not public; codes are looked up first, then the exact
event name (the team's table reads delivery from the name). Anything else is unknown.other
plus a warning, never guessed.

Error bodies (`{httpCode: "400", errors: [{errorCode, errorDescription...}]}`, `httpCode` a
string) are of two kinds: about the number (E1142 "barcode reference isn't recognised" ->
not_found) and about our request (E0004 header validation...). The latter says nothing about
the parcel, so it yields a warning and no per-number answer; `fetch` raises it as
`SourceRequestRejected` so it never reaches the pipeline as an observation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from tracker.errors import SourceRequestRejected
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
    credentials,
    dict_items,
    iso,
    keeping_raw,
    not_found,
    scalar,
)
from tracker.sources.base import RateLimit, SourceSpec
from tracker.sources.http import SourceClient

SOURCE = "royalmail"
SPEC = SourceSpec(
    name=SOURCE,
    base_url="https://api.royalmail.net/mailpieces/v2",
    batch_size=1,  # /{mailPieceId}/events answers one item
    # no public figure for the tracking API; stay modest (the developer portal sets per-app plans)
    rate_limit=RateLimit(calls=5, period=1.0),
    auth="headers X-IBM-Client-Id and X-IBM-Client-Secret (key 'client_id:client_secret')",
    key_required=True,
)

# eventCode -> canonical. Only EVNMI is in our samples (carriers.md 10.3: mis-sort).
CODES: dict[str, str] = {
    "EVNMI": "exception.missorted",
}

# exact eventName -> canonical, consulted when the code is not in CODES
EVENT_NAMES: dict[str, str] = {
    "Forwarded - Mis-sort": "exception.missorted",
    "Delivered": "delivered.delivered",
    "Delivered and signed for": "delivered.signed",
    "We've got it": "in_transit.accepted",
    "Item received": "in_transit.accepted",
}

# errorCode -> what it says about the number; others are about the request
NUMBER_ERRORS: dict[str, Outcome] = {
    "E1142": Outcome.NOT_FOUND,  # Barcode reference ... isn't recognised
}

_TERMS_HEADER = "X-Accept-RMG-Terms"  # required: E0004 "Failed header validation" without it


def fetch(client: SourceClient, numbers: Sequence[str]) -> list[Observation]:
    client_id, secret = credentials(SOURCE, client.key, 2, "'client_id:client_secret'")
    headers = {
        "X-IBM-Client-Id": client_id,
        "X-IBM-Client-Secret": secret,
        _TERMS_HEADER: "yes",
        "Accept": "application/json",
    }
    observations = []
    for number in numbers:
        # 400/404 carry per-number errors (unknown barcode) in a JSON body
        response = client.request(
            "GET", f"{number}/events", headers=headers, ok_statuses=(400, 404)
        )
        observation = client.observe(response, [number])
        _reject_request_errors(observation)
        observations.append(observation)
    return observations


def _reject_request_errors(observation: Observation) -> None:
    if observation.http_status in (400, 404):
        result = parse(observation)
        if not result.results and result.warnings:
            raise SourceRequestRejected(
                SOURCE, result.warnings[0].message, status_code=observation.http_status
            )


def parse(observation: Observation) -> ParseResult:
    return keeping_raw(observation, lambda: _parse_body(observation))


def _parse_body(observation: Observation) -> ParseResult:
    body = _parse.need(SOURCE, _parse.load_json(observation), "$", dict)
    if "mailPieces" not in body and body.get("errors"):
        return _errors(observation, body)
    piece = _parse.get_dict(SOURCE, body, "mailPieces", "$")
    warnings: list[ParseWarning] = []
    summary = as_dict(piece.get("summary"))
    number = scalar(summary.get("oneDBarcode")) or scalar(piece.get("mailPieceId")) or ""
    events = [_event(number, e, warnings) for e in dict_items(SOURCE, piece, "events", "$")]
    events = _attach_signature(events, as_dict(piece.get("signature")), warnings)
    status = _summary_status(summary)
    aliases = [scalar(piece.get("mailPieceId")) or "", scalar(summary.get("uniqueItemId")) or ""]
    results = [
        answer(SOURCE, n, number or None, aliases, status=status) for n in observation.numbers
    ]
    return ParseResult(tuple(events), tuple(results), tuple(warnings))


def _event(number: str, event: dict[str, Any], warnings: list[ParseWarning]) -> SourceEvent:
    code = scalar(event.get("eventCode"))
    name = _parse.text(scalar(event.get("eventName")))
    if code in CODES or name not in EVENT_NAMES:
        status, sub = _parse.lookup(SOURCE, CODES, code, warnings, "eventCode")
    else:
        status, sub = _parse.lookup(SOURCE, EVENT_NAMES, name, warnings, "eventName")
    reading = iso(event.get("eventDateTime"))
    place = _parse.text(scalar(event.get("locationName")))
    return SourceEvent(
        source=SOURCE,
        source_number=number,
        status=status,
        substatus=sub,
        raw_description=name or "",
        raw_code=code,
        reporting_carrier=SOURCE,
        # "Stafford DO" (a delivery office): a place name, not a parsed address
        location=Location(text=place),
        occurred_local=reading.local,
        utc_offset_minutes=reading.offset_minutes,
        occurred_at=reading.utc,
        tz_provenance=reading.provenance,
        raw_time=reading.raw,
    )


def _attach_signature(
    events: list[SourceEvent], signature: dict[str, Any], warnings: list[ParseWarning]
) -> list[SourceEvent]:
    """The signer belongs on the delivery event. A signature with no delivery event is odd
    (the doc example signs a mis-sort) and worth a human look: a warning, not a guess."""
    name = _parse.text(scalar(signature.get("recipientName")))
    if name is None:
        return events
    delivered = [i for i, e in enumerate(events) if e.status is Status.DELIVERED]
    if not delivered:
        when = scalar(signature.get("signatureDateTime"))
        warnings.append(
            ParseWarning(SOURCE, f"signature by {name!r} at {when} but no delivery event")
        )
        return events
    last = delivered[-1]
    return [replace(e, signed_by=name) if i == last else e for i, e in enumerate(events)]


_CATEGORIES: dict[str, Status] = {
    "IN TRANSIT": Status.IN_TRANSIT,
    "DELIVERED": Status.DELIVERED,
}


def _summary_status(summary: dict[str, Any]) -> Status | None:
    category = scalar(summary.get("statusCategory"))
    return _CATEGORIES.get(category.upper()) if category else None


def _errors(observation: Observation, body: dict[str, Any]) -> ParseResult:
    items = body.get("errors")
    errors = [as_dict(e) for e in (items if isinstance(items, list) else [items])]
    codes = [scalar(e.get("errorCode")) for e in errors]
    message = "; ".join(
        f"{scalar(e.get('errorCode'))}: {scalar(e.get('errorDescription'))}" for e in errors
    )
    outcome = next((NUMBER_ERRORS[c] for c in codes if c in NUMBER_ERRORS), None)
    if outcome is None:
        http = scalar(body.get("httpCode"))
        note = f"request rejected (HTTP {http}), nothing said about the number: {message}"
        return ParseResult(warnings=(ParseWarning(SOURCE, note),))
    results: list[NumberResult] = [
        not_found(SOURCE, n, message, outcome) for n in observation.numbers
    ]
    return ParseResult(results=tuple(results))
