"""Normalise parsed source events: ISO countries, clean text, and an instant for every time.

Parsers keep what the source said; this stage makes events comparable across sources:

- `location.country` becomes ISO 3166-1 alpha-2 (a name or alpha-3 is converted; a country
  named only at the end of `location.text`, "LOS ANGELES, US", is picked up from there).
- descriptions lose control characters and repeated whitespace.
- an event with a wall clock but no instant gets one, and says how (`tz_provenance`):
  `inferred_location` from the time zone of the event's country (DST-correct, zoneinfo), or,
  for a last-mile event without a country, of the order's destination (last-mile scans happen
  there); otherwise `assumed_utc` (the wall clock read as UTC, so the event can still be
  ordered) and one warning per source says so. A carrier-given instant is never overwritten.
- a sub-status outside the canonical set becomes `unknown.other` with a warning. Unmapped
  source codes were already reported by the parsers, so `unknown.other` itself is not.

Pure and cheap: country and zone look-ups are cached, and an event that needs no change is
passed through as the same object.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from datetime import UTC
from functools import lru_cache
from operator import attrgetter
from zoneinfo import ZoneInfo

from tracker import countries
from tracker.model import (
    UNKNOWN_SUBSTATUS,
    Location,
    ParseWarning,
    SourceEvent,
    Status,
    TzProvenance,
    is_substatus,
    offset_minutes,
)
from tracker.quickbuild import quick

# Statuses whose scans happen in the destination country: their zone may be inferred from it.
_LAST_MILE: frozenset[Status] = frozenset(
    {
        Status.OUT_FOR_DELIVERY,
        Status.AVAILABLE_FOR_PICKUP,
        Status.DELIVERY_ATTEMPTED,
        Status.DELIVERED,
    }
)
_SPACE = re.compile(r"\s+")


def normalise(
    events: Iterable[SourceEvent], *, destination_country: str | None = None
) -> tuple[list[SourceEvent], list[ParseWarning]]:
    """The events made comparable (same order as given), and the warnings raised doing so."""
    destination = _iso2(destination_country) if destination_country else None
    out: list[SourceEvent] = []
    warnings: list[ParseWarning] = []
    assumed: dict[str, int] = {}
    for event in events:
        done = _normalise_one(event, destination, warnings)
        assumed_now = done.tz_provenance is TzProvenance.ASSUMED_UTC
        if assumed_now and event.tz_provenance is not TzProvenance.ASSUMED_UTC:
            assumed[event.source] = assumed.get(event.source, 0) + 1
        out.append(done)
    for source, count in assumed.items():
        warnings.append(
            ParseWarning(
                source,
                f"{count} event(s) have a wall-clock time but no known time zone; "
                "read as UTC (tz_provenance assumed_utc)",
            )
        )
    return out, warnings


def _normalise_one(
    event: SourceEvent, destination: str | None, warnings: list[ParseWarning]
) -> SourceEvent:
    changes: dict[str, object] = {}
    location = _location(event.location)
    if location is not event.location:
        changes["location"] = location
    description = clean_text(event.raw_description)
    if description != event.raw_description:
        changes["raw_description"] = description
    if not _is_substatus(event.substatus):
        warnings.append(ParseWarning(event.source, f"unknown sub-status {event.substatus!r}"))
        changes["status"] = Status.UNKNOWN
        changes["substatus"] = UNKNOWN_SUBSTATUS
    if event.occurred_at is None:
        if event.occurred_local is not None:
            changes.update(_infer_instant(event, location.country, destination))
    elif event.occurred_at.tzinfo is None:
        # A parser bug would otherwise crash every comparison; read it as UTC, and say so.
        changes["occurred_at"] = event.occurred_at.replace(tzinfo=UTC)
        changes["tz_provenance"] = TzProvenance.ASSUMED_UTC
    return _replace(event, changes) if changes else event


# `dataclasses.replace` re-reads the class's fields on every call; a third of the events (naive
# wall clocks) are rebuilt here, so the fields are read once, all at once by a C getter, and
# passed in declaration order.
_EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(SourceEvent))
_ALL_FIELDS = attrgetter(*_EVENT_FIELDS)
_FIELD_INDEX = {name: i for i, name in enumerate(_EVENT_FIELDS)}
_NewEvent = quick(SourceEvent)  # a genuine frozen SourceEvent, ~4x cheaper to build


def _replace(event: SourceEvent, changes: dict[str, object]) -> SourceEvent:
    values = list(_ALL_FIELDS(event))
    for name, value in changes.items():
        values[_FIELD_INDEX[name]] = value
    return _NewEvent(*values)


def _infer_instant(
    event: SourceEvent, country: str | None, destination: str | None
) -> dict[str, object]:
    local = event.occurred_local
    assert local is not None
    if local.tzinfo is not None:  # an aware "wall clock" already names its instant
        return {"occurred_at": local.astimezone(UTC), "occurred_local": local.replace(tzinfo=None)}
    if country is None and event.status in _LAST_MILE:
        country = destination
    zone = _zone(country) if country else None
    if zone is None:
        return {
            "occurred_at": local.replace(tzinfo=UTC),
            "tz_provenance": TzProvenance.ASSUMED_UTC,
        }
    aware = local.replace(tzinfo=zone)
    return {
        "occurred_at": aware.astimezone(UTC),
        "utc_offset_minutes": offset_minutes(aware.utcoffset()),
        "tz_provenance": TzProvenance.INFERRED_LOCATION,
    }


def _location(location: Location) -> Location:
    """The location with an ISO-2 country (or None when it can't be known)."""
    if location.country is not None:
        code = _iso2(location.country)
        if code == location.country:
            return location
        # An unrecognised country keeps its words in `text` rather than vanishing.
        text = location.text if (code or location.text) else location.country
        return dataclasses.replace(location, country=code, text=text)
    if location.text:
        code = _country_in_text(location.text)
        if code is not None:
            return dataclasses.replace(location, country=code)
    return location


def clean_text(value: str) -> str:
    """`value` without control characters and with single spaces (fast when already clean)."""
    if value.isprintable() and "  " not in value and value == value.strip():
        return value
    kept = "".join(ch if ch.isprintable() else " " for ch in value)
    return _SPACE.sub(" ", kept).strip()


# A few hundred canonical sub-statuses, checked for every event.
_is_substatus = lru_cache(maxsize=1024)(is_substatus)


@lru_cache(maxsize=4096)
def _iso2(value: str) -> str | None:
    return countries.iso2(value)


@lru_cache(maxsize=4096)
def _country_in_text(text: str) -> str | None:
    """A country named by the last comma-separated part of a location text, else the whole."""
    _head, sep, tail = text.rpartition(",")
    if sep and tail.strip():
        code = countries.iso2(tail.strip())
        if code is not None:
            return code
    return countries.iso2(text.strip()) if not sep else None


@lru_cache(maxsize=512)
def _zone(country: str) -> ZoneInfo | None:
    name = countries.zone(country)
    return ZoneInfo(name) if name else None
