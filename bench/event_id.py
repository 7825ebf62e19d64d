"""CPU cost of `event_id` per source event, against the original formula in the same run.

Judged by: old / new CPU time per event (target >= 3x). The events are every event parsed from
`casegen` cases (Cainiao, 17TRACK and AfterShip payloads, as the poll worker sees them), about
30,000 by default; each side runs REPEAT times over all of them and keeps its best (CPU time,
`time.process_time`). Every id is checked equal to the original's before timing.

    .venv/bin/python bench/event_id.py [EVENTS]        default 30,000
"""

from __future__ import annotations

import hashlib
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from casegen import make_case

from tracker import pipeline
from tracker.casefile import Case
from tracker.model import SourceEvent
from tracker.service.reanalysis import event_id
from tracker.store import evidence

TARGET = 3.0
REPEAT = 7


def old_event_id(parcel_id: int, event: SourceEvent) -> str:
    """The formula before `evidence.event_json`: the stored dict (`event_to_data`), keys sorted."""
    blob = orjson.dumps(evidence.event_to_data(event), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(str(parcel_id).encode() + b"\x00" + blob).hexdigest()[:32]


def casegen_events(count: int) -> list[SourceEvent]:
    rng = random.Random(7)
    found: list[SourceEvent] = []
    i = 0
    while len(found) < count:
        case = Case.from_json(orjson.loads(orjson.dumps(make_case(i, rng))))
        for events in pipeline.route(case.parcels, case.observations).events.values():
            found.extend(events)
        i += 1
    return found[:count]


def per_event_us(fn: Callable[[int, SourceEvent], str], events: list[SourceEvent]) -> float:
    best = float("inf")
    for _ in range(REPEAT):
        start = time.process_time()
        for pid, event in enumerate(events):
            fn(pid, event)
        best = min(best, time.process_time() - start)
    return best / len(events) * 1e6


def main(argv: list[str]) -> None:
    events = casegen_events(int(argv[0]) if argv else 30_000)
    mismatches = sum(event_id(i, e) != old_event_id(i, e) for i, e in enumerate(events))
    if mismatches:
        raise SystemExit(f"{mismatches} of {len(events)} ids differ from the original formula")
    old = per_event_us(old_event_id, events)
    new = per_event_us(event_id, events)
    ratio = old / new
    print(f"{len(events)} events, best of {REPEAT} (CPU time): "
          f"old {old:.2f} us/event, new {new:.2f} us/event")  # fmt: skip
    print(f"ratio old/new: {ratio:.2f}x (target >= {TARGET:.0f}x: "
          f"{'met' if ratio >= TARGET else 'NOT met'}); all ids identical")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
