"""What every delivery rule looks at: the claim in its timeline, and time with its noise.

Clean deliveries must never be flagged, so every comparison of instants allows for time-zone
noise (`SLACK`): a carrier-stamped instant is trusted to about an hour, an assumed one only to
the widest spread of UTC offsets (14 h).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tracker.judge.phrases import contradiction
from tracker.model import (
    NumberResult,
    Order,
    Parcel,
    Status,
    Timeline,
    TimelineEvent,
    TzProvenance,
)

SLACK: dict[TzProvenance, timedelta] = {
    # Carrier-given offsets and UTC are right up to DST/rounding noise and re-stamping.
    TzProvenance.CARRIER_OFFSET: timedelta(hours=1),
    TzProvenance.CARRIER_UTC: timedelta(hours=1),
    TzProvenance.AGGREGATOR_UTC: timedelta(hours=1),
    # A zone guessed from the location can be off by a DST hour or a neighbouring zone.
    TzProvenance.INFERRED_LOCATION: timedelta(hours=2),
    # Local wall clock read as UTC: the true instant lies anywhere within the offset spread.
    TzProvenance.ASSUMED_UTC: timedelta(hours=14),
    TzProvenance.UNKNOWN: timedelta(hours=14),
}


def instant(event: TimelineEvent) -> datetime | None:
    """The event's UTC instant; a bare wall clock is read as UTC (its slack says how loosely)."""
    if event.occurred_at is not None:
        return aware(event.occurred_at)
    if event.occurred_local is not None:
        return event.occurred_local.replace(tzinfo=UTC)
    return None


def aware(value: datetime) -> datetime:
    """A datetime in UTC; a naive one is read as UTC (the shells validate zones on input)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def slack(*events: TimelineEvent) -> timedelta:
    """How far apart two readings may be and still be the same moment."""
    return max(_slack(event) for event in events)


def _slack(event: TimelineEvent) -> timedelta:
    if event.occurred_at is None:
        return SLACK[TzProvenance.UNKNOWN]
    return SLACK[event.tz_provenance]


def after(later: TimelineEvent, earlier: TimelineEvent) -> bool:
    """`later` is certainly after `earlier`, beyond the time-zone noise of both."""
    a, b = instant(later), instant(earlier)
    if a is None or b is None:
        return False
    # slack(later, earlier) spelt out: this runs for many pairs of events of every parcel.
    return a - b > max(_slack(later), _slack(earlier))


def when(value: datetime | None) -> str:
    """An instant for a human-readable detail."""
    if value is None:
        return "an unknown time"
    return aware(value).strftime("%Y-%m-%d %H:%M UTC")


def sources_of(events: Iterable[TimelineEvent]) -> tuple[str, ...]:
    return tuple(sorted({source for event in events for source in event.sources}))


def country(value: str | None) -> str | None:
    return value.strip().upper() if value and value.strip() else None


def compact(value: str | None) -> str | None:
    """Upper-case alphanumerics only: how postal codes and tracking numbers are compared."""
    clean = "".join(ch for ch in (value or "").upper() if ch.isalnum())
    return clean or None


def contradicted(event: TimelineEvent) -> str | None:
    """The phrase in any of the event's texts that says it was not delivered."""
    texts = [event.description, *(member.raw_description for member in event.members)]
    for text in texts:
        phrase = contradiction(text or "")
        if phrase:
            return phrase
    return None


def find_claim(timeline: Timeline) -> TimelineEvent | None:
    """The first credible delivered event, else the first delivered event, else None.

    A delivered code whose text says "handed to local carrier" is not where delivery happened
    when a credible delivered event follows it; it only becomes the claim when nothing better
    exists (and then `text_contradiction` fires on it).
    """
    delivered = [e for e in timeline.events if e.status is Status.DELIVERED]
    credible = [e for e in delivered if contradicted(e) is None]
    if credible:
        return credible[0]
    return delivered[0] if delivered else None


@dataclass(frozen=True, slots=True)
class Case:
    """The order, the parcel's timeline and results, and the delivery claim in the timeline."""

    order: Order
    parcel: Parcel
    timeline: Timeline
    results: tuple[NumberResult, ...]
    claim: TimelineEvent

    @property
    def claims(self) -> tuple[TimelineEvent, ...]:
        """The claim and every delivered event after it in the timeline."""
        events = self.timeline.events
        start = next(i for i, event in enumerate(events) if event is self.claim)
        return tuple(e for e in events[start:] if e.status is Status.DELIVERED)

    @property
    def others(self) -> tuple[TimelineEvent, ...]:
        """Every event that is not part of the claim."""
        claims = {id(e) for e in self.claims}
        return tuple(e for e in self.timeline.events if id(e) not in claims)

    @property
    def destination(self) -> str | None:
        return country(self.order.destination.country)
