"""17TRACK's legacy buyer profile API (buyer.17track.net, the shape py17track reads).

Each `Json[]` entry is one package with only its last event, and that event is JSON inside a
string (`FLastEvent`): `a` is the wall clock ("YYYY-MM-DD HH:MM[:SS]" or a bare date), `c` a
city, `d` a country (usually a name), `z` the text; newer entries add `dd{d,t,tz}` whose `t` can
be missing or impossible ("42:05:34") and whose `tz` can be null. The package state
`FPackageState` uses the v1 codes; `FTrackStateType` is the package *type*, not a status.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from tracker.errors import UnparseableResponse
from tracker.model import (
    Location,
    ParseWarning,
    SourceEvent,
    Status,
    TrackingState,
    TzProvenance,
    status_of,
)
from tracker.sources import _parse as p
from tracker.sources._answers import Answer, dump_raw, sub
from tracker.sources._iso3 import country_code
from tracker.sources._offsets import parse_offset

SOURCE = "17track"

PACKAGE_STATES: Mapping[str, str] = {
    "0": "not_found.not_yet_available",
    "10": "in_transit.other",
    "30": "available_for_pickup.other",
    "35": "delivery_attempted.other",
    "40": "delivered.delivered",
    "50": "exception.other",
}
"""Legacy profile API `FPackageState` (v1 `e`); 20 (expired) is a tracking state."""

_LEGACY_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")


def answers(body: dict[str, Any], warnings: list[ParseWarning]) -> list[Answer]:
    answers = []
    for i, entry in enumerate(p.get_list(SOURCE, body, "Json", "$")):
        entry = p.need(SOURCE, entry, f"Json[{i}]", dict)
        number = p.text(p.need(SOURCE, entry.get("FTrackNo"), f"Json[{i}].FTrackNo", (str, int)))
        if not number:
            raise UnparseableResponse(SOURCE, "empty number", field=f"Json[{i}].FTrackNo")
        answers.append(_legacy_answer(number, entry, warnings))
    return answers


def _legacy_answer(number: str, entry: dict[str, Any], warnings: list[ParseWarning]) -> Answer:
    state = entry.get("FPackageState")
    ref = p.text(entry.get("FTrackInfoId"))
    answer = Answer(number=number, ref=ref)
    if state is not None and str(state) == "20":
        answer.tracking_state = TrackingState.STALE
    last = _last_event(entry.get("FLastEvent"), number, warnings)
    if last is None:
        return answer
    if state is None:
        warnings.append(
            ParseWarning(SOURCE, "profile entry without FPackageState: event status unknown")
        )
        status, substatus = Status.UNKNOWN, "unknown.other"
    elif str(state) == "20":
        status, substatus = Status.UNKNOWN, "unknown.other"
    else:
        status, substatus = p.lookup(SOURCE, PACKAGE_STATES, str(state), warnings, "FPackageState")
    answer.status = None if status is Status.UNKNOWN else status_of(substatus)
    answer.events.append(
        _legacy_event(
            number, last, status, substatus, raw_state=None if state is None else str(state)
        )
    )
    return answer


def _last_event(value: Any, number: str, warnings: list[ParseWarning]) -> dict[str, Any] | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        event = None
    if not isinstance(event, dict):
        warnings.append(ParseWarning(SOURCE, f"FLastEvent of {number} is not a JSON object"))
        return None
    return event


def _legacy_event(
    number: str, raw: dict[str, Any], status: Status, substatus: str, raw_state: str | None
) -> SourceEvent:
    city, country_raw = p.text(raw.get("c")), p.text(raw.get("d"))
    country = country_code(country_raw)
    text = ", ".join(x for x in (city, country_raw) if x) or None
    when = _legacy_time(raw)
    return SourceEvent(
        source=SOURCE,
        source_number=number,
        status=status,
        substatus=substatus,
        raw_description=p.text(raw.get("z")) or "",
        raw_status=raw_state,
        raw_code=raw_state,
        location=Location(text=text, city=city, country=country),
        occurred_local=when.local,
        utc_offset_minutes=when.offset_minutes,
        occurred_at=when.utc,
        tz_provenance=when.provenance,
        raw_time=when.raw,
    )


def _legacy_time(raw: Mapping[str, Any]) -> p.TimeReading:
    """`a` is the wall clock; `dd{d,t,tz}` (newer entries) may add the offset. A `t` that is
    missing or impossible ("42:05:34") falls back to `a`; an offset applies only to its own date."""
    stamp = raw.get("a") if isinstance(raw.get("a"), str) else None
    dd = sub(raw, "dd")
    raw_text = dump_raw({"a": stamp, "dd": raw.get("dd")})
    local = _dd_local(dd) or _legacy_local(stamp)
    if local is None:
        return p.TimeReading(raw=raw_text)
    offset = parse_offset(dd.get("tz"))
    if offset is None or dd.get("d") != local.date().isoformat():
        return p.TimeReading(local=local, raw=raw_text)
    return p.with_offset(local, offset, TzProvenance.CARRIER_OFFSET, raw_text)


def _dd_local(dd: Mapping[str, Any]) -> datetime | None:
    day, clock = dd.get("d"), dd.get("t")
    if not isinstance(day, str) or not isinstance(clock, str):
        return None
    return p.naive_reading(f"{day} {clock}", "%Y-%m-%d %H:%M:%S").local


def _legacy_local(stamp: str | None) -> datetime | None:
    for fmt in _LEGACY_FORMATS:
        reading = p.naive_reading(stamp, fmt)
        if reading.local is not None:
            return reading.local
    return None
