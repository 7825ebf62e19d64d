"""Small pure helpers shared by the Ship24, PostNL, Royal Mail, Canada Post and Australia Post
adapters: tolerant scalar reads, time readings that never raise, credentials split from one
key, batching, and the per-number answer when a source answers for one number at a time."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from tracker.errors import ConfigurationError, UnparseableResponse
from tracker.model import (
    NumberResult,
    Observation,
    Outcome,
    ParseResult,
    Status,
    TrackingState,
    TzProvenance,
)
from tracker.sources import _parse
from tracker.sources._parse import TimeReading


def scalar(value: Any) -> str | None:
    """A string or number as stripped text; containers, booleans and blanks are None.

    Payload fields drift between str and int (PostNL codes, AusPost counts), and a mutated or
    hand-edited payload may put a dict where a code was: such a field is simply absent."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    return None


def as_dict(value: Any) -> dict[str, Any]:
    """`value` when it is an object, else an empty one (for optional sub-objects)."""
    return value if isinstance(value, dict) else {}


def dict_items(source: str, obj: Mapping[str, Any], key: str, path: str) -> list[dict[str, Any]]:
    """The list of objects under `key` (absent or null = empty). Anything else is a shape we
    do not know, reported with the field's path."""
    items = _parse.get_list(source, obj, key, path)
    for index, item in enumerate(items):
        _parse.need(source, item, f"{path}.{key}[{index}]", dict)
    return items


def guarded(read: Callable[[], TimeReading], raw: str | None) -> TimeReading:
    """Run a time reading; dates at the edge of the calendar overflow when shifted to UTC, and
    that must not escape a parser: the raw text is kept, the time is unknown."""
    try:
        return read()
    except (OverflowError, ValueError):
        return TimeReading(raw=raw)


def iso(value: Any, provenance: TzProvenance = TzProvenance.CARRIER_OFFSET) -> TimeReading:
    """`_parse.iso_reading`, never raising; a `Z` or an offset both get `provenance`."""
    raw = value if isinstance(value, str) else None
    return guarded(
        lambda: _parse.iso_reading(value, utc_provenance=provenance, offset_provenance=provenance),
        raw,
    )


def local_with_offset(
    local: datetime, minutes: int, provenance: TzProvenance, raw: str | None
) -> TimeReading:
    return guarded(lambda: _parse.with_offset(local, minutes, provenance, raw), raw)


def naive(value: str | None, formats: Sequence[str]) -> TimeReading:
    """The first of `formats` that reads `value` as a naive wall clock; else the raw text."""
    for fmt in formats:
        reading = _parse.naive_reading(value, fmt)
        if reading.local is not None:
            return reading
    return TimeReading(raw=value)


_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def offset_minutes(value: Any) -> int | None:
    """`+05:30` / `-0800` as minutes east of UTC; anything else (null, junk) is None."""
    match = _OFFSET.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    total = int(hours) * 60 + int(minutes)
    if total > 14 * 60 or int(minutes) >= 60:
        return None
    return -total if sign == "-" else total


# ----------------------------------------------------------------------------- fetch side


def batches(numbers: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(numbers), size):
        yield list(numbers[start : start + size])


def credentials(source: str, key: str | None, parts: int, shape: str) -> list[str]:
    """Split the source's one key setting into `parts` values separated by ':' (the last one
    may itself contain ':'), or say which setting is wrong."""
    variable = f"TRACKER_{source.upper()}_KEY"
    if not key:
        raise ConfigurationError(variable, f"required ({shape})")
    values = key.split(":", parts - 1)
    if len(values) != parts or not all(values):
        raise ConfigurationError(variable, f"expected {shape}")
    return values


def basic_auth(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


# ----------------------------------------------------------------------------- answers


def same_number(a: str | None, b: str | None) -> bool:
    """Tracking numbers compared the way carriers print them: case and spaces don't matter."""
    if not a or not b:
        return False
    return a.replace(" ", "").upper() == b.replace(" ", "").upper()


def answer(
    source: str,
    requested: str,
    answered: str | None,
    aliases: Sequence[str] = (),
    status: Status | None = None,
    shipments: int = 1,
) -> NumberResult:
    """Found when the source answered for `requested` (or one of `aliases`), else
    `other_number`: the judge's identity rule needs to know."""
    same = any(same_number(requested, n) for n in (answered, *aliases))
    return NumberResult(
        source=source,
        requested=requested,
        outcome=Outcome.FOUND if same else Outcome.OTHER_NUMBER,
        answered=answered,
        status=status,
        shipments=shipments,
    )


def not_found(
    source: str, requested: str, message: str, outcome: Outcome = Outcome.NOT_FOUND
) -> NumberResult:
    return NumberResult(
        source=source,
        requested=requested,
        outcome=outcome,
        message=message,
        tracking_state=TrackingState.PENDING,
    )


def keeping_raw(observation: Observation, parse_body: Callable[[], ParseResult]) -> ParseResult:
    """Run a parser body; an `UnparseableResponse` raised deep inside (by `need`, which has no
    body at hand) leaves carrying the raw payload, which is the evidence."""
    try:
        return parse_body()
    except UnparseableResponse as exc:
        if exc.raw is not None:
            raise
        raise UnparseableResponse(
            observation.source, exc.problem, observation.text, field=exc.field
        ) from exc
