"""Re-polls that brought nothing new: told apart cheaply, rescheduled from stored state.

Most polls of a running service find a parcel as it was: the same events (same deterministic
ids) and the same per-number answers. Re-running the pipeline over every stored event for those
orders would reproduce the stored report, so a quiet order is only rescheduled: its source's
answers are stored again (their observation time moves) and the next poll follows the stored
status, verdict and event times. Time alone (overdue, deadline near, stalled, the window
closing) is the deadline sweep's job, which re-analyses orders at their `next_check_at`.

Only single-parcel orders already analysed once take this path: the parcel's verdict is then
the order's stored verdict.

A repeated answer goes further: when a source answers a parcel with the very bytes its stored
answers were read from, the same bytes mean the same events and results, so they are not even
parsed: the stored answers are re-stamped with the fetch time and the parcel rescheduled as
above. "The same bytes" is judged per parcel: a batch answer its source can cut by number
(`sources.sections`: Cainiao, 17TRACK) is compared part by part, so one parcel that moved has
only its own part parsed, not its 9 (Cainiao) or 39 (17TRACK) neighbours'. Other answers are
compared whole. A parcel answered with something it was never answered with is parsed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from hashlib import sha256
from typing import Any

import orjson

from tracker import cadence, deadlines, sources
from tracker.model import NumberResult, Observation, Status, Verdict
from tracker.store import polling
from tracker.store.orders import OrderRow, ParcelRow, SetKey, next_poll_values
from tracker.store.polling import PollTarget

_VOLATILE = "observed_at"  # when the answer was fetched: changes on every poll


def results_changed(row: ParcelRow, source: str, results: Sequence[NumberResult]) -> bool:
    """Whether `source` now answers for the parcel differently from its stored answers."""
    stored = (row.results or {}).get(source)
    if stored is None:
        return True
    fresh = [polling.result_to_data(r) for r in results]
    return _stable(fresh) != _stable(stored)


def other_numbers_results(
    row: ParcelRow, source: str, asked: Collection[str]
) -> list[NumberResult]:
    """The stored answers of `source` about the parcel's numbers that an answer naming `asked`
    was not about: they stay when it replaces the others (a push about one number of a
    two-number parcel leaves the other's answer as it was). An answer naming none of the
    parcel's numbers (found by another route) replaces them all."""
    numbers = {row.tracking_number, *row.other_numbers}
    others = numbers - (numbers.intersection(asked) or numbers)
    return [
        polling.result_from_data(r)
        for r in (row.results or {}).get(source, [])
        if r.get("requested") in others
    ]


def _stable(results: Sequence[Mapping[str, Any]]) -> list[bytes]:
    """The answers without their fetch time, in a canonical order (the answers kept for a
    parcel's other number come first after a push, last in the poll that stored them)."""
    stable = [{k: v for k, v in r.items() if k != _VOLATILE} for r in results]
    return sorted(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in stable)


def quiet(order_row: OrderRow, rows: Sequence[ParcelRow], new_events: int, changed: bool) -> bool:
    """Whether the order can be rescheduled without re-analysis."""
    return (
        not new_events
        and not changed
        and len(rows) == 1
        and order_row.verdict is not None
        and rows[0].status is not None
    )


def schedule_stored(
    order_row: OrderRow,
    row: ParcelRow,
    now: datetime,
    confirmed: bool,
    policies: Mapping[str, deadlines.Policy] = deadlines.POLICIES,
) -> dict[str, Any]:
    """The next poll of an unchanged parcel (an `orders.update_parcels` row)."""
    if row.status is None or order_row.verdict is None:  # `quiet` rules these out
        raise ValueError(f"parcel {row.id} was never analysed")
    window = deadlines.window(polling.order_value(order_row, [row]), now, policies=policies)
    state = cadence.PollState(
        status=Status(row.status),
        verdict=Verdict(order_row.verdict),
        window=window.state,
        promised_end=window.promised_end,
        last_event_at=row.last_event_at,
        delivered_at=row.delivered_at,
        confirmed=confirmed,
    )
    values = next_poll_values(row.id, cadence.next_poll(state, now), polled_at=now)
    return {**values, "poll_failures": 0}


def covered(rows: Sequence[ParcelRow], observation: Observation) -> list[int]:
    """The parcels an answer is about: those whose numbers it names (every parcel carrying a
    number: one parcel shipped for two orders is two parcels), else the whole batch."""
    by_number: dict[str, list[int]] = {}
    for r in rows:
        for n in (r.tracking_number, *r.other_numbers):
            by_number.setdefault(n, []).append(r.id)
    found = [i for n in observation.numbers for i in by_number.get(n, ())]
    return list(dict.fromkeys(found)) or [r.id for r in rows]


def answer_digests(
    rows: Sequence[ParcelRow],
    observations: Sequence[Observation],
    cut: Sequence[sources.Sections | None],
) -> dict[int, str]:
    """Each parcel's digest of what this poll answered about it: of its own parts of a batch
    answer cut by number (`cut`, from `sources.sections`), else of the whole body covering it.
    A parcel no answer covers has none."""
    found: dict[int, list[str]] = {}
    for observation, sections in zip(observations, cut, strict=True):
        if sections is None:
            digest = observation.sha256  # hashes the whole body: once per answer
            for parcel_id in covered(rows, observation):
                found.setdefault(parcel_id, []).append(digest)
            continue
        for row in rows:
            for number in (row.tracking_number, *row.other_numbers):
                if number in sections.digests:
                    found.setdefault(row.id, []).append(sections.digests[number])
    return {
        parcel_id: parts[0] if len(parts) == 1 else sha256("\n".join(parts).encode()).hexdigest()
        for parcel_id, parts in found.items()
    }


def unchanged(targets: Sequence[PollTarget], digests: Mapping[int, str], source: str) -> set[int]:
    """The parcels answered with exactly what they were last answered with (the targets'
    `latest_body`), each the quiet single parcel of an analysed order: their events and
    answers are stored already, so they are re-stamped and rescheduled unparsed. The order
    rows are those read before the fetch: an order updated meanwhile is due for a check
    (`upsert_order`), and the deadline sweep re-judges it with the update."""
    return {
        t.parcel.id
        for t in targets
        if t.latest_body is not None
        and digests.get(t.parcel.id) == t.latest_body
        and source in (t.parcel.results or {})
        and t.order_parcels == 1
        and quiet(t.order, [t.parcel], 0, False)
    }


def fetched_times(
    rows: Sequence[ParcelRow], observations: Sequence[Observation]
) -> dict[int, datetime]:
    """When each parcel was last answered (the newest answer covering it)."""
    fetched: dict[int, datetime] = {}
    for observation in observations:
        for parcel_id in covered(rows, observation):
            when = observation.fetched_at
            fetched[parcel_id] = max(when, fetched.get(parcel_id, when))
    return fetched


def to_parse(
    rows: Sequence[ParcelRow],
    moved: Collection[int],
    observations: Sequence[Observation],
    cut: Sequence[sources.Sections | None],
) -> list[Observation]:
    """What to parse for the parcels `moved` (not `unchanged`): of a batch answer cut by
    number, each moved parcel's own part on its own (so one malformed part cannot take its
    neighbours' new events down with it; nothing if the answer names none of them); any
    other answer whole if it covers one of them."""
    chosen: list[Observation] = []
    for observation, sections in zip(observations, cut, strict=True):
        if sections is None:
            if any(parcel_id in moved for parcel_id in covered(rows, observation)):
                chosen.append(observation)
            continue
        parts: dict[frozenset[str], None] = {}  # a number two parcels share is parsed once
        for row in rows:
            if row.id in moved:
                mine = frozenset(
                    n for n in (row.tracking_number, *row.other_numbers) if n in sections.digests
                )
                if mine:
                    parts[mine] = None
        chosen += [sections.narrowed(numbers) for numbers in parts]
    return chosen


def restamped(row: ParcelRow, source: str, fetched_at: datetime) -> dict[str, Any]:
    """The parcel's stored answers of `source` as fetched again at `fetched_at` (an
    `orders.update_parcels` row; the other sources' answers are left as they are)."""
    when = fetched_at.isoformat()
    stored = (row.results or {}).get(source, [])
    return {"id": row.id, "results": SetKey(source, [{**r, _VOLATILE: when} for r in stored])}
