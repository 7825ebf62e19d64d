"""Pure helpers every parser shares: safe decoding, field access that names the field, time
readings that keep wall clock, offset, UTC instant and provenance apart, and code lookups that
turn an unmapped code into `unknown.other` plus a warning (never a silent `in_transit`)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from xml.etree.ElementTree import Element

import orjson

from tracker.errors import UnparseableResponse
from tracker.model import (
    UNKNOWN_SUBSTATUS,
    Observation,
    ParseWarning,
    Status,
    TzProvenance,
    status_of,
)
from tracker.quickbuild import quick

# ----------------------------------------------------------------------------- decoding


def load_json(observation: Observation) -> Any:
    """The observation's JSON value. A str payload is decoded; NaN/Infinity, deep nesting and
    truncated bodies become `UnparseableResponse` naming the source."""
    payload = observation.payload
    if not isinstance(payload, str | bytes | bytearray):
        return payload
    try:
        return orjson.loads(payload)
    except (orjson.JSONDecodeError, RecursionError, ValueError) as exc:
        raise UnparseableResponse(observation.source, f"not JSON: {exc}", payload) from exc


def json_bodies(observations: Iterable[Observation]) -> Iterator[tuple[Observation, Any]]:
    """Each observation with its decoded JSON body; one that is not JSON is left out (its own
    parse reports it)."""
    for observation in observations:
        try:
            yield observation, load_json(observation)
        except UnparseableResponse:
            continue


def load_xml(observation: Observation) -> Element:
    from defusedxml import ElementTree as SafeET  # lazy: only XML sources pay for it

    payload = observation.payload
    if not isinstance(payload, str | bytes | bytearray):
        raise UnparseableResponse(observation.source, "expected an XML document as text")
    try:
        root: Element = SafeET.fromstring(payload)
    except Exception as exc:  # ParseError, DefusedXmlException, ValueError...
        raise UnparseableResponse(observation.source, f"not XML: {exc}", payload) from exc
    return root


def need(source: str, value: Any, path: str, kind: type | tuple[type, ...]) -> Any:
    """`value` if it is of `kind`, else `UnparseableResponse` naming `path`."""
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise UnparseableResponse(
            source, f"expected {names}, got {type(value).__name__}", field=path
        )
    return value


def get_dict(source: str, obj: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
    return need(source, obj.get(key), f"{path}.{key}", dict)  # type: ignore[no-any-return]


def get_list(
    source: str, obj: Mapping[str, Any], key: str, path: str, default_empty: bool = True
) -> list[Any]:
    value = obj.get(key)
    if value is None and default_empty:
        return []
    return need(source, value, f"{path}.{key}", list)  # type: ignore[no-any-return]


def text(value: Any) -> str | None:
    """A cleaned single-line string, or None for empty/absent. HTML tags and control
    characters are stripped; whitespace is collapsed."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    # Codes, places and descriptions recur across events: short ones are cleaned once. Long
    # texts are not kept, so the cache's memory stays small whatever the payloads hold.
    return _cached_clean(value) if len(value) <= _CACHED_LENGTH else _clean(value)


def _clean(value: str) -> str | None:
    if value.isprintable() and "<" not in value and "&" not in value:
        # The usual case, and the hot one (every field of every event): a printable string has
        # no control or format characters, and its only whitespace is the plain space, so the
        # general path below would just collapse runs of spaces.
        return " ".join(value.split()) or None
    if "<" in value and ">" in value:
        value = _TAG.sub("", value)
    if "&" in value:
        import html

        value = html.unescape(value)
    value = "".join(
        ch for ch in value if unicodedata.category(ch) not in _DROP_CATEGORIES or ch in " \n\t"
    )
    value = _SPACE.sub(" ", value).strip()
    return value or None


_CACHED_LENGTH = 200
_cached_clean = lru_cache(maxsize=8192)(_clean)
_TAG = re.compile(r"<[^<>]{0,200}>")
_SPACE = re.compile(r"\s+")
_DROP_CATEGORIES = frozenset({"Cc", "Cf"})

# ----------------------------------------------------------------------------- times


@dataclass(frozen=True, slots=True)
class TimeReading:
    local: datetime | None = None
    offset_minutes: int | None = None
    utc: datetime | None = None
    provenance: TzProvenance = TzProvenance.UNKNOWN
    raw: str | None = None


NO_TIME = TimeReading()
# Frozen TimeReadings, built without frozen's per-field __setattr__ (one per event).
QuickReading = quick(TimeReading)
_NO_OFFSET = timedelta(0)

_ISO_FIX = re.compile(r"([+-]\d{2})(\d{2})$")


def _fromiso(value: str) -> datetime:
    value = value.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    if len(value) > 5 and value[-5] in "+-":  # only then can _ISO_FIX match (value is stripped)
        value = _ISO_FIX.sub(r"\1:\2", value)
    return datetime.fromisoformat(value.replace(" ", "T", 1) if "T" not in value else value)


def iso_reading(
    value: Any,
    *,
    utc_provenance: TzProvenance = TzProvenance.CARRIER_UTC,
    offset_provenance: TzProvenance = TzProvenance.CARRIER_OFFSET,
) -> TimeReading:
    """Read an ISO-8601 string. With an offset: wall clock + offset + instant. With `Z`: the
    instant (`utc_provenance`). Naive: wall clock only, instant unknown. Unreadable: NO_TIME
    with the raw string kept."""
    if not isinstance(value, str):
        return NO_TIME
    stripped = value.strip()
    if not stripped:
        return NO_TIME
    try:
        moment = _fromiso(stripped)
        if moment.tzinfo is None:
            return QuickReading(moment, None, None, TzProvenance.UNKNOWN, value)
        offset = moment.utcoffset() or _NO_OFFSET
        utc = moment.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset pushing past year 1/9999
        return QuickReading(raw=value)
    # Positional construction below: this runs for every timed event of most sources.
    if not offset and stripped.upper().endswith("Z"):
        return QuickReading(None, None, utc, utc_provenance, value)
    local = moment.replace(tzinfo=None)
    return QuickReading(local, int(offset.total_seconds() // 60), utc, offset_provenance, value)


def iso_instant(value: Any) -> datetime | None:
    """`iso_reading(value).utc` without building the reading: the UTC instant of an ISO-8601
    string with an offset or `Z`, else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = _fromiso(value)
        return None if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def naive_reading(value: str | None, fmt: str, raw: str | None = None) -> TimeReading:
    """A wall-clock time with no zone, read with `strptime(fmt)`. The instant stays unknown
    (normalise may infer it from the location, and will say so)."""
    if not value:
        return NO_TIME
    try:
        local = _fast_strptime(value.strip(), fmt) or datetime.strptime(value.strip(), fmt)
    except ValueError:
        return QuickReading(raw=raw or value)
    return QuickReading(local=local, raw=raw or value)


_PLAIN_STAMP = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")


def _fast_strptime(value: str, fmt: str) -> datetime | None:
    """`strptime(value, fmt)` for the common `%Y-%m-%d %H:%M:%S` written in full (no regex
    compilation, no locale look-ups); None when the general `strptime` must decide. Out-of-range
    fields raise ValueError, as `strptime` would."""
    if fmt != "%Y-%m-%d %H:%M:%S":
        return None
    match = _PLAIN_STAMP.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second = map(int, match.groups())
    return datetime(year, month, day, hour, minute, second)


def with_offset(
    local: datetime, offset_minutes: int, provenance: TzProvenance, raw: str | None = None
) -> TimeReading:
    try:
        utc = local.replace(tzinfo=timezone(timedelta(minutes=offset_minutes))).astimezone(UTC)
    except (ValueError, OverflowError):  # an absurd offset, or one pushing past year 1/9999
        return QuickReading(local=local, raw=raw)
    return QuickReading(
        local=local, offset_minutes=offset_minutes, utc=utc, provenance=provenance, raw=raw
    )


def epoch_reading(
    millis: Any, offset_minutes: int | None, provenance: TzProvenance, raw: str | None = None
) -> TimeReading:
    """An epoch in milliseconds (the instant), with the wall clock in `offset_minutes` if known."""
    if isinstance(millis, str) and millis.strip().lstrip("-").isdigit():
        millis = int(millis)
    if not isinstance(millis, int | float) or isinstance(millis, bool):
        return NO_TIME
    try:
        utc = datetime.fromtimestamp(millis / 1000, UTC)
        local = None
        if offset_minutes is not None:
            local = (utc + timedelta(minutes=offset_minutes)).replace(tzinfo=None)
    except (ValueError, OverflowError, OSError):  # epochs outside the calendar
        return QuickReading(raw=raw if raw is not None else str(millis))
    return QuickReading(
        local=local,
        offset_minutes=offset_minutes,
        utc=utc,
        provenance=provenance,
        raw=raw if raw is not None else str(millis),
    )


# ----------------------------------------------------------------------------- code tables

# Code tables hold a few hundred distinct sub-statuses: parse each once (errors aren't cached).
_status_of = lru_cache(maxsize=1024)(status_of)


def lookup(
    source: str,
    table: Mapping[str, str],
    key: str | None,
    warnings: list[ParseWarning],
    what: str = "code",
) -> tuple[Status, str]:
    """Map a raw code through a table to (status, substatus). Unknown -> unknown.other + warning."""
    if key is not None and key in table:
        sub = table[key]
        return _status_of(sub), sub
    warnings.append(ParseWarning(source, f"unmapped {what} {key!r}"))
    return Status.UNKNOWN, UNKNOWN_SUBSTATUS
