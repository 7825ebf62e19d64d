"""Pure helpers shared by the carrier adapters (usps, ups, fedex, dhl).

Kept out of `_parse.py` (owned by the lead) on purpose: these encode carrier-API habits that the
aggregator adapters do not share -- per-number answers that must be matched back to what was
asked, carrier times given as wall clock *and* UTC, ISO country codes mixed with country names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element

from tracker.errors import ConfigurationError, UnparseableResponse
from tracker.model import (
    Location,
    NumberResult,
    Observation,
    Outcome,
    ParseWarning,
    Status,
    TrackingState,
    TzProvenance,
    status_of,
)
from tracker.sources import _parse
from tracker.sources._parse import NO_TIME, TimeReading

if TYPE_CHECKING:
    from tracker.sources.http import SourceClient

# ----------------------------------------------------------------------------- numbers


def norm(number: Any) -> str:
    """A tracking number as compared: no spaces, upper case ('' for nothing)."""
    value = _parse.text(number)
    return value.replace(" ", "").upper() if value else ""


@dataclass(frozen=True, slots=True)
class Answer:
    """What the payload says about one number (before matching it to what we asked).

    `number` is the id the source answered with ('' when the payload names none, e.g. a 404
    body); `asked` the inquiry echo when the payload has one (UPS inquiryNumber, FedEx
    completeTrackResults[].trackingNumber)."""

    number: str
    outcome: Outcome
    asked: str = ""
    status: Status | None = None
    message: str | None = None


_STATE = {
    Outcome.FOUND: TrackingState.ACTIVE,
    Outcome.OTHER_NUMBER: TrackingState.ACTIVE,
    Outcome.NOT_FOUND: TrackingState.PENDING,  # may still appear (G9): normalise ages it
    Outcome.INVALID: TrackingState.NOT_FOUND_FINAL,
}


def results(
    source: str, requested: Sequence[str], answers: Sequence[Answer], warnings: list[ParseWarning]
) -> tuple[NumberResult, ...]:
    """One NumberResult per requested number (or per answer when nothing was requested), then
    one per number the source answered unasked, marked "not requested": the pipeline tells the
    other items of an answer from ours by them."""
    if not requested:
        by_number: dict[str, list[Answer]] = {}
        for answer in answers:
            if answer.number:
                by_number.setdefault(answer.number, []).append(answer)
        return tuple(_combine(source, number, group) for number, group in by_number.items())
    claimed: set[int] = set()
    groups = [_claim(r, answers, claimed) for r in requested]
    rest = [i for i, a in enumerate(answers) if i not in claimed]
    if len(requested) == 1 and not groups[0]:
        groups[0] = [answers[i] for i in rest]  # a single question: any answer is its answer
        claimed.update(rest)
    unasked: dict[str, list[Answer]] = {}
    for i, answer in enumerate(answers):
        if i not in claimed and answer.number:
            warnings.append(ParseWarning(source, f"answer for unrequested number {answer.number}"))
            unasked.setdefault(answer.number, []).append(answer)
    asked = [_combine(source, r, g) for r, g in zip(requested, groups, strict=True)]
    extra = [_unrequested(_combine(source, n, g)) for n, g in unasked.items()]
    return tuple(asked + extra)


def _unrequested(result: NumberResult) -> NumberResult:
    return replace(result, message="; ".join(filter(None, ["not requested", result.message])))


def _claim(requested: str, answers: Sequence[Answer], claimed: set[int]) -> list[Answer]:
    key = norm(requested)
    picked = [i for i, a in enumerate(answers) if key in (norm(a.number), norm(a.asked))]
    if not picked:  # an answer naming no number speaks for every number of the call
        picked = [i for i, a in enumerate(answers) if not a.number and not a.asked]
    claimed.update(picked)
    return [answers[i] for i in picked]


def _combine(source: str, requested: str, group: Sequence[Answer]) -> NumberResult:
    if not group:
        return NumberResult(
            source,
            requested,
            Outcome.NOT_FOUND,
            shipments=0,
            tracking_state=TrackingState.PENDING,
            message="number absent from the response",
        )
    found = [a for a in group if a.outcome in (Outcome.FOUND, Outcome.OTHER_NUMBER)]
    messages = "; ".join(dict.fromkeys(a.message for a in group if a.message)) or None
    if not found:
        first = group[0]
        return NumberResult(
            source,
            requested,
            first.outcome,
            answered=first.number or None,
            shipments=0,
            tracking_state=_STATE[first.outcome],
            message=messages,
        )
    same = [a for a in found if norm(a.number) == norm(requested)]
    outcome = Outcome.FOUND if same else Outcome.OTHER_NUMBER
    answered = (same or found)[0].number
    statuses = {a.status for a in found}
    return NumberResult(
        source,
        requested,
        outcome,
        answered=answered,
        shipments=len(found),
        status=statuses.pop() if len(statuses) == 1 else None,
        message=messages,
    )


# ----------------------------------------------------------------------------- places


def iso2(value: Any) -> str | None:
    """An ISO 3166-1 alpha-2 code if `value` looks like one; country *names* are not guessed."""
    code = _parse.text(value)
    if code and len(code) == 2 and code.isascii() and code.isalpha():
        return code.upper()
    return None


def location(
    city: Any = None, state: Any = None, postal: Any = None, country: Any = None
) -> Location:
    """A Location whose `text` keeps every part as printed (a country name included)."""
    parts = [_parse.text(v) for v in (city, state, postal, country)]
    joined = ", ".join(p for p in parts if p) or None
    return Location(
        text=joined, city=parts[0], state=parts[1], postal_code=parts[2], country=iso2(country)
    )


# ----------------------------------------------------------------------------- times

_OFFSET = re.compile(r"^(?:GMT|UTC)?\s*([+-])(\d{1,2}):?(\d{2})$")


def offset_minutes(value: Any) -> int | None:
    """`-05:00`, `+0530`, `GMT-04:00` -> minutes; anything else -> None."""
    raw = _parse.text(value)
    match = _OFFSET.match(raw) if raw else None
    if not match:
        return None
    sign, hours, mins = match.groups()
    total = int(hours) * 60 + int(mins)
    if total > 14 * 60 or int(mins) >= 60:
        return None
    return -total if sign == "-" else total


def iso(value: Any) -> TimeReading:
    """`_parse.iso_reading` that also survives out-of-range dates (year 1 with an offset)."""
    try:
        return _parse.iso_reading(value)
    except (OverflowError, ValueError):
        return TimeReading(raw=value if isinstance(value, str) else None)


def naive(value: str | None, fmt: str, raw: str | None = None) -> TimeReading:
    return _parse.naive_reading(value, fmt, raw)


def utc_moment(value: str | None, fmt: str) -> datetime | None:
    """A carrier-given UTC wall clock (no zone in the string) as an aware instant."""
    if not value:
        return None
    try:
        return datetime.strptime(value.strip(), fmt).replace(tzinfo=UTC)
    except ValueError:
        return None


def combine(
    local: datetime | None,
    utc: datetime | None,
    offset: int | None,
    raw: str | None,
    warnings: list[ParseWarning],
    source: str,
) -> TimeReading:
    """Carrier wall clock + carrier UTC + carrier offset, checked against each other.

    The UTC instant is the carrier's (to the second); the wall clock is derived from it and
    the offset when they agree to the minute (USPS truncates `eventTimestamp` to minutes). When
    they disagree both are kept, the offset is dropped, and a warning says so."""
    if utc is not None:
        derived = _shift(utc, offset)
        if derived is not None and (local is None or abs(local - derived) < _MINUTE):
            return TimeReading(
                local=derived,
                offset_minutes=offset,
                utc=utc,
                provenance=TzProvenance.CARRIER_UTC,
                raw=raw,
            )
        if derived is not None:
            warnings.append(ParseWarning(source, f"local time disagrees with UTC + offset: {raw}"))
        return TimeReading(local=local, utc=utc, provenance=TzProvenance.CARRIER_UTC, raw=raw)
    if local is not None and offset is not None:
        try:
            return _parse.with_offset(local, offset, TzProvenance.CARRIER_OFFSET, raw)
        except OverflowError:
            return TimeReading(local=local, raw=raw)
    if local is not None:
        return TimeReading(local=local, raw=raw)
    return TimeReading(raw=raw) if raw else NO_TIME


def _shift(utc: datetime, offset: int | None) -> datetime | None:
    if offset is None:
        return None
    try:
        return (utc + timedelta(minutes=offset)).replace(tzinfo=None)
    except OverflowError:
        return None


_MINUTE = timedelta(minutes=1)


def raw_join(**fields: Any) -> str | None:
    """The raw time fields of one event as `name=value; ...` (only the ones present)."""
    parts = [f"{k}={v}" for k, v in fields.items() if v not in (None, "")]
    return "; ".join(parts) or None


def first_text(*values: Any) -> str | None:
    for value in values:
        cleaned = _parse.text(value)
        if cleaned:
            return cleaned
    return None


def joined(values: Iterable[Any], sep: str = " | ") -> str:
    return sep.join(dict.fromkeys(t for t in (_parse.text(v) for v in values) if t))


# ----------------------------------------------------------------------------- shells


def batches(numbers: Sequence[str], size: int) -> list[list[str]]:
    return [list(numbers[i : i + size]) for i in range(0, len(numbers), size)]


def bearer(client: SourceClient) -> dict[str, str]:
    """The Authorization header for OAuth sources. `client.key` *is* the access token here:
    obtaining and refreshing OAuth tokens (client-credentials grant) is out of scope of the
    adapters and happens before the client is built."""
    if not client.key:
        raise ConfigurationError(
            f"TRACKER_{client.source.upper()}_KEY", "an access token is required"
        )
    return {"Authorization": f"Bearer {client.key}"}


def is_xml(payload: Any) -> bool:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")
    return isinstance(payload, str) and payload.lstrip("\ufeff \t\r\n").startswith("<")


@contextmanager
def keeping_raw(observation: Observation) -> Iterator[None]:
    """Re-raise an UnparseableResponse that lost the body with the observation's raw text."""
    try:
        yield
    except UnparseableResponse as exc:
        if exc.raw is not None:
            raise
        raise UnparseableResponse(
            observation.source, exc.problem, observation.text, exc.field
        ) from exc


def tag(element: Element) -> str:
    """An element's tag without its namespace."""
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


def child_text(element: Element, name: str) -> str | None:
    return _parse.text(element.findtext(name))


def classify(
    source: str, table: Mapping[str, str], code: str | None, warnings: list[ParseWarning], what: str
) -> tuple[Status, str]:
    return _parse.lookup(source, table, code, warnings, what)


def refine(
    substatus: str, description: str | None, rules: Sequence[tuple[str, str]]
) -> tuple[Status, str]:
    """Refine a sub-status by the first keyword (lower case) found in the description."""
    lowered = (description or "").lower()
    for keyword, better in rules:
        if keyword in lowered:
            return status_of(better), better
    return status_of(substatus), substatus
