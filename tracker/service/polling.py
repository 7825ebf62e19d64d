"""Scheduled polling: claim what is due, fetch a batch, and store what it means.

`dispatch` leases due parcels and hands one batch per source to the queue. `poll` fetches one
batch inside the source's shared quota and breaker, stores the raw answer, and for every order
it touches re-runs the pipeline over all stored events: events, verdict, report, next poll time,
and new alerts with their webhook deliveries go in ONE transaction (the outbox). Event and alert
keys are deterministic, so a redelivered task inserts nothing twice. `sweep_deadlines` does the
same without fetching, for orders whose time-driven alerts (overdue, deadline near, stalled) may
have fallen due while nothing moved.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import orjson
from sqlalchemy.engine import Connection, Engine

from tracker import cadence, pipeline, sources
from tracker.alerts import AlertSettings
from tracker.errors import SourceError, UnparseableResponse
from tracker.model import (
    Observation,
    Order,
    Parcel,
    ParseResult,
    ParseWarning,
    SourceEvent,
    Status,
    TrackingState,
    Verdict,
)
from tracker.service import repoll
from tracker.service.poll_writes import PollWrites
from tracker.settings import Settings
from tracker.sources.http import SourceClient
from tracker.store import evidence, polling
from tracker.store.orders import (
    OrderRow,
    ParcelRow,
    claim_due_parcels,
    next_poll_values,
    set_next_poll,
)

log = logging.getLogger("tracker.polling")
T = TypeVar("T")

DISPATCH_LIMIT = 5000
POLL_LEASE = timedelta(minutes=5)  # a claimed parcel comes back if its worker never reports
CHECK_LIMIT = 1000
FAILURE_BACKOFF = (
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=3),
)
CONFIRMATION_GAP = timedelta(hours=1)
REJECTED_RETRY = timedelta(hours=6)  # our request was refused (auth, 4xx): don't hammer

Enqueue = Callable[[int, int], None]  # (delivery_id, attempts) -> the deliver task


class Guard(Protocol):
    """The shared quota and breaker of one source (workers.guards.SourceGuard)."""

    def wait_time(self) -> float: ...

    def call(self, func: Callable[[], T]) -> T: ...


@dataclass
class PollOutcome:
    source: str
    parcels: int
    outcome: str
    observations: int = 0
    new_events: int = 0
    new_alerts: int = 0
    deliveries: list[tuple[int, int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "parcels": self.parcels,
            "outcome": self.outcome,
            "observations": self.observations,
            "new_events": self.new_events,
            "new_alerts": self.new_alerts,
        }


# ----------------------------------------------------------------------------- dispatch


def plan(
    parcels: Iterable[ParcelRow], batch_size: Callable[[str], int]
) -> list[tuple[str, list[int]]]:
    """Group due parcels by source and cut each group into batches of at most the source's
    batch size in numbers (a parcel with a second number counts twice)."""
    by_source: dict[str, list[ParcelRow]] = defaultdict(list)
    for parcel in parcels:
        for source in parcel.sources:
            by_source[source].append(parcel)
    batches: list[tuple[str, list[int]]] = []
    for source in sorted(by_source):
        limit, used = batch_size(source), 0
        current: list[int] = []
        for parcel in by_source[source]:
            size = 1 + len(parcel.other_numbers)
            if current and used + size > limit:
                batches.append((source, current))
                current, used = [], 0
            current.append(parcel.id)
            used += size
        if current:
            batches.append((source, current))
    return batches


def dispatch(
    engine: Engine,
    now: datetime,
    settings: Settings,
    enqueue: Callable[[str, list[int]], None],
    limit: int = DISPATCH_LIMIT,
) -> int:
    """Lease due parcels and enqueue one poll per source batch; returns how many parcels."""
    with engine.begin() as conn:
        due = claim_due_parcels(conn, now, limit, lease=POLL_LEASE)
    for source, ids in plan(due, lambda name: sources.spec(name).batch_size):
        enqueue(source, ids)
    return len(due)


# ----------------------------------------------------------------------------- poll


def poll(
    engine: Engine,
    client: SourceClient,
    guard: Guard,
    parcel_ids: Sequence[int],
    clock: Callable[[], datetime],
    settings: Settings,
    enqueue: Enqueue,
) -> PollOutcome:
    source = client.source
    with engine.connect() as conn:
        rows = polling.parcels_by_id(conn, parcel_ids)
    rows = [r for r in rows if source in r.sources]
    outcome = PollOutcome(source, len(rows), "ok")
    if not rows:
        return outcome
    wait = guard.wait_time()
    if wait > 0:
        _reschedule(engine, rows, clock() + timedelta(seconds=wait) * random.uniform(1, 1.5))
        outcome.outcome = "rate_limited"
        return outcome
    numbers = list(dict.fromkeys(n for r in rows for n in (r.tracking_number, *r.other_numbers)))
    try:
        observations = guard.call(lambda: sources.module(source).fetch(client, numbers))
    except SourceError as exc:
        return _failed(engine, rows, clock(), exc, outcome)
    outcome.observations = len(observations)
    parsed = _parse(observations)
    with engine.begin() as conn:
        _store_observations(conn, rows, observations)
        result = _reanalyse_orders(
            conn,
            {r.order_id for r in rows},
            clock(),
            settings,
            parsed=parsed,
            polled={r.id for r in rows},
            source=source,
        )
    outcome.new_events, outcome.new_alerts, outcome.deliveries = result
    for delivery_id, attempts in outcome.deliveries:
        enqueue(delivery_id, attempts)
    return outcome


def _parse(observations: Sequence[Observation]) -> list[tuple[Observation, ParseResult]]:
    parsed = []
    for observation in observations:
        try:
            parsed.append((observation, sources.parse(observation)))
        except UnparseableResponse as exc:
            warning = ParseWarning(observation.source, str(exc))
            parsed.append((observation, ParseResult(warnings=(warning,))))
    return parsed


def _store_observations(
    conn: Connection, rows: Sequence[ParcelRow], observations: Sequence[Observation]
) -> None:
    by_number = {n: r.id for r in rows for n in (r.tracking_number, *r.other_numbers)}
    for observation in observations:
        covered = [by_number[n] for n in observation.numbers if n in by_number]
        evidence.store_observation(conn, covered or [r.id for r in rows], observation)


def _failed(
    engine: Engine, rows: Sequence[ParcelRow], now: datetime, exc: SourceError, outcome: PollOutcome
) -> PollOutcome:
    retry_after = getattr(exc, "retry_after", None)
    with engine.begin() as conn:
        for row in rows:
            if exc.retryable:
                step = FAILURE_BACKOFF[min(row.poll_failures, len(FAILURE_BACKOFF) - 1)]
                wait = max(step, timedelta(seconds=retry_after or 0))
            else:
                wait = REJECTED_RETRY
            set_next_poll(conn, row.id, now + wait * random.uniform(1, 1.2), failed=True)
    outcome.outcome = type(exc).__name__
    log.warning("poll failed", extra={"source": outcome.source, "error": str(exc)})
    return outcome


def _reschedule(engine: Engine, rows: Sequence[ParcelRow], when: datetime) -> None:
    with engine.begin() as conn:
        for row in rows:
            set_next_poll(conn, row.id, when)


# ----------------------------------------------------------------------------- re-analysis


def sweep_deadlines(
    engine: Engine, now: datetime, settings: Settings, enqueue: Enqueue, limit: int = CHECK_LIMIT
) -> int:
    """Re-judge orders whose time-driven alerts may be due; returns how many orders."""
    with engine.begin() as conn:
        due = polling.claim_due_checks(conn, now, limit)
        if not due:
            return 0
        _, _, deliveries = _reanalyse_orders(conn, set(due), now, settings)
    for delivery_id, attempts in deliveries:
        enqueue(delivery_id, attempts)
    return len(due)


def _reanalyse_orders(
    conn: Connection,
    order_ids: set[str],
    now: datetime,
    settings: Settings,
    *,
    parsed: Sequence[tuple[Observation, ParseResult]] = (),
    polled: set[int] | None = None,
    source: str | None = None,
) -> tuple[int, int, list[tuple[int, int]]]:
    orders = polling.orders_by_id(conn, order_ids)
    parcel_rows = polling.parcels_of_orders(conn, order_ids)
    models = {row.id: polling.parcel_model(row) for row in parcel_rows}
    fresh = pipeline.route_parsed(list(models.values()), parsed)
    known = evidence.event_ids_for_parcels(conn, models)
    by_order: dict[str, list[ParcelRow]] = defaultdict(list)
    for row in parcel_rows:
        by_order[row.order_id].append(row)
    writes, changed = PollWrites(), []
    for order_id, order_row in sorted(orders.items()):
        rows = by_order[order_id]
        new = _new_events(rows, models, fresh, known)
        writes.events += new
        if source is None or not _quiet_repoll(
            writes, order_row, rows, models, fresh, source, len(new), polled or set(), now
        ):
            changed.append(order_id)
    stored = evidence.events_for_parcels(conn, [r.id for o in changed for r in by_order[o]])
    for order_id in changed:
        rows, order_row = by_order[order_id], orders[order_id]
        analysis = _analyse(conn, order_row, rows, models, stored, fresh, source, now, settings)
        _plan_analysis(writes, order_row, rows, analysis, now, polled or set())
    return writes.flush(conn, now)


def _quiet_repoll(
    writes: PollWrites,
    order_row: OrderRow,
    rows: Sequence[ParcelRow],
    models: dict[int, Parcel],
    fresh: pipeline.Routed,
    source: str,
    new_events: int,
    polled: set[int],
    now: datetime,
) -> bool:
    """Store the source's answers; if the order is quiet (see `repoll`), reschedule it from
    stored state and return True (no re-analysis needed)."""
    changed = False
    for row in rows:
        results = fresh.results[models[row.id]]
        changed = changed or repoll.results_changed(row, source, results)
        writes.parcel(polling.results_values(row, source, results))
    if not repoll.quiet(order_row, rows, new_events, changed):
        return False
    row = rows[0]
    if row.id in polled:
        writes.parcel(repoll.schedule_stored(order_row, row, now, _confirmed(row, now)))
    return True


def event_id(parcel_id: int, event: SourceEvent) -> str:
    """Deterministic: the same report of the same event for the same parcel, the same id."""
    data = orjson.dumps(evidence.event_to_data(event), option=orjson.OPT_SORT_KEYS)
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
    conn: Connection,
    order_row: OrderRow,
    rows: Sequence[ParcelRow],
    models: dict[int, Parcel],
    stored: dict[int, list[evidence.EventRow]],
    fresh: pipeline.Routed,
    source: str | None,
    now: datetime,
    settings: Settings,
) -> pipeline.Analysis:
    events: dict[Parcel, list[SourceEvent]] = {}
    results = {}
    for row in rows:
        parcel = models[row.id]
        known = {e.id: evidence.event_from_data(e.data) for e in stored.get(row.id, [])}
        for event in fresh.events.get(parcel, []):
            known.setdefault(event_id(row.id, event), event)
        events[parcel] = list(known.values())
        kept = [r for r in polling.stored_results(row) if r.source != source]
        results[parcel] = kept + list(fresh.results.get(parcel, []))
    order: Order = polling.order_value(order_row, rows)
    routed = pipeline.Routed(events, results, list(fresh.warnings))
    alert_settings = AlertSettings(
        deadline_near_days=settings.deadline_near_days, stalled_days=settings.stalled_days
    )
    return pipeline.analyse(order, [models[r.id] for r in rows], routed, now, alert_settings)


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
            writes.parcel(_schedule(row, state, analysis, now))
    writes.checks[order_row.id] = _next_check(analysis, now)
    writes.alerts += analysis.alerts


def _schedule(
    row: ParcelRow,
    state: pipeline.ParcelState,
    analysis: pipeline.Analysis,
    now: datetime,
) -> dict[str, Any]:
    latest = state.timeline.latest
    last_event_at = latest.occurred_at if latest else None
    poll_state = cadence.PollState(
        status=state.status,
        verdict=state.verdict.verdict,
        window=analysis.window.state,
        promised_end=analysis.window.promised_end,
        last_event_at=last_event_at,
        delivered_at=state.verdict.delivered_at,
        confirmed=_confirmed(row, now),
    )
    values = next_poll_values(
        row.id,
        cadence.next_poll(poll_state, now),
        polled_at=now,
        status=state.status.value,
        last_event_at=last_event_at,
        delivered_at=state.verdict.delivered_at,
        tracking_state=_tracking_state(state).value,
    )
    return {**values, "poll_failures": 0}


def _confirmed(row: ParcelRow, now: datetime) -> bool:
    """A poll at least an hour ago already saw the delivery: this one is its confirmation
    (another source's poll in the same round is not)."""
    return (
        row.status == Status.DELIVERED.value
        and row.last_polled_at is not None
        and now - row.last_polled_at >= CONFIRMATION_GAP
    )


def _tracking_state(state: pipeline.ParcelState) -> TrackingState:
    if state.timeline.events:
        stopped = any(r.tracking_state is TrackingState.STOPPED for r in state.results)
        return TrackingState.STOPPED if stopped else TrackingState.ACTIVE
    states = {r.tracking_state for r in state.results}
    if states and states <= {TrackingState.NOT_FOUND_FINAL}:
        return TrackingState.NOT_FOUND_FINAL
    return TrackingState.PENDING


def _next_check(analysis: pipeline.Analysis, now: datetime) -> datetime | None:
    """The next instant a time-driven alert could fall due without any new event."""
    window = analysis.window
    delivered = all(s.verdict.verdict is Verdict.DELIVERED for s in analysis.states)
    if delivered or window.dispute_closes_at <= now:
        return None
    near = timedelta(days=3)
    candidates = [window.promised_end, window.dispute_closes_at - near, window.dispute_closes_at]
    for state in analysis.states:
        latest = state.timeline.latest
        if latest is not None and latest.occurred_at is not None and not state.status.terminal:
            candidates.append(latest.occurred_at + timedelta(days=10))
    future = [c for c in candidates if c > now]
    return min(future) if future else now + timedelta(days=1)


# ----------------------------------------------------------------------------- pushes


def ingest(
    engine: Engine, observation: Observation, now: datetime, settings: Settings, enqueue: Enqueue
) -> tuple[int, int]:
    """A verified push (17TRACK, AfterShip) handled like the answer to a poll: stored as
    evidence, linked to the parcels it names, and every order it touches re-analysed in the
    same transaction, so its alerts go out now, not at the next poll. Returns (observation id,
    parcels)."""
    parsed = _parse([observation])
    with engine.begin() as conn:
        rows = polling.parcels_with_numbers(conn, observation.numbers)
        observation_id = evidence.store_observation(conn, [r.id for r in rows], observation)
        deliveries: list[tuple[int, int]] = []
        if rows:
            _, _, deliveries = _reanalyse_orders(
                conn,
                {r.order_id for r in rows},
                now,
                settings,
                parsed=parsed,
                source=observation.source,
            )
    for delivery_id, attempts in deliveries:
        enqueue(delivery_id, attempts)
    return observation_id, len(rows)
