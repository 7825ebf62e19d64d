"""What one source can see of a parcel at a simulated instant (pure).

A journey is canonical; each source sees its own copy: a carrier only the leg in the
destination country, then the scenario's ops rewrite that copy (the fakes), then only the
events that have already happened at `now` are kept. Renderers turn a `SourceView` into the
source's real response format.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from tracker.model import format_offset
from tracker.sim.codes import KINDS, SIM_SOURCES, Kind, reports
from tracker.sim.scenario import Op, Place, SimParcel, Step


@dataclass(frozen=True, slots=True)
class SimEvent:
    kind: Kind
    instant: datetime  # aware, UTC
    local: datetime  # naive wall clock at the event's place
    offset_minutes: int
    location: Place
    text: str
    # printed once here, reused by every renderer and every answer from the cache
    offset: str = "+00:00"  # "+08:00"
    local_iso: str = ""  # "2026-10-01T08:00:00" (wall clock, no offset)
    utc_iso: str = ""  # "2026-10-01T00:00:00Z"

    @property
    def aware_local(self) -> datetime:
        return self.instant.astimezone(timezone(timedelta(minutes=self.offset_minutes)))


@dataclass(frozen=True, slots=True)
class SourceView:
    source: str
    requested: str
    answered: str  # differs from `requested` when the source answers for another number
    parcel: SimParcel
    events: tuple[SimEvent, ...]  # oldest first

    @property
    def latest(self) -> SimEvent | None:
        return self.events[-1] if self.events else None


def view(
    parcel: SimParcel, source: str, requested: str, start: datetime, now: datetime
) -> SourceView:
    """The parcel as `source` shows it at `now`, for a journey that began at `start`."""
    return at(resolve(parcel, source, requested, start), now)


def resolve(parcel: SimParcel, source: str, requested: str, start: datetime) -> SourceView:
    """Every event `source` will ever show (future ones too), oldest first. It depends on no
    clock, so the server computes it once per (source, number) and filters it with `at`."""
    steps = list(parcel.journey)
    if SIM_SOURCES.get(source) == "carrier":
        steps = [s for s in steps if _place(parcel, s).country == parcel.destination.country]
    answered = requested
    for op in (*parcel.overrides.get("*", ()), *parcel.overrides.get(source, ())):
        if op.op == "answer_as" and op.number:
            answered = op.number
        else:
            steps = _apply(op, steps)
    events = [_resolve(parcel, s, start) for s in steps if reports(source, KINDS[s.kind])]
    events.sort(key=lambda e: e.instant)
    return SourceView(source, requested, answered, parcel, tuple(events))


def at(full: SourceView, now: datetime) -> SourceView:
    """Only the events that have happened by `now`."""
    events = full.events
    if not events or events[-1].instant <= now:
        return full
    cut = bisect.bisect_right([e.instant for e in events], now)
    return replace(full, events=events[:cut])


def _apply(op: Op, steps: list[Step]) -> list[Step]:
    if op.op == "drop":
        return [s for s in steps if s.kind not in op.kinds]
    if op.op == "add" and op.event is not None:
        return [*steps, op.event]
    return [_rewrite(op, s) if s.kind in op.kinds else s for s in steps]


def _rewrite(op: Op, step: Step) -> Step:
    if op.op == "relocate":
        return replace(step, location=op.location)
    if op.op == "retext":
        return replace(step, text=op.text)
    if op.op == "retime" and op.at is not None:
        return replace(step, at=op.at)
    if op.op == "relabel" and op.to is not None:
        return replace(step, kind=op.to)
    return step


def _place(parcel: SimParcel, step: Step) -> Place:
    if step.location is not None:
        return step.location
    return parcel.origin if KINDS[step.kind].leg == "origin" else parcel.destination


def _resolve(parcel: SimParcel, step: Step, start: datetime) -> SimEvent:
    place = _place(parcel, step)
    # whole seconds: every source prints seconds at most, so the round trip is exact
    instant = start.astimezone(UTC).replace(microsecond=0) + timedelta(
        seconds=round(step.at * 3600)
    )
    local = instant.astimezone(_zone(place.zone))
    offset = local.utcoffset() or timedelta(0)
    kind = KINDS[step.kind]
    minutes = int(offset.total_seconds() // 60)
    naive = local.replace(tzinfo=None)
    return SimEvent(
        kind=kind,
        instant=instant,
        local=naive,
        offset_minutes=minutes,
        location=place,
        text=step.text or kind.text,
        offset=format_offset(minutes) or "+00:00",
        local_iso=naive.isoformat(),
        utc_iso=instant.replace(tzinfo=None).isoformat() + "Z",
    )


@lru_cache(maxsize=128)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
