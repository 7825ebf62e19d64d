"""Re-polls that brought nothing new: told apart cheaply, rescheduled from stored state.

Most polls of a running service find a parcel as it was: the same events (same deterministic
ids) and the same per-number answers. Re-running the pipeline over every stored event for those
orders would reproduce the stored report, so a quiet order is only rescheduled: its source's
answers are stored again (their observation time moves) and the next poll follows the stored
status, verdict and event times. Time alone (overdue, deadline near, stalled, the window
closing) is the deadline sweep's job, which re-analyses orders at their `next_check_at`.

Only single-parcel orders already analysed once take this path: the parcel's verdict is then
the order's stored verdict.

A repeated answer goes further: when a source answers with the very body (same sha256) each
parcel's stored answers were read from, the same bytes mean the same events and results, so
the poll is not even parsed: the stored answers are re-stamped with the fetch time and the
parcels rescheduled as above. A body newly covering a parcel (never linked to it) is parsed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tracker import cadence, deadlines
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


def _stable(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != _VOLATILE} for r in results]


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
    order_row: OrderRow, row: ParcelRow, now: datetime, confirmed: bool
) -> dict[str, Any]:
    """The next poll of an unchanged parcel (an `orders.update_parcels` row)."""
    if row.status is None or order_row.verdict is None:  # `quiet` rules these out
        raise ValueError(f"parcel {row.id} was never analysed")
    window = deadlines.window(polling.order_value(order_row, [row]), now)
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
    """The parcels an answer is about: those whose numbers it names, else the whole batch."""
    by_number = {n: r.id for r in rows for n in (r.tracking_number, *r.other_numbers)}
    found = [by_number[n] for n in observation.numbers if n in by_number]
    return found or [r.id for r in rows]


def repeated(
    targets: Sequence[PollTarget], observations: Sequence[Observation], source: str
) -> dict[int, datetime] | None:
    """When every answer is the body each parcel it covers was last answered with (the
    targets' `latest_body`), and each parcel is the quiet single parcel of an analysed order,
    each parcel's new fetch time; else None (parse). The order rows are those read before
    the fetch: an order updated meanwhile is due for a check (`upsert_order`), and the
    deadline sweep re-judges it with the update."""
    rows = [t.parcel for t in targets]
    latest = {t.parcel.id: t.latest_body for t in targets}
    fetched: dict[int, datetime] = {}
    for observation in observations:
        digest = observation.sha256  # hashes the whole body: once per answer
        for parcel_id in covered(rows, observation):
            if latest.get(parcel_id) != digest:
                return None
            fetched[parcel_id] = max(
                observation.fetched_at, fetched.get(parcel_id, observation.fetched_at)
            )
    if not observations or len(fetched) != len(rows):
        return None  # a parcel no answer covers: let the full path decide
    for target in targets:
        if source not in (target.parcel.results or {}) or target.order_parcels != 1:
            return None
        if not quiet(target.order, [target.parcel], 0, False):
            return None
    return fetched


def restamped(row: ParcelRow, source: str, fetched_at: datetime) -> dict[str, Any]:
    """The parcel's stored answers of `source` as fetched again at `fetched_at` (an
    `orders.update_parcels` row; the other sources' answers are left as they are)."""
    when = fetched_at.isoformat()
    stored = (row.results or {}).get(source, [])
    return {"id": row.id, "results": SetKey(source, [{**r, _VOLATILE: when} for r in stored])}
