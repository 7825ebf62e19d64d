"""Celery tasks: JSON primitives in, one call into tracker.service, nothing else.

Every task is acknowledged late and idempotent by construction (see tracker.service): a
redelivered task re-does work whose writes are keyed by deterministic ids.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from typing import Any

from celery import Task

from tracker.service import deliveries, lookups, polling
from workers import poison
from workers.app import app
from workers.context import context, utcnow
from workers.queue import CeleryQueue

log = logging.getLogger("tracker.workers")

DISPATCH_LOCK_SECONDS = 30.0


class TrackerTask(Task):  # type: ignore[misc]
    """Cross-cutting concerns of every task (acks_late comes from the app config): a message
    that keeps killing its worker is dead-lettered instead of looping (workers.poison)."""

    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        task_id = self.request.id
        if not task_id or self.request.called_directly:
            return super().__call__(*args, **kwargs)
        ctx = context()
        count = poison.deliveries(ctx.redis, task_id)
        try:
            if poison.is_poison(count):
                poison.bury(ctx.engine, task_id, self.name, args, kwargs, count)
                return None
            return super().__call__(*args, **kwargs)
        finally:  # finished (or failed) without killing its process: the count starts over
            poison.finished(ctx.redis, task_id)


@app.task(base=TrackerTask, name="workers.tasks.dispatch")
def dispatch() -> int:
    """Claim due parcels and enqueue one poll task per source batch. One dispatcher at a time,
    even if two beats were started by mistake."""
    ctx = context()
    with ctx.lock("dispatch", DISPATCH_LOCK_SECONDS) as acquired:
        if not acquired:
            return 0
        return polling.dispatch(ctx.engine, utcnow(), ctx.settings, _enqueue_poll)


def _enqueue_poll(source: str, parcel_ids: list[int]) -> None:
    poll_batch.apply_async((source, parcel_ids), queue="polls")


@app.task(base=TrackerTask, name="workers.tasks.poll_batch")
def poll_batch(source: str, parcel_ids: list[int]) -> dict[str, Any]:
    ctx = context()
    outcome = polling.poll(
        ctx.engine,
        ctx.client(source),
        ctx.guards[source],
        parcel_ids,
        utcnow,
        ctx.settings,
        _enqueue_delivery,
    )
    return outcome.as_dict()


@app.task(base=TrackerTask, name="workers.tasks.sweep_deadlines")
def sweep_deadlines() -> int:
    ctx = context()
    with ctx.lock("sweep-deadlines", 120) as acquired:
        if not acquired:
            return 0
        return polling.sweep_deadlines(ctx.engine, utcnow(), ctx.settings, _enqueue_delivery)


@app.task(base=TrackerTask, name="workers.tasks.sweep_deliveries")
def sweep_deliveries() -> int:
    ctx = context()
    with ctx.lock("sweep-deliveries", 30) as acquired:
        if not acquired:
            return 0
        return deliveries.sweep(ctx.engine, utcnow(), _enqueue_batch)


def _enqueue_delivery(delivery_id: int, attempts: int) -> None:
    deliver.apply_async((delivery_id, attempts), queue="webhooks")


@app.task(base=TrackerTask, name="workers.tasks.deliver")
def deliver(delivery_id: int, attempts: int) -> str:
    ctx = context()
    with ctx.lock(f"delivery:{delivery_id}", deliveries.LEASE.total_seconds()) as acquired:
        if not acquired:
            return "busy"
        outcome = deliveries.deliver(
            ctx.engine,
            delivery_id,
            attempts,
            utcnow,
            ctx.settings.webhook_allow_private,
            box=ctx.secret_box,
        )
    return outcome.step.value if outcome.step else "skipped"


def _enqueue_batch(items: list[tuple[int, int]]) -> None:
    deliver_batch.apply_async((items,), queue="webhooks")


@app.task(base=TrackerTask, name="workers.tasks.deliver_batch")
def deliver_batch(items: list[list[int]]) -> list[str]:
    """Several due deliveries (of one endpoint, from the sweep) in one task: each is locked,
    checked against its attempt count and recorded as `deliver` does. Returns each one's step
    ("busy" if another worker holds it, "skipped" if it was no longer the one to send)."""
    ctx = context()
    pairs = [(int(delivery_id), int(attempts)) for delivery_id, attempts in items]
    with ExitStack() as locks:
        held = [
            pair
            for pair in pairs
            if locks.enter_context(
                ctx.lock(f"delivery:{pair[0]}", deliveries.LEASE.total_seconds())
            )
        ]
        outcomes = deliveries.deliver_batch(
            ctx.engine, held, utcnow, ctx.settings.webhook_allow_private, box=ctx.secret_box
        )
    steps = {o.delivery_id: o.step.value if o.step else "skipped" for o in outcomes}
    return [steps.get(delivery_id, "busy") for delivery_id, _ in pairs]


@app.task(base=TrackerTask, name="workers.tasks.lookup")
def lookup(lookup_id: str) -> bool:
    ctx = context()
    return lookups.answer(
        ctx.engine,
        ctx.redis_bytes,
        lookup_id,
        ctx.client,
        lambda source: ctx.guards[source],
        utcnow,
        ctx.settings,
    )


@app.task(base=TrackerTask, name="workers.tasks.requeue_lookups")
def requeue_lookups() -> int:
    ctx = context()
    with ctx.lock("requeue-lookups", 60) as acquired:
        if not acquired:
            return 0
        return lookups.requeue_stale(ctx.engine, CeleryQueue(app), utcnow())
