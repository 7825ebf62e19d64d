"""Merge normalised source events into one timeline per parcel.

The same physical event arrives many times: on every poll, from every source (an aggregator
relays the carrier's scan), under each of the parcel's numbers, sometimes re-stamped with the
wrong time zone or reworded. Two events are the same when they have the same status, compatible
locations and sub-statuses, and one of these holds:

1. their instants are less than a minute apart;
2. their wall clocks show the same minute and the instants differ by a whole number of half
   hours, at most 14 h (an aggregator that re-stamped the scan with another offset);
3. their instants differ by a whole number of half hours (at most 14 h) and their descriptions
   match once case, punctuation, spacing and a short prefix ("Yanwen: ...") are ignored, unless
   one source printed two different wall clocks (then they are two scans);
4. neither has a time and their descriptions match.

One source never gives one scan two wall clocks at two instants under one number: events a
source reports that way are two scans, and no other source's report can join them into one (an
aggregator relaying a scan 3 h off does not pull in the carrier's next scan 3 h later with the
same text). Under two numbers a source may stamp one scan two ways, and those merge when their
instants or wall clocks say so, never on the wording alone.

"Compatible" lets a missing field match anything (Cainiao gives no location, 17TRACK says
"LOS ANGELES, US"; one source says `delivered.other`, another `delivered.signed`), but one
merged event never holds two different countries or cities, nor two specific sub-statuses from
one source (Cainiao's arrival and departure scans in the same minute are two events; Cainiao's
`delivered.signed` and 17TRACK's `delivered.delivered` for one scan are one: sources name the
same scan differently). Merging is checked against everything already merged, so a vague event
cannot chain two distinct ones. The merged event takes the best reading's specific sub-status.

Determinism: events are first put in a canonical order (by content, not arrival), so the result
depends only on the multiset of events; merging again, or in another order, gives the same
timeline and the same ids. Cost: events are bucketed by status and only compared within a 14 h
window of each other, so merging is O(n log n + n·w), w the events in one window.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from operator import attrgetter
from typing import Any, cast

from tracker.model import Location, SourceEvent, Status, Timeline, TimelineEvent
from tracker.quickbuild import quick

_MAX_SHIFT = 14 * 3600 + 59  # seconds: the widest time-zone shift, plus a minute of slack
_HALF_HOUR = 1800
_TOLERANCE = 60  # seconds: sources that drop seconds still match those that keep them
_MAX_PREFIX = 40  # characters a reworded description may prepend ("[Yanwen] ", "PostNL: ")
_NOT_WORD = re.compile(r"[\W_]+")
_NO_TIME = datetime(1, 1, 1)  # sorts an event without a wall clock first, deterministically


# a genuine frozen TimelineEvent, built ~4x cheaper (tracker.quickbuild)
_NewTimelineEvent = quick(TimelineEvent)


def merge(events: Iterable[SourceEvent], numbers: Sequence[str]) -> Timeline:
    """One timeline, oldest first, for the parcel known by `numbers`."""
    group = "|".join(sorted(set(numbers)))
    items = sorted([_Item(e) for e in events], key=_KEY)
    buckets: dict[Status, list[_Item]] = defaultdict(list)
    for item in items:
        buckets[item.event.status].append(item)
    clusters: list[_Cluster] = []
    for bucket in buckets.values():
        clusters.extend(_cluster(bucket))
    built = sorted((c.build(group) for c in clusters), key=_order_key)
    return Timeline(events=_unique_ids([event for event, _ in built]), numbers=tuple(numbers))


# ----------------------------------------------------------------------------- items


class _Item:
    """A source event with the keys merging compares, computed once."""

    __slots__ = ("city", "country", "desc", "event", "key", "local", "minute", "pos", "quality",
                 "specific", "ts")  # fmt: skip

    def __init__(self, event: SourceEvent) -> None:
        self.event = event
        self.ts: float | None = event.occurred_at.timestamp() if event.occurred_at else None
        self.minute = int(self.ts // 60) if self.ts is not None else None  # what votes count
        self.quality = event.tz_provenance.quality
        self.local = event.occurred_local  # compared to the minute, and only when needed
        self.country = event.location.country
        self.city = _words(event.location.city) or None
        self.specific = None if event.substatus.endswith(".other") else event.substatus
        self.desc = _words(event.raw_description)
        self.key = _content_key(event, self.ts)
        self.pos = 0  # index in its status bucket, set when clustering


_KEY = attrgetter("key")  # the canonical order (a C getter: sorting is hot)


def _content_key(event: SourceEvent, ts: float | None) -> tuple[Any, ...]:
    """Every field of the event, comparable: the canonical order that makes merging
    independent of arrival order."""
    loc = event.location
    return (
        ts is not None, ts or 0.0, event.source, event.source_number, event.substatus,
        event.raw_description, event.raw_code or "", event.occurred_local or _NO_TIME,
        event.utc_offset_minutes or 0, str(event.tz_provenance), loc.country or "",
        loc.city or "", loc.postal_code or "", loc.state or "", loc.text or "",
        event.raw_status or "", event.raw_substatus or "",
        event.reporting_carrier or "", event.raw_time or "", event.shipment_ref or "",
        event.signed_by or "",
    )  # fmt: skip


@lru_cache(maxsize=8192)  # the same texts and cities recur across sources and parcels
def _words(value: str | None) -> str:
    """Case, punctuation and spacing removed: how two wordings of one text are compared."""
    if not value:
        return ""
    return " ".join(_NOT_WORD.split(value.casefold())).strip()


def _same_text(a: str, b: str) -> bool:
    if a == b:
        return bool(a)
    long, short = (a, b) if len(a) > len(b) else (b, a)
    return len(short) >= 8 and len(long) - len(short) <= _MAX_PREFIX and long.endswith(" " + short)


def _to_minute(local: datetime) -> datetime:
    return local.replace(second=0, microsecond=0)


_APART, _BY_CLOCK, _BY_TEXT = 0, 1, 2  # how two events' times match (rules 1-2, rules 3-4)


def _same_time(a: _Item, b: _Item) -> int:
    """_BY_CLOCK when instants or wall clocks say one scan (rules 1, 2, and 4 for untimed
    events), _BY_TEXT when only the wording does (rule 3), else _APART."""
    if a.ts is None or b.ts is None:
        both = a.ts is None and b.ts is None and _same_text(a.desc, b.desc)
        return _BY_CLOCK if both else _APART
    gap = abs(a.ts - b.ts)
    if gap < _TOLERANCE:
        return _BY_CLOCK
    if gap > _MAX_SHIFT or _TOLERANCE <= gap % _HALF_HOUR <= _HALF_HOUR - _TOLERANCE:
        return _APART
    if a.local is not None and b.local is not None:
        if _to_minute(a.local) == _to_minute(b.local):
            return _BY_CLOCK
        if a.event.source == b.event.source:
            return _APART  # one source, two wall clocks: two scans
    return _BY_TEXT if _same_text(a.desc, b.desc) else _APART


# ----------------------------------------------------------------------------- clusters


class _Cluster:
    """Events merged so far, with the location and sub-status they have settled on."""

    __slots__ = ("city", "clocks", "country", "items", "specific")

    specific: dict[str, str]  # source -> the specific sub-status it gave
    # (source, number) -> its members that show a wall clock and an instant: one source's
    # answer about one number (under two numbers a source may stamp one scan two ways)
    clocks: dict[tuple[str, str], list[_Item]]

    def __init__(self, item: _Item) -> None:
        self.items = [item]
        self.country = item.country
        self.city = item.city
        event = item.event
        self.specific = {event.source: item.specific} if item.specific else {}
        timed = item.local is not None and item.ts is not None
        self.clocks = {(event.source, event.source_number): [item]} if timed else {}

    def accepts(self, other: _Cluster, by_text: bool = False) -> bool:
        """Whether the two can be one event. A join that only the wording supports (`by_text`)
        may not hold two scans of one source at two clocks under any of its numbers; a join by
        instant or wall clock may, across numbers (one source may stamp a scan two ways under
        two numbers)."""
        if not (_agree(self.country, other.country) and _agree(self.city, other.city)):
            return False
        theirs = other.specific
        if theirs:  # loops, not all(generator): this runs for every candidate pair
            for source, specific in self.specific.items():
                given = theirs.get(source)
                if given is not None and given != specific:
                    return False
        clocks = other.clocks
        if clocks:
            for reporter, mine in self.clocks.items():
                if reporter in clocks and not _one_scan(mine, clocks[reporter]):
                    return False
            if by_text:
                for (source, number), mine in self.clocks.items():
                    for (other_source, other_number), theirs_ in clocks.items():
                        if (other_source == source and other_number != number
                                and not _one_scan(mine, theirs_)):  # fmt: skip
                            return False
        return True

    def absorb(self, other: _Cluster) -> None:
        self.items.extend(other.items)
        self.country = self.country or other.country
        self.city = self.city or other.city
        for source, specific in other.specific.items():
            self.specific.setdefault(source, specific)
        for reporter, timed in other.clocks.items():
            self.clocks.setdefault(reporter, []).extend(timed)

    def build(self, group: str) -> tuple[TimelineEvent, tuple[Any, ...]]:
        """The merged event, and its first member's content key (the last tie-break)."""
        items = self.items
        if len(items) > 1:
            items = sorted(items, key=_KEY)
            # The best time-zone provenance wins; among equals, the instant most sources agree
            # on (an aggregator that re-stamped a scan is outvoted by the carrier and the others).
            votes: dict[int | None, int] = {}
            for i in items:
                votes[i.minute] = votes.get(i.minute, 0) + 1
            votes[None] = 0  # an event without an instant gets no votes
            ranked = sorted(items, key=lambda i: (-i.quality, -votes[i.minute], i.key))
        else:
            ranked = items  # one member (most events of a single-source timeline): no vote
        members = tuple(i.event for i in items)
        best = ranked[0].event
        status = best.status
        substatus = next((i.specific for i in ranked if i.specific), None) or status.sub("other")
        sources, numbers, raw_codes, carriers = _distinct_fields(members)
        merged = _NewTimelineEvent(
            id=_event_id(group, substatus, best, self.country, self.city),
            status=status,
            substatus=substatus,
            description=best.raw_description or _first(e.raw_description for e in members),
            location=_merged_location(best, members),
            occurred_at=best.occurred_at,
            occurred_local=best.occurred_local,
            utc_offset_minutes=best.utc_offset_minutes,
            tz_provenance=best.tz_provenance,
            sources=sources,
            numbers=numbers,
            raw_codes=raw_codes,
            reporting_carriers=carriers,
            members=members,
        )
        return merged, items[0].key


def _agree(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b


def _one_scan(mine: list[_Item], theirs: list[_Item]) -> bool:
    """Whether one source's members on both sides can be one scan: the same instant, or the
    same wall clock re-stamped with another offset. Two wall clocks at two instants from one
    source are two scans, even when each matches another source's report of one of them."""
    for a in mine:
        for b in theirs:
            if abs(cast(float, a.ts) - cast(float, b.ts)) >= _TOLERANCE and _to_minute(
                cast(datetime, a.local)
            ) != _to_minute(cast(datetime, b.local)):
                return False
    return True


def _cluster(bucket: list[_Item]) -> list[_Cluster]:
    """Union of matching pairs, visited in canonical order, within a 14 h sliding window.
    Pairs that match by instant or wall clock are joined first, those that match only by
    wording after them: a relayed scan goes with the scan whose clock it shows, not with a
    later scan of the same wording."""
    for pos, item in enumerate(bucket):
        item.pos = pos
    owner = [_Cluster(item) for item in bucket]
    timed = [i for i, item in enumerate(bucket) if item.ts is not None]
    untimed = [i for i, item in enumerate(bucket) if item.ts is None]
    by_text: list[tuple[_Item, _Item]] = []
    for order in (timed, untimed):
        for pos, i in enumerate(order):
            a = bucket[i]
            for j in order[pos + 1 :]:
                b = bucket[j]
                if a.ts is not None and b.ts is not None and b.ts - a.ts > _MAX_SHIFT:
                    break  # `timed` is sorted by instant: nothing further can match
                if owner[a.pos] is owner[b.pos]:
                    continue
                how = _same_time(a, b)
                if how == _BY_CLOCK:
                    _join(owner, a, b)
                elif how == _BY_TEXT:
                    by_text.append((a, b))
    for a, b in by_text:
        _join(owner, a, b, by_text=True)
    seen: dict[int, _Cluster] = {}
    for cluster in owner:
        seen.setdefault(id(cluster), cluster)
    return list(seen.values())


def _join(owner: list[_Cluster], a: _Item, b: _Item, by_text: bool = False) -> None:
    left, right = owner[a.pos], owner[b.pos]
    if left is right or not left.accepts(right, by_text):
        return
    left.absorb(right)
    for item in right.items:
        owner[item.pos] = left


# ----------------------------------------------------------------------------- building


def _first(values: Iterable[str]) -> str:
    return next((v for v in values if v), "")


_Distinct = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]


def _distinct_fields(members: Sequence[SourceEvent]) -> _Distinct:
    """The members' distinct sources, numbers, raw codes and carriers, in one pass (this runs
    for every merged event)."""
    sources: set[str | None] = set()
    numbers: set[str | None] = set()
    codes: set[str | None] = set()
    carriers: set[str | None] = set()
    for m in members:
        sources.add(m.source)
        numbers.add(m.source_number)
        codes.add(m.raw_code)
        carriers.add(m.reporting_carrier)
    return _present(sources), _present(numbers), _present(codes), _present(carriers)


def _present(values: set[str | None]) -> tuple[str, ...]:
    """The non-empty values, sorted."""
    values.discard(None)
    values.discard("")
    return tuple(sorted(cast(set[str], values)))


def _merged_location(best: SourceEvent, members: Sequence[SourceEvent]) -> Location:
    """The best reading's location, its gaps filled from the other sources."""
    loc = best.location
    if loc.country and loc.city and loc.text:
        return loc
    others = [m.location for m in members if m.location is not loc and not m.location.empty]
    if not others:
        return loc
    return Location(
        text=loc.text or _first(o.text or "" for o in others) or None,
        city=loc.city or _first(o.city or "" for o in others) or None,
        state=loc.state or _first(o.state or "" for o in others) or None,
        postal_code=loc.postal_code or _first(o.postal_code or "" for o in others) or None,
        country=loc.country or _first(o.country or "" for o in others) or None,
    )


def _event_id(
    group: str, substatus: str, best: SourceEvent, country: str | None, city: str | None
) -> str:
    if best.occurred_at is not None:
        when = f"{int(best.occurred_at.timestamp() // 60)}"  # the minute, since the epoch
    elif best.occurred_local is not None:
        when = best.occurred_local.strftime("%Y-%m-%dT%H:%M")
    else:
        when = "?" + _words(best.raw_description)
    content = f"{group}\n{substatus}\n{when}\n{country or ''}\n{city or ''}"
    return hashlib.sha1(content.encode(), usedforsecurity=False).hexdigest()[:16]


def _order_key(built: tuple[TimelineEvent, tuple[Any, ...]]) -> tuple[Any, ...]:
    # Untimed events go first: they must not decide the parcel's current state.
    event, key = built
    when = event.occurred_at.timestamp() if event.occurred_at else float("-inf")
    return (when, event.status.rank, event.id, key)


def _unique_ids(events: list[TimelineEvent]) -> tuple[TimelineEvent, ...]:
    """Two events that merging kept apart but that hash alike get a deterministic suffix."""
    seen: dict[str, int] = {}
    out: list[TimelineEvent] = []
    for event in events:
        n = seen.get(event.id, 0)
        seen[event.id] = n + 1
        if n:
            event = _with_id(event, f"{event.id}-{n + 1}")
        out.append(event)
    return tuple(out)


def _with_id(event: TimelineEvent, new_id: str) -> TimelineEvent:
    return replace(event, id=new_id)
