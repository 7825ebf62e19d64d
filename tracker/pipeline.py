"""The pipeline over one case: parse, normalise, merge, judge, deadlines, alerts -> a report.

Every path into the system ends here with values: `run_case(case, now)` reads no clock, no
network and no database. Source adapters are imported lazily by name (`tracker.sources.module`)
so a case only loads the parsers it uses.

Routing: an observation's events go to the parcel whose numbers include the event's number;
an event for a number no parcel has (a source that answered for another number) stays with the
parcel the observation was fetched for, so the judge can see the mismatch; with no such hint
and one parcel, it goes to that parcel; otherwise it is dropped with a warning. An answer that
has an item of ours and other items beside it (a consignment answered whole, a batch answer)
gives ours only: the other items' results and events belong to other parcels.

The order as a whole (several parcels): its status is the least advanced parcel that is not
delivered (the order is only as far along as its slowest parcel), and `delivered` only when
every parcel's verdict is delivered. Its verdict is `suspect` if any parcel's is, `delivered`
if all are, else `none`; reasons are every parcel's, and `delivered_at` is the last delivery.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from tracker import alerts, deadlines, judge, sources
from tracker.alerts import AlertSettings
from tracker.casefile import Case, parse_instant
from tracker.errors import UnparseableResponse
from tracker.merge import merge
from tracker.model import (
    Alert,
    DeliveryVerdict,
    NumberResult,
    Observation,
    Order,
    Outcome,
    Parcel,
    ParseResult,
    ParseWarning,
    ProtectionWindow,
    SourceEvent,
    Status,
    Timeline,
    TimelineEvent,
    Verdict,
    format_offset,
)
from tracker.normalise import normalise

__all__ = [
    "Analysis",
    "Case",
    "ParcelState",
    "Routed",
    "analyse",
    "parse_instant",
    "report",
    "route",
    "route_parsed",
    "run_case",
]


@dataclass(frozen=True, slots=True)
class ParcelState:
    """One parcel after merge and judge: what alerts and the report need to know about it."""

    parcel: Parcel
    timeline: Timeline
    verdict: DeliveryVerdict
    status: Status
    substatus: str
    results: tuple[NumberResult, ...]


_DEFAULT_ALERTS = AlertSettings()


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything the pipeline concluded about one order at `now`, as values."""

    order: Order
    states: tuple[ParcelState, ...]
    window: ProtectionWindow
    alerts: tuple[Alert, ...]
    warnings: tuple[ParseWarning, ...]
    settings: AlertSettings = _DEFAULT_ALERTS  # what the alerts were judged by


@dataclass(frozen=True, slots=True)
class Routed:
    """Parsed source events and per-number results, grouped by the parcel they belong to."""

    events: dict[Parcel, list[SourceEvent]]
    results: dict[Parcel, list[NumberResult]]
    warnings: list[ParseWarning]


def run_case(
    case: Case, now: datetime, policies: Mapping[str, deadlines.Policy] | None = None
) -> dict[str, Any]:
    """The report of DESIGN.md "tracker analyze" for `case` at `now` (protection windows by
    `policies`, default the built-in ones)."""
    routed = route(case.parcels, case.observations)
    return report(analyse(case.order, case.parcels, routed, now, policies=policies))


def route(parcels: Sequence[Parcel], observations: Sequence[Observation]) -> Routed:
    """Parse every observation and hand its events and results to their parcels."""
    routing = _Routed.of(parcels)
    warnings: list[ParseWarning] = []
    for observation in observations:
        _parse_into(observation, routing, warnings)
    return Routed(routing.events, routing.results, warnings)


def analyse(
    order: Order,
    parcels: Sequence[Parcel],
    routed: Routed,
    now: datetime,
    settings: alerts.AlertSettings | None = None,
    *,
    policies: Mapping[str, deadlines.Policy] | None = None,
) -> Analysis:
    """Normalise, merge, judge, the protection window (by `policies`, default the built-in
    ones) and the alerts due at `now`."""
    warnings = list(routed.warnings)
    states = []
    for parcel in parcels:
        events, more = normalise(
            routed.events.get(parcel, []), destination_country=order.destination.country
        )
        warnings.extend(more)
        states.append(_parcel_state(order, parcel, events, routed.results.get(parcel, [])))
    window = deadlines.window(order, now, policies=policies or deadlines.POLICIES)
    settings = settings or alerts.AlertSettings()
    due = alerts.due(order, states, window, now, settings)
    return Analysis(order, tuple(states), window, tuple(due), tuple(_unique(warnings)), settings)


def report(analysis: Analysis) -> dict[str, Any]:
    """The report dict of the `tracker analyze` contract."""
    states = analysis.states
    status, substatus = order_status(states)
    result: dict[str, Any] = {
        "order_id": analysis.order.id,
        "status": status.value,
        "substatus": substatus,
        "delivery": _verdict_dict(order_verdict([s.verdict for s in states])),
        "timeline": _order_timeline(states),
        "protection": _window_dict(analysis.window),
        "alerts": [a.to_dict() for a in analysis.alerts],
        "warnings": [w.to_dict() for w in analysis.warnings],
        "order": _order_dict(analysis.order, states),
    }
    if len(states) > 1:
        result["parcels"] = [_parcel_dict(s) for s in states]
    return result


# ----------------------------------------------------------------------------- parse and route


@dataclass
class _Routed:
    by_number: dict[str, Parcel]
    only: Parcel | None
    events: dict[Parcel, list[SourceEvent]] = field(default_factory=dict)
    results: dict[Parcel, list[NumberResult]] = field(default_factory=dict)

    @classmethod
    def of(cls, parcels: Sequence[Parcel]) -> _Routed:
        by_number = {n: p for p in parcels for n in p.numbers}
        routed = cls(by_number, parcels[0] if len(parcels) == 1 else None)
        for parcel in parcels:
            routed.events[parcel] = []
            routed.results[parcel] = []
        return routed

    def parcel_for(
        self, number: str | None, fetched_for: Sequence[str], aliases: dict[str, str]
    ) -> Parcel | None:
        """The parcel a number belongs to: its own, the number it answered for, or (for an
        observation fetched for one number only) that number's parcel."""
        for candidate in (number, aliases.get(number or "")):
            if candidate and candidate in self.by_number:
                return self.by_number[candidate]
        if len(fetched_for) == 1 and fetched_for[0] in self.by_number:
            return self.by_number[fetched_for[0]]
        return self.only


def _parse_into(observation: Observation, routed: _Routed, warnings: list[ParseWarning]) -> None:
    try:
        parsed = sources.parse(observation)
    except UnparseableResponse as exc:
        warnings.append(ParseWarning(observation.source, str(exc)))
        return
    except ModuleNotFoundError:
        warnings.append(ParseWarning(observation.source, "no parser for this source yet"))
        return
    _route_parsed(observation, parsed, routed, warnings)


def route_parsed(
    parcels: Sequence[Parcel], parsed: Sequence[tuple[Observation, ParseResult]]
) -> Routed:
    """`route` for observations parsed already (a batch answer parsed once for many orders)."""
    routing = _Routed.of(parcels)
    warnings: list[ParseWarning] = []
    for observation, result in parsed:
        _route_parsed(observation, result, routing, warnings)
    return Routed(routing.events, routing.results, warnings)


def _route_parsed(
    observation: Observation, parsed: ParseResult, routed: _Routed, warnings: list[ParseWarning]
) -> None:
    warnings.extend(parsed.warnings)
    asked = observation.numbers
    aliases = {r.answered: r.requested for r in parsed.results if r.answered}
    others, ours_found = _other_items(parsed, routed, aliases)
    lost: set[str] = set()
    foreign: dict[Parcel, set[str]] = {}
    for event in parsed.events:
        if _someone_elses(event.source_number, asked, routed, aliases):
            continue  # a batch answer also covers other orders' parcels
        if event.source_number in others:
            continue  # another item of the same answer (one consignment, several items)
        parcel = routed.parcel_for(event.source_number, asked, aliases)
        if parcel is None:
            lost.add(event.source_number)
            continue
        routed.events[parcel].append(event)
        number = aliases.get(event.source_number, event.source_number)
        if ours_found or number in routed.by_number:
            continue
        foreign.setdefault(parcel, set()).add(event.source_number)  # an answer for another
    _flag_foreign(observation, parsed, routed, foreign)
    for result in parsed.results:
        if _someone_elses(result.requested, asked, routed, {}) or result.requested in others:
            continue
        parcel = routed.parcel_for(result.requested, asked, {}) or routed.parcel_for(
            result.answered, (), {}
        )
        if parcel is not None:
            routed.results[parcel].append(replace(result, observed_at=observation.fetched_at))
    for number in sorted(lost):
        warnings.append(
            ParseWarning(observation.source, f"events for {number!r} match no parcel; ignored")
        )


def _flag_foreign(
    observation: Observation,
    parsed: ParseResult,
    routed: _Routed,
    foreign: dict[Parcel, set[str]],
) -> None:
    """An answer that found nothing of ours but has events for another number gave that
    number's scans in place of ours: the parcel that takes them also gets an `other_number`
    result for each (unless the source said so itself), so the judge's identity rule names
    it instead of a delivery of someone else's parcel reading as ours."""
    said = {r.answered for r in parsed.results if r.outcome is Outcome.OTHER_NUMBER}
    for parcel, numbers in foreign.items():
        asked = next((n for n in observation.numbers if n in parcel.numbers), None)
        for number in sorted(numbers - said):
            routed.results[parcel].append(
                NumberResult(
                    observation.source,
                    asked or parcel.tracking_number,
                    Outcome.OTHER_NUMBER,
                    answered=number,
                    message="the answer's events are for another number",
                    observed_at=observation.fetched_at,
                )
            )


def _other_items(
    parsed: ParseResult, routed: _Routed, aliases: dict[str, str]
) -> tuple[frozenset[str], bool]:
    """The numbers of the other items in an answer that also has an item of ours: an answer
    for a whole consignment (Australia Post) lists every item with its own result. Their events
    are not ours. An answer that has no item of ours at all is kept whole: it may be an answer
    for another number given in place of ours, which the judge must see; and numbers that have
    no item of their own (a leg's number on an event) stay with the item that carries them."""
    items = {n for r in parsed.results for n in (r.requested, r.answered) if n}
    answered = [r for r in parsed.results if r.outcome in (Outcome.FOUND, Outcome.OTHER_NUMBER)]
    if not any(aliases.get(n, n) in routed.by_number
               for r in answered for n in (r.requested, r.answered) if n):  # fmt: skip
        return frozenset(), False  # nothing found for ours ('not found' is not an item)
    return frozenset(n for n in items if aliases.get(n, n) not in routed.by_number), True


def _someone_elses(
    number: str | None, asked: Sequence[str], routed: _Routed, aliases: dict[str, str]
) -> bool:
    """True for a number of another order's parcel in a batch answer that also covers ours
    (fetched for several numbers, some ours, this one not)."""
    number = aliases.get(number or "", number)
    if not number or number not in asked or number in routed.by_number:
        return False
    return any(n in routed.by_number for n in asked)


# ----------------------------------------------------------------------------- per parcel


def _parcel_state(
    order: Order, parcel: Parcel, events: list[SourceEvent], results: list[NumberResult]
) -> ParcelState:
    timeline = merge(events, parcel.numbers)
    verdict = judge.judge(order, parcel, timeline, results)
    status, substatus = parcel_status(timeline, results)
    return ParcelState(parcel, timeline, verdict, status, substatus, tuple(results))


def parcel_status(timeline: Timeline, results: Sequence[NumberResult]) -> tuple[Status, str]:
    """The latest event with a known status; with none, what the sources said about the number."""
    for event in reversed(timeline.events):
        if event.status is not Status.UNKNOWN:
            return event.status, event.substatus
    outcomes = {r.outcome for r in results}
    if Outcome.INVALID in outcomes and outcomes <= {Outcome.INVALID, Outcome.NOT_FOUND}:
        return Status.NOT_FOUND, "not_found.invalid_number"
    if outcomes and outcomes <= {Outcome.NOT_FOUND, Outcome.INVALID}:
        return Status.NOT_FOUND, "not_found.not_yet_available"
    return Status.UNKNOWN, "unknown.other"


# ----------------------------------------------------------------------------- the order


def order_status(states: Sequence[ParcelState]) -> tuple[Status, str]:
    """The least advanced parcel that is not delivered; delivered when all are."""
    pending = [s for s in states if s.verdict.verdict is not Verdict.DELIVERED]
    if not pending:
        last = max(states, key=lambda s: s.verdict.delivered_at or datetime.min.replace(tzinfo=UTC))
        return last.status, last.substatus
    slowest = min(pending, key=lambda s: s.status.rank)
    return slowest.status, slowest.substatus


def order_verdict(verdicts: Sequence[DeliveryVerdict]) -> DeliveryVerdict:
    if len(verdicts) == 1:
        return verdicts[0]
    kinds = {v.verdict for v in verdicts}
    reasons = tuple(r for v in verdicts for r in v.reasons)
    if Verdict.SUSPECT in kinds:
        return DeliveryVerdict(Verdict.SUSPECT, reasons=reasons)
    if kinds == {Verdict.DELIVERED}:
        times = [v.delivered_at for v in verdicts if v.delivered_at is not None]
        return DeliveryVerdict(Verdict.DELIVERED, delivered_at=max(times, default=None))
    return DeliveryVerdict(Verdict.NONE, reasons=reasons)


# ----------------------------------------------------------------------------- report


def iso_z(value: datetime | None) -> str | None:
    """UTC ISO-8601 with `Z` (an aware value is converted; a naive one is taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat() + "Z"


def _verdict_dict(verdict: DeliveryVerdict) -> dict[str, Any]:
    return {
        "verdict": verdict.verdict.value,
        "delivered_at": iso_z(verdict.delivered_at),
        "delivered_event": verdict.delivered_event,
        "reasons": [r.to_dict() for r in verdict.reasons],
    }


def _order_dict(order: Order, states: Sequence[ParcelState]) -> dict[str, Any]:
    """What the order says of itself: the facts a dispute summary starts from."""
    dest = order.destination
    promised = order.promised_by
    return {
        "marketplace": order.marketplace,
        "destination": {"country": dest.country, "postal_code": dest.postal_code,
                        "city": dest.city},
        "timezone": order.timezone,
        "shipped_at": iso_z(order.shipped_at),
        "promised_by": iso_z(promised) if isinstance(promised, datetime) else promised.isoformat(),
        "confirmed_at": iso_z(order.confirmed_at),
        "parcels": [{"tracking_number": s.parcel.tracking_number,
                     "other_numbers": list(s.parcel.other_numbers)} for s in states],
    }  # fmt: skip


def _window_dict(window: ProtectionWindow) -> dict[str, Any]:
    return {
        "policy": window.policy,
        "policy_version": window.policy_version,
        "dispute_opens_at": iso_z(window.dispute_opens_at),
        "promised_end": iso_z(window.promised_end),
        "dispute_closes_at": iso_z(window.dispute_closes_at),
        "state": window.state.value,
    }


def event_dict(event: TimelineEvent) -> dict[str, Any]:
    loc = event.location
    local = event.occurred_local
    return {
        "id": event.id,
        "occurred_at": iso_z(event.occurred_at),
        "occurred_local": local.isoformat() if local is not None else None,
        "utc_offset": format_offset(event.utc_offset_minutes),
        "tz_provenance": event.tz_provenance.value,
        "status": event.status.value,
        "substatus": event.substatus,
        "description": event.description,
        "location": {
            "text": loc.text,
            "city": loc.city,
            "postal_code": loc.postal_code,
            "country": loc.country,
        },
        "sources": list(event.sources),
        "numbers": list(event.numbers),
        "raw_codes": list(event.raw_codes),
        "reporting_carriers": list(event.reporting_carriers),
    }


def _order_timeline(states: Sequence[ParcelState]) -> list[dict[str, Any]]:
    if len(states) == 1:
        return [event_dict(e) for e in states[0].timeline.events]
    tagged = [(e, s.parcel.tracking_number) for s in states for e in s.timeline.events]
    tagged.sort(key=lambda t: (iso_z(t[0].occurred_at) or "", t[0].status.rank, t[0].id))
    return [{**event_dict(e), "parcel": number} for e, number in tagged]


def _parcel_dict(state: ParcelState) -> dict[str, Any]:
    return {
        "tracking_number": state.parcel.tracking_number,
        "other_numbers": list(state.parcel.other_numbers),
        "status": state.status.value,
        "substatus": state.substatus,
        "delivery": _verdict_dict(state.verdict),
        "timeline": [event_dict(e) for e in state.timeline.events],
    }


def _unique(warnings: Sequence[ParseWarning]) -> list[ParseWarning]:
    return list(dict.fromkeys(warnings))


# ----------------------------------------------------------------------------- lookups


def lookup_report(
    number: str, observations: Sequence[Observation], now: datetime
) -> dict[str, Any]:
    """What an on-demand lookup answers: one number's merged timeline, its status, and what
    each source said. No order, so no verdict or deadlines (those need a destination and a
    promised date: add the order for them)."""
    parcel = Parcel(number)
    routed = route([parcel], observations)
    events, more = normalise(routed.events[parcel])
    timeline = merge(events, parcel.numbers)
    results = routed.results[parcel]
    status, substatus = parcel_status(timeline, results)
    return {
        "tracking_number": number,
        "status": status.value,
        "substatus": substatus,
        "checked_at": iso_z(now),
        "timeline": [event_dict(e) for e in timeline.events],
        "sources": [
            {
                "source": r.source,
                "outcome": r.outcome.value,
                "answered": r.answered,
                "tracking_state": r.tracking_state.value,
                "message": r.message,
            }
            for r in results
        ],
        "warnings": [w.to_dict() for w in _unique([*routed.warnings, *more])],
    }
