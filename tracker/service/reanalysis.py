"""Re-analysing orders after a poll, a push or the deadline sweep: what changed is written in
one go (`poll_writes`), quiet re-polls are only rescheduled (`repoll`).

`reanalyse_orders` re-runs the pipeline over every stored event of each order a batch touches
and plans its writes: new events, verdict, report, next poll time, next check, and new alerts
with their webhook deliveries, all in the caller's transaction (the outbox). Event and alert
keys are deterministic, so a redelivered task inserts nothing twice.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from tracker import logs, pipeline
from tracker.alerts import AlertSettings
from tracker.deadlines import POLICIES, Policy
from tracker.model import Observation, Order, Parcel, ParseResult, SourceEvent
from tracker.service import repoll, scheduling
from tracker.service.poll_writes import PollWrites, Written
from tracker.settings import Settings
from tracker.store import evidence, polling
from tracker.store.orders import OrderRow, ParcelRow
from tracker.store.polling import PollTarget


def repeat(
    writes: PollWrites,
    targets: Sequence[PollTarget],
    fetched: Mapping[int, datetime],
    source: str,
    now: datetime,
    policies: Mapping[str, Policy] = POLICIES,
) -> None:
    """Plan the writes of parcels answered with the very part of an answer they were last
    answered with (`repoll.unchanged` said so): re-stamp and reschedule each from stored
    state, unparsed, without reading anything more."""
    for target in targets:
        row = target.parcel
        writes.parcel(repoll.restamped(row, source, fetched[row.id]))
        confirmed = scheduling.confirmed(row, now)
        writes.parcel(repoll.schedule_stored(target.order, row, now, confirmed, policies))


def reanalyse_orders(
    conn: Connection,
    order_ids: set[str],
    now: datetime,
    settings: Settings,
    *,
    parsed: Sequence[tuple[Observation, ParseResult]] = (),
    polled: set[int] | None = None,
    source: str | None = None,
    bodies: Mapping[int, str] | None = None,
    writes: PollWrites | None = None,
    targets: Sequence[PollTarget] = (),
) -> Written:
    """`bodies`: the parcels `source` just answered, each with the digest of its answer
    (`repoll.answer_digests`): only their answers of `source` are replaced; the order's other
    parcels (polled on their own schedule) keep theirs. `writes`: writes planned already,
    flushed with these.

    `targets`: a poll's rows, read before its fetch. When they hold every parcel of the
    orders, they tell which orders are quiet (rescheduled from stored state, as `repeat`
    does); the orders to re-analyse are read again here, in the transaction, so an order
    updated or another source's answers stored during the fetch are judged with, not
    overwritten. Without them everything is read here."""
    answered = set(bodies or ())
    asked = {n for observation, _ in parsed for n in observation.numbers}
    before = _read_before(targets, order_ids)
    if before is None:
        orders = polling.orders_by_id(conn, order_ids)
        parcel_rows = polling.parcels_of_orders(conn, order_ids)
    else:
        orders, parcel_rows = before
    models = {row.id: polling.parcel_model(row) for row in parcel_rows}
    fresh = pipeline.route_parsed(list(models.values()), parsed)
    known = evidence.event_ids_for_parcels(conn, models)
    by_order: dict[str, list[ParcelRow]] = defaultdict(list)
    for row in parcel_rows:
        by_order[row.order_id].append(row)
    writes = PollWrites() if writes is None else writes
    changed: list[str] = []
    for order_id, order_row in sorted(orders.items()):
        rows = by_order[order_id]
        new = _new_events(rows, models, fresh, known)
        writes.events += new
        if source is None or not _quiet_repoll(
            writes,
            order_row,
            rows,
            models,
            fresh,
            source,
            len(new),
            answered,
            asked,
            polled,
            now,
            settings.policies,
        ):
            changed.append(order_id)
    if before is not None and changed:  # judged as they are now, not as read before the fetch
        orders_now = polling.orders_by_id(conn, set(changed))
        rows_now = polling.parcels_of_orders(conn, set(changed))
        changed = [o for o in changed if o in orders_now]  # an order deleted meanwhile: none
        orders.update(orders_now)
        for order_id in changed:
            by_order[order_id] = []
        for row in rows_now:
            by_order[row.order_id].append(row)
            models.setdefault(row.id, polling.parcel_model(row))  # a parcel added meanwhile
    stored = evidence.source_events_for_parcels(conn, [r.id for o in changed for r in by_order[o]])
    for order_id in changed:
        with logs.bind(order_id=order_id):
            rows, order_row = by_order[order_id], orders[order_id]
            analysis = _analyse(
                order_row, rows, models, stored, fresh, source, answered, asked, now, settings
            )
            _plan_analysis(writes, order_row, rows, analysis, now, polled or set())
    if source is not None:
        for parcel_id, digest in (bodies or {}).items():
            writes.parcel(polling.bodies_values(parcel_id, source, digest))
    return writes.flush(conn, now)


def _read_before(
    targets: Sequence[PollTarget], order_ids: set[str]
) -> tuple[dict[str, OrderRow], list[ParcelRow]] | None:
    """The orders and their parcels (by parcel id) as a poll read them before its fetch, if
    its targets hold every parcel of every order; else None."""
    by_order: dict[str, list[PollTarget]] = defaultdict(list)
    for target in targets:
        by_order[target.order.id].append(target)
    if not order_ids or not all(
        o in by_order and len(by_order[o]) == by_order[o][0].order_parcels for o in order_ids
    ):
        return None
    orders = {o: by_order[o][0].order for o in order_ids}
    rows = sorted((t.parcel for o in order_ids for t in by_order[o]), key=lambda r: r.id)
    return orders, rows


def _quiet_repoll(
    writes: PollWrites,
    order_row: OrderRow,
    rows: Sequence[ParcelRow],
    models: dict[int, Parcel],
    fresh: pipeline.Routed,
    source: str,
    new_events: int,
    answered: set[int],
    asked: set[str],
    polled: set[int] | None,
    now: datetime,
    policies: Mapping[str, Policy],
) -> bool:
    """Store the source's answers of the parcels it `answered`; if the order is quiet (see
    `repoll`), reschedule it from stored state and return True (no re-analysis needed)."""
    changed = False
    for row in rows:
        if row.id not in answered:
            continue  # another parcel of the order, not asked about in this poll
        kept = repoll.other_numbers_results(row, source, asked)
        results = [*kept, *fresh.results[models[row.id]]]
        changed = changed or repoll.results_changed(row, source, results)
        writes.parcel(polling.results_values(row, source, results))
    if not repoll.quiet(order_row, rows, new_events, changed):
        return False
    row = rows[0]
    if row.id in (polled or ()):
        confirmed = scheduling.confirmed(row, now)
        writes.parcel(repoll.schedule_stored(order_row, row, now, confirmed, policies))
    return True


def event_id(parcel_id: int, event: SourceEvent) -> str:
    """Deterministic: the same report of the same event for the same parcel, the same id."""
    data = evidence.event_json(event)
    return hashlib.sha256(str(parcel_id).encode() + b"\x00" + data).hexdigest()[:32]


def _new_events(
    rows: Sequence[ParcelRow],
    models: dict[int, Parcel],
    fresh: pipeline.Routed,
    known: dict[int, set[str]],
) -> list[dict[str, Any]]:
    """Event rows not stored yet (a re-poll that saw nothing new inserts nothing)."""
    new_rows = []
    for row in rows:
        seen = known.get(row.id, set())
        for event in fresh.events.get(models[row.id], []):
            key = event_id(row.id, event)
            if key not in seen:
                seen = seen | {key}
                new_rows.append(evidence.event_row(key, row.id, None, event))
    return new_rows


def _analyse(
    order_row: OrderRow,
    rows: Sequence[ParcelRow],
    models: dict[int, Parcel],
    stored: dict[int, dict[str, SourceEvent]],
    fresh: pipeline.Routed,
    source: str | None,
    answered: set[int],
    asked: set[str],
    now: datetime,
    settings: Settings,
) -> pipeline.Analysis:
    events: dict[Parcel, list[SourceEvent]] = {}
    results = {}
    for row in rows:
        parcel = models[row.id]
        known = dict(stored.get(row.id, {}))
        for event in fresh.events.get(parcel, []):
            known.setdefault(event_id(row.id, event), event)
        events[parcel] = list(known.values())
        stored_results = polling.stored_results(row)
        if source is not None and row.id in answered:
            # `source` answered it again: its new answers replace the old (of those numbers)
            others = {r.requested for r in repoll.other_numbers_results(row, source, asked)}
            stored_results = [
                r for r in stored_results if r.source != source or r.requested in others
            ]
        results[parcel] = stored_results + list(fresh.results.get(parcel, []))
    order: Order = polling.order_value(order_row, rows)
    routed = pipeline.Routed(events, results, list(fresh.warnings))
    alert_settings = AlertSettings(
        deadline_near_days=settings.deadline_near_days, stalled_days=settings.stalled_days
    )
    parcels = [models[r.id] for r in rows]
    return pipeline.analyse(order, parcels, routed, now, alert_settings, policies=settings.policies)


def _plan_analysis(
    writes: PollWrites,
    order_row: OrderRow,
    rows: Sequence[ParcelRow],
    analysis: pipeline.Analysis,
    now: datetime,
    polled: set[int],
) -> None:
    status, substatus = pipeline.order_status(analysis.states)
    verdict = pipeline.order_verdict([s.verdict for s in analysis.states])
    if verdict.verdict.value != order_row.verdict:
        writes.verdicts.append((order_row.id, verdict))
    writes.reports.append(
        {
            "id": order_row.id,
            "status": status.value,
            "substatus": substatus,
            "verdict": verdict.verdict.value,
            "window_state": analysis.window.state.value,
            "dispute_closes_at": analysis.window.dispute_closes_at,
            "updated_at": now,
        }
    )
    for row, state in zip(rows, analysis.states, strict=True):
        if row.id in polled:
            writes.parcel(scheduling.schedule(row, state, analysis, now))
    writes.checks[order_row.id] = scheduling.next_check(analysis, now)
    writes.alerts += analysis.alerts
