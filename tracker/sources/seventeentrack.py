"""17TRACK: the Tracking API v2.4 (`gettrackinfo`), its webhook pushes, and the legacy buyer
profile API (`buyer.17track.net`, the shape py17track reads).

Times: 17TRACK relays each carrier's clock. `time_iso` (wall clock with offset) and `time_utc`
are both 17TRACK's conversions, and they can disagree (an India Post scan 30 min off) or be null
(only `time_raw` filled). When both agree we keep wall clock, offset and instant; when they
disagree we keep the wall clock and 17TRACK's UTC without an offset, and say so in a warning;
when only `time_raw` is there the wall clock is all we know.

`Delivered_Other` stays delivered even when the text says otherwise: judging the text is the
judge's job (rule text_contradiction), and the raw text is kept for it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
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
    TzProvenance,
)
from tracker.quickbuild import quick
from tracker.sources import _parse as p
from tracker.sources import _seventeentrack_profile as profile
from tracker.sources._answers import Answer, assemble, dump_raw, guard, sub
from tracker.sources._iso3 import country_code
from tracker.sources._offsets import parse_offset
from tracker.sources._sections import by_number, keep
from tracker.sources.base import RateLimit, SourceSpec
from tracker.sources.http import SourceClient

# a genuine frozen SourceEvent, built ~4x cheaper: one per source event (tracker.quickbuild)
_NewEvent = quick(SourceEvent)
SOURCE = "17track"

SPEC = SourceSpec(
    name=SOURCE,
    base_url="https://api.17track.net/track/v2.4",
    batch_size=40,  # hard limit per call (error -18010014 beyond it)
    rate_limit=RateLimit(calls=3, period=1.0),
    auth="header 17token: <API key>",
    key_required=True,
)

CODES: Mapping[str, str] = {
    "NotFound_Other": "not_found.not_yet_available",
    "NotFound_InvalidCode": "not_found.invalid_number",
    "InfoReceived": "pre_transit.info_received",
    "InTransit_PickedUp": "in_transit.picked_up",
    "InTransit_Departure": "in_transit.linehaul_departed",
    "InTransit_Arrival": "in_transit.linehaul_arrived",
    "InTransit_CustomsProcessing": "in_transit.import_customs_processing",
    "InTransit_CustomsReleased": "in_transit.import_customs_released",
    "InTransit_CustomsRequiringInformation": "exception.customs_info_required",
    "InTransit_Other": "in_transit.other",
    "InTransit_TransportArrived": "in_transit.other",
    "InTransit_TransportDeparted": "in_transit.other",
    "AvailableForPickup_Other": "available_for_pickup.other",
    "OutForDelivery_Other": "out_for_delivery.out_for_delivery",
    "DeliveryFailure_NoBody": "delivery_attempted.recipient_unavailable",
    "DeliveryFailure_Security": "delivery_attempted.security_issue",
    "DeliveryFailure_Rejected": "delivery_attempted.refused",
    "DeliveryFailure_InvalidAddress": "delivery_attempted.address_issue",
    "DeliveryFailure_Other": "delivery_attempted.other",
    "Delivered_Other": "delivered.delivered",
    "Exception_Returning": "returning.return_initiated",
    "Exception_Returned": "returned.returned_to_sender",
    "Exception_NoBody": "exception.other",
    "Exception_Security": "exception.held_by_carrier",
    "Exception_Damage": "exception.damaged",
    "Exception_Rejected": "returning.refused",
    "Exception_Delayed": "exception.delayed",
    "Exception_Lost": "failed.lost",
    "Exception_Destroyed": "failed.destroyed",
    "Exception_Cancel": "cancelled.order_cancelled",
    "Exception_Other": "exception.other",
}
"""Event/latest `sub_status` -> canonical sub-status (carriers.md §10.3)."""

STAGES: Mapping[str, str] = {
    "InfoReceived": "pre_transit.info_received",
    "PickedUp": "in_transit.picked_up",
    "Departure": "in_transit.linehaul_departed",
    "Arrival": "in_transit.linehaul_arrived",
    "AvailableForPickup": "available_for_pickup.other",
    "OutForDelivery": "out_for_delivery.out_for_delivery",
    "Delivered": "delivered.delivered",
    "Returning": "returning.return_initiated",
    "Returned": "returned.returned_to_sender",
}
"""Milestone `stage` -> canonical, used only for events that carry no `sub_status` (v2.2)."""

AT_ORIGIN: Mapping[str, str] = {
    "InTransit_CustomsProcessing": "in_transit.export_customs_started",
    "InTransit_CustomsReleased": "in_transit.export_customs_cleared",
}
"""Customs codes read as export customs when the scan is in the shipper's country."""

PACKAGE_STATES = profile.PACKAGE_STATES  # legacy profile API codes, kept beside the others

STALE_STATUSES = frozenset({"Expired", "Expired_Other"})

REJECTED: Mapping[int, tuple[Outcome, TrackingState]] = {
    -18019902: (Outcome.NOT_FOUND, TrackingState.PENDING),  # not registered (yet)
    -18019903: (Outcome.NOT_FOUND, TrackingState.ACTIVE),  # carrier not detected
    -18019909: (Outcome.NOT_FOUND, TrackingState.PENDING),  # registered, no info yet
    -18010012: (Outcome.INVALID, TrackingState.NOT_FOUND_FINAL),  # invalid number format
}
"""`rejected[].error.code` -> per-number outcome; other codes are not_found with the message."""

# ----------------------------------------------------------------------------- fetch


def _auth(client: SourceClient) -> dict[str, str]:
    """The key header of every 17TRACK call; a missing key is named before any call."""
    if not client.key:
        raise ConfigurationError("TRACKER_17TRACK_KEY", "17TRACK needs an API key")
    return {"17token": client.key}


def fetch(client: SourceClient, numbers: Sequence[str]) -> list[Observation]:
    """POST gettrackinfo with a JSON array, at most 40 numbers per call."""
    headers = _auth(client)
    observations = []
    for start in range(0, len(numbers), SPEC.batch_size):
        batch = list(numbers[start : start + SPEC.batch_size])
        response = client.request(
            "POST",
            "gettrackinfo",
            json=[{"number": n} for n in batch],
            headers=headers,
        )
        observations.append(client.observe(response, batch))
    return observations


NOT_REGISTERED, ALREADY_REGISTERED = -18019902, -18019901


def unregistered(observations: Sequence[Observation]) -> list[str]:
    """The numbers `gettrackinfo` rejected as not registered: 17TRACK tracks a number only
    once it is registered (one quota unit each), so they are to be registered."""
    numbers: list[str] = []
    for _, body in p.json_bodies(observations):
        data = body.get("data") if isinstance(body, dict) else None
        rejected = data.get("rejected") if isinstance(data, dict) else None
        for item in rejected if isinstance(rejected, list) else ():
            error = item.get("error") if isinstance(item, dict) else None
            number = item.get("number") if isinstance(item, dict) else None
            if isinstance(error, dict) and error.get("code") == NOT_REGISTERED and number:
                numbers.append(str(number))
    return list(dict.fromkeys(numbers))


def register(client: SourceClient, numbers: Sequence[str]) -> list[str]:
    """POST register, at most 40 numbers per call; the numbers 17TRACK now tracks (accepted,
    or rejected as registered already)."""
    headers = _auth(client)
    tracked: list[str] = []
    for start in range(0, len(numbers), SPEC.batch_size):
        batch = list(numbers[start : start + SPEC.batch_size])
        response = client.request(
            "POST", "register", json=[{"number": n} for n in batch], headers=headers
        )
        body = p.load_json(client.observe(response, batch))
        data = body.get("data") if isinstance(body, dict) else None
        for key, wanted in (("accepted", None), ("rejected", ALREADY_REGISTERED)):
            items = data.get(key) if isinstance(data, dict) else None
            for item in items if isinstance(items, list) else ():
                error = item.get("error") if isinstance(item, dict) else None
                code = error.get("code") if isinstance(error, dict) else None
                if isinstance(item, dict) and item.get("number") and code == wanted:
                    tracked.append(str(item["number"]))
    return tracked


def push_numbers(body: Any) -> tuple[str, ...]:
    """The number a webhook push is about (empty if the body does not say)."""
    data = body.get("data") if isinstance(body, dict) else None
    number = data.get("number") if isinstance(data, dict) else None
    return (number,) if isinstance(number, str) and number else ()


# ----------------------------------------------------------------------------- parse


def parse(observation: Observation) -> ParseResult:
    body = p.load_json(observation)
    with guard(SOURCE, observation):
        answers, warnings = _answers(observation, body)
    events, results, warns = assemble(SOURCE, observation.numbers, answers, warnings)
    return ParseResult(events=events, results=results, warnings=warns)


def _answers(observation: Observation, body: Any) -> tuple[list[Answer], list[ParseWarning]]:
    p.need(SOURCE, body, "$", dict)
    warnings: list[ParseWarning] = []
    if "event" in body:
        return _webhook(body, warnings), warnings
    if "Json" in body:
        return profile.answers(body, warnings), warnings
    if "code" in body and "data" in body:
        return _v2(body, warnings), warnings
    raise UnparseableResponse(
        SOURCE, "neither gettrackinfo, webhook nor profile shape", observation.text, field="$"
    )


def _v2(body: dict[str, Any], warnings: list[ParseWarning]) -> list[Answer]:
    data = body.get("data")
    if body.get("code") != 0:
        errors = data.get("errors") if isinstance(data, dict) else None
        raise UnparseableResponse(
            SOURCE, f"call failed with code {body.get('code')!r}: {errors!r}", field="code"
        )
    data = p.get_dict(SOURCE, body, "data", "$")
    answers = [
        _accepted(p.need(SOURCE, item, f"data.accepted[{i}]", dict), warnings)
        for i, item in enumerate(p.get_list(SOURCE, data, "accepted", "data"))
    ]
    for i, item in enumerate(p.get_list(SOURCE, data, "rejected", "data")):
        answers.append(_rejected(p.need(SOURCE, item, f"data.rejected[{i}]", dict), i))
    return answers


# Parts of track_info that `parse` never reads and that change with the calendar alone
# (days_after_last_update grows every day): left out of a number's digest, so a parcel that
# did not move is not parsed again because a day passed.
_UNREAD_VOLATILE = ("time_metrics",)


def split(body: Any, requested: Sequence[str]) -> dict[str, list[Any]] | None:
    """Each requested number's accepted/rejected items, tagged, as digested (`_sections`):
    only for a successful gettrackinfo answer whose items name exactly the numbers asked for."""
    if not isinstance(body, dict) or "event" in body or "Json" in body:
        return None
    data = body.get("data")
    if type(body.get("code")) is not int or body["code"] != 0 or not isinstance(data, dict):
        return None
    accepted, rejected = _list(data, "accepted"), _list(data, "rejected")
    if accepted is None or rejected is None:
        return None
    tagged = [("accepted", i) for i in accepted] + [("rejected", i) for i in rejected]
    if by_number([item for _, item in tagged], "number", requested) is None:
        return None
    parts: dict[str, list[Any]] = {number: [] for number in requested}
    for tag, item in tagged:  # tagged: an item moving from accepted to rejected is new
        parts[item["number"]].append([tag, _digestible(item) if tag == "accepted" else item])
    return parts


def _list(data: Mapping[str, Any], key: str) -> list[Any] | None:
    """`data[key]` as `parse` reads it (absent or null: empty), None if not a list."""
    value = data.get(key)
    if value is None:
        return []
    return value if isinstance(value, list) else None


def _digestible(item: Any) -> Any:
    info = item.get("track_info") if isinstance(item, dict) else None
    if not isinstance(info, dict) or not any(k in info for k in _UNREAD_VOLATILE):
        return item
    return {**item, "track_info": {k: v for k, v in info.items() if k not in _UNREAD_VOLATILE}}


def narrow(body: dict[str, Any], numbers: Collection[str]) -> dict[str, Any]:
    """The answer with only the items of `numbers` (a body `split` accepted)."""
    data = body["data"]
    return {
        **body,
        "data": {
            **data,
            "accepted": keep(_list(data, "accepted") or [], "number", numbers),
            "rejected": keep(_list(data, "rejected") or [], "number", numbers),
        },
    }


def _number(item: Mapping[str, Any], path: str) -> str:
    number = p.need(SOURCE, item.get("number"), f"{path}.number", (str, int))
    if isinstance(number, bool) or not str(number).strip():
        raise UnparseableResponse(SOURCE, "empty number", field=f"{path}.number")
    return str(number).strip()


def _rejected(item: dict[str, Any], index: int) -> Answer:
    number = _number(item, f"data.rejected[{index}]")
    error = sub(item, "error")
    code = error.get("code")
    outcome, state = (
        REJECTED.get(code, (Outcome.NOT_FOUND, TrackingState.ACTIVE))
        if isinstance(code, int)
        else (Outcome.NOT_FOUND, TrackingState.ACTIVE)
    )
    return Answer(
        number=number,
        outcome=outcome,
        tracking_state=state,
        status=Status.NOT_FOUND,
        message=f"{code}: {p.text(error.get('message'))}",
    )


def _webhook(body: dict[str, Any], warnings: list[ParseWarning]) -> list[Answer]:
    event = body.get("event")
    data = p.get_dict(SOURCE, body, "data", "$")
    if event == "TRACKING_STOPPED":
        return [
            Answer(
                number=_number(data, "data"),
                tracking_state=TrackingState.STOPPED,
                message="tracking stopped by 17TRACK",
            )
        ]
    if event == "TRACKING_UPDATED":
        return [_accepted(data, warnings, path="data")]
    raise UnparseableResponse(SOURCE, f"unknown webhook event {event!r}", field="event")


def _accepted(
    item: dict[str, Any], warnings: list[ParseWarning], path: str = "data.accepted[]"
) -> Answer:
    number = _number(item, path)
    info = item.get("track_info")
    if info is None:
        return Answer(
            number=number,
            outcome=Outcome.NOT_FOUND,
            tracking_state=TrackingState.PENDING,
            message="no track_info yet",
        )
    info = p.need(SOURCE, info, f"{path}.track_info", dict)
    latest = sub(info, "latest_status")
    answer = _summary(number, latest, warnings)
    ship = sub(info, "shipping_info")
    origin = _country_of(ship.get("shipper_address"))
    destination = _country_of(ship.get("recipient_address"))
    tracking = sub(info, "tracking")
    for i, prov in enumerate(p.get_list(SOURCE, tracking, "providers", f"{path}.tracking")):
        prov = p.need(SOURCE, prov, f"{path}.tracking.providers[{i}]", dict)
        carrier = _carrier(prov.get("provider"))
        for j, raw in enumerate(p.get_list(SOURCE, prov, "events", f"providers[{i}]")):
            if not isinstance(raw, dict):  # the path is spelt only when it is needed
                p.need(SOURCE, raw, f"providers[{i}].events[{j}]", dict)
            answer.events.append(_event(number, carrier, raw, (origin, destination), warnings))
    return answer


def _summary(number: str, latest: Mapping[str, Any], warnings: list[ParseWarning]) -> Answer:
    status, sub = p.text(latest.get("status")), p.text(latest.get("sub_status"))
    if status in STALE_STATUSES or sub in STALE_STATUSES:
        return Answer(number=number, tracking_state=TrackingState.STALE, message="Expired")
    if sub is None:
        return Answer(number=number)
    canonical, _ = p.lookup(SOURCE, CODES, sub, warnings, "sub_status")
    code = sub
    if canonical is Status.NOT_FOUND:
        outcome = Outcome.INVALID if code == "NotFound_InvalidCode" else Outcome.NOT_FOUND
        return Answer(
            number=number,
            outcome=outcome,
            tracking_state=TrackingState.PENDING,
            status=canonical,
            message=p.text(latest.get("sub_status_descr")),
        )
    return Answer(number=number, status=canonical)


def _carrier(provider: Any) -> str | None:
    if not isinstance(provider, dict):
        return None
    return p.text(provider.get("name")) or p.text(provider.get("key"))


def _country_of(address: Any) -> str | None:
    return country_code(address.get("country")) if isinstance(address, dict) else None


def _event(
    number: str,
    carrier: str | None,
    raw: dict[str, Any],
    route: tuple[str | None, str | None],
    warnings: list[ParseWarning],
) -> SourceEvent:
    sub, stage = raw.get("sub_status"), raw.get("stage")
    location = _location(raw)
    code, table, what = (
        (sub, CODES, "sub_status")
        if isinstance(sub, str) and sub
        else (
            (stage, STAGES, "stage")
            if isinstance(stage, str) and stage
            else (None, CODES, "sub_status")
        )
    )
    if code in AT_ORIGIN and location.country and location.country == route[0] != route[1]:
        table = AT_ORIGIN
    status, substatus = p.lookup(SOURCE, table, code, warnings, what)
    when = _time(raw, warnings)
    return _NewEvent(
        source=SOURCE,
        source_number=number,
        status=status,
        substatus=substatus,
        raw_description=_description(raw),
        raw_status=p.text(stage),
        raw_substatus=p.text(sub),
        raw_code=code,
        reporting_carrier=carrier,
        location=location,
        occurred_local=when.local,
        utc_offset_minutes=when.offset_minutes,
        occurred_at=when.utc,
        tz_provenance=when.provenance,
        raw_time=when.raw,
    )


def _description(raw: Mapping[str, Any]) -> str:
    text = p.text(raw.get("description")) or ""
    translation = raw.get("description_translation")
    if isinstance(translation, dict):
        english = p.text(translation.get("description"))
        if english and english != text:
            return f"{text} [{translation.get('lang') or 'en'}: {english}]" if text else english
    return text


def _location(raw: Mapping[str, Any]) -> Location:
    address = sub(raw, "address")
    fields = (raw.get("location"), address.get("country"), address.get("city"),
              address.get("state"), address.get("postal_code"))  # fmt: skip
    try:
        return _cached_location(*fields)
    except TypeError:  # a field that is not hashable (a list, an object): read it uncached
        return _read_location(*fields)


def _read_location(text_raw: Any, country_raw: Any, city: Any, state: Any,
                   postal_code: Any) -> Location:  # fmt: skip
    country_raw = p.text(country_raw)
    country = country_code(country_raw)
    text = p.text(text_raw)
    if country_raw and not country and not text:
        text = country_raw  # a country name: the name helper reads it later
    return Location(
        text=text,
        city=p.text(city),
        state=p.text(state),
        postal_code=p.text(postal_code),
        country=country,
    )


# Scans of one route repeat the same few places: read each once (a Location is a frozen value;
# typed, so that 1 and True, which hash alike, are not read as one another).
_cached_location = lru_cache(maxsize=1024, typed=True)(_read_location)


def _time(raw: Mapping[str, Any], warnings: list[ParseWarning]) -> p.TimeReading:
    fields = {k: v for k in ("time_iso", "time_utc", "time_raw") if (v := raw.get(k))}
    raw_text = dump_raw(fields)
    iso = p.iso_reading(raw.get("time_iso"))
    utc = p.iso_instant(raw.get("time_utc"))  # only its instant is ever used
    if iso.utc and (utc is None or utc == iso.utc):
        return p.QuickReading(iso.local, iso.offset_minutes, iso.utc, iso.provenance, raw_text)
    local_raw = _raw_reading(raw.get("time_raw"))  # only needed when the ISO fields fall short
    local = iso.local or local_raw.local
    if iso.utc and utc:
        warnings.append(
            ParseWarning(
                SOURCE,
                f"time_iso {raw.get('time_iso')} and time_utc "
                f"{raw.get('time_utc')} disagree; kept time_utc",
            )
        )
    if utc:
        return p.QuickReading(local, None, utc, TzProvenance.AGGREGATOR_UTC, raw_text)
    if local_raw.utc:
        return p.QuickReading(
            local_raw.local, local_raw.offset_minutes, local_raw.utc, local_raw.provenance, raw_text
        )
    return p.QuickReading(local, None, None, TzProvenance.UNKNOWN, raw_text)


def _raw_reading(value: Any) -> p.TimeReading:
    if not isinstance(value, dict):
        return p.NO_TIME
    date, clock = value.get("date"), value.get("time")
    if not isinstance(date, str) or not isinstance(clock, str):
        return p.NO_TIME
    reading = p.naive_reading(f"{date} {clock}", "%Y-%m-%d %H:%M:%S")
    offset = parse_offset(value.get("timezone"))
    if reading.local is None or offset is None:
        return reading
    return p.with_offset(reading.local, offset, TzProvenance.CARRIER_OFFSET)
