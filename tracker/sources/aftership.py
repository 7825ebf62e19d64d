"""AfterShip Tracking API: a tracking (`data.tracking`), a list (`data.trackings[]`), a bare
tracking object (newer versions put it at `data`) and the webhook push (`msg`).

`checkpoint_time` is the carrier's clock: with an offset it is a full reading; without one (the
documented webhook sample) it is a wall clock only, never read as UTC. `Expired` describes the
subscription (no news for 30 days), so it sets the tracking state, not a parcel status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from tracker.errors import ConfigurationError, UnparseableResponse
from tracker.model import (
    Location,
    Observation,
    Outcome,
    ParseResult,
    ParseWarning,
    SourceEvent,
    Status,
    TrackingState,
)
from tracker.quickbuild import quick
from tracker.sources import _parse as p
from tracker.sources._answers import Answer, assemble, guard
from tracker.sources._iso3 import country_code
from tracker.sources.base import RateLimit, SourceSpec
from tracker.sources.http import SourceClient

# a genuine frozen SourceEvent, built ~4x cheaper: one per source event (tracker.quickbuild)
_NewEvent = quick(SourceEvent)
SOURCE = "aftership"

SPEC = SourceSpec(
    name=SOURCE,
    base_url="https://api.aftership.com/tracking/2024-04",
    batch_size=1,  # one tracking per GET
    rate_limit=RateLimit(calls=10, period=1.0),  # "default limit is 10 requests per second"
    auth="header as-api-key: <API key>",
    key_required=True,
)

CODES: Mapping[str, str] = {
    "Pending": "not_found.not_yet_available",
    "InfoReceived": "pre_transit.info_received",
    "InfoReceived_001": "pre_transit.info_received",
    "InTransit": "in_transit.other",
    "InTransit_001": "in_transit.other",
    "InTransit_002": "in_transit.accepted",
    "InTransit_003": "in_transit.facility_arrival",
    "InTransit_004": "in_transit.linehaul_arrived",
    "InTransit_005": "in_transit.import_customs_released",
    "InTransit_006": "in_transit.import_customs_processing",
    "InTransit_007": "in_transit.facility_departure",
    "InTransit_008": "in_transit.problem_resolved",
    "InTransit_009": "in_transit.forwarded",
    "OutForDelivery": "out_for_delivery.out_for_delivery",
    "OutForDelivery_001": "out_for_delivery.out_for_delivery",
    "OutForDelivery_002": "available_for_pickup.at_post_office",  # old meaning: at sort center
    "OutForDelivery_003": "out_for_delivery.customer_contacted",
    "OutForDelivery_004": "out_for_delivery.delivery_scheduled",
    "AvailableForPickup": "available_for_pickup.at_pickup_point",
    "AvailableForPickup_001": "available_for_pickup.at_pickup_point",
    "AttemptFail": "delivery_attempted.other",
    "AttemptFail_001": "delivery_attempted.other",
    "AttemptFail_002": "delivery_attempted.recipient_unavailable",
    "AttemptFail_003": "delivery_attempted.business_closed",
    "Delivered": "delivered.delivered",
    "Delivered_001": "delivered.delivered",
    "Delivered_002": "delivered.picked_up_by_recipient",
    "Delivered_003": "delivered.signed",
    "Delivered_004": "delivered.cod_collected",
    "Delivered_005": "delivered.to_neighbor",
    "Exception": "exception.other",
    "Exception_001": "exception.other",
    "Exception_002": "returning.recipient_moved",
    "Exception_003": "returning.refused",
    "Exception_004": "exception.delayed_customs",
    "Exception_005": "exception.delayed_external",
    "Exception_006": "exception.held_for_payment",
    "Exception_007": "delivery_attempted.address_issue",
    "Exception_008": "exception.pickup_missed",
    "Exception_009": "exception.rejected_by_carrier",
    "Exception_010": "returning.return_initiated",
    "Exception_011": "returned.returned_to_sender",
    "Exception_012": "exception.damaged",
    "Exception_013": "failed.lost",
    "Exception_016": "exception.delayed_processing",
    "Exception_017": "exception.delayed_weather",
    "Exception_018": "exception.customs_info_required",
}
"""`subtag` (or a bare `tag` when no subtag is given) -> canonical sub-status (§10.3)."""

PENDING_TAG = "Pending"
STALE_TAG = "Expired"

META_OUTCOMES: Mapping[int, Outcome] = {
    4004: Outcome.NOT_FOUND,  # tracking does not exist
    4005: Outcome.INVALID,  # tracking_number is invalid
    4012: Outcome.NOT_FOUND,  # courier could not be detected
}
"""`meta.code` of an answer without a tracking -> per-number outcome."""

# ----------------------------------------------------------------------------- fetch


def _auth(client: SourceClient) -> dict[str, str]:
    """The key header of every AfterShip call; a missing key is named before any call."""
    if not client.key:
        raise ConfigurationError("TRACKER_AFTERSHIP_KEY", "AfterShip needs an API key")
    return {"as-api-key": client.key}


def fetch(client: SourceClient, numbers: Sequence[str]) -> list[Observation]:
    """One GET per number (the courier slug is unknown, so list filtered by number)."""
    headers = _auth(client)
    observations = []
    for number in numbers:
        response = client.request(
            "GET",
            "trackings",
            params={"tracking_numbers": number},
            headers=headers,
            ok_statuses=(404,),
        )
        observations.append(client.observe(response, [number]))
    return observations


def unregistered(observations: Sequence[Observation]) -> list[str]:
    """The numbers AfterShip has no tracking for: it tracks a number only once a tracking was
    created for it (the list filtered by number comes back empty, or 4004)."""
    numbers: list[str] = []
    for observation, body in p.json_bodies(observations):
        meta = body.get("meta") if isinstance(body, dict) else None
        data = body.get("data") if isinstance(body, dict) else None
        code = meta.get("code") if isinstance(meta, dict) else None
        empty = code == 200 and isinstance(data, dict) and data.get("trackings") == []
        if (empty or code == 4004) and len(observation.numbers) == 1:
            numbers.append(observation.numbers[0])
    return list(dict.fromkeys(numbers))


def register(client: SourceClient, numbers: Sequence[str]) -> list[str]:
    """Create a tracking for each number (one POST each); the numbers AfterShip now tracks
    (created, or refused as existing already: 4003)."""
    headers = _auth(client)
    tracked = []
    for number in numbers:
        response = client.request(
            "POST",
            "trackings",
            json={"tracking": {"tracking_number": number}},
            headers=headers,
            ok_statuses=(400,),
        )
        body = p.load_json(client.observe(response, [number]))
        meta = body.get("meta") if isinstance(body, dict) else None
        if isinstance(meta, dict) and meta.get("code") in (200, 201, 4003):
            tracked.append(number)
    return tracked


def push_numbers(body: Any) -> tuple[str, ...]:
    """The number a webhook push is about (empty if the body does not say)."""
    tracking = _webhook_tracking(body) if isinstance(body, dict) else None
    number = tracking.get("tracking_number") if tracking else None
    return (number,) if isinstance(number, str) and number else ()


# ----------------------------------------------------------------------------- parse


def parse(observation: Observation) -> ParseResult:
    body = p.load_json(observation)
    warnings: list[ParseWarning] = []
    with guard(SOURCE, observation):
        p.need(SOURCE, body, "$", dict)
        answers = [_answer(t, path, warnings) for t, path in _trackings(body)]
        if not answers:
            answers = _meta_answers(body, observation.numbers)
    events, results, warns = assemble(SOURCE, observation.numbers, answers, warnings)
    return ParseResult(events=events, results=results, warnings=warns)


def _webhook_tracking(body: dict[str, Any]) -> dict[str, Any] | None:
    msg = body.get("msg")
    if not isinstance(msg, dict):
        return None
    inner = msg.get("tracking")
    return inner if isinstance(inner, dict) else msg


def _trackings(body: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """Every tracking object in the body, with its path (for error messages)."""
    if "msg" in body:
        tracking = _webhook_tracking(body)
        if tracking is None:
            raise UnparseableResponse(SOURCE, "webhook without a tracking", field="msg")
        return [(tracking, "msg")]
    data = body.get("data")
    if not isinstance(data, dict):
        return []
    if "trackings" in data:
        items = p.get_list(SOURCE, data, "trackings", "data")
        return [
            (p.need(SOURCE, t, f"data.trackings[{i}]", dict), f"data.trackings[{i}]")
            for i, t in enumerate(items)
        ]
    if isinstance(data.get("tracking"), dict):
        return [(data["tracking"], "data.tracking")]
    if "tracking_number" in data:
        return [(data, "data")]
    return []


def _meta_answers(body: dict[str, Any], numbers: Sequence[str]) -> list[Answer]:
    """No tracking in the body: a per-number answer from `meta.code`, or an empty list."""
    meta = body.get("meta")
    code = meta.get("code") if isinstance(meta, dict) else None
    message = p.text(meta.get("message")) if isinstance(meta, dict) else None
    if code in (200, 201) and isinstance(body.get("data"), dict):
        return []  # an empty list: the requested numbers are absent, hence not found
    if isinstance(code, int) and code in META_OUTCOMES:
        return [
            Answer(
                number=n,
                outcome=META_OUTCOMES[code],
                status=Status.NOT_FOUND,
                message=f"{code}: {message}",
            )
            for n in numbers
        ]
    raise UnparseableResponse(
        SOURCE, f"no tracking and meta.code {code!r} ({message})", field="meta.code"
    )


def _answer(tracking: dict[str, Any], path: str, warnings: list[ParseWarning]) -> Answer:
    number = p.need(SOURCE, tracking.get("tracking_number"), f"{path}.tracking_number", str)
    if not number.strip():
        raise UnparseableResponse(SOURCE, "empty number", field=f"{path}.tracking_number")
    tag, subtag = p.text(tracking.get("tag")), p.text(tracking.get("subtag"))
    answer = Answer(
        number=number.strip(),
        ref=p.text(tracking.get("slug")) or p.text(tracking.get("id")),
        message=p.text(tracking.get("subtag_message")),
    )
    if tag == STALE_TAG:
        answer.tracking_state = TrackingState.STALE
    elif tag == PENDING_TAG:
        answer.outcome, answer.tracking_state = Outcome.NOT_FOUND, TrackingState.PENDING
    if tag not in (None, STALE_TAG):
        answer.status, _ = p.lookup(SOURCE, CODES, subtag or tag, warnings, "subtag")
    signed_by = p.text(tracking.get("signed_by"))
    for i, checkpoint in enumerate(p.get_list(SOURCE, tracking, "checkpoints", path)):
        if not isinstance(checkpoint, dict):  # the path is spelt only when it is needed
            p.need(SOURCE, checkpoint, f"{path}.checkpoints[{i}]", dict)
        answer.events.append(_event(answer.number, checkpoint, signed_by, warnings))
    return answer


def _event(
    number: str, raw: dict[str, Any], signed_by: str | None, warnings: list[ParseWarning]
) -> SourceEvent:
    tag, subtag = p.text(raw.get("tag")), p.text(raw.get("subtag"))
    status, substatus = p.lookup(SOURCE, CODES, subtag or tag, warnings, "subtag")
    when = p.iso_reading(raw.get("checkpoint_time"))
    return _NewEvent(
        source=SOURCE,
        source_number=number,
        status=status,
        substatus=substatus,
        raw_description=p.text(raw.get("message")) or "",
        raw_status=tag,
        raw_substatus=subtag,
        raw_code=p.text(raw.get("raw_tag")),
        reporting_carrier=p.text(raw.get("slug")),
        location=_location(raw),
        occurred_local=when.local,
        utc_offset_minutes=when.offset_minutes,
        occurred_at=when.utc,
        tz_provenance=when.provenance,
        raw_time=p.text(raw.get("checkpoint_time")),
        signed_by=signed_by if status is Status.DELIVERED else None,
    )


def _location(raw: Mapping[str, Any]) -> Location:
    fields = tuple(raw.get(k) for k in _LOCATION_KEYS)
    try:
        return _cached_location(*fields)
    except TypeError:  # a field that is not hashable (a list, an object): read it uncached
        return _read_location(*fields)


_LOCATION_KEYS = ("country_name", "country_iso3", "country_region", "location", "city", "state",
                  "postal_code", "zip")  # fmt: skip


def _read_location(name: Any, iso3: Any, region: Any, text: Any, city: Any, state: Any,
                   postal_code: Any, zip_code: Any) -> Location:  # fmt: skip
    """Country: `country_iso3` (later `country_region`); `country_name` sometimes holds a code
    too ("NLD"). A real name is kept in the text for the name helper."""
    name = p.text(name)
    country = country_code(iso3) or country_code(region) or country_code(name)
    text = p.text(text)
    if name and not country_code(name) and not text:
        text = name
    return Location(
        text=text,
        city=p.text(city),
        state=p.text(state),
        postal_code=p.text(postal_code) or p.text(zip_code),
        country=country,
    )


# Checkpoints of one route repeat the same few places: read each once (a frozen value; typed,
# so that 1 and True, which hash alike, are not read as one another).
_cached_location = lru_cache(maxsize=1024, typed=True)(_read_location)
