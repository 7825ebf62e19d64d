"""When to poll a parcel next: a pure function of what we know about it.

Slower while a parcel sits still, faster near the promised date and once it is out for
delivery, one confirmation poll after a clean delivery, suspect deliveries kept under watch,
and no more polls once the parcel is terminal and the protection window has closed. Every
interval gets +-10 % jitter so parcels added together don't stay bunched together.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from tracker.model import Status, Verdict, WindowState

BASE = timedelta(hours=6)  # Cainiao's own integrations poll about every 6 h
QUIET = timedelta(hours=12)  # nothing has moved for QUIET_AFTER
QUIET_AFTER = timedelta(days=3)
NEAR_PROMISE = timedelta(hours=3)  # within NEAR_WINDOW of the promised end
NEAR_WINDOW = timedelta(days=2)
LAST_MILE = timedelta(hours=1)  # out for delivery, at a pickup point, attempted
CONFIRMATION = timedelta(hours=6)  # the one poll after a clean delivery
SUSPECT_WATCH = timedelta(hours=4)
AFTER_CLOSE = timedelta(hours=24)  # window closed but the parcel still moving
NOT_FOUND_RETRY = timedelta(hours=2)  # new numbers often appear 10-30 min to hours late
JITTER = 0.10

LAST_MILE_STATUSES = frozenset(
    {Status.OUT_FOR_DELIVERY, Status.AVAILABLE_FOR_PICKUP, Status.DELIVERY_ATTEMPTED}
)


@dataclass(frozen=True, slots=True)
class PollState:
    status: Status
    verdict: Verdict
    window: WindowState
    promised_end: datetime
    last_event_at: datetime | None = None
    delivered_at: datetime | None = None
    confirmed: bool = False  # a poll already ran after the delivery was first seen


def interval(state: PollState, now: datetime) -> timedelta | None:
    """The un-jittered wait before the next poll, or None to stop polling."""
    if state.verdict is Verdict.SUSPECT:
        return SUSPECT_WATCH if state.window is not WindowState.CLOSED else AFTER_CLOSE
    if state.status.terminal:
        if state.window is WindowState.CLOSED:
            return None
        if state.verdict is Verdict.DELIVERED:
            return None if state.confirmed else CONFIRMATION
        return AFTER_CLOSE
    if state.window is WindowState.CLOSED:
        return AFTER_CLOSE
    if state.status in LAST_MILE_STATUSES:
        return LAST_MILE
    if state.status in (Status.NOT_FOUND, Status.UNKNOWN) and state.last_event_at is None:
        return NOT_FOUND_RETRY
    if abs(state.promised_end - now) <= NEAR_WINDOW:
        return NEAR_PROMISE
    if state.last_event_at is not None and now - state.last_event_at >= QUIET_AFTER:
        return QUIET
    return BASE


def next_poll(state: PollState, now: datetime, rng: random.Random | None = None) -> datetime | None:
    wait = interval(state, now)
    if wait is None:
        return None
    factor = 1 + (rng or random.Random()).uniform(-JITTER, JITTER)
    return now + wait * factor
