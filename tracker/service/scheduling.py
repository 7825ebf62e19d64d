"""When to poll a parcel next and when to re-judge an order, from what its analysis found.

Split out of `polling` so that module keeps to fetching and storing; pure functions of values.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tracker import alerts, cadence, pipeline
from tracker.errors import SourceError
from tracker.model import Status, TrackingState
from tracker.store.orders import ParcelRow, next_poll_values

FAILURE_BACKOFF = (
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=3),
)
CONFIRMATION_GAP = timedelta(hours=1)
REJECTED_RETRY = timedelta(hours=6)  # our request was refused (auth, 4xx): don't hammer


def failure_wait(row: ParcelRow, exc: SourceError) -> timedelta:
    """How long a parcel waits after a failed poll (before jitter): growing steps while the
    source is down, at least what it asked for in Retry-After, hours if it refused us."""
    if not exc.retryable:
        return REJECTED_RETRY
    retry_after = getattr(exc, "retry_after", None)
    step = FAILURE_BACKOFF[min(row.poll_failures, len(FAILURE_BACKOFF) - 1)]
    return max(step, timedelta(seconds=retry_after or 0))


def schedule(
    row: ParcelRow,
    state: pipeline.ParcelState,
    analysis: pipeline.Analysis,
    now: datetime,
) -> dict[str, Any]:
    """The polled parcel's next poll and stored state (an `orders.update_parcels` row)."""
    latest = state.timeline.latest
    last_event_at = latest.occurred_at if latest else None
    poll_state = cadence.PollState(
        status=state.status,
        verdict=state.verdict.verdict,
        window=analysis.window.state,
        promised_end=analysis.window.promised_end,
        last_event_at=last_event_at,
        delivered_at=state.verdict.delivered_at,
        confirmed=confirmed(row, now),
    )
    values = next_poll_values(
        row.id,
        cadence.next_poll(poll_state, now),
        polled_at=now,
        status=state.status.value,
        last_event_at=last_event_at,
        delivered_at=state.verdict.delivered_at,
        tracking_state=tracking_state(state).value,
    )
    return {**values, "poll_failures": 0}


def confirmed(row: ParcelRow, now: datetime) -> bool:
    """A poll at least an hour ago already saw the delivery: this one is its confirmation
    (another source's poll in the same round is not)."""
    return (
        row.status == Status.DELIVERED.value
        and row.last_polled_at is not None
        and now - row.last_polled_at >= CONFIRMATION_GAP
    )


def tracking_state(state: pipeline.ParcelState) -> TrackingState:
    if state.timeline.events:
        stopped = any(r.tracking_state is TrackingState.STOPPED for r in state.results)
        return TrackingState.STOPPED if stopped else TrackingState.ACTIVE
    states = {r.tracking_state for r in state.results}
    if states and states <= {TrackingState.NOT_FOUND_FINAL}:
        return TrackingState.NOT_FOUND_FINAL
    return TrackingState.PENDING


def next_check(analysis: pipeline.Analysis, now: datetime) -> datetime | None:
    """The next instant a time-driven alert could fall due without any new event, by the
    alert settings the analysis was judged with."""
    a = analysis
    return alerts.next_due(a.order, a.states, a.window, now, a.settings)
