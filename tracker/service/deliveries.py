"""Webhook deliveries: sign, send outside any transaction, record the try.

Every path that hands a delivery to a worker says which attempt it expects (`attempts` as
stored when it was handed on); `deliver` sends only if the delivery is still pending at that
count. A task redelivered after its worker died mid-send may send that attempt again: the same
webhook-id and the same stored bytes, which consumers dedupe (Standard Webhooks). The sweeper
leases what is due, so a lost task is sent again once its lease runs out.

The sweeper hands deliveries on in batches, one per endpoint (`deliver_batch`): one task, one
read of the deliveries, one of each endpoint and one commit of every attempt record for up to
BATCH_SIZE sends, each still checked against its expected attempt count. The direct path after
a poll keeps one task per delivery (`deliver`).

Secrets are opened (`SecretBox.open`) just before signing. A secret sealed under a key we do not
hold is never a reason to send unsigned nor to drop the delivery: the try is recorded as a failed
attempt whose error names the endpoint and the problem, and the delivery is retried on the
schedule (and can be replayed once the key is fixed). Nothing reached the endpoint, so its
failure clock is left alone: our key must not get a customer's endpoint disabled.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection, Engine

from tracker import metrics, webhooks
from tracker.errors import NotFoundError, SecretUnreadable
from tracker.secretbox import SecretBox
from tracker.store import endpoints, outbox
from tracker.store._sql import relax_commit
from tracker.webhooks import Step

log = logging.getLogger("tracker.deliveries")

LEASE = timedelta(seconds=60)  # longer than one send can take (3 s connect + 15 s read)
SWEEP_LIMIT = 2000  # per sweep (every 2 s): a backlog drains at up to 1,000 a second
BATCH_SIZE = 20  # deliveries to one endpoint per task
# no new send starts after this long in one batch: the last send (at most 18 s) still ends
# inside the lease and the per-delivery locks
BATCH_BUDGET = timedelta(seconds=20)

_STORED_STATUS: dict[Step, outbox.DeliveryStatus] = {
    Step.SUCCEEDED: "succeeded",
    Step.RETRY: "pending",
    Step.FAILED: "failed",
    Step.DISABLE_ENDPOINT: "failed",
}


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    delivery_id: int
    sent: bool
    status_code: int | None = None
    step: Step | None = None


def deliver(
    engine: Engine,
    delivery_id: int,
    attempts: int,
    now: Callable[[], datetime],
    allow_private: bool,
    *,
    box: SecretBox,
) -> DeliveryOutcome:
    """Send attempt number `attempts + 1` of a delivery, if it is still the one to send."""
    return deliver_batch(engine, [(delivery_id, attempts)], now, allow_private, box=box)[0]


def deliver_batch(
    engine: Engine,
    items: Sequence[tuple[int, int]],
    now: Callable[[], datetime],
    allow_private: bool,
    budget: timedelta = BATCH_BUDGET,
    *,
    box: SecretBox,
) -> list[DeliveryOutcome]:
    """`deliver` for several (delivery_id, attempts), in order, with one read and one commit.

    After a failed send the batch sends nothing more to that endpoint (the rest keep their
    lease and attempt count and come back with the sweep), nor starts a send after `budget`.
    """
    expected = dict(items)
    with engine.connect() as conn:
        found = outbox.get_deliveries(conn, expected)
        known = {d.endpoint_id for d in found}
        eps = {e: endpoints.get_endpoint(conn, e) for e in sorted(known)}
    outcomes = {d: DeliveryOutcome(d, sent=False) for d in expected}
    tries: list[_Try] = []
    stopped: set[str] = set()
    deadline = now() + budget
    for delivery in found:
        endpoint = eps.get(delivery.endpoint_id)
        if endpoint is None or delivery.endpoint_id in stopped:
            continue
        if not _sendable(delivery, endpoint, expected[delivery.id]) or now() >= deadline:
            continue
        sent = _send(delivery, endpoint, box, allow_private, now)
        tries.append(sent)
        outcomes[delivery.id] = DeliveryOutcome(
            delivery.id, sent.reached, sent.result.status_code, sent.step.step
        )
        if sent.step.step is not Step.SUCCEEDED:
            stopped.add(delivery.endpoint_id)
    if tries:
        with engine.begin() as conn:
            relax_commit(conn)  # a lost record means one more send of the same id and bytes
            _record(conn, tries, {e: ep.failing_since for e, ep in eps.items() if ep})
    return [outcomes[delivery_id] for delivery_id, _ in items]


@dataclass(frozen=True, slots=True)
class _Try:
    delivery: outbox.DeliveryRow
    started: datetime
    result: webhooks.AttemptResult
    step: webhooks.Next
    reached: bool = True  # False: not sent, its secret could not be opened


def _sendable(delivery: outbox.DeliveryRow, endpoint: endpoints.EndpointRow, attempts: int) -> bool:
    return endpoint.enabled and delivery.status == "pending" and delivery.attempts == attempts


def _send(
    delivery: outbox.DeliveryRow,
    endpoint: endpoints.EndpointRow,
    box: SecretBox,
    allow_private: bool,
    now: Callable[[], datetime],
) -> _Try:
    body = delivery.payload.encode()
    started = now()
    try:
        secret = box.open(endpoint.secret, endpoint.id)
    except SecretUnreadable as exc:
        return _unsigned(delivery, started, exc, now)
    previous = previous_secrets(endpoint, box, started)
    headers = webhooks.headers(
        secret, delivery.webhook_id, int(started.timestamp()), body, *previous
    )
    result = webhooks.send(endpoint.url, headers, body, allow_private)
    step = webhooks.next_step(
        result.status_code, delivery.attempts + 1, now(), retry_after=result.retry_after
    )
    return _Try(delivery, started, result, step)


def previous_secrets(endpoint: endpoints.EndpointRow, box: SecretBox, now: datetime) -> list[str]:
    """The previous secret while a rotation's overlap lasts (signed with beside the new one).
    One we cannot open is left out: the new secret's signature is still sent."""
    stored = endpoint.previous_at(now)
    if stored is None:
        return []
    try:
        return [box.open(stored, endpoint.id)]
    except SecretUnreadable as exc:
        log.warning("previous secret of %s unreadable, signing with the new one only: %s",
                    endpoint.id, exc)  # fmt: skip
        return []


def _unsigned(
    delivery: outbox.DeliveryRow,
    started: datetime,
    exc: SecretUnreadable,
    now: Callable[[], datetime],
) -> _Try:
    """A try that could not be signed: a failed attempt on the schedule, nothing sent."""
    log.error(
        "webhook not sent: %s",
        exc,
        extra={"endpoint_id": exc.endpoint_id, "delivery_id": delivery.id},
    )
    result = webhooks.AttemptResult(None, 0, error=str(exc))
    step = webhooks.next_step(None, delivery.attempts + 1, now())
    return _Try(delivery, started, result, step, reached=False)


def _record(
    conn: Connection, tries: Sequence[_Try], failing_since: dict[str, datetime | None]
) -> None:
    """The attempt records, then each endpoint's failure bookkeeping in send order
    (`failing_since` as read before sending, updated as records are written)."""
    outbox.record_attempts(
        conn,
        [
            outbox.Attempt(
                t.delivery.id,
                attempted_at=t.started,
                duration_ms=t.result.duration_ms,
                status=_STORED_STATUS[t.step.step],
                next_attempt_at=t.step.at,
                status_code=t.result.status_code,
                error=t.result.error,
                response=t.result.response_excerpt,
            )
            for t in tries
        ],
    )
    for t in tries:
        if t.step.step is Step.FAILED:
            _say_exhausted(t)
        if not t.reached:
            continue  # the endpoint was never asked: its failure clock is not ours to move
        endpoint_id = t.delivery.endpoint_id
        since = failing_since.get(endpoint_id)
        failing_since[endpoint_id] = _endpoint_after(conn, endpoint_id, since, t.started, t.step)


def _endpoint_after(
    conn: Connection,
    endpoint_id: str,
    failing_since: datetime | None,
    started: datetime,
    step: webhooks.Next,
) -> datetime | None:
    """Update the endpoint after one try; returns its failing_since as now stored."""
    if step.step is Step.SUCCEEDED:
        # most successes write nothing (a failure recorded since is cleared by the next one)
        if failing_since is not None:
            endpoints.set_failing_since(conn, endpoint_id, None)
        return None
    if step.step is Step.DISABLE_ENDPOINT:
        _disable(conn, endpoint_id, "the endpoint answered 410 Gone", failing_since or started)
        return failing_since
    endpoints.set_failing_since(conn, endpoint_id, started)
    endpoint = endpoints.get_endpoint(conn, endpoint_id)
    if endpoint is not None and webhooks.should_disable(endpoint.failing_since, started):
        since = endpoint.failing_since
        _disable(conn, endpoint_id, f"every attempt failed since {since:%Y-%m-%d %H:%M} UTC",
                 since or started)  # fmt: skip
    return endpoint.failing_since if endpoint is not None else started


def _disable(conn: Connection, endpoint_id: str, reason: str, since: datetime) -> None:
    """Disable the endpoint and say so once, through the other channels an operator watches
    (the log at ERROR, `tracker_webhook_endpoints_disabled`): its alerts are not sent until it
    is enabled again, then `recover` sends what failed since `since` (reliability.md WH-8)."""
    if not endpoints.disable_endpoint(conn, endpoint_id, reason):
        return  # disabled already: said then
    metrics.WEBHOOK_ENDPOINTS_DISABLED.inc()
    log.error(
        "webhook endpoint %s disabled: %s; enable it, then recover since %s",
        endpoint_id, reason, since.isoformat(),
        extra={"endpoint_id": endpoint_id, "event": "endpoint.disabled"},
    )  # fmt: skip


def _say_exhausted(t: _Try) -> None:
    """A delivery whose retry schedule ran out, said once (reliability.md WH-5)."""
    metrics.WEBHOOK_EXHAUSTED.inc()
    log.error(
        "webhook delivery %s to %s failed on every attempt (%s, last status %s); it can be "
        "replayed or recovered",
        t.delivery.id, t.delivery.endpoint_id, t.delivery.webhook_id, t.result.status_code,
        extra={"delivery_id": t.delivery.id, "event": "message.attempt.exhausted"},
    )  # fmt: skip


def sweep(
    engine: Engine,
    now: datetime,
    enqueue: Callable[[list[tuple[int, int]]], None],
    limit: int = SWEEP_LIMIT,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Lease every due delivery and hand them on as `enqueue([(delivery_id, attempts), ...])`,
    one batch per endpoint of at most `batch_size`; returns how many deliveries."""
    with engine.begin() as conn:
        due = outbox.claim_due_deliveries(conn, now, limit, lease=LEASE)
    for batch in plan(due, batch_size):
        enqueue(batch)
    return len(due)


def plan(due: Sequence[outbox.DeliveryRow], batch_size: int) -> list[list[tuple[int, int]]]:
    """Group deliveries per endpoint, oldest first, in batches of at most `batch_size`."""
    by_endpoint: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for delivery in sorted(due, key=lambda d: d.id):
        by_endpoint[delivery.endpoint_id].append((delivery.id, delivery.attempts))
    return [
        items[start : start + batch_size]
        for _, items in sorted(by_endpoint.items())
        for start in range(0, len(items), batch_size)
    ]


def recover(engine: Engine, endpoint_id: str, since: datetime, now: datetime) -> int:
    """Send again every failed delivery to the endpoint created since `since` (after an
    outage, once it is fixed; reliability.md WH-8 "recover since T"): pending and due now,
    each with its own webhook-id and bytes, for the sweep to send. How many."""
    with engine.begin() as conn:
        if endpoints.get_endpoint(conn, endpoint_id) is None:
            raise NotFoundError("webhook endpoint", endpoint_id)
        return outbox.reopen_failed(conn, endpoint_id, since, now=now)


def listing(
    engine: Engine,
    *,
    endpoint_id: str | None = None,
    status: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> tuple[list[dict[str, Any]], int | None]:
    """Deliveries newest first (what to replay), and the cursor of the next page."""
    with engine.connect() as conn:
        rows = outbox.list_deliveries(
            conn, endpoint_id=endpoint_id, status=status, before_id=before_id, limit=limit
        )
    found = [
        {"id": d.id, "alert_id": d.alert_id, "alert_type": kind, "endpoint_id": d.endpoint_id,
         "webhook_id": d.webhook_id, "status": d.status, "attempts": d.attempts,
         "next_attempt_at": d.next_attempt_at, "last_status_code": d.last_status_code,
         "created_at": d.created_at, "updated_at": d.updated_at}
        for d, kind in rows
    ]  # fmt: skip
    return found, (rows[-1][0].id if len(rows) == limit else None)


def replay(engine: Engine, delivery_id: int, now: datetime) -> int:
    """Send a delivery again (operator action): pending, due now, same webhook-id and bytes.
    Returns the attempt count the new send is expected at."""
    with engine.begin() as conn:
        return outbox.reopen_delivery(conn, delivery_id, now=now)
