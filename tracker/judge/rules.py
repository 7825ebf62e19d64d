"""The delivery rules other than the sequence checks; each returns `Reason`s with evidence."""

from __future__ import annotations

from datetime import UTC, datetime

from tracker.judge.case import (
    Case,
    after,
    compact,
    contradicted,
    country,
    instant,
    slack,
    sources_of,
    when,
)
from tracker.model import NumberResult, Outcome, Reason, Rule, Status, TimelineEvent

MOVEMENT: frozenset[Status] = frozenset(
    {
        Status.IN_TRANSIT,
        Status.OUT_FOR_DELIVERY,
        Status.AVAILABLE_FOR_PICKUP,
        Status.DELIVERY_ATTEMPTED,
    }
)
"""Statuses that mean the parcel is still travelling (exceptions and returns are not)."""

SHOWN = 5  # how many events a detail lists before it just counts them


def identity_mismatch(case: Case) -> list[Reason]:
    """A source answered for another number, or for several shipments we can't tell apart."""
    own = {compact(n) for n in case.parcel.numbers}
    reasons = []
    for result in case.results:
        if result.outcome is Outcome.OTHER_NUMBER and compact(result.answered) not in own:
            events = [e for e in case.timeline.events if result.answered in e.numbers]
            detail = (
                f"{result.source} answered for {result.answered} when asked for {result.requested}"
            )
            ids = tuple(e.id for e in events)
            reasons.append(Reason(Rule.IDENTITY_MISMATCH, detail, (result.source,), ids))
        elif result.shipments > 1:
            reasons.extend(_ambiguous_shipment(case, result))
    return reasons


def _ambiguous_shipment(case: Case, result: NumberResult) -> list[Reason]:
    """Several shipments under one number: the delivered events must all be one shipment's."""
    numbers = {result.requested, result.answered}
    members = [
        (event, member)
        for event in case.claims
        for member in event.members
        if member.source == result.source and member.source_number in numbers
    ]
    refs = {member.shipment_ref for _, member in members}
    if not members or (len(refs) == 1 and None not in refs):
        return []
    shown = ", ".join(sorted(str(ref) for ref in refs))
    detail = (
        f"{result.source} returned {result.shipments} shipments for {result.requested} and the "
        f"delivered one can't be tied to a single shipment (shipment refs: {shown})"
    )
    ids = tuple(dict.fromkeys(event.id for event, _ in members))
    return [Reason(Rule.IDENTITY_MISMATCH, detail, (result.source,), ids)]


def location_mismatch(case: Case) -> list[Reason]:
    """A delivered event in another country, or at another postal code, than the order's."""
    want = case.order.destination
    reasons = []
    for event in case.claims:
        got = country(event.location.country)
        if got and got != case.destination:
            detail = f"delivered in {got}, but the order goes to {case.destination}"
        elif _postal_differs(compact(event.location.postal_code), compact(want.postal_code)):
            detail = (
                f"delivered at postal code {event.location.postal_code}, but the order goes "
                f"to {want.postal_code}"
            )
        else:
            continue
        reasons.append(Reason(Rule.LOCATION_MISMATCH, detail, event.sources, (event.id,)))
    return reasons


def _postal_differs(got: str | None, want: str | None) -> bool:
    # ZIP vs ZIP+4 and outward-code-only UK postcodes are the same place: compare prefixes.
    if not got or not want:
        return False
    return not (got.startswith(want) or want.startswith(got))


def post_delivery_activity(case: Case) -> list[Reason]:
    """The parcel kept moving after it was delivered (returns and exceptions don't count)."""
    moving = [e for e in case.timeline.events if e.status in MOVEMENT and after(e, case.claim)]
    if not moving:
        return []
    shown = "; ".join(
        f"{e.substatus} at {when(instant(e))} ({', '.join(e.sources)})" for e in moving[:SHOWN]
    )
    detail = (
        f"{len(moving)} movement event(s) after the delivery at {when(instant(case.claim))}: "
        f"{shown}"
    )
    ids = (case.claim.id, *(e.id for e in moving))
    return [Reason(Rule.POST_DELIVERY_ACTIVITY, detail, sources_of(moving), ids)]


def _latest(events: list[TimelineEvent]) -> TimelineEvent:
    return max(events, key=lambda e: instant(e) or datetime.min.replace(tzinfo=UTC))


def source_disagreement(case: Case) -> list[Reason]:
    """Another source saw the parcel undelivered later than the claim."""
    claimed_by = set(case.claim.sources)
    reasons = []
    for source in sorted({s for e in case.timeline.events for s in e.sources} - claimed_by):
        seen = [e for e in case.timeline.events if source in e.sources and instant(e)]
        if not seen:
            continue
        last = _latest(seen)
        if last.status is Status.DELIVERED or not after(last, case.claim):
            continue
        detail = (
            f"{source} still shows {last.substatus} at {when(instant(last))}, after "
            f"{', '.join(case.claim.sources)} claimed delivery at {when(instant(case.claim))}"
        )
        ids = (case.claim.id, last.id)
        reasons.append(Reason(Rule.SOURCE_DISAGREEMENT, detail, (source,), ids))
    reasons.extend(_result_disagreement(case, claimed_by))
    return reasons


def _result_disagreement(case: Case, claimed_by: set[str]) -> list[Reason]:
    """A source's own summary says undelivered, observed after the claim.

    The core `NumberResult` carries no observation time; a result that has one (an
    `observed_at` attribute) takes part, the others can't be placed in time and are skipped.
    """
    delivered = instant(case.claim)
    reasons = []
    for result in case.results:
        observed = getattr(result, "observed_at", None)
        if (
            result.source in claimed_by
            or result.status in (None, Status.DELIVERED)
            or not isinstance(observed, datetime)
            or delivered is None
            or observed - delivered <= slack(case.claim)
        ):
            continue
        detail = (
            f"{result.source} reports {result.requested} as {result.status} at "
            f"{when(observed)}, after the delivery claim at {when(delivered)}"
        )
        reasons.append(Reason(Rule.SOURCE_DISAGREEMENT, detail, (result.source,), (case.claim.id,)))
    return reasons


def text_contradiction(case: Case) -> list[Reason]:
    """A delivered code whose own text says the parcel was not delivered."""
    reasons = []
    for event in case.claims:
        phrase = contradicted(event)
        if phrase is None:
            continue
        codes = f" ({', '.join(event.raw_codes)})" if event.raw_codes else ""
        detail = f"delivered code{codes} but the text says {phrase!r}: {event.description!r}"
        reasons.append(Reason(Rule.TEXT_CONTRADICTION, detail, event.sources, (event.id,)))
    return reasons
