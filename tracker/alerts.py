"""Which alerts are due for an order at `now`, each with a deterministic idempotency key.

The seven types of DESIGN.md "Alerts". A key is `<order id>:<type>:<what makes it distinct>`:
the promised end for overdue, the dispute's close for deadline near, the parcel for a confirmed,
late or suspect delivery (each is news once per parcel), the parcel and on how many days it was
scanned for a stall (a new stall needs a scan on a new day), and the parcel, the status and on
how many days it had events of that status for an exception (an attempt the next day alerts
again; see `_days`). Running the pipeline again
yields the same keys, so the outbox never sends an alert twice. A key names no merged event id:
such an id changes when a second source adds a city or a finer sub-status to the same scan, and
that is not news worth a second webhook.

Only a `delivered` verdict counts as delivered: a `suspect` delivery keeps the order overdue and
the dispute deadline alive. Pure: `now` is a parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tracker.judge.case import aware, instant
from tracker.model import (
    Alert,
    AlertType,
    Order,
    ProtectionWindow,
    Status,
    TimelineEvent,
    Verdict,
    WindowState,
)

if TYPE_CHECKING:  # the pipeline imports this module; the state type is only an annotation
    from tracker.pipeline import ParcelState

TROUBLE: frozenset[Status] = frozenset(
    {
        Status.EXCEPTION,
        Status.DELIVERY_ATTEMPTED,
        Status.RETURNING,
        Status.RETURNED,
        Status.FAILED,
    }
)
"""Latest statuses that need the buyer's attention (`tracking.exception`)."""


@dataclass(frozen=True, slots=True)
class AlertSettings:
    deadline_near_days: float = 3
    stalled_days: float = 10


@dataclass(frozen=True, slots=True)
class Context:
    order: Order
    parcels: tuple[ParcelState, ...]
    window: ProtectionWindow
    now: datetime
    settings: AlertSettings

    @property
    def undelivered(self) -> bool:
        """The order is not delivered: no parcel, or any parcel without a `delivered` verdict."""
        return not self.parcels or any(
            p.verdict.verdict is not Verdict.DELIVERED for p in self.parcels
        )


def iso(value: datetime | None) -> str | None:
    """UTC ISO-8601 with `Z`, as everywhere in reports and payloads."""
    if value is None:
        return None
    return aware(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def days_left(window: ProtectionWindow, now: datetime) -> float:
    """Days until the dispute window closes (negative once closed), to the hour."""
    seconds = (window.dispute_closes_at - aware(now)).total_seconds()
    return round(seconds / 86400, 2)


def _key(ctx: Context, kind: AlertType, *parts: str) -> str:
    return ":".join((ctx.order.id, kind.value, *parts))


def _base(ctx: Context) -> dict[str, Any]:
    w = ctx.window
    return {
        "order_id": ctx.order.id,
        "tracking_numbers": [p.parcel.tracking_number for p in ctx.parcels],
        "promised_end": iso(w.promised_end),
        "dispute_opens_at": iso(w.dispute_opens_at),
        "dispute_closes_at": iso(w.dispute_closes_at),
        "window_state": w.state.value,
        "policy": w.policy,
        "days_left": days_left(w, ctx.now),
    }


def _parcel(state: ParcelState) -> dict[str, Any]:
    verdict = state.verdict
    return {
        "tracking_number": state.parcel.tracking_number,
        "other_numbers": list(state.parcel.other_numbers),
        "status": state.status.value,
        "substatus": state.substatus,
        "verdict": verdict.verdict.value,
        "delivered_at": iso(verdict.delivered_at),
        "delivered_event": verdict.delivered_event,
        "reasons": [reason.to_dict() for reason in verdict.reasons],
    }


def _event(event: TimelineEvent | None) -> dict[str, Any] | None:
    if event is None:
        return None
    return {
        "id": event.id,
        "occurred_at": iso(instant(event)),
        "status": event.status.value,
        "substatus": event.substatus,
        "description": event.description,
        "sources": list(event.sources),
    }


def _alert(ctx: Context, kind: AlertType, key: str, **data: Any) -> Alert:
    return Alert(kind, key, ctx.order.id, {**_base(ctx), **data})


# ----------------------------------------------------------------------------- order level


def overdue(ctx: Context) -> Iterator[Alert]:
    w = ctx.window
    if aware(ctx.now) >= w.promised_end and ctx.undelivered and w.state is not WindowState.CLOSED:
        late = [_parcel(p) for p in ctx.parcels if p.verdict.verdict is not Verdict.DELIVERED]
        key = _key(ctx, AlertType.ORDER_OVERDUE, iso(w.promised_end) or "")
        yield _alert(
            ctx,
            AlertType.ORDER_OVERDUE,
            key,
            parcels=late,
            what="the promised delivery time is over and the order is not delivered",
        )


def deadline_near(ctx: Context) -> Iterator[Alert]:
    w = ctx.window
    near = timedelta(days=ctx.settings.deadline_near_days)
    if (
        w.state is WindowState.OPEN
        and ctx.undelivered
        and w.dispute_closes_at - aware(ctx.now) <= near
    ):
        key = _key(ctx, AlertType.DISPUTE_DEADLINE_NEAR, iso(w.dispute_closes_at) or "")
        pending = [_parcel(p) for p in ctx.parcels if p.verdict.verdict is not Verdict.DELIVERED]
        yield _alert(
            ctx,
            AlertType.DISPUTE_DEADLINE_NEAR,
            key,
            parcels=pending,
            what="the buyer-protection window closes soon and the order is not delivered",
        )


# ----------------------------------------------------------------------------- per parcel


def delivered_late(ctx: Context) -> Iterator[Alert]:
    for p in ctx.parcels:
        v = p.verdict
        if (
            v.verdict is Verdict.DELIVERED
            and v.delivered_at
            and aware(v.delivered_at) >= ctx.window.promised_end
        ):
            late_by = aware(v.delivered_at) - ctx.window.promised_end
            key = _key(ctx, AlertType.ORDER_DELIVERED_LATE, p.parcel.tracking_number)
            yield _alert(
                ctx,
                AlertType.ORDER_DELIVERED_LATE,
                key,
                parcel=_parcel(p),
                late_by_days=round(late_by.total_seconds() / 86400, 2),
                what="delivered after the promised delivery time",
            )


def suspect(ctx: Context) -> Iterator[Alert]:
    for p in ctx.parcels:
        v = p.verdict
        if v.verdict is Verdict.SUSPECT:
            # Once per parcel: a second source adding evidence to the same delivered event is
            # not news worth a second webhook (the API and the report show all of it).
            key = _key(ctx, AlertType.DELIVERY_SUSPECT, p.parcel.tracking_number)
            yield _alert(
                ctx,
                AlertType.DELIVERY_SUSPECT,
                key,
                parcel=_parcel(p),
                evidence=[reason.to_dict() for reason in v.reasons],
                what="a delivery record that can't be trusted; do not confirm receipt",
            )


def confirmed(ctx: Context) -> Iterator[Alert]:
    for p in ctx.parcels:
        v = p.verdict
        if v.verdict is Verdict.DELIVERED:
            key = _key(ctx, AlertType.DELIVERY_CONFIRMED, p.parcel.tracking_number)
            yield _alert(
                ctx, AlertType.DELIVERY_CONFIRMED, key, parcel=_parcel(p), what="delivered"
            )


def _days(events: Sequence[TimelineEvent]) -> int:
    """On how many days the events happened, each by its own wall clock where it has one
    (else its UTC day). What tells one stall, or one failed attempt, from the next: not an
    event's id (a second source adding a city changes it), nor its instant (a better time
    zone moves it by hours, across midnight), nor a count of events (merge may keep a copy
    apart); a new stall needs a new scan on a later day, a new attempt another day."""
    days = set()
    for event in events:
        if event.occurred_local is not None:
            days.add(event.occurred_local.date())
        elif (moment := instant(event)) is not None:
            days.add(moment.astimezone(UTC).date())
    return len(days)


def _last(p: ParcelState) -> TimelineEvent | None:
    timed = [e for e in p.timeline.events if instant(e) is not None]
    if not timed:
        return p.timeline.latest
    return max(timed, key=lambda e: instant(e) or datetime.min.replace(tzinfo=UTC))


def _quiet_since(last: TimelineEvent | None, order: Order) -> datetime:
    """Since when a parcel has been quiet: its last event, or shipping if it has none."""
    return (instant(last) if last else None) or aware(order.shipped_at)


def stalled(ctx: Context) -> Iterator[Alert]:
    quiet = timedelta(days=ctx.settings.stalled_days)
    for p in ctx.parcels:
        last = _last(p)
        since = _quiet_since(last, ctx.order)
        if p.status.terminal or aware(ctx.now) - since < quiet:
            continue
        quiet_from = f"day{_days(p.timeline.events)}" if last else "no-events"
        key = _key(ctx, AlertType.TRACKING_STALLED, p.parcel.tracking_number, quiet_from)
        yield _alert(
            ctx,
            AlertType.TRACKING_STALLED,
            key,
            parcel=_parcel(p),
            last_event=_event(last),
            quiet_since=iso(since),
            quiet_days=round((aware(ctx.now) - since).total_seconds() / 86400, 2),
            what=f"no new tracking event for {ctx.settings.stalled_days:g} days",
        )


def exception(ctx: Context) -> Iterator[Alert]:
    for p in ctx.parcels:
        if p.status not in TROUBLE:
            continue
        matching = [e for e in p.timeline.events if e.status is p.status]
        event = matching[-1] if matching else p.timeline.latest
        # the nth day with an event of this status: a failed attempt the next day is news,
        # the same attempt reported again or refined by a second source is not
        nth = str(_days(matching)) if matching else p.substatus
        number = p.parcel.tracking_number
        key = _key(ctx, AlertType.TRACKING_EXCEPTION, number, p.status.value, nth)
        yield _alert(
            ctx,
            AlertType.TRACKING_EXCEPTION,
            key,
            parcel=_parcel(p),
            event=_event(event),
            what=f"the parcel is {p.status.value}: {p.substatus}",
        )


def next_due(
    order: Order,
    parcels: Sequence[ParcelState],
    window: ProtectionWindow,
    now: datetime,
    settings: AlertSettings | None = None,
) -> datetime | None:
    """The next instant a time-driven alert (overdue, deadline near, stalled, the window
    closing) can fall due with no new event, by the same settings as the checks above; None
    once nothing more can, a day from now when nothing is pending but the window is open."""
    settings = settings or AlertSettings()
    delivered = all(p.verdict.verdict is Verdict.DELIVERED for p in parcels)
    if delivered or window.dispute_closes_at <= now:
        return None
    near = timedelta(days=settings.deadline_near_days)
    candidates = [window.promised_end, window.dispute_closes_at - near, window.dispute_closes_at]
    quiet = timedelta(days=settings.stalled_days)
    for p in parcels:
        if not p.status.terminal:
            candidates.append(_quiet_since(_last(p), order) + quiet)
    future = [c for c in candidates if c > now]
    return min(future) if future else now + timedelta(days=1)


CHECKS: tuple[Callable[[Context], Iterator[Alert]], ...] = (
    overdue,
    delivered_late,
    deadline_near,
    suspect,
    confirmed,
    stalled,
    exception,
)


def due(
    order: Order,
    parcels: Sequence[ParcelState],
    window: ProtectionWindow,
    now: datetime,
    settings: AlertSettings = AlertSettings(),
) -> list[Alert]:
    """Every alert due for `order` at `now`, in type order, one per key."""
    ctx = Context(order, tuple(parcels), window, now, settings)
    unique: dict[str, Alert] = {}
    for check in CHECKS:
        for alert in check(ctx):
            unique.setdefault(alert.key, alert)
    return list(unique.values())
